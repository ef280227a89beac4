package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/kubectl/pkg/util/interrupt"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/wsexec"
)

// Config is everything the session needs besides what kubectl's exec
// options already resolved (pod, container, command, streams).
type Config struct {
	RecordDir  string    // --record-dir; empty means $KUBECTL_REXEC_DIR or the default
	Quiet      bool      // -q: print nothing but the remote output
	ErrOut     io.Writer // the user's stderr; kubectl drops it from the streams under -t
	Context    string    // kubeconfig context in use
	Cluster    string    // kubeconfig cluster name in use
	ClientArgv []string  // rexec's own argv, credentials already removed
	Version    string    // rexec version, for the header
	WebSocket  bool      // try WebSocket v5 first; false forces SPDY
	Identity   *Identity // the SelfSubjectReview started before the pod lookup
	Pod        func() *corev1.Pod
	Record     record.Options
	// Signals to end the session on; nil means SIGINT, SIGTERM, SIGHUP, SIGQUIT.
	Signals []os.Signal
	// Mode is the recording policy (--record); "" is RecordRequired.
	Mode RecordMode
	// Reason and Ticket say why the session is opened; they go into the
	// header (--reason, --ticket).
	Reason, Ticket string
	// OmitInput leaves stdin out of the recording (--record-input=false);
	// the header says so.
	OmitInput bool
	// RecordUnechoedInput records typed input in full even when the remote
	// terminal did not echo it (--record-unechoed-input). By default such
	// input of an interactive TTY session is recorded as its length only
	// (echogate.go), and the header says input_redaction: unechoed.
	RecordUnechoedInput bool
	// PingInterval is how often the connection is pinged, on either
	// protocol (--ping-interval); zero means client-go's
	// DefaultPingInterval. Over WebSocket the peer is given up after twelve
	// periods and a second without a reply, as client-go does.
	PingInterval time.Duration
	// OnBegin, when set, is called once the header is in the recording
	// file at path (the live upload starts there).
	OnBegin func(path string, h record.Header)
	// NoAuditAnchors turns off the audit-log witness: the chain head sent
	// to the API server at each checkpoint and at the close (anchor.go).
	NoAuditAnchors bool

	// The fields below serve the gateway, which runs many sessions in one
	// server process on behalf of other users.

	// SessionID is the session's ID; empty means a new random one. The
	// gateway picks it first because the upstream request carries it.
	SessionID string
	// IgnoreSignals leaves the process's signals alone: a server must not
	// end every session on one SIGTERM, nor register a handler per session.
	IgnoreSignals bool
	// OnUpgrade, when set, is called once the upstream exec upgrade
	// succeeded, after the header is in the recording.
	OnUpgrade func(Upgrade)
	// AmendHeader, when set, may change the header before it is written.
	AmendHeader func(*record.Header)
	// Route, when set, says where the exec request goes. It is called
	// once, as the stream is about to open, so that a lookup (is there a
	// gateway?) can run alongside kubectl's pod lookup.
	Route func() (Route, error)
}

// Route sends the exec request somewhere other than the core pods/exec.
type Route struct {
	// Prefix replaces /api/v1 in the exec URL, e.g.
	// /apis/rexec.kubectl-rexec.io/v1alpha1 for the rexec gateway, whose
	// group mirrors the core path; empty keeps the core path.
	Prefix string
	// Query is added to the request's query (the gateway's reason, ticket).
	Query url.Values
}

// DefaultPingInterval is client-go's ping period, on both protocols.
const DefaultPingInterval = 5 * time.Second

// Executor runs one exec stream and records it. It satisfies kubectl's
// exec.RemoteExecutor, so kubectl's own option handling, pod resolution and
// terminal set-up are used unchanged.
type Executor struct {
	cfg Config

	closeOnce sync.Once
	closed    chan struct{} // closed once the recording is finished
	path      string
	watch     *UpgradeWatcher

	warnMu     sync.Mutex
	warned     bool  // the best-effort warning was printed
	unrecorded error // why the session went on unrecorded (best-effort)
}

