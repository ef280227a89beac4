package wsexec

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	gwebsocket "github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testserver"
)

// The server side is kube-apiserver's own stream translator in front of the
// kubelet's stream server (internal/testserver), running local processes.
// stdin to EOF and TTY resizes are tested there, with this client beside
// client-go's (internal/testserver/server_test.go, proto "wsexec").

func options() testserver.Options {
	return testserver.Options{Pods: []corev1.Pod{{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "default", UID: "uid-demo"},
		Spec:       corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "main", Image: "img"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}}}
}

func execURL(t *testing.T, cfg *rest.Config, opts *corev1.PodExecOptions) *url.URL {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name("demo").
		SubResource("exec").VersionedParams(opts, scheme.ParameterCodec).URL()
}

func newExec(t *testing.T, srv *testserver.Server, opts *corev1.PodExecOptions) *Executor {
	t.Helper()
	e, err := New(srv.RESTConfig(), "GET", execURL(t, srv.RESTConfig(), opts).String())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	// changed is signalled on every write, so tests wait on output, not time.
	changed chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{}, 1)} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitOutput waits until the buffer holds want, or the session ends (a
// session that hangs ends when its context, from ctxFor, runs out).
func (s *syncBuffer) waitOutput(t *testing.T, want string, done <-chan error) {
	t.Helper()
	for !strings.Contains(s.String(), want) {
		select {
		case <-s.changed:
		case err := <-done:
			t.Fatalf("session ended (%v) before %q; output %q", err, want, s.String())
		}
	}
}

// TestExitStatusAndStreams: stdout, stderr and a non-zero exit read the
// same as with client-go's WebSocket executor on the same server.
func TestExitStatusAndStreams(t *testing.T) {
	srv := testserver.Start(t, options())
	opts := &corev1.PodExecOptions{Command: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, Stdout: true, Stderr: true}
	var out, errOut bytes.Buffer
	err := newExec(t, srv, opts).StreamWithContext(ctxFor(t), remotecommand.StreamOptions{Stdout: &out, Stderr: &errOut})

	cg, cgErr := remotecommand.NewWebSocketExecutor(srv.RESTConfig(), "GET", execURL(t, srv.RESTConfig(), opts).String())
	if cgErr != nil {
		t.Fatal(cgErr)
	}
	var cgOut, cgErrOut bytes.Buffer
	cgErr = cg.StreamWithContext(ctxFor(t), remotecommand.StreamOptions{Stdout: &cgOut, Stderr: &cgErrOut})

	var ce exec.CodeExitError
	if !errors.As(err, &ce) || ce.Code != 3 || out.String() != "out\n" || errOut.String() != "err\n" {
		t.Fatalf("err %v stdout %q stderr %q, want exit 3, out, err", err, out.String(), errOut.String())
	}
	if cgErr == nil || err.Error() != cgErr.Error() || out.String() != cgOut.String() || errOut.String() != cgErrOut.String() {
		t.Errorf("client-go: err %v stdout %q stderr %q; ours: %v %q %q", cgErr, cgOut.String(), cgErrOut.String(), err, out.String(), errOut.String())
	}
	if e := srv.Execs(); len(e) != 2 || e[0].Protocol != "websocket" || len(e[0].Subprotocols) != 1 || e[0].Subprotocols[0] != Protocol {
		t.Errorf("exec requests %+v, want websocket offering only %s", e, Protocol)
	}
}

// TestHalfCloseAfterIdle is the defect this package exists for: stdin
// closed longer after its last byte than the write timeout. client-go's
// executor writes the close signal against the stale deadline of its last
// data write and loses the session; here the command sees EOF and exits 0.
func TestHalfCloseAfterIdle(t *testing.T) {
	srv := testserver.Start(t, options())
	e := newExec(t, srv, &corev1.PodExecOptions{Command: []string{"cat"}, Stdin: true, Stdout: true})
	opened := make(chan *session, 1)
	e.opened = func(s *session) { opened <- s }
	stdinR, stdinW := io.Pipe()
	out := newSyncBuffer()
	done := make(chan error, 1)
	go func() {
		done <- e.StreamWithContext(ctxFor(t), remotecommand.StreamOptions{Stdin: stdinR, Stdout: out})
	}()
	if _, err := stdinW.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	out.waitOutput(t, "hello\n", done)
	// What a silent minute leaves behind, without the minute: the deadline
	// the last data write set is in the past when stdin closes.
	s := <-opened
	s.wmu.Lock()
	if err := s.conn.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	s.wmu.Unlock()
	stdinW.Close()
	if err := <-done; err != nil || out.String() != "hello\n" {
		t.Fatalf("err %v output %q, want exit 0 and hello: cat must see the end of stdin", err, out.String())
	}
}

// TestHeartbeat: a command silent for longer than the read timeout (twelve
// ping periods and a second) lives on the pongs.
func TestHeartbeat(t *testing.T) {
	srv := testserver.Start(t, options())
	e := newExec(t, srv, &corev1.PodExecOptions{Command: []string{"sh", "-c", "sleep 5; echo done"}, Stdout: true})
	e.PingPeriod = 200 * time.Millisecond // read timeout 3.4 s: seventeen pongs must miss to fail
	var out bytes.Buffer
	if err := e.StreamWithContext(ctxFor(t), remotecommand.StreamOptions{Stdout: &out}); err != nil || out.String() != "done\n" {
		t.Fatalf("err %v output %q", err, out.String())
	}
}

// TestRefusedUpgrade: a server that refuses WebSocket gives the error
// kubectl's fallback to SPDY looks for.
func TestRefusedUpgrade(t *testing.T) {
	o := options()
	o.RejectWebSocket = true
	srv := testserver.Start(t, o)
	err := newExec(t, srv, &corev1.PodExecOptions{Command: []string{"true"}, Stdout: true}).
		StreamWithContext(ctxFor(t), remotecommand.StreamOptions{Stdout: io.Discard})
	if !httpstream.IsUpgradeFailure(err) {
		t.Fatalf("err %v (%T), want an upgrade failure", err, err)
	}
}

// TestConnectionCut: a connection lost mid-session is an error that says
// so, not a hang and not success.
func TestConnectionCut(t *testing.T) {
	srv := testserver.Start(t, options())
	e := newExec(t, srv, &corev1.PodExecOptions{Command: []string{"sh", "-c", "echo up; sleep 60"}, Stdout: true})
	out := newSyncBuffer()
	done := make(chan error, 1)
	go func() { done <- e.StreamWithContext(ctxFor(t), remotecommand.StreamOptions{Stdout: out}) }()
	out.waitOutput(t, "up\n", done)
	srv.CutConnections()
	// A hang would end only with the command (60 s, exit 0): not this error.
	if err := <-done; err == nil || !strings.Contains(err.Error(), "error reading from error stream: next reader:") {
		t.Fatalf("err %v, want a broken connection", err)
	}
}

// TestContextCancel: cancelling ends the stream at once with the cause.
func TestContextCancel(t *testing.T) {
	srv := testserver.Start(t, options())
	e := newExec(t, srv, &corev1.PodExecOptions{Command: []string{"sh", "-c", "echo up; sleep 60"}, Stdout: true})
	ctx, cancel := context.WithCancel(ctxFor(t))
	out := newSyncBuffer()
	done := make(chan error, 1)
	go func() { done <- e.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: out}) }()
	out.waitOutput(t, "up\n", done)
	cancel()
	// A hang would end only at ctxFor's deadline: not context.Canceled.
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

