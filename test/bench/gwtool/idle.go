package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"
)

// idleResult is what idle prints: the gateway's memory with no session,
// with half of them and with all of them just opened, and with all of them
// idle for a while; and the cost per session.
type idleResult struct {
	Sessions int      `json:"sessions"`
	Protocol string   `json:"protocol"`
	OpenS    float64  `json:"open_s"` // opening all of them, echo of each included
	IdleS    float64  `json:"idle_s"` // how long they sat idle before the last sample
	Samples  []sample `json:"samples"`
	// Per session just after they opened: (all - none) / n.
	OpenRSSPerKiB  float64 `json:"open_rss_per_session_kib"`
	OpenHeapPerKiB float64 `json:"open_heap_per_session_kib"`
	// Per session once idle for IdleS: what issue 13 bounds.
	RSSPerKiB float64 `json:"rss_per_session_kib"`
	HeapPer   float64 `json:"heap_per_session_kib"` // live heap after a GC
	StackPer  float64 `json:"stack_per_session_kib"`
	GorosPer  float64 `json:"goroutines_per_session"`
	// The marginal cost, between half and all: what the next session
	// costs, without one-time costs (the first TLS session, caches).
	RSSMarginalKiB  float64 `json:"rss_marginal_kib"`
	HeapMarginalKiB float64 `json:"heap_marginal_kib"`
	APIServerPerKiB float64 `json:"apiserver_rss_per_session_kib,omitempty"`
	Ended           int     `json:"ended_ok"`
}

// sample is one look at the gateway (and kube-apiserver).
type sample struct {
	Sessions     int   `json:"sessions"`
	RSSKiB       int64 `json:"rss_kib"`
	HeapKiB      int64 `json:"heap_kib"`  // HeapAlloc after runtime.GC
	StackKiB     int64 `json:"stack_kib"` // StackInuse
	Goroutines   int   `json:"goroutines"`
	GatewaySees  int64 `json:"gateway_sessions"`
	APIServerKiB int64 `json:"apiserver_rss_kib,omitempty"`
}

