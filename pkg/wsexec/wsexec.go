// Package wsexec is the client end of the exec and attach WebSocket
// protocol, v5.channel.k8s.io. client-go dials and authenticates the
// connection (transport/websocket: TLS, credentials, impersonation, proxy,
// WrapTransport); this package owns what travels on it: the channels, the
// heartbeat, the half-close of stdin, terminal sizes and the exit status.
//
// It stands in for client-go's remotecommand WebSocket executor because of
// one defect there (client-go v0.37.2): its streams set the connection's
// write deadline (now + 60 s) only when they write stdin data, and the
// half-close of stdin writes without setting it. A stdin closed more than a
// minute after its last byte therefore writes against a deadline long past,
// the TLS connection is left broken mid-record, the pings fail and the
// session is lost 61 s later with the command's result ("no reply to pings
// in time"; `kubectl exec -i` v1.37.2 does the same). Here every write sets
// its own deadline. The behaviour users see otherwise follows client-go:
// the same error messages, exit codes and fallback errors.
package wsexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	gwebsocket "github.com/gorilla/websocket"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/websocket"
	"k8s.io/klog/v2"
)

// Protocol is the only stream protocol offered. Servers that do not speak
// it refuse the upgrade, which callers treat as the signal to fall back to
// SPDY, as kubectl does.
const Protocol = "v5.channel.k8s.io"

// Channel numbers of v5.channel.k8s.io: the first byte of every message.
const (
	chStdin  byte = 0
	chStdout byte = 1
	chStderr byte = 2
	chError  byte = 3
	chResize byte = 4
	chClose  byte = 255
)

const (
	// DefaultPingPeriod is client-go's heartbeat period.
	DefaultPingPeriod = 5 * time.Second
	// writeTimeout bounds every write, as client-go bounds its data writes.
	writeTimeout = 60 * time.Second
	// maxStatus bounds the status message kept from the error channel: a
	// Status is a few hundred bytes, a hostile server must not grow it.
	maxStatus = 1 << 20
)

// Executor runs one exec or attach stream over WebSocket. Like client-go's
// executors it is not safe to stream twice at the same time.
type Executor struct {
	rt     http.RoundTripper
	holder websocket.ConnectionHolder
	method string
	url    string
	// PingPeriod is how often a ping is sent; zero means DefaultPingPeriod.
	// The peer is given up after twelve periods and a second without a
	// reply, as client-go does.
	PingPeriod time.Duration
	// opened, when set (tests), is called with each new session before any
	// of its streams moves.
	opened func(*session)
}

// New returns an Executor for url (an https:// exec or attach URL) with
// the credentials and transport settings of config.
func New(config *rest.Config, method, url string) (*Executor, error) {
	rt, holder, err := websocket.RoundTripperFor(config)
	if err != nil {
		return nil, fmt.Errorf("websocket transport: %w", err)
	}
	return &Executor{rt: rt, holder: holder, method: method, url: url}, nil
}

// Stream is StreamWithContext without a context.
//
// Deprecated: use StreamWithContext, as with client-go's executors.
func (e *Executor) Stream(opts remotecommand.StreamOptions) error {
	return e.StreamWithContext(context.Background(), opts)
}

// StreamWithContext upgrades the request, copies the streams until the
// server closes the connection and returns the command's result: nil, an
// exec.CodeExitError for a non-zero exit, or what went wrong. An upgrade
// the server refuses is an *httpstream.UpgradeFailureError.
func (e *Executor) StreamWithContext(ctx context.Context, opts remotecommand.StreamOptions) error {
	req, err := http.NewRequestWithContext(ctx, e.method, e.url, nil)
	if err != nil {
		return err
	}
	conn, err := websocket.Negotiate(e.rt, e.holder, req, Protocol)
	if err != nil {
		return err
	}
	defer conn.Close()
	klog.FromContext(ctx).V(4).Info("Subprotocol negotiated", "protocol", conn.Subprotocol())
	period := e.PingPeriod
	if period <= 0 {
		period = DefaultPingPeriod
	}
	s := &session{conn: conn, opts: opts, period: period}
	if e.opened != nil {
		e.opened(s)
	}
	return s.run(ctx)
}