// NewExecutor returns an Executor for one session.
func NewExecutor(cfg Config) *Executor {
	if len(cfg.Signals) == 0 {
		cfg.Signals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT}
	}
	quietStreamCopies() // quiet.go: no "Copying stdout failed" when the session ends the stream
	return &Executor{cfg: cfg, closed: make(chan struct{})}
}

// Path is the recording's path once the session has started.
func (e *Executor) Path() string { return e.path }

// LastUpgrade is the session's last upgrade attempt: what the server
// answered, refusal body included.
func (e *Executor) LastUpgrade() (Upgrade, bool) {
	if e.watch == nil {
		return Upgrade{}, false
	}
	return e.watch.Last()
}

// ReportPath prints where the recording is, unless -q. It is called once the
// terminal is out of raw mode, so the line lands where the user expects it.
func (e *Executor) ReportPath() {
	if e.path != "" && !e.cfg.Quiet && e.cfg.ErrOut != nil {
		e.warnMu.Lock()
		partial := e.unrecorded != nil
		e.warnMu.Unlock()
		if partial {
			fmt.Fprintf(e.cfg.ErrOut, "Session partly recorded to %s (the recording failed mid-session)\n", e.path)
			return
		}
		fmt.Fprintf(e.cfg.ErrOut, "Session recorded to %s\n", e.path)
	}
}

// InterruptParent is handed to kubectl's terminal handling. Without it,
// kubectl exits the process on a signal as soon as the terminal is restored,
// before the recording is closed; with it, the signal only restores the
// terminal and waits for the recording, and the session ends normally.
func (e *Executor) InterruptParent() *interrupt.Handler {
	return interrupt.New(func(os.Signal) {}, func() {
		select {
		case <-e.closed:
		case <-time.After(10 * time.Second):
		}
	})
}

// Execute implements kubectl's RemoteExecutor.
func (e *Executor) Execute(u *url.URL, config *rest.Config, stdin io.Reader, stdout, stderr io.Writer, tty bool, sizes remotecommand.TerminalSizeQueue) error {
	return e.ExecuteWithContext(context.Background(), u, config, stdin, stdout, stderr, tty, sizes)
}

