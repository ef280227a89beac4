package doctor

import (
	"github.com/kubectl-rexec/kubectl-rexec/pkg/session"

	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
)

// pingInterval is how often client-go pings an exec connection, on both
// protocols (SPDY's default, hard-coded for WebSocket).
const pingInterval = 5 * time.Second

// idleExtra is how much longer than --idle the silent command runs.
const idleExtra = 5 * time.Second

// idleHold is how long the idle session's command runs: sleep IDLE+5s.
func idleHold(idle time.Duration) time.Duration {
	return time.Duration(math.Ceil((idle + idleExtra).Seconds())) * time.Second
}

// streamStep is step 6: echo round trips through a remote cat, then
// throughput from a remote head -c, over the protocol a session would use.
func (r *run) streamStep(s *stepRun) {
	h := r.preferred()
	if h == nil {
		s.add(Check{Name: "stream", Status: StatusSkip, Detail: "skipped: no exec upgrade that rexec would use works"})
		return
	}
	if r.cfg.RTTSamples > 0 {
		s.timed("echo "+h.kind, func(ctx context.Context) Check {
			ctx, cancel := context.WithTimeout(ctx, r.cfg.StepTimeout)
			defer cancel()
			return r.echo(ctx, h.kind, r.cfg.RTTSamples)
		})
	}
	if r.cfg.ThroughputMiB > 0 {
		s.timed("throughput "+h.kind, func(ctx context.Context) Check {
			ctx, cancel := context.WithTimeout(ctx, r.cfg.StepTimeout)
			defer cancel()
			return r.throughput(ctx, h.kind, int64(r.cfg.ThroughputMiB)<<20)
		})
	}
}

// echo sends n lines (plus one to warm up) to a remote cat and times each
// one's return.
func (r *run) echo(ctx context.Context, kind string, n int) Check {
	ex, err := r.executor(kind, []string{"cat"}, true, &session.UpgradeWatcher{})
	if err != nil {
		return failCheck(err.Error(), hopStream, "")
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	var stderr limitedBuffer
	done := make(chan error, 1)
	go func() {
		err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: inR, Stdout: outW, Stderr: &stderr})
		if err == nil {
			err = io.EOF
		}
		_ = outW.CloseWithError(err)
		_ = inR.CloseWithError(err)
		done <- err
	}()
	stop := context.AfterFunc(ctx, func() {
		_ = outR.CloseWithError(ctx.Err())
		_ = inW.CloseWithError(ctx.Err())
	})
	defer stop()

	br := bufio.NewReader(outR)
	var rtts []time.Duration
	for i := 0; i <= n; i++ {
		msg := fmt.Sprintf("rexec-doctor echo %d\n", i)
		start := time.Now()
		if _, err := io.WriteString(inW, msg); err != nil {
			return r.streamFailure(ctx, "echo", fmt.Sprintf("writing sample %d", i), err, stderr.String())
		}
		line, err := br.ReadString('\n')
		if err != nil {
			return r.streamFailure(ctx, "echo", fmt.Sprintf("reading sample %d back", i), err, stderr.String())
		}
		if line != msg {
			return failCheck(fmt.Sprintf("sample %d came back as %.60q", i, line), hopStream, "the stream altered the data")
		}
		if i > 0 { // sample 0 warms up cat and the connection
			rtts = append(rtts, time.Since(start))
		}
	}
	_ = inW.Close()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, io.EOF) {
			return r.streamFailure(ctx, "echo", "closing", err, stderr.String())
		}
	case <-ctx.Done():
		return failCheck("cat did not end when its stdin was closed", hopStream,
			"closing stdin did not reach the command: the stream translator or a proxy does not pass the stdin close")
	}
	slices.Sort(rtts)
	p50, p99 := percentile(rtts, 0.50), percentile(rtts, 0.99)
	return okCheck(fmt.Sprintf("%d round trips through a remote cat: p50 %v, p99 %v (min %v, max %v)",
		len(rtts), Millis(p50), Millis(p99), Millis(rtts[0]), Millis(rtts[len(rtts)-1])),
		map[string]any{"samples": len(rtts), "p50Ms": Millis(p50), "p99Ms": Millis(p99), "minMs": Millis(rtts[0]), "maxMs": Millis(rtts[len(rtts)-1])})
}