// countingWriter counts writes and bytes.
type countingWriter struct{ writes, bytes int }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.writes++
	c.bytes += len(p)
	return len(p), nil
}

// tlsPeer starts a WebSocket v5 peer over TLS that hands each upgraded
// connection to serve, and returns an Executor for it.
func tlsPeer(t *testing.T, serve func(*gwebsocket.Conn)) *Executor {
	t.Helper()
	up := gwebsocket.Upgrader{Subprotocols: []string{Protocol}}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		serve(c)
	}))
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	e, err := New(&rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{CAData: ca}}, "GET", srv.URL+"/exec")
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestOneWritePerMessage: a 32 KiB message crosses TLS as three records;
// it must still reach the writer, and the recording, as one write.
func TestOneWritePerMessage(t *testing.T) {
	const messages, size = 50, 32 << 10
	e := tlsPeer(t, func(c *gwebsocket.Conn) {
		msg := bytes.Repeat([]byte{'x'}, size+1)
		msg[0] = chStdout
		for i := 0; i < messages; i++ {
			if err := c.WriteMessage(gwebsocket.BinaryMessage, msg); err != nil {
				return
			}
		}
		_ = c.WriteMessage(gwebsocket.CloseMessage, gwebsocket.FormatCloseMessage(gwebsocket.CloseNormalClosure, ""))
	})
	var out countingWriter
	if err := e.StreamWithContext(ctxFor(t), remotecommand.StreamOptions{Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	if out.bytes != messages*size || out.writes != messages {
		t.Fatalf("%d bytes in %d writes, want %d in %d", out.bytes, out.writes, messages*size, messages)
	}
}

// TestStdinMessages: stdin is read into a buffer that starts small, for
// an idle session's sake, and grows: an upload still goes out in 32 KiB
// messages, whole and in order.
func TestStdinMessages(t *testing.T) {
	input := make([]byte, 1<<20)
	for i := range input {
		input[i] = byte(i * 7)
	}
	type received struct {
		data     []byte
		messages int
	}
	result := make(chan received, 1)
	e := tlsPeer(t, func(c *gwebsocket.Conn) {
		var got bytes.Buffer
		messages := 0
		for {
			_, msg, err := c.ReadMessage()
			if err != nil || len(msg) == 0 || msg[0] == chClose {
				break
			}
			if msg[0] == chStdin {
				messages++
				got.Write(msg[1:])
			}
		}
		result <- received{got.Bytes(), messages}
		_ = c.WriteMessage(gwebsocket.CloseMessage, gwebsocket.FormatCloseMessage(gwebsocket.CloseNormalClosure, ""))
	})
	if err := e.StreamWithContext(ctxFor(t), remotecommand.StreamOptions{Stdin: bytes.NewReader(input), Stdout: io.Discard}); err != nil {
		t.Fatal(err)
	}
	got := <-result
	// 4, 8 and 16 KiB, then 32 KiB messages.
	if want := 3 + (len(input)-28<<10+maxStdinRead-1)/maxStdinRead; !bytes.Equal(got.data, input) || got.messages != want {
		t.Fatalf("server got %d bytes (equal %v) in %d messages, want %d in %d", len(got.data), bytes.Equal(got.data, input), got.messages, len(input), want)
	}
}
