package wsexec

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	gwebsocket "github.com/gorilla/websocket"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
)

// The receive benchmarks stream b.N messages of 32 KiB of stdout, as
// kube-apiserver's translator sends them, from an in-process peer over
// loopback, then a Success status and a normal close, to io.Discard. They
// compare the client side alone: this package against client-go's
// WebSocket executor on the same peer.

const benchChunk = 32 << 10

func benchPeer(b *testing.B, n int) *httptest.Server {
	b.Helper()
	up := gwebsocket.Upgrader{Subprotocols: []string{Protocol}, WriteBufferSize: benchChunk + 1024}
	msg := make([]byte, benchChunk+1)
	msg[0] = chStdout
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		go func() { // answer pings, notice the client leaving
			for {
				if _, _, err := c.NextReader(); err != nil {
					return
				}
			}
		}()
		for i := 0; i < n; i++ {
			if err := c.WriteMessage(gwebsocket.BinaryMessage, msg); err != nil {
				return
			}
		}
		_ = c.WriteMessage(gwebsocket.BinaryMessage, append([]byte{chError}, `{"metadata":{},"status":"Success"}`...))
		_ = c.WriteMessage(gwebsocket.CloseMessage, gwebsocket.FormatCloseMessage(gwebsocket.CloseNormalClosure, ""))
	}))
	b.Cleanup(srv.Close)
	return srv
}

func benchReceive(b *testing.B, exec func(cfg *rest.Config, url string) (remotecommand.Executor, error)) {
	srv := benchPeer(b, b.N)
	cfg := &rest.Config{Host: srv.URL}
	ex, err := exec(cfg, srv.URL+"/api/v1/namespaces/default/pods/demo/exec?command=cat&stdout=true")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchChunk)
	b.ReportAllocs()
	b.ResetTimer()
	if err := ex.StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdout: io.Discard}); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkReceive(b *testing.B) {
	benchReceive(b, func(cfg *rest.Config, url string) (remotecommand.Executor, error) {
		return New(cfg, "GET", url)
	})
}

func BenchmarkReceiveClientGo(b *testing.B) {
	benchReceive(b, func(cfg *rest.Config, url string) (remotecommand.Executor, error) {
		return remotecommand.NewWebSocketExecutor(cfg, "GET", url)
	})
}
