package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	constants "k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	crirc "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

// Stream settings, as the kubelet's streaming server has them.
const (
	streamIdleTimeout     = 4 * time.Hour
	streamCreationTimeout = crirc.DefaultStreamCreationTimeout
	statusWriteTimeout    = 10 * time.Second
)

// clientStreams are the client's side of one session once its upgrade is
// done: what the user sends and where the pod's output goes.
type clientStreams struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	tty            bool
	sizes          remotecommand.TerminalSizeQueue
}

// runFunc runs the session on the client's streams and returns how it
// ended: nil, an exit error (exec.CodeExitError) or any other failure.
type runFunc func(context.Context, clientStreams) error

// streamOptions say which streams the client asked for.
type streamOptions struct {
	stdin, stdout, stderr, tty bool
}

// serveStreams upgrades the client's connection, WebSocket v5 with
// apimachinery's wsstream as kube-apiserver does, SPDY (and the older
// WebSocket protocols) with the kubelet's own cri-streaming server code, and
// runs the session on it. The gateway never parses the protocol itself.
// ctx is cancelled when the client's connection goes away.
func serveStreams(parent context.Context, w http.ResponseWriter, r *http.Request, attach bool, opts streamOptions, run runFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	w = &watchedWriter{ResponseWriter: w, gone: func() { cancel(errClientGone) }}
	if wsstream.IsWebSocketRequestWithStreamCloseProtocol(r) {
		serveWebSocketV5(ctx, w, r, opts, run)
		return
	}
	cri := &criSession{ctx: ctx, run: run}
	criOpts := &crirc.Options{Stdin: opts.stdin, Stdout: opts.stdout, Stderr: opts.stderr, TTY: opts.tty}
	if attach {
		crirc.ServeAttach(w, r, cri, "", "", "", criOpts, streamIdleTimeout, streamCreationTimeout, crirc.SupportedStreamingProtocols)
		return
	}
	crirc.ServeExec(w, r, cri, "", "", "", nil, criOpts, streamIdleTimeout, streamCreationTimeout, crirc.SupportedStreamingProtocols)
}

// errClientGone ends a session whose client went away.
var errClientGone = errors.New("the client closed the connection")

// criSession adapts a runFunc to cri-streaming's Executor and Attacher.
type criSession struct {
	ctx context.Context
	run runFunc
}

func (c *criSession) ExecInContainer(ctx context.Context, _, _, _ string, _ []string, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan crirc.TerminalSize, _ time.Duration) error {
	return c.AttachContainer(ctx, "", "", "", in, out, errOut, tty, resize)
}

// AttachContainer runs the session on c.ctx, which follows the client's
// connection: the request's own context does not, once it is hijacked.
func (c *criSession) AttachContainer(_ context.Context, _, _, _ string, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan crirc.TerminalSize) error {
	s := clientStreams{stdin: nilReader(in), stdout: nilWriter(out), stderr: nilWriter(errOut), tty: tty}
	if resize != nil {
		s.sizes = criSizes(resize)
	}
	return c.run(c.ctx, s)
}

// nilReader and nilWriter keep an absent stream a nil interface: a typed
// nil would look like a stream to client-go.
func nilReader(r io.Reader) io.Reader {
	if r == nil {
		return nil
	}
	return r
}

func nilWriter(w io.WriteCloser) io.Writer {
	if w == nil {
		return nil
	}
	return w
}

// criSizes is cri-streaming's resize channel as client-go's size queue.
type criSizes <-chan crirc.TerminalSize

func (q criSizes) Next() *remotecommand.TerminalSize {
	s, ok := <-q
	if !ok {
		return nil
	}
	return &remotecommand.TerminalSize{Width: s.Width, Height: s.Height}
}

