package testserver

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"sync"
)

// connTracker wraps a listener so that every accepted connection can be
// closed on demand, including hijacked ones: httptest forgets a connection
// once it is hijacked, and exec sessions (SPDY and WebSocket) always are.
// It also ends a connection's context when the peer goes away, because
// net/http stops watching a hijacked connection and would otherwise never
// cancel the request context that the upstream exec code passes on to the
// command runner.
type connTracker struct {
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

type trackedConn struct {
	net.Conn
	tracker *connTracker
	cancel  context.CancelFunc // guarded by tracker.mu
}

type connKey struct{}

func newConnTracker() *connTracker {
	return &connTracker{conns: map[*trackedConn]struct{}{}}
}

// listener returns l with every accepted connection tracked.
func (t *connTracker) listener(l net.Listener) net.Listener {
	return &trackedListener{Listener: l, tracker: t}
}

// connContext is an http.Server ConnContext: it gives each connection a
// context that ends with the connection and remembers the connection.
func (t *connTracker) connContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	tc, ok := c.(*trackedConn)
	if !ok {
		return ctx
	}
	ctx, cancel := context.WithCancel(ctx)
	t.mu.Lock()
	tc.cancel = cancel
	t.mu.Unlock()
	return context.WithValue(ctx, connKey{}, tc)
}

// closeAll closes every open connection.
func (t *connTracker) closeAll() {
	t.mu.Lock()
	conns := make([]*trackedConn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// connOf returns the connection a request arrived on, or nil.
func connOf(ctx context.Context) *trackedConn {
	c, _ := ctx.Value(connKey{}).(*trackedConn)
	return c
}

type trackedListener struct {
	net.Listener
	tracker *connTracker
}

func (l *trackedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, tracker: l.tracker}
	l.tracker.mu.Lock()
	l.tracker.conns[tc] = struct{}{}
	l.tracker.mu.Unlock()
	return tc, nil
}

// Read ends the connection's context as soon as the peer is gone. The
// upstream stream code closes a connection whose reader failed, which ends
// it through Close too; this does not depend on that. Deadline errors are
// no sign of a lost peer: net/http uses read deadlines to interrupt its
// own background reads, on every keep-alive request and before a hijack.
func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		c.endContext()
	}
	return n, err
}

// Close closes the connection first and ends its context after, as a lost
// network does: the command's runner learns of it from the context and
// kills the command, and the exit status it then writes must find the
// connection already gone (in the other order a cut session could still
// deliver "exit code 137" to the client, a flake seen in CI).
func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.endContext()
	c.tracker.mu.Lock()
	delete(c.tracker.conns, c)
	c.tracker.mu.Unlock()
	return err
}

func (c *trackedConn) endContext() {
	c.tracker.mu.Lock()
	cancel := c.cancel
	c.tracker.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}