// percentile is the nearest-rank percentile of sorted samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// countingWriter counts bytes and notes when the first arrived.
type countingWriter struct {
	n     atomic.Int64
	once  sync.Once
	first atomic.Int64 // unix nanos
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.once.Do(func() { c.first.Store(time.Now().UnixNano()) })
	c.n.Add(int64(len(p)))
	return len(p), nil
}

// throughput reads size bytes from a remote head -c.
func (r *run) throughput(ctx context.Context, kind string, size int64) Check {
	ex, err := r.executor(kind, []string{"head", "-c", fmt.Sprint(size), "/dev/zero"}, false, &session.UpgradeWatcher{})
	if err != nil {
		return failCheck(err.Error(), hopStream, "")
	}
	var out countingWriter
	var stderr limitedBuffer
	start := time.Now()
	_, err = bounded(ctx, func() (struct{}, error) {
		return struct{}{}, ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &stderr})
	})
	end := time.Now()
	got := out.n.Load()
	if err != nil {
		return r.streamFailure(ctx, "throughput", fmt.Sprintf("after %d of %d bytes", got, size), err, stderr.String())
	}
	if got != size {
		return failCheck(fmt.Sprintf("the stream ended after %d of %d bytes with no error", got, size), hopStream,
			"the connection was closed early without the command's exit status: a proxy or load balancer cut it")
	}
	total := end.Sub(start)
	rate := float64(size) / (1 << 20) / total.Seconds()
	data := map[string]any{"bytes": size, "totalMs": Millis(total), "mibPerSecond": math.Round(rate*10) / 10}
	detail := fmt.Sprintf("%d MiB from a remote head -c in %v: %.1f MiB/s", size>>20, Millis(total), rate)
	if f := out.first.Load(); f > 0 {
		firstByte := time.Unix(0, f).Sub(start)
		data["firstByteMs"] = Millis(firstByte)
		detail += fmt.Sprintf(" (first byte after %v)", Millis(firstByte))
	}
	return okCheck(detail, data)
}

// streamFailure words a stream that failed mid-measurement.
func (r *run) streamFailure(ctx context.Context, what, when string, err error, stderr string) Check {
	var ee utilexec.ExitError
	switch {
	case errors.As(err, &ee):
		tool := map[string]string{"echo": "cat", "throughput": "head"}[what]
		msg := strings.TrimSpace(stderr)
		if msg == "" {
			msg = err.Error()
		}
		c := warnCheck(fmt.Sprintf("%s exited %d %s: %s", tool, ee.ExitStatus(), when, oneLine(msg)),
			"the container lacks "+tool+" (distroless images do): the stream could not be measured, the exec path itself works")
		return c
	case ctx.Err() != nil:
		return failCheck(fmt.Sprintf("%s: no progress %s before the timeout (--timeout)", what, when), hopStream,
			"the stream stalls: check the kubelet and the node's load, and any proxy that buffers streams")
	}
	return failCheck(fmt.Sprintf("%s: the stream failed %s: %v", what, when, err), hopStream,
		"the connection broke mid-stream: a proxy or load balancer in the path, or the API server or kubelet restarting")
}

// isRoundCut says whether a cut after secs seconds of silence looks like a
// configured timeout of a whole number of seconds. The proxy's timer runs
// from the last byte, which this client saw a moment before it measures
// from, and noticing the close takes a moment more (longer on a loaded
// machine), so a cut lands slightly after the round number, never much
// before it.
func isRoundCut(secs float64) bool {
	d := secs - math.Round(secs)
	return d >= -0.1 && d <= max(0.4, 0.02*secs)
}