// idleCmd opens N sessions through the gateway as one client process
// (client-go's remotecommand, `cat` with stdin held open), checks each by
// an echo, and measures the gateway's memory once they sit idle.
func idleCmd(args []string) error {
	fs := flag.NewFlagSet("idle", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "a user's kubeconfig (one who may exec through the gateway)")
	pod := fs.String("pod", "bench", "pod to exec into")
	n := fs.Int("n", 200, "sessions to hold")
	parallel := fs.Int("parallel", 8, "sessions opened at a time")
	proto := fs.String("protocol", "websocket", "client protocol to the gateway: websocket or spdy")
	pid := fs.Int("pid", 0, "the gateway's process ID (VmRSS)")
	apiPID := fs.Int("apiserver-pid", 0, "kube-apiserver's process ID (optional)")
	debug := fs.String("debug", "", "the gateway's debug listener, http://127.0.0.1:PORT")
	heapProfile := fs.String("heap-profile", "", "write a heap profile of the gateway here with all sessions open and idle")
	idleFor := fs.Duration("idle", 70*time.Second, "how long the sessions sit idle before the last measurement (the recorder gives an idle session's compressor back after a minute)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *kubeconfig == "" || *pid == 0 || *debug == "" || *n < 2 {
		return errors.New("-kubeconfig, -pid, -debug and -n >= 2 are required")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	// Many sessions from one process: client-go's default rate limit
	// would pace the opening, not measure anything.
	cfg.QPS, cfg.Burst = 1000, 1000
	target := strings.TrimSuffix(cfg.Host, "/") + "/apis/" + gatewayGroup + "/" + gatewayVersion +
		"/namespaces/" + benchNS + "/pods/" + url.PathEscape(*pod) + "/exec?command=cat&stdin=true&stdout=true&stderr=true"
	look := func(sessions int) (sample, error) {
		return measure(sessions, *pid, *apiPID, *debug)
	}
	res := idleResult{Sessions: *n, Protocol: *proto}
	s0, err := look(0)
	if err != nil {
		return err
	}
	if s0.GatewaySees != 0 {
		return fmt.Errorf("the gateway already has %d sessions running", s0.GatewaySees)
	}
	res.Samples = append(res.Samples, s0)

	var sessions []*idleSession
	defer func() {
		for _, s := range sessions {
			s.abort()
		}
	}()
	start := time.Now()
	var allOpen time.Time
	for _, want := range []int{*n / 2, *n} {
		more, err := openSessions(cfg, *proto, target, want-len(sessions), *parallel)
		sessions = append(sessions, more...)
		if err != nil {
			return err
		}
		if want == *n {
			allOpen = time.Now()
			res.OpenS = allOpen.Sub(start).Seconds()
		}
		s, err := settled(want, look)
		if err != nil {
			return err
		}
		res.Samples = append(res.Samples, s)
	}
	// Nothing to wait on: idleness is the absence of events.
	time.Sleep(*idleFor - time.Since(allOpen))
	idle, err := settled(*n, look)
	if err != nil {
		return err
	}
	res.IdleS = time.Since(allOpen).Seconds()
	res.Samples = append(res.Samples, idle)
	if *heapProfile != "" {
		if err := fetch(*debug+"/debug/pprof/heap?gc=1", *heapProfile); err != nil {
			return err
		}
	}
	per := func(a, b int64, n int) float64 { return float64(a-b) / float64(n) }
	half, all := res.Samples[1], res.Samples[2]
	res.OpenRSSPerKiB = per(all.RSSKiB, s0.RSSKiB, *n)
	res.OpenHeapPerKiB = per(all.HeapKiB, s0.HeapKiB, *n)
	// The marginal cost is taken at opening, where half and all are
	// measured alike.
	res.RSSMarginalKiB = per(all.RSSKiB, half.RSSKiB, *n-*n/2)
	res.HeapMarginalKiB = per(all.HeapKiB, half.HeapKiB, *n-*n/2)
	all = idle
	res.RSSPerKiB = per(all.RSSKiB, s0.RSSKiB, *n)
	res.HeapPer = per(all.HeapKiB, s0.HeapKiB, *n)
	res.StackPer = per(all.StackKiB, s0.StackKiB, *n)
	res.GorosPer = per(int64(all.Goroutines), int64(s0.Goroutines), *n)
	if *apiPID > 0 {
		res.APIServerPerKiB = per(all.APIServerKiB, s0.APIServerKiB, *n)
	}

	// End them as a user would: stdin closed, cat exits 0. A line goes
	// first: client-go's WebSocket stream sets the connection's write
	// deadline (60s) only when it writes data, and its half-close does not,
	// so closing stdin after more than a minute without a write times out,
	// leaves the TLS connection broken and the session lost (plain kubectl
	// exec -i does the same; see docs/BENCHMARKS.md run 7).
	for _, s := range sessions {
		_, _ = s.stdin.Write([]byte("bye\n"))
		_ = s.stdin.Close()
	}
	var failed []string
	for i, s := range sessions {
		select {
		case err := <-s.done:
			if err != nil {
				failed = append(failed, fmt.Sprintf("session %d: %v", i, err))
			} else {
				res.Ended++
			}
		case <-time.After(2 * time.Minute):
			failed = append(failed, fmt.Sprintf("session %d: did not end within 2 minutes of its stdin closing", i))
		}
	}
	sessions = nil
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d sessions failed: %s", len(failed), *n, strings.Join(failed[:min(5, len(failed))], "; "))
	}
	return emit(res)
}

// idleSession is one `cat` held open through the gateway.
type idleSession struct {
	stdin  *io.PipeWriter
	echo   *echoWatch
	cancel context.CancelFunc
	done   chan error
}

func (s *idleSession) abort() {
	s.cancel()
	_ = s.stdin.Close()
}

// echoWatch closes seen once the output holds want.
type echoWatch struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want []byte
	seen chan struct{}
	once sync.Once
}