// session is one stream on one connection.
type session struct {
	conn   *gwebsocket.Conn
	opts   remotecommand.StreamOptions
	period time.Duration

	// wmu lets one message be written at a time (gorilla allows a single
	// writer; pings use WriteControl, which needs no lock).
	wmu sync.Mutex
	id  [1]byte

	status     bytes.Buffer // the error channel's message
	statusDone bool         // a whole status message arrived
	outFailed  [3]bool      // stdout/stderr whose writer failed: discarded since
}

func (s *session) readTimeout() time.Duration { return 12*s.period + time.Second }

func (s *session) run(ctx context.Context) error {
	stop := make(chan struct{})
	defer close(stop)
	done := make(chan error, 1)
	go func() { done <- s.readLoop(ctx) }()
	go s.heartbeat(stop)
	if s.opts.Stdin != nil {
		go s.copyStdin(ctx)
	}
	if s.opts.Tty && s.opts.TerminalSizeQueue != nil {
		go s.sendSizes(ctx)
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// readLoop writes each message to where its channel goes, until the
// connection ends, and returns the session's result.
func (s *session) readLoop(ctx context.Context) error {
	timeout := s.readTimeout()
	s.conn.SetPongHandler(func(string) error {
		return s.conn.SetReadDeadline(time.Now().Add(timeout))
	})
	for {
		// The deadline runs from here, not from the last pong: time spent
		// writing to a slow terminal is not the peer's silence.
		if err := s.conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
			return s.end(ctx, fmt.Errorf("next reader: %w", err))
		}
		kind, r, err := s.conn.NextReader()
		if err != nil {
			var ce *gwebsocket.CloseError
			if errors.As(err, &ce) && ce.Code == gwebsocket.CloseNormalClosure {
				return decodeStatus(s.status.Bytes())
			}
			return s.end(ctx, fmt.Errorf("next reader: %w", err))
		}
		if kind != gwebsocket.BinaryMessage {
			return s.end(ctx, fmt.Errorf("unexpected message type: %d", kind))
		}
		// The buffer is taken once a message has come and given back once
		// it is written: an idle session (the gateway holds hundreds)
		// holds none.
		bp := messageBuffers.Get().(*[]byte)
		err = s.dispatch(ctx, r, *bp)
		messageBuffers.Put(bp)
		if err != nil {
			return s.end(ctx, err)
		}
	}
}

// messageBuffers hold a whole message of the API server's (32 KiB and the
// channel byte) with room to spare: one write per message.
var messageBuffers = sync.Pool{New: func() any { b := make([]byte, 64*1024); return &b }}

// dispatch reads one message, its channel byte first.
func (s *session) dispatch(ctx context.Context, r io.Reader, buf []byte) error {
	if _, err := io.ReadFull(r, buf[:1]); err != nil {
		return fmt.Errorf("read stream id: %w", err)
	}
	if err := s.route(ctx, buf[0], r, buf); err != nil {
		return fmt.Errorf("read message: %w", err)
	}
	return nil
}

// route copies the rest of a message to its channel's destination.
func (s *session) route(ctx context.Context, id byte, r io.Reader, buf []byte) error {
	switch id {
	case chStdout:
		return s.copyOut(ctx, id, s.opts.Stdout, r, buf)
	case chStderr:
		stderr := s.opts.Stderr
		if s.opts.Tty {
			stderr = nil // a terminal has no stderr: client-go opens none
		}
		return s.copyOut(ctx, id, stderr, r, buf)
	case chError:
		if _, err := io.Copy(&s.status, io.LimitReader(r, int64(maxStatus-s.status.Len()))); err != nil {
			return err
		}
		s.statusDone = true
		return nil
	default:
		// Unknown channels, and the server's own close signals, carry
		// nothing the client acts on.
		_, err := io.Copy(io.Discard, r)
		return err
	}
}

// copyOut writes a message's data to w, in one write when it fits the
// buffer. A message arrives in pieces of at most one TLS record (16 KiB),
// and writing each piece as it comes would make two or three writes, and
// two or three recorded events, of every 32 KiB message the API server
// sends; waiting for the rest of a message that is already on its way
// costs no latency. A writer that fails is reported once and its channel
// discarded from then on, as client-go does: the result still comes from
// the status.
func (s *session) copyOut(ctx context.Context, id byte, w io.Writer, r io.Reader, buf []byte) error {
	if w == nil || s.outFailed[id] {
		_, err := io.Copy(io.Discard, r)
		return err
	}
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 && !s.outFailed[id] {
			if _, werr := w.Write(buf[:n]); werr != nil {
				s.outFailed[id] = true
				name := "Copying stdout failed"
				if id == chStderr {
					name = "Copying stderr failed"
				}
				utilruntime.HandleErrorWithContext(ctx, werr, name)
			}
		}
		switch err {
		case nil:
			// The buffer is full; the message may go on.
		case io.EOF, io.ErrUnexpectedEOF:
			return nil // the end of the message (ReadFull's words for it)
		default:
			return err
		}
	}
}