// idleStep is step 7: a silent session held open on each protocol whose
// upgrade works, at the same time, to see whether and when it is cut.
func (r *run) idleStep(s *stepRun) {
	var kinds []*handshake
	for _, h := range []*handshake{r.ws, r.spdy} {
		if h != nil && h.works {
			kinds = append(kinds, h)
		}
	}
	if len(kinds) == 0 {
		s.add(Check{Name: "idle", Status: StatusSkip, Detail: "skipped: no exec upgrade works"})
		return
	}
	checks := make([]Check, len(kinds))
	var wg sync.WaitGroup
	for i, h := range kinds {
		wg.Go(func() {
			start := time.Now()
			checks[i] = r.idle(s.ctx, h.kind)
			checks[i].Name = "idle " + h.kind
			checks[i].Took = Millis(time.Since(start))
		})
	}
	wg.Wait()
	for _, c := range checks {
		s.add(c)
	}
}

// idle runs sh -c 'sleep IDLE+5; echo done' without input and reports
// whether it ran to the end.
func (r *run) idle(ctx context.Context, kind string) Check {
	hold := idleHold(r.cfg.Idle)
	w := &session.UpgradeWatcher{}
	ex, err := r.executor(kind, []string{"sh", "-c", fmt.Sprintf("sleep %d; echo done", int(hold.Seconds()))}, false, w)
	if err != nil {
		return failCheck(err.Error(), hopStream, "")
	}
	var out, stderr limitedBuffer
	start := time.Now()
	_, err = bounded(ctx, func() (struct{}, error) {
		return struct{}{}, ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &stderr})
	})
	end := time.Now()
	up, _ := w.Last()
	at := up.At
	if up.Status != 101 {
		return failCheck(fmt.Sprintf("the upgrade failed this time: %v", err), hopUpgrade, "see the handshake step")
	}
	if at.IsZero() {
		at = start
	}
	lasted := end.Sub(at)
	data := map[string]any{"heldMs": Millis(lasted), "commandSeconds": int(hold.Seconds())}
	var ee utilexec.ExitError
	switch {
	case err == nil && strings.Contains(out.String(), "done"):
		data["cut"] = false
		return okCheck(fmt.Sprintf("silent for %v and not cut: the command finished after %v", hold, Millis(lasted)), data)
	case errors.As(err, &ee):
		return warnCheck(fmt.Sprintf("sh exited %d after %v: %s", ee.ExitStatus(), Millis(lasted), oneLine(stderr.String())),
			"the container lacks sh or sleep: the idle check could not run")
	case ctx.Err() != nil && err != nil:
		return failCheck(fmt.Sprintf("the session did not end within %v of the command's end", r.cfg.StepTimeout), hopStream,
			"the command's exit did not reach this client: the stream hangs")
	}
	data["cut"] = true
	data["cutAfterMs"] = Millis(lasted)
	how := "the connection closed without the command's exit status"
	if kind == kindSPDY && err == nil {
		how += " (over SPDY kubectl reports this as success, exit 0)"
	}
	if err != nil {
		how += ": " + oneLine(err.Error())
	}
	secs := lasted.Seconds()
	nearest := math.Round(secs)
	round := nearest >= 1 && isRoundCut(secs)
	data["roundSeconds"] = round
	detail := fmt.Sprintf("cut after %v of silence; %s", Millis(lasted), how)
	hop := "an idle timeout on a proxy or load balancer between here and the API server"
	var hint string
	switch {
	case round && lasted < pingInterval:
		hint = fmt.Sprintf("a cut after a round %d s of silence, shorter than client-go's %v ping interval, is an idle timeout in the path: HAProxy's 'timeout tunnel' (or 'timeout client'/'timeout server' without one), nginx's proxy_read_timeout, a cloud load balancer's idle timeout; raise it well above %v (e.g. timeout tunnel 1h)",
			int(nearest), pingInterval, pingInterval)
	case round:
		hint = fmt.Sprintf("a cut after a round %d s although client-go pings every %v points at a proxy's 'timeout tunnel'/'timeout client' (or a proxy that does not count pings as traffic); raise it",
			int(nearest), pingInterval)
	default:
		hop = "the network path to the API server"
		hint = "not a round number, so probably not a configured timeout: look at NAT or firewall connection tracking, and at the API server's and kubelet's logs"
	}
	c := failCheck(detail, hop, hint)
	c.Data = data
	return c
}