func (w *echoWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len() < 4096 {
		w.buf.Write(p)
	}
	if bytes.Contains(w.buf.Bytes(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

// openSessions opens k sessions, parallel at a time, each checked by the
// echo of one line.
func openSessions(cfg *rest.Config, proto, target string, k, parallel int) ([]*idleSession, error) {
	out := make([]*idleSession, k)
	errs := make([]error, k)
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range k {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i], errs[i] = openSession(cfg, proto, target)
		}()
	}
	wg.Wait()
	var opened []*idleSession
	for _, s := range out {
		if s != nil {
			opened = append(opened, s)
		}
	}
	return opened, errors.Join(errs...)
}

func openSession(cfg *rest.Config, proto, target string) (*idleSession, error) {
	var ex remotecommand.Executor
	var err error
	switch proto {
	case "websocket":
		ex, err = remotecommand.NewWebSocketExecutor(cfg, "GET", target)
	case "spdy":
		u, perr := url.Parse(target)
		if perr != nil {
			return nil, perr
		}
		ex, err = remotecommand.NewSPDYExecutor(cfg, "POST", u)
	default:
		return nil, fmt.Errorf("-protocol %q: want websocket or spdy", proto)
	}
	if err != nil {
		return nil, err
	}
	r, w := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	s := &idleSession{stdin: w, cancel: cancel, done: make(chan error, 1),
		echo: &echoWatch{want: []byte("ready\n"), seen: make(chan struct{})}}
	go func() {
		s.done <- ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: r, Stdout: s.echo, Stderr: io.Discard})
	}()
	go func() { _, _ = w.Write([]byte("ready\n")) }()
	select {
	case <-s.echo.seen:
		return s, nil
	case err := <-s.done:
		s.abort()
		return nil, fmt.Errorf("session ended before its echo: %v", err)
	case <-time.After(2 * time.Minute):
		s.abort()
		return nil, errors.New("no echo within 2 minutes")
	}
}

// settled measures once the gateway is quiet: the session count is what
// it should be and two looks a second apart agree on RSS within 1%
// (recordings flush on a 1 s timer), or after 15 looks.
func settled(want int, look func(int) (sample, error)) (sample, error) {
	prev, err := look(want)
	if err != nil {
		return prev, err
	}
	for range 15 {
		time.Sleep(time.Second)
		s, err := look(want)
		if err != nil {
			return s, err
		}
		if s.GatewaySees != int64(want) {
			return s, fmt.Errorf("the gateway counts %d sessions, want %d", s.GatewaySees, want)
		}
		d := s.RSSKiB - prev.RSSKiB
		if d < 0 {
			d = -d
		}
		if d*100 <= s.RSSKiB {
			return s, nil
		}
		prev = s
	}
	return prev, nil
}

func measure(sessions, pid, apiPID int, debug string) (sample, error) {
	s := sample{Sessions: sessions}
	var err error
	if s.RSSKiB, err = vmRSS(pid); err != nil {
		return s, err
	}
	if apiPID > 0 {
		if s.APIServerKiB, err = vmRSS(apiPID); err != nil {
			return s, err
		}
	}
	resp, err := http.Get(debug + "/debug/memstats?gc=1")
	if err != nil {
		return s, fmt.Errorf("the gateway's debug listener: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	var m struct {
		Sessions   int64  `json:"sessions"`
		Goroutines int    `json:"goroutines"`
		HeapAlloc  uint64 `json:"heap_alloc"`
		StackInuse uint64 `json:"stack_inuse"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return s, fmt.Errorf("/debug/memstats: %w", err)
	}
	s.HeapKiB, s.StackKiB = int64(m.HeapAlloc>>10), int64(m.StackInuse>>10)
	s.Goroutines, s.GatewaySees = m.Goroutines, m.Sessions
	// RSS again, after the GC the memstats request ran.
	s.RSSKiB, err = vmRSS(pid)
	return s, err
}

// vmRSS is /proc/PID/status VmRSS, in KiB.
func vmRSS(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

func fetch(u, file string) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
