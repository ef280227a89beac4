// Command benchtool measures one client invocation at a time for
// test/bench/bench.sh, and prints the final table. It is tool-agnostic: it
// runs whatever command line it is given (kubectl exec or kubectl-rexec).
//
//	benchtool run  [-devnull] [-timeout D] -- CMD...    wall time, first byte, bytes, peak RSS
//	benchtool keys [-n 200] [-warmup 10] [-gap 10ms] -- CMD...
//	                                                    keystroke echo round trips through a pty
//	benchtool session -script FILE [-prompt P] -- CMD...
//	                                                    types a scripted shell session into a pty
//	benchtool report RESULTS.tsv                        medians, ratios and targets
//	benchtool abtable RESULTS.tsv                       the throughput A/B: ratio and CPU per GiB,
//	                                                    per source and protocol, pinned and shared
//	benchtool get FIELD < JSON                          one field of a JSON object (no jq needed)
//
// run, keys and session print one JSON object on stdout.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/creack/pty"
)

func main() {
	if len(os.Args) < 2 {
		fatalf("usage: benchtool run|keys|session|report ...")
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = runCmd(os.Args[2:])
	case "keys":
		err = keysCmd(os.Args[2:])
	case "session":
		err = sessionCmd(os.Args[2:])
	case "report":
		err = reportCmd(os.Args[2:])
	case "abtable":
		err = abtableCmd(os.Args[2:])
	case "get":
		err = getCmd(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fatalf("benchtool %s: %v", os.Args[1], err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func emit(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Printf("%s\n", b)
	return err
}

// maxRSSKiB is the child's peak resident set (ru_maxrss, KiB on Linux).
func maxRSSKiB(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss
	}
	return -1
}

func exitCode(err error) (int, error) {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee):
		return ee.ExitCode(), nil
	}
	return -1, err
}

// runResult is one non-interactive invocation.
type runResult struct {
	WallS       float64 `json:"wall_s"`
	FirstByteMs float64 `json:"first_byte_ms"` // -1 with -devnull or no output
	LastByteMs  float64 `json:"last_byte_ms"`  // when the last output arrived; -1 likewise
	Bytes       int64   `json:"bytes"`         // -1 with -devnull
	MaxRSSKiB   int64   `json:"maxrss_kib"`
	UserS       float64 `json:"user_s"`
	SysS        float64 `json:"sys_s"`
	Exit        int     `json:"exit"`
	Stderr      string  `json:"stderr,omitempty"`
}

// runCmd runs CMD with stdin from /dev/null and measures it: from just
// before the fork to its exit, the first stdout byte, the byte count and
// the peak RSS. With -devnull stdout is /dev/null itself, as in
// `cmd > /dev/null`, so no reader of ours takes part.
func runCmd(args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	devnull := fs.Bool("devnull", false, "send stdout to /dev/null instead of counting it")
	timeout := fs.Duration("timeout", 3*time.Minute, "kill the command after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	argv := fs.Args()
	if len(argv) == 0 {
		return errors.New("no command")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	res := runResult{FirstByteMs: -1, LastByteMs: -1, Bytes: -1}
	var out io.ReadCloser
	if *devnull {
		f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		cmd.Stdout = f
	} else {
		var err error
		if out, err = cmd.StdoutPipe(); err != nil {
			return err
		}
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	timer := time.AfterFunc(*timeout, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	if out != nil {
		buf := make([]byte, 256<<10)
		var n int64
		for {
			k, err := out.Read(buf)
			if k > 0 {
				if n == 0 {
					res.FirstByteMs = ms(time.Since(start))
				}
				res.LastByteMs = ms(time.Since(start))
			}
			n += int64(k)
			if err != nil {
				break
			}
		}
		res.Bytes = n
	}
	err := cmd.Wait()
	res.WallS = time.Since(start).Seconds()
	code, err := exitCode(err)
	if err != nil {
		return err
	}
	res.Exit = code
	res.MaxRSSKiB = maxRSSKiB(cmd.ProcessState)
	res.UserS = cmd.ProcessState.UserTime().Seconds()
	res.SysS = cmd.ProcessState.SystemTime().Seconds()
	if code != 0 {
		res.Stderr = errb.String()
	}
	return emit(res)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// ptySession is a command on a pty of its own, read by us.
type ptySession struct {
	cmd  *exec.Cmd
	ptmx *os.File
	seen bytes.Buffer // everything read so far
	buf  []byte
}

func startPTY(argv []string) (*ptySession, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		return nil, err
	}
	return &ptySession{cmd: cmd, ptmx: ptmx, buf: make([]byte, 32<<10)}, nil
}

// readUntil reads until want has appeared after offset from, and returns
// the offset just past it.
func (s *ptySession) readUntil(want []byte, from int) (int, error) {
	for {
		if i := bytes.Index(s.seen.Bytes()[from:], want); i >= 0 {
			return from + i + len(want), nil
		}
		n, err := s.ptmx.Read(s.buf)
		s.seen.Write(s.buf[:n])
		if err != nil {
			return 0, fmt.Errorf("waiting for %q: %w; output so far %q", want, err, tail(s.seen.String(), 400))
		}
	}
}

// finish sends ^C (the remote tty still generates signals), waits for the
// exit and returns the peak RSS.
func (s *ptySession) finish(bye []byte) (int64, int, error) {
	if len(bye) > 0 {
		_, _ = s.ptmx.Write(bye)
	}
	go func() { _, _ = io.Copy(io.Discard, s.ptmx) }()
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		err = <-done
	}
	_ = s.ptmx.Close()
	code, err := exitCode(err)
	if err != nil {
		return 0, code, err
	}
	return maxRSSKiB(s.cmd.ProcessState), code, nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// keysResult is one keystroke run.
type keysResult struct {
	Samples   int     `json:"samples"`
	P50Ms     float64 `json:"p50_ms"`
	P90Ms     float64 `json:"p90_ms"`
	P99Ms     float64 `json:"p99_ms"`
	MaxMs     float64 `json:"max_ms"`
	MeanMs    float64 `json:"mean_ms"`
	MaxRSSKiB int64   `json:"maxrss_kib"`
	Exit      int     `json:"exit"`
}

// keysCmd types single keystrokes into CMD's terminal, one at a time, and
// times each until its echo comes back. CMD must print the ready marker and
// then echo every byte at once (a remote `cat` with the tty in -icanon
// -echo mode does).
func keysCmd(args []string) error {
	fs := flag.NewFlagSet("keys", flag.ContinueOnError)
	n := fs.Int("n", 200, "keystrokes to time")
	warmup := fs.Int("warmup", 10, "keystrokes sent first and not timed")
	gap := fs.Duration("gap", 10*time.Millisecond, "pause between an echo and the next keystroke")
	ready := fs.String("ready", "READY", "marker CMD prints when it reads keystrokes")
	dump := fs.String("dump", "", "write every timed sample (ms since the first keystroke, round trip ms) to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	argv := fs.Args()
	if len(argv) == 0 {
		return errors.New("no command")
	}
	s, err := startPTY(argv)
	if err != nil {
		return err
	}
	watchdog := time.AfterFunc(2*time.Minute, func() { _ = s.cmd.Process.Kill() })
	defer watchdog.Stop()
	off, err := s.readUntil([]byte(*ready), 0)
	if err != nil {
		return err
	}
	var rtts, at []time.Duration
	first := time.Now()
	for i := 0; i < *warmup+*n; i++ {
		key := []byte{byte('a' + i%26)}
		t0 := time.Now()
		if _, err := s.ptmx.Write(key); err != nil {
			return err
		}
		if off, err = s.readUntil(key, off); err != nil {
			return err
		}
		if i >= *warmup {
			rtts = append(rtts, time.Since(t0))
			at = append(at, t0.Sub(first))
		}
		time.Sleep(*gap)
	}
	rss, code, err := s.finish([]byte{3})
	if err != nil {
		return err
	}
	if *dump != "" {
		var b strings.Builder
		for i := range rtts {
			fmt.Fprintf(&b, "%.3f\t%.3f\n", ms(at[i]), ms(rtts[i]))
		}
		if err := os.WriteFile(*dump, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	var sum time.Duration
	for _, d := range rtts {
		sum += d
	}
	return emit(keysResult{
		Samples: len(rtts),
		P50Ms:   ms(pct(rtts, 50)), P90Ms: ms(pct(rtts, 90)), P99Ms: ms(pct(rtts, 99)),
		MaxMs: ms(rtts[len(rtts)-1]), MeanMs: ms(sum / time.Duration(len(rtts))),
		MaxRSSKiB: rss, Exit: code,
	})
}

// pct is the nearest-rank percentile of sorted d.
func pct(d []time.Duration, p int) time.Duration {
	i := (len(d)*p+99)/100 - 1
	if i < 0 {
		i = 0
	}
	return d[i]
}

// sessionCmd types a shell session line by line (a few ms per character, as
// a fast typist), waiting for the prompt after each line. It exists to
// produce a realistic recording; what it prints is only its duration.
func sessionCmd(args []string) error {
	fs := flag.NewFlagSet("session", flag.ContinueOnError)
	script := fs.String("script", "", "file with one shell command per line")
	prompt := fs.String("prompt", "bench$ ", "the shell's prompt")
	perChar := fs.Duration("char", 5*time.Millisecond, "typing delay per character")
	if err := fs.Parse(args); err != nil {
		return err
	}
	argv := fs.Args()
	if len(argv) == 0 || *script == "" {
		return errors.New("need -script and a command")
	}
	b, err := os.ReadFile(*script)
	if err != nil {
		return err
	}
	s, err := startPTY(argv)
	if err != nil {
		return err
	}
	watchdog := time.AfterFunc(3*time.Minute, func() { _ = s.cmd.Process.Kill() })
	defer watchdog.Stop()
	start := time.Now()
	off, err := s.readUntil([]byte(*prompt), 0)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	lines := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for _, c := range []byte(line + "\r") {
			if _, err := s.ptmx.Write([]byte{c}); err != nil {
				return err
			}
			time.Sleep(*perChar)
		}
		lines++
		if off, err = s.readUntil([]byte(*prompt), off); err != nil {
			return err
		}
	}
	rss, code, err := s.finish([]byte("exit\r"))
	if err != nil {
		return err
	}
	return emit(map[string]any{"lines": lines, "wall_s": time.Since(start).Seconds(), "output_bytes": s.seen.Len(), "maxrss_kib": rss, "exit": code})
}

// A result line of bench.sh: metric, variant (protocol), tool, value.
type sample struct {
	metric, variant, tool string
	value                 float64
}

// target says how a metric's rexec median is judged against kubectl's.
type target struct {
	unit  string
	rule  string                  // printed
	check func(r, k float64) bool // nil: informational only
}

var targets = map[string]target{
	"throughput": {"MiB/s", "ratio >= 0.97", func(r, k float64) bool { return r/k >= 0.97 }},
	"keys_p50":   {"ms", "", nil},
	"keys_p99":   {"ms", "rexec <= kubectl + 0.1 ms", func(r, k float64) bool { return r <= k+0.1 }},
	"startup":    {"ms", "ratio <= 1.05", func(r, k float64) bool { return r/k <= 1.05 }},
	"rss":        {"MiB", "rexec <= kubectl + 16 MiB", func(r, k float64) bool { return r <= k+16 }},
	"cpugib":     {"s/GiB", "rexec - kubectl <= 1.5 s/GiB", func(r, k float64) bool { return r-k <= 1.5 }},
	"cpu":        {"s", "", nil},
	"size":       {"bytes", "", nil},
}

// targetFor is the target of the longest prefix of metric in targets.
func targetFor(metric string) target {
	best, bestLen := target{}, -1
	for prefix, t := range targets {
		if strings.HasPrefix(metric, prefix) && len(prefix) > bestLen {
			best, bestLen = t, len(prefix)
		}
	}
	return best
}

// reportCmd prints, per metric and variant, the median of each tool, the
// ratio rexec/kubectl and, where a target exists, PASS or MISS. It never
// fails on a MISS.
func reportCmd(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: benchtool report RESULTS.tsv")
	}
	order, vals, err := readResults(args[0])
	if err != nil {
		return err
	}
	fmt.Printf("%-22s %-25s %4s %14s %14s %7s  %s\n", "metric", "variant", "runs", "kubectl", "rexec", "ratio", "target")
	for _, k := range order {
		t := targetFor(k.metric)
		kv, rv := vals[k]["kubectl"], vals[k]["rexec"]
		km, rm := median(kv), median(rv)
		runs := strconv.Itoa(max(len(kv), len(rv)))
		verdict := ""
		if t.check != nil && len(kv) > 0 && len(rv) > 0 {
			verdict = "MISS"
			if t.check(rm, km) {
				verdict = "PASS"
			}
			verdict += " (" + t.rule + ")"
		}
		ratio := "-"
		if len(kv) > 0 && len(rv) > 0 && km != 0 {
			ratio = fmt.Sprintf("%.3f", rm/km)
		}
		fmt.Printf("%-22s %-25s %4s %14s %14s %7s  %s\n", k.metric, k.variant, runs, fmtVal(kv, km, t.unit), fmtVal(rv, rm, t.unit), ratio, verdict)
	}
	return nil
}

type resultKey struct{ metric, variant string }

// readResults reads bench.sh's results: per metric and variant, in the
// order they first appear, the values of each tool.
func readResults(path string) ([]resultKey, map[resultKey]map[string][]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = f.Close() }()
	var order []resultKey
	vals := map[resultKey]map[string][]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Split(sc.Text(), "\t")
		if len(p) != 4 {
			continue
		}
		v, err := strconv.ParseFloat(p[3], 64)
		if err != nil {
			continue
		}
		s := sample{p[0], p[1], p[2], v}
		k := resultKey{s.metric, s.variant}
		if vals[k] == nil {
			vals[k] = map[string][]float64{}
			order = append(order, k)
		}
		vals[k][s.tool] = append(vals[k][s.tool], s.value)
	}
	return order, vals, sc.Err()
}

// abtableCmd prints the throughput A/B of bench.sh as one table: for each
// source and protocol, with the client pinned on a core of its own and
// with every process sharing the cores, the throughput ratio rexec/kubectl
// and the client CPU per GiB of each tool, and what rexec adds.
func abtableCmd(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: benchtool abtable RESULTS.tsv")
	}
	order, vals, err := readResults(args[0])
	if err != nil {
		return err
	}
	type row struct{ source, proto string }
	var rows []row
	seen := map[row]bool{}
	for _, k := range order {
		src, ok := strings.CutPrefix(k.metric, "throughput_")
		if !ok {
			continue
		}
		proto, _, _ := strings.Cut(k.variant, " ")
		if r := (row{src, proto}); !seen[r] {
			seen[r] = true
			rows = append(rows, r)
		}
	}
	med := func(metric, variant, tool string) (float64, bool) {
		v := vals[resultKey{metric, variant}][tool]
		return median(v), len(v) > 0
	}
	cell := func(src, variant string) string {
		kt, ok1 := med("throughput_"+src, variant, "kubectl")
		rt, ok2 := med("throughput_"+src, variant, "rexec")
		kc, ok3 := med("cpugib_"+src, variant, "kubectl")
		rc, ok4 := med("cpugib_"+src, variant, "rexec")
		if !ok1 || !ok2 || !ok3 || !ok4 || kt == 0 {
			return fmt.Sprintf("%-38s", "-")
		}
		return fmt.Sprintf("%5.2f %4s  %5.2f %5.2f %+6.2f %4s", rt/kt, passMiss(rt/kt >= 0.97), kc, rc, rc-kc, passMiss(rc-kc <= 1.5))
	}
	fmt.Printf("%-14s %-9s  %-38s  %-38s\n", "", "", "client pinned (taskset -c 1)", "shared cores")
	head := fmt.Sprintf("%-10s %-20s", "ratio", "CPU s/GiB k / r / +")
	fmt.Printf("%-14s %-9s  %-38s  %-38s\n", "source", "protocol", head, head)
	for _, r := range rows {
		fmt.Printf("%-14s %-9s  %s  %s\n", r.source, r.proto, cell(r.source, r.proto+" pinned"), cell(r.source, r.proto))
	}
	fmt.Println("(ratio: rexec/kubectl throughput, target >= 0.97; k / r: client CPU (user+sys) per GiB of kubectl and rexec; +: what rexec adds, target <= 1.5)")
	return nil
}

func passMiss(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func fmtVal(v []float64, m float64, unit string) string {
	if len(v) == 0 {
		return "-"
	}
	switch unit {
	case "bytes":
		return strconv.FormatFloat(m, 'f', 0, 64)
	case "ms":
		return fmt.Sprintf("%.3f ms", m)
	case "":
		return fmt.Sprintf("%.3f", m)
	case "s/GiB":
		return fmt.Sprintf("%.2f %s", m, unit)
	}
	return fmt.Sprintf("%.1f %s", m, unit)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// getCmd prints one top-level field of the JSON object on stdin.
func getCmd(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: benchtool get FIELD < JSON")
	}
	var m map[string]any
	if err := json.NewDecoder(os.Stdin).Decode(&m); err != nil {
		return err
	}
	v, ok := m[args[0]]
	if !ok {
		return fmt.Errorf("no field %q", args[0])
	}
	switch v := v.(type) {
	case float64:
		fmt.Println(strconv.FormatFloat(v, 'f', -1, 64))
	case string:
		fmt.Println(v)
	default:
		b, _ := json.Marshal(v)
		fmt.Println(string(b))
	}
	return nil
}
