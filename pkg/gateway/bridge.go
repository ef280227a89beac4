package gateway

import (
	"context"
	"io"

	"k8s.io/client-go/tools/remotecommand"
)

// bridge hands the upstream stream the client's streams once they exist.
// The gateway opens the upstream exec first, so that a refusal (forbidden,
// not found, no such container) reaches the client as the API server's own
// answer before any upgrade; until the client's upgrade is done, upstream
// reads and writes wait here.
type bridge struct {
	ready  chan struct{} // closed by attach
	ctx    context.Context
	client clientStreams
}

func newBridge(ctx context.Context) *bridge {
	return &bridge{ready: make(chan struct{}), ctx: ctx}
}

// attach gives the upstream side the client's streams; call it once.
func (b *bridge) attach(c clientStreams) {
	b.client = c
	close(b.ready)
}

// wait blocks until attach or the end of the session.
func (b *bridge) wait() bool {
	select {
	case <-b.ready:
		return true
	case <-b.ctx.Done():
		return false
	}
}

func (b *bridge) stdin() io.Reader                       { return bridgeIn{b} }
func (b *bridge) stdout() io.Writer                      { return bridgeOut{b, false} }
func (b *bridge) stderr() io.Writer                      { return bridgeOut{b, true} }
func (b *bridge) sizes() remotecommand.TerminalSizeQueue { return bridgeSizes{b} }

type bridgeIn struct{ b *bridge }

func (r bridgeIn) Read(p []byte) (int, error) {
	if !r.b.wait() || r.b.client.stdin == nil {
		return 0, io.EOF
	}
	return r.b.client.stdin.Read(p)
}

type bridgeOut struct {
	b      *bridge
	stderr bool
}

func (w bridgeOut) Write(p []byte) (int, error) {
	if !w.b.wait() {
		return 0, io.ErrClosedPipe
	}
	out := w.b.client.stdout
	if w.stderr {
		out = w.b.client.stderr
	}
	if out == nil {
		return len(p), nil
	}
	return out.Write(p)
}

type bridgeSizes struct{ b *bridge }

func (q bridgeSizes) Next() *remotecommand.TerminalSize {
	if !q.b.wait() || q.b.client.sizes == nil {
		return nil
	}
	return q.b.client.sizes.Next()
}