// ExecuteWithContext implements kubectl's RemoteExecutor.
func (e *Executor) ExecuteWithContext(ctx context.Context, u *url.URL, config *rest.Config, stdin io.Reader, stdout, stderr io.Writer, tty bool, sizes remotecommand.TerminalSizeQueue) error {
	defer e.closeOnce.Do(func() { close(e.closed) })

	if err := checkExecURL(u, e.cfg.WebSocket); err != nil {
		return err
	}
	var route Route
	if e.cfg.Route != nil {
		r, err := e.cfg.Route()
		if err != nil {
			return err
		}
		route = r
	}
	s, err := e.open(u, config, stdin != nil, tty)
	if err != nil {
		return err
	}
	if route.Prefix != "" {
		s.header.Rexec.Via = "gateway"
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ctx, s.endedByUs = withSessionLogger(ctx) // quiet.go
	if !e.cfg.IgnoreSignals {
		stopSignals := e.watchSignals(ctx, s, cancel)
		defer stopSignals()
	}
	u = route.apply(u)

	fail := func(err error) { s.recordingFailed(err); s.endedByUs.Store(true); cancel(err) }
	opts := remotecommand.StreamOptions{Tty: tty}
	var gate *echoGate
	if e.redactsInput(stdin != nil, tty) {
		gate = e.gated(s, &opts, stdin, stdout, sizes, fail)
	} else {
		e.ungated(s, &opts, stdin, stdout, sizes, tty, fail)
	}
	if stderr != nil {
		opts.Stderr = &outputTee{out: stderr, record: s.w.Stderr, fail: fail}
	}

	streamErr := s.stream(ctx, u, opts)
	if cause := context.Cause(ctx); streamErr != nil && cause != nil && !errors.Is(cause, context.Canceled) && s.signalled() == nil {
		// Say why the stream was cancelled (the gateway's client went
		// away, say) rather than a bare "context canceled".
		streamErr = fmt.Errorf("%w: %w", cause, context.Canceled)
	}
	if gate != nil {
		// Hand over what waited for an echo before the recording closes.
		if err := gate.Close(); err != nil {
			s.recordingFailed(err)
		}
	}
	return e.finish(s, streamErr)
}

// redactsInput tells whether typed input the remote terminal does not echo
// is recorded as its length only: in an interactive TTY session that
// records its input, unless --record-unechoed-input.
func (e *Executor) redactsInput(stdin, tty bool) bool {
	return tty && stdin && !e.cfg.OmitInput && !e.cfg.RecordUnechoedInput && e.cfg.Mode != RecordOff
}

// ungated records every stream as it comes.
func (e *Executor) ungated(s *live, opts *remotecommand.StreamOptions, stdin io.Reader, stdout io.Writer, sizes remotecommand.TerminalSizeQueue, tty bool, fail func(error)) {
	var ch *chapters // commands as markers, in an interactive TTY session
	// Markers from typed lines would record input: none without it.
	if tty && stdin != nil && !e.cfg.OmitInput {
		ch = newChapters(s.w.Marker)
	}
	if stdin != nil && e.cfg.OmitInput {
		opts.Stdin = stdin
	} else if stdin != nil {
		opts.Stdin = &inputTee{in: stdin, record: ch.input(s.w.Stdin), fail: fail}
	}
	if stdout != nil {
		opts.Stdout = &outputTee{out: stdout, record: ch.output(s.w.Stdout), fail: fail}
	}
	if sizes != nil {
		opts.TerminalSizeQueue = &sizeTee{next: sizes, record: s.w.Resize, fail: fail}
	}
}

// gated records stdin, stdout and resizes through the echo gate, which
// keeps typed input the remote terminal does not echo as its length only.
func (e *Executor) gated(s *live, opts *remotecommand.StreamOptions, stdin io.Reader, stdout io.Writer, sizes remotecommand.TerminalSizeQueue, fail func(error)) *echoGate {
	out := &gatedRecording{w: s.w}
	out.ch = newChapters(func(label string) error { return s.w.MarkerAt(out.at, label) })
	gate := newEchoGate(out, e.cfg.Record.Now)
	opts.Stdin = &inputTee{in: stdin, record: gate.Input, fail: fail}
	if stdout != nil {
		opts.Stdout = &outputTee{out: stdout, record: gate.Output, fail: fail}
	}
	if sizes != nil {
		opts.TerminalSizeQueue = &sizeTee{next: sizes, record: gate.Resize, fail: fail}
	}
	return gate
}

// gatedRecording records what the echo gate hands over, in order and with
// its own times, and shows it to the command marking.
type gatedRecording struct {
	w  recorder
	ch *chapters
	at time.Time // the time of the event being handed over, for markers
}

func (g *gatedRecording) input(t time.Time, p []byte) error {
	g.at = t
	if err := g.w.StdinAt(t, p); err != nil {
		return err
	}
	g.ch.typed(p)
	return nil
}

func (g *gatedRecording) redacted(t time.Time, n int) error {
	g.at = t
	if err := g.w.RedactedStdinAt(t, n); err != nil {
		return err
	}
	g.ch.secret()
	return nil
}

func (g *gatedRecording) output(t time.Time, p []byte) error {
	g.at = t
	if err := g.w.StdoutAt(t, p); err != nil {
		return err
	}
	g.ch.shown(p)
	return nil
}

func (g *gatedRecording) resize(t time.Time, cols, rows int) error {
	g.at = t
	return g.w.ResizeAt(t, cols, rows)
}

// live is one running session: its recording and what the stream told us.
type live struct {
	w       recorder
	header  record.Header
	config  *rest.Config
	wsFirst bool
	ping    time.Duration // ping period; zero means DefaultPingInterval
	watch   *UpgradeWatcher
	status  statusWatch
	began   sync.Once
	onBegin func(record.Header) // Config.OnBegin, bound to the path
	started time.Time
	anchor  *anchorer // the audit-log witness (anchor.go); nil without one

	mu        sync.Mutex
	recErr    error
	signal    os.Signal
	websocket bool // the WebSocket attempt is (or was) the one in use

	// endedByUs: the session ended its stream itself (quiet.go).
	endedByUs *atomic.Bool
}

func (s *live) recordingFailed(err error) {
	s.mu.Lock()
	if s.recErr == nil {
		s.recErr = err
	}
	s.mu.Unlock()
}

// begin writes the header once the protocol is known (or the attempt failed).
func (s *live) begin(protocol string) {
	s.began.Do(func() {
		s.header.Rexec.Protocol = protocol
		if err := s.w.Begin(s.header); err != nil {
			s.recordingFailed(err)
			return
		}
		// A refused attempt (no protocol) is recorded and uploaded too:
		// who tried to exec where, and what the server said, is part of
		// the record compliance keeps.
		if s.onBegin != nil {
			s.onBegin(s.header)
		}
	})
}

// open creates the recording before anything is sent to the pod: when the
// recording cannot be created, the session does not start.
func (e *Executor) open(u *url.URL, config *rest.Config, stdin, tty bool) (*live, error) {
	id := e.cfg.SessionID
	if id == "" {
		id = uuid.NewString()
	}
	now := time.Now()
	h := e.header(u, config, id, now, stdin, tty)
	if e.cfg.AmendHeader != nil {
		e.cfg.AmendHeader(&h)
	}
	anchor := e.anchorer(config, id)
	var witness record.Witness // a nil *anchorer must be a nil Witness
	if anchor != nil {
		witness = anchor
	}
	w, err := e.createRecorder(h, now, id, witness) // policy.go: the record mode
	if err != nil {
		if anchor != nil {
			anchor.stop()
		}
		return nil, err
	}
	s := &live{w: w, header: h, started: now, config: config, wsFirst: e.cfg.WebSocket, ping: e.cfg.PingInterval, anchor: anchor}
	if e.cfg.OnBegin != nil && e.path != "" {
		s.onBegin = func(h record.Header) { e.cfg.OnBegin(e.path, h) }
	}
	e.watch = &UpgradeWatcher{AuditID: id, OnUpgrade: func(up Upgrade) {
		proto := up.Protocol
		if proto == "" {
			proto = "channel.k8s.io"
		}
		s.begin(proto + " (" + up.Kind + ")")
		if e.cfg.OnUpgrade != nil {
			e.cfg.OnUpgrade(up)
		}
	}}
	s.watch = e.watch
	return s, nil
}

// apply rewrites the exec URL for the route: the gateway's group mirrors
// the core path under its own prefix.
func (r Route) apply(u *url.URL) *url.URL {
	if r.Prefix == "" {
		return u
	}
	out := *u
	prefix := strings.TrimSuffix(r.Prefix, "/")
	if i := strings.Index(out.Path, "/api/v1/namespaces/"); i >= 0 {
		// i > 0 for a server URL with a path (a proxy in front of the API).
		out.Path = out.Path[:i] + prefix + out.Path[i+len("/api/v1"):]
	}
	if len(r.Query) > 0 {
		q := out.Query()
		for k, vs := range r.Query {
			for _, v := range vs {
				q.Add(k, v)
			}
		}
		out.RawQuery = q.Encode()
	}
	return &out
}

// stream runs the exec stream: WebSocket first and SPDY when the WebSocket
// upgrade is refused, as kubectl does.
func (s *live) stream(ctx context.Context, u *url.URL, opts remotecommand.StreamOptions) error {
	config := s.watch.Wrap(s.config)
	if s.wsFirst {
		s.setWebSocket(true)
		// Our own v5 client over client-go's connection: client-go's
		// loses the session when stdin closes a minute after its last
		// byte (package wsexec says why).
		ws, err := wsexec.New(config, "GET", u.String())
		if err != nil {
			return err
		}
		ws.PingPeriod = s.ping
		err = ws.StreamWithContext(ctx, opts)
		if err == nil || !(httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)) {
			return err
		}
		s.setWebSocket(false)
	}
	rt, upgrader, err := spdyRoundTripperFor(config, s.ping)
	if err != nil {
		return err
	}
	ex, err := remotecommand.NewSPDYExecutorForTransports(rt, &watchingUpgrader{next: upgrader, status: &s.status}, "POST", u)
	if err != nil {
		return err
	}
	return ex.StreamWithContext(ctx, opts)
}