// end turns the error that broke the connection into the session's
// result, with client-go's words: kubectl users know them, and the
// plugin's diagnosis of a lost connection reads them (session/disconnect.go).
func (s *session) end(ctx context.Context, err error) error {
	if s.statusDone {
		// The command's result arrived whole before the connection
		// broke: it is the answer, not the broken connection.
		return decodeStatus(s.status.Bytes())
	}
	if ctx.Err() == nil {
		s.logBrokenCopies(ctx, err)
	}
	return fmt.Errorf("error reading from error stream: %w", err)
}

// logBrokenCopies logs, as client-go's stream copies do when the
// connection breaks under them, one line per stream that was open: the
// same messages kubectl prints, so that logs and scripts read alike.
func (s *session) logBrokenCopies(ctx context.Context, err error) {
	if s.opts.Stderr != nil && !s.opts.Tty && !s.outFailed[chStderr] {
		utilruntime.HandleErrorWithContext(ctx, err, "Copying stderr failed")
	}
	if s.opts.Stdout != nil && !s.outFailed[chStdout] {
		utilruntime.HandleErrorWithContext(ctx, err, "Copying stdout failed")
	}
	if s.opts.Stdin != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Waiting for server to close stdin failed")
	}
}

// write sends one message on channel id, with its own write deadline: the
// half-close included, which is what client-go's executor leaves out.
func (s *session) write(id byte, p []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return err
	}
	w, err := s.conn.NextWriter(gwebsocket.BinaryMessage)
	if err != nil {
		return err
	}
	s.id[0] = id
	if _, err := w.Write(s.id[:]); err != nil {
		w.Close()
		return err
	}
	if _, err := w.Write(p); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// Stdin is read into a buffer that starts small and grows to
// maxStdinRead once a read fills it: a typed line needs a few bytes, an
// upload (tar into the pod) gets 32 KiB messages, and an idle session,
// blocked in Read, holds little.
const (
	minStdinRead = 4 << 10
	maxStdinRead = 32 << 10
)

func (s *session) copyStdin(ctx context.Context) {
	buf := make([]byte, minStdinRead)
	for {
		n, err := s.opts.Stdin.Read(buf)
		if n > 0 {
			if werr := s.write(chStdin, buf[:n]); werr != nil {
				// The connection is gone; the read loop reports why.
				return
			}
		}
		if n == len(buf) && len(buf) < maxStdinRead {
			buf = make([]byte, 2*len(buf))
		}
		if err != nil {
			if err != io.EOF {
				utilruntime.HandleErrorWithContext(ctx, err, "Copying stdin failed")
			}
			// The v5 close signal: the command sees the end of its stdin.
			_ = s.write(chClose, []byte{chStdin})
			return
		}
	}
}

// sendSizes sends each terminal size as client-go does: JSON with a
// newline, on the resize channel.
func (s *session) sendSizes(ctx context.Context) {
	for {
		size := s.opts.TerminalSizeQueue.Next()
		if size == nil {
			return
		}
		msg := fmt.Appendf(nil, "{\"Width\":%d,\"Height\":%d}\n", size.Width, size.Height)
		if err := s.write(chResize, msg); err != nil {
			utilruntime.HandleErrorWithContext(ctx, err, "Encoding terminal size failed")
			return
		}
	}
}

// heartbeat pings every period until stop; the pongs extend the read
// deadline (readLoop).
func (s *session) heartbeat(stop <-chan struct{}) {
	t := time.NewTicker(s.period)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			err := s.conn.WriteControl(gwebsocket.PingMessage, nil, time.Now().Add(writeTimeout))
			var ne interface{ Timeout() bool }
			if err != nil && !errors.Is(err, gwebsocket.ErrCloseSent) && !(errors.As(err, &ne) && ne.Timeout()) {
				return
			}
		}
	}
}