// serveWebSocketV5 serves the v5.channel.k8s.io protocol (stdin half-close
// included) with apimachinery's wsstream, channel for channel as
// kube-apiserver's stream translator does, and writes the session's
// outcome on the error channel.
func serveWebSocketV5(ctx context.Context, w http.ResponseWriter, r *http.Request, opts streamOptions, run runFunc) {
	channels := make([]wsstream.ChannelType, 5)
	channels[constants.StreamStdIn] = pick(opts.stdin, wsstream.ReadChannel)
	channels[constants.StreamStdOut] = pick(opts.stdout, wsstream.WriteChannel)
	channels[constants.StreamStdErr] = pick(opts.stderr, wsstream.WriteChannel)
	channels[constants.StreamErr] = wsstream.WriteChannel
	channels[constants.StreamResize] = wsstream.ReadChannel
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		constants.StreamProtocolV5Name: {Binary: true, Channels: channels},
	})
	conn.SetIdleTimeout(streamIdleTimeout)
	_, streams, err := conn.Open(w, r)
	if err != nil {
		return // the handshake already answered the client
	}
	defer func() { _ = conn.Close() }()
	// An empty frame on the first writable channel tells the client the
	// streams are ready, as kube-apiserver does.
	first := constants.StreamErr
	switch {
	case opts.stdout:
		first = constants.StreamStdOut
	case opts.stderr:
		first = constants.StreamStdErr
	}
	if _, err := streams[first].Write(nil); err != nil {
		return
	}
	s := clientStreams{tty: opts.tty}
	if opts.stdin {
		s.stdin = streams[constants.StreamStdIn]
	}
	if opts.stdout {
		s.stdout = streams[constants.StreamStdOut]
	}
	if opts.stderr {
		s.stderr = streams[constants.StreamStdErr]
	}
	if opts.tty {
		s.sizes = newJSONSizes(streams[constants.StreamResize])
	}
	status := statusOf(run(ctx, s))
	b, err := json.Marshal(status)
	if err != nil {
		return
	}
	conn.SetWriteDeadline(statusWriteTimeout)
	_, _ = streams[constants.StreamErr].Write(b)
}

func pick(asked bool, t wsstream.ChannelType) wsstream.ChannelType {
	if asked {
		return t
	}
	return wsstream.IgnoreChannel
}

// statusOf is the Status the protocol ends with, as the kubelet and the API
// server write it.
func statusOf(err error) metav1.Status {
	if err == nil {
		return metav1.Status{Status: metav1.StatusSuccess}
	}
	var exit utilexec.ExitError
	if errors.As(err, &exit) && exit.Exited() {
		return metav1.Status{
			Status: metav1.StatusFailure,
			Reason: constants.NonZeroExitCodeReason,
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{
				{Type: constants.ExitCodeCauseType, Message: strconv.Itoa(exit.ExitStatus())},
			}},
			Message: fmt.Sprintf("command terminated with non-zero exit code: %v", exit),
		}
	}
	return metav1.Status{
		Status:  metav1.StatusFailure,
		Reason:  metav1.StatusReasonInternalError,
		Code:    http.StatusInternalServerError,
		Message: "error executing command in container: " + err.Error(),
	}
}

// jsonSizes reads the resize channel: one JSON TerminalSize per message.
type jsonSizes struct{ d *json.Decoder }

func newJSONSizes(r io.Reader) *jsonSizes { return &jsonSizes{d: json.NewDecoder(r)} }

func (q *jsonSizes) Next() *remotecommand.TerminalSize {
	var s remotecommand.TerminalSize
	if err := q.d.Decode(&s); err != nil {
		return nil
	}
	return &s
}

// watchedWriter notices when the client's connection goes away. net/http
// no longer cancels a request's context once the connection is hijacked
// for the upgrade, so the hijacked connection itself is watched: the
// streaming code reads from it all the time, and a read error or a close
// means the client is gone.
type watchedWriter struct {
	http.ResponseWriter
	gone func()
}

func (w *watchedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the connection cannot be taken over for streaming")
	}
	c, rw, err := h.Hijack()
	if err != nil {
		return nil, nil, err
	}
	wc := &watchedConn{Conn: c, gone: w.gone}
	// The streaming servers read through the returned bufio.Reader, not
	// the connection: give them one over the watched connection, holding
	// whatever the server had already buffered.
	var r io.Reader = wc
	if n := rw.Reader.Buffered(); n > 0 {
		pre, _ := rw.Reader.Peek(n)
		r = io.MultiReader(bytes.NewReader(append([]byte(nil), pre...)), wc)
	}
	return wc, bufio.NewReadWriter(bufio.NewReader(r), bufio.NewWriter(wc)), nil
}

func (w *watchedWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// watchedWriter deliberately has no Unwrap: cri-streaming's WebSocket code
// unwraps writers to the original, which would bypass the watch.

type watchedConn struct {
	net.Conn
	once sync.Once
	gone func()
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.once.Do(c.gone)
	}
	return n, err
}

func (c *watchedConn) Close() error {
	c.once.Do(c.gone)
	return c.Conn.Close()
}