func (s *live) signalled() os.Signal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signal
}

func (s *live) setWebSocket(v bool) {
	s.mu.Lock()
	s.websocket = v
	s.mu.Unlock()
}

// watchSignals ends the stream on a signal so the recording can be closed
// properly before the process goes.
func (e *Executor) watchSignals(ctx context.Context, s *live, cancel context.CancelCauseFunc) func() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, e.cfg.Signals...)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			s.mu.Lock()
			s.signal = sig
			s.mu.Unlock()
			s.endedByUs.Store(true)
			cancel(&InterruptedError{Signal: sig})
		case <-done:
		case <-ctx.Done():
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}

// finish closes the recording with the way the stream ended and returns the
// error kubectl's error handling should see. Exit errors are returned
// unwrapped: kubectl finds the exit code by a type switch.
func (e *Executor) finish(s *live, streamErr error) error {
	s.begin("") // no upgrade ever succeeded: still a valid, closed recording
	out := classify(s, streamErr)
	err := s.w.Close(out.end)
	if s.anchor != nil {
		s.anchor.stop() // done already, unless the recording failed before its trailer
	}
	if err != nil && out.end.Reason != record.ReasonRecordingError {
		out.end = record.End{Reason: record.ReasonRecordingError, Message: err.Error(), ExitCode: out.end.ExitCode}
		out.err = &RecordingError{Path: e.path, Err: err}
	}
	if re, ok := errorsAs[*RecordingError](out.err); ok {
		e.warnMu.Lock()
		e.unrecorded = re.Err // ReportPath: partly recorded
		e.warnMu.Unlock()
	}
	e.closeOnce.Do(func() { close(e.closed) })
	return out.err
}

