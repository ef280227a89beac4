package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Defaults of the command line.
const (
	DefaultStepTimeout   = 10 * time.Second
	DefaultRTTSamples    = 20
	DefaultThroughputMiB = 8
)

// Config is what Run checks and how.
type Config struct {
	// Flags load the kubeconfig with kubectl's rules and overrides
	// (--kubeconfig, --context, -n, --token, ...). Required.
	Flags *genericclioptions.ConfigFlags
	// Target is the POD or TYPE/NAME, resolved to a pod as kubectl exec
	// does (deploy/web picks one of its pods). Required.
	Target string
	// Container is -c; empty picks the container kubectl exec would.
	Container string
	// StepTimeout bounds each step; zero means DefaultStepTimeout. The
	// stream step gets it for each of its two measurements, the idle step
	// Idle + 5s + StepTimeout.
	StepTimeout time.Duration
	// RTTSamples is how many echo round trips to time through a remote
	// cat; 0 skips them.
	RTTSamples int
	// ThroughputMiB is how much to read from a remote head -c; 0 skips it.
	ThroughputMiB int
	// Idle, when positive, holds a silent session open that long (plus 5 s)
	// on each protocol whose upgrade works, and reports whether it was cut.
	Idle time.Duration
	// PreferSPDY says sessions use SPDY (KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false),
	// so a refused WebSocket upgrade is no problem and a refused SPDY one is.
	PreferSPDY bool
	// Progress, when set, is called with each step as it finishes.
	Progress func(Step)
}

// run is one doctor run: the configuration and what earlier steps found.
type run struct {
	cfg    Config
	report *Report

	restConfig *rest.Config
	client     kubernetes.Interface
	serverURL  *url.URL
	proxy      func(*http.Request) (*url.URL, error)
	proxyURL   *url.URL // the proxy in effect for the server, nil when none
	authKind   string
	// probeAnswered: an unauthenticated GET /version got an HTTP answer.
	probeAnswered bool

	pod       *corev1.Pod
	container string

	ws, spdy *handshake // results of step 5

	// stop, when set, is why the remaining steps cannot run.
	stop string
}

// Run walks the path of an exec session to Config.Target and reports every
// check. The error is only for a Config that cannot run (no Flags, no
// Target); whatever is wrong on the path is in the Report.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if cfg.Flags == nil {
		return Report{}, errors.New("doctor: Config.Flags is required")
	}
	if cfg.Target == "" {
		return Report{}, errors.New("doctor: Config.Target (POD or TYPE/NAME) is required")
	}
	if cfg.StepTimeout <= 0 {
		cfg.StepTimeout = DefaultStepTimeout
	}
	if cfg.RTTSamples < 0 || cfg.ThroughputMiB < 0 || cfg.Idle < 0 {
		return Report{}, errors.New("doctor: RTTSamples, ThroughputMiB and Idle must not be negative")
	}
	begin := time.Now()
	r := &run{cfg: cfg, report: &Report{Target: cfg.Target}}

	r.step(ctx, 1, "kubeconfig", "kubeconfig", cfg.StepTimeout, r.kubeconfig)
	r.step(ctx, 2, "reachability", "reachability of the API server", cfg.StepTimeout, r.reachability)
	r.step(ctx, 3, "identity", "identity and permission", cfg.StepTimeout, r.identity)
	r.step(ctx, 4, "pod", "the pod", cfg.StepTimeout, r.podStep)
	r.step(ctx, 5, "handshake", "exec handshake, each protocol", 2*cfg.StepTimeout, r.handshakes) // each its own timeout
	if cfg.RTTSamples > 0 || cfg.ThroughputMiB > 0 {
		// Two measurements, each with its own timeout.
		r.step(ctx, 6, "stream", "the stream", 2*cfg.StepTimeout, r.streamStep)
	}
	if cfg.Idle > 0 {
		r.step(ctx, 7, "idle", fmt.Sprintf("an idle session (%v)", cfg.Idle), idleHold(cfg.Idle)+cfg.StepTimeout, r.idleStep)
	}

	r.report.Took = Millis(time.Since(begin))
	r.report.finish()
	return *r.report, nil
}

// stepRun collects the checks of one step.
type stepRun struct {
	ctx    context.Context
	checks []Check
}

// add appends a check; a failing check without a hop gets hop.
func (s *stepRun) add(c Check) *Check {
	s.checks = append(s.checks, c)
	return &s.checks[len(s.checks)-1]
}

// timed runs f and records its check with the time it took. A check that
// did not finish before the step's deadline fails as a timeout.
func (s *stepRun) timed(name string, f func(ctx context.Context) Check) *Check {
	start := time.Now()
	c := f(s.ctx)
	c.Name = name
	c.Took = Millis(time.Since(start))
	if c.Status == "" {
		c.Status = StatusOK
	}
	return s.add(c)
}

func (r *run) step(ctx context.Context, number int, name, title string, timeout time.Duration, f func(*stepRun)) {
	st := Step{Number: number, Name: name, Title: title}
	start := time.Now()
	if r.stop != "" {
		st.Checks = []Check{{Name: name, Status: StatusSkip, Detail: "skipped: " + r.stop}}
		st.Status = StatusSkip
	} else {
		sctx, cancel := context.WithTimeout(ctx, timeout)
		s := &stepRun{ctx: sctx}
		f(s)
		cancel()
		st.Checks = s.checks
		st.Status = StatusOK
		for _, c := range st.Checks {
			st.Status = worse(st.Status, c.Status)
		}
		if len(st.Checks) > 0 && allSkipped(st.Checks) {
			st.Status = StatusSkip
		}
	}
	st.Took = Millis(time.Since(start))
	r.report.Steps = append(r.report.Steps, st)
	if r.cfg.Progress != nil {
		r.cfg.Progress(st)
	}
}

func allSkipped(cs []Check) bool {
	for _, c := range cs {
		if c.Status != StatusSkip {
			return false
		}
	}
	return true
}

// bounded runs f and returns its result, or ctx's error as soon as ctx
// ends even if f has not returned: a credential plugin waiting for a login,
// or a transport that ignores the context, must not hang doctor. f then
// finishes in the background, its result dropped.
func bounded[T any](ctx context.Context, f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// timeoutDetail turns a context error into words, or returns "".
func timeoutDetail(ctx context.Context, what string) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return what + ": no answer before the step's timeout (--timeout)"
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return what + ": canceled"
	}
	return ""
}

// failCheck is a failing check.
func failCheck(detail, hop, hint string) Check {
	return Check{Status: StatusFail, Detail: detail, Hop: hop, Hint: hint}
}

// warnCheck is a warning.
func warnCheck(detail, hint string) Check {
	return Check{Status: StatusWarn, Detail: detail, Hint: hint}
}

// okCheck is a passed check.
func okCheck(detail string, data map[string]any) Check {
	return Check{Status: StatusOK, Detail: detail, Data: data}
}