// anchorer starts the audit-log witness of the session (anchor.go), unless
// nothing is recorded or Config.NoAuditAnchors says not to.
func (e *Executor) anchorer(config *rest.Config, id string) *anchorer {
	if e.cfg.Mode == RecordOff || e.cfg.NoAuditAnchors || config == nil {
		return nil
	}
	send, err := auditAnchorSender(config)
	if err != nil {
		return nil // the session's own requests would fail the same way
	}
	return newAnchorer(id, send)
}

// RecordingError says the recording failed mid-session, which ends the
// session: what was recorded up to then stays valid.
type RecordingError struct {
	Path string
	Err  error
}

func (e *RecordingError) Error() string {
	return fmt.Sprintf("recording %s failed, session ended: %v", e.Path, e.Err)
}

func (e *RecordingError) Unwrap() error { return e.Err }

// InterruptedError says a signal ended the session.
type InterruptedError struct {
	Signal   os.Signal
	Terminal bool // the session ran under a raw terminal
}

func (e *InterruptedError) Error() string {
	return fmt.Sprintf("session interrupted by signal %v", e.Signal)
}

// errorsAs is errors.As with the target made for the caller.
func errorsAs[T error](err error) (T, bool) {
	var t T
	ok := errors.As(err, &t)
	return t, ok
}
