package testserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/wsexec"
)

func testPod(name string, labels, annotations map[string]string, containers ...string) corev1.Pod {
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Labels: labels, Annotations: annotations},
		Spec:       corev1.PodSpec{NodeName: "node-1"},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "img/" + c})
	}
	return p
}

// defaultOptions are a few pods and a deployment selecting one of them.
func defaultOptions() Options {
	web := map[string]string{"app": "web"}
	return Options{
		Pods: []corev1.Pod{
			testPod("demo", nil, nil, "main"),
			testPod("multi", nil, map[string]string{"kubectl.kubernetes.io/default-container": "second"}, "first", "second"),
			testPod("web-abc", web, nil, "web"),
		},
		Deployments: []appsv1.Deployment{{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: web}},
		}},
		User: User{Username: "alice", UID: "uid-alice", Groups: []string{"devs", "system:authenticated"}},
	}
}

// execURL is the pods/exec URL client-go and kubectl build.
func execURL(t *testing.T, cfg *rest.Config, pod string, opts *corev1.PodExecOptions) *url.URL {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name(pod).
		SubResource("exec").VersionedParams(opts, scheme.ParameterCodec).URL()
}

// newExecutor makes the client-go executor for proto: "spdy", "websocket"
// or "fallback" (WebSocket first, SPDY on upgrade failure, as kubectl); or
// "wsexec", the plugin's own WebSocket client.
func newExecutor(t *testing.T, cfg *rest.Config, proto string, u *url.URL) remotecommand.Executor {
	t.Helper()
	if proto == "wsexec" {
		e, err := wsexec.New(cfg, "GET", u.String())
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	spdy, err := remotecommand.NewSPDYExecutor(cfg, "POST", u)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := remotecommand.NewWebSocketExecutor(cfg, "GET", u.String())
	if err != nil {
		t.Fatal(err)
	}
	switch proto {
	case "spdy":
		return spdy
	case "websocket":
		return ws
	}
	fb, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		t.Fatal(err)
	}
	return fb
}

// syncBuffer is written by stream goroutines while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// withAuditID makes every request of cfg carry an Audit-ID header.
func withAuditID(cfg *rest.Config, id string) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			r = r.Clone(r.Context())
			r.Header.Set("Audit-ID", id)
			return rt.RoundTrip(r)
		})
	}
	return cfg
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestExitCodeAndStreams(t *testing.T) {
	srv := Start(t, defaultOptions())
	for _, proto := range []string{"spdy", "websocket"} {
		t.Run(proto, func(t *testing.T) {
			cfg := withAuditID(srv.RESTConfig(), "audit-"+proto)
			u := execURL(t, cfg, "demo", &corev1.PodExecOptions{
				Command: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, Stdout: true, Stderr: true,
			})
			var out, errOut bytes.Buffer
			err := newExecutor(t, cfg, proto, u).StreamWithContext(ctxFor(t), remotecommand.StreamOptions{Stdout: &out, Stderr: &errOut})
			var ce exec.CodeExitError
			if !errors.As(err, &ce) || ce.Code != 3 {
				t.Fatalf("error %v (%T), want a client-go CodeExitError with code 3", err, err)
			}
			if out.String() != "out\n" || errOut.String() != "err\n" {
				t.Errorf("stdout %q stderr %q", out.String(), errOut.String())
			}
			execs := srv.Execs()
			last := execs[len(execs)-1]
			if last.Protocol != proto || last.AuditID != "audit-"+proto || last.Refused != 0 {
				t.Errorf("recorded exec %+v", last)
			}
			if got := last.Query["command"]; strings.Join(got, " ") != "sh -c echo out; echo err >&2; exit 3" {
				t.Errorf("recorded command %q", got)
			}
			c := srv.LastCall()
			if c.Name != "demo_default" || c.UID != "uid-demo" || c.Container != "main" || c.TTY || c.Stdin {
				t.Errorf("executor call %+v", c)
			}
		})
	}
	// The WebSocket client offers only v5, which the translator serves; the
	// SPDY client offers v5 to v1 and gets the kubelet's v4.
	for _, e := range srv.Execs() {
		want := map[string]string{"websocket": "v5.channel.k8s.io", "spdy": "v4.channel.k8s.io"}[e.Protocol]
		if !strings.Contains(strings.Join(e.Subprotocols, ","), want) {
			t.Errorf("%s offered %v", e.Protocol, e.Subprotocols)
		}
	}
}

func TestStdinEOFEndsCat(t *testing.T) {
	srv := Start(t, defaultOptions())
	input := strings.Repeat("a line of input\n", 4000) + "no newline at the end"
	for _, proto := range []string{"spdy", "websocket", "wsexec"} {
		t.Run(proto, func(t *testing.T) {
			u := execURL(t, srv.RESTConfig(), "demo", &corev1.PodExecOptions{
				Command: []string{"cat"}, Stdin: true, Stdout: true, Stderr: true,
			})
			var out, errOut bytes.Buffer
			err := newExecutor(t, srv.RESTConfig(), proto, u).StreamWithContext(ctxFor(t), remotecommand.StreamOptions{
				Stdin: strings.NewReader(input), Stdout: &out, Stderr: &errOut,
			})
			if err != nil {
				t.Fatalf("cat: %v; stderr %q", err, errOut.String())
			}
			if out.String() != input {
				t.Errorf("cat returned %d bytes, want %d", out.Len(), len(input))
			}
			if c := srv.LastCall(); !c.Stdin {
				t.Errorf("executor call without stdin: %+v", c)
			}
		})
	}
}

// sizeQueue hands terminal sizes to the client as the test sends them.
type sizeQueue chan remotecommand.TerminalSize

func (q sizeQueue) Next() *remotecommand.TerminalSize {
	s, ok := <-q
	if !ok {
		return nil
	}
	return &s
}

func TestTTYResize(t *testing.T) {
	srv := Start(t, defaultOptions())
	for _, proto := range []string{"spdy", "websocket", "wsexec"} {
		t.Run(proto, func(t *testing.T) {
			u := execURL(t, srv.RESTConfig(), "demo", &corev1.PodExecOptions{
				// The shell says when it sees the new size, so the line is
				// typed after the resize has reached the pod.
				Command: []string{"sh", "-c", `stty size; until [ "$(stty size)" = "40 120" ]; do sleep 0.01; done; echo resized; read line; stty size; echo "got:$line"; exit 5`},
				Stdin:   true, Stdout: true, TTY: true,
			})
			sizes := make(sizeQueue, 2)
			defer close(sizes)
			sizes <- remotecommand.TerminalSize{Width: 100, Height: 30}
			stdinR, stdinW := io.Pipe()
			defer stdinW.Close()
			var out syncBuffer
			done := make(chan error, 1)
			go func() {
				done <- newExecutor(t, srv.RESTConfig(), proto, u).StreamWithContext(ctxFor(t), remotecommand.StreamOptions{
					Stdin: stdinR, Stdout: &out, Tty: true, TerminalSizeQueue: sizes,
				})
			}()
			waitFor(t, "the first size", func() bool { return strings.Contains(out.String(), "30 100") })
			sizes <- remotecommand.TerminalSize{Width: 120, Height: 40}
			waitFor(t, "the pod to see the new size", func() bool { return strings.Contains(out.String(), "resized") })
			if _, err := stdinW.Write([]byte("hello\r")); err != nil {
				t.Fatal(err)
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(time.Minute):
				t.Fatalf("tty session did not end; output %q", out.String())
			}
			var ce exec.CodeExitError
			if !errors.As(err, &ce) || ce.Code != 5 {
				t.Fatalf("error %v, want exit code 5; output %q", err, out.String())
			}
			if s := out.String(); !strings.Contains(s, "40 120") || !strings.Contains(s, "got:hello") {
				t.Errorf("output %q", s)
			}
			if c := srv.LastCall(); !c.TTY {
				t.Errorf("executor call without tty: %+v", c)
			}
		})
	}
}

func TestMissingPod(t *testing.T) {
	srv := Start(t, defaultOptions())
	cs, err := kubernetes.NewForConfig(srv.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.CoreV1().Pods("default").Get(ctxFor(t), "nope", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) || err.Error() != `pods "nope" not found` {
		t.Errorf("GET missing pod: %v", err)
	}

	for _, proto := range []string{"spdy", "websocket"} {
		u := execURL(t, srv.RESTConfig(), "nope", &corev1.PodExecOptions{Command: []string{"true"}, Stdout: true})
		err := newExecutor(t, srv.RESTConfig(), proto, u).StreamWithContext(ctxFor(t), remotecommand.StreamOptions{Stdout: io.Discard})
		if err == nil || !strings.Contains(err.Error(), `pods "nope" not found`) {
			t.Errorf("%s exec into a missing pod: %v", proto, err)
		}
	}

	// The raw answer: 404 with a Status, and the Audit-ID recorded.
	u := execURL(t, srv.RESTConfig(), "nope", &corev1.PodExecOptions{Command: []string{"true"}, Stdout: true})
	req, _ := http.NewRequest(http.MethodPost, u.String(), nil)
	req.Header.Set("Audit-ID", "raw-1")
	resp, err := httpClient(t, srv).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st metav1.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 404 || st.Kind != "Status" || st.Reason != metav1.StatusReasonNotFound || st.Message != `pods "nope" not found` {
		t.Errorf("status %d body %+v", resp.StatusCode, st)
	}
	if resp.Header.Get("Audit-ID") != "raw-1" {
		t.Errorf("Audit-ID not echoed: %q", resp.Header.Get("Audit-ID"))
	}
	execs := srv.Execs()
	if last := execs[len(execs)-1]; last.AuditID != "raw-1" || last.Protocol != "none" || last.Refused != 404 {
		t.Errorf("recorded %+v", last)
	}
}

func httpClient(t *testing.T, srv *Server) *http.Client {
	t.Helper()
	rt, err := rest.TransportFor(srv.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: rt}
}

func TestRejectWebSocketFallsBackToSPDY(t *testing.T) {
	opts := defaultOptions()
	opts.RejectWebSocket = true
	srv := Start(t, opts)
	u := execURL(t, srv.RESTConfig(), "demo", &corev1.PodExecOptions{Command: []string{"sh", "-c", "echo fell back"}, Stdout: true})

	err := newExecutor(t, srv.RESTConfig(), "websocket", u).StreamWithContext(ctxFor(t), remotecommand.StreamOptions{Stdout: io.Discard})
	if err == nil || !httpstream.IsUpgradeFailure(err) {
		t.Fatalf("refused WebSocket gave %v (%T), want an upgrade failure", err, err)
	}

	var out bytes.Buffer
	if err := newExecutor(t, srv.RESTConfig(), "fallback", u).StreamWithContext(ctxFor(t), remotecommand.StreamOptions{Stdout: &out}); err != nil {
		t.Fatalf("fallback: %v", err)
	}
	if out.String() != "fell back\n" {
		t.Errorf("stdout %q", out.String())
	}
	if got := strings.Join(srv.Upgrades(), ","); got != "websocket,websocket,spdy" {
		t.Errorf("upgrades %s", got)
	}
	if e := srv.Execs(); e[0].Refused != 403 || e[1].Refused != 403 || e[2].Refused != 0 {
		t.Errorf("refusals %d %d %d", e[0].Refused, e[1].Refused, e[2].Refused)
	}
}

func TestRejectSPDY(t *testing.T) {
	opts := defaultOptions()
	opts.RejectSPDY = true
	srv := Start(t, opts)
	u := execURL(t, srv.RESTConfig(), "demo", &corev1.PodExecOptions{Command: []string{"echo", "ws"}, Stdout: true})
	err := newExecutor(t, srv.RESTConfig(), "spdy", u).StreamWithContext(ctxFor(t), remotecommand.StreamOptions{Stdout: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("refused SPDY gave %v", err)
	}
	// The translator reaches the kubelet over SPDY itself; only clients'
	// SPDY is refused.
	var out bytes.Buffer
	if err := newExecutor(t, srv.RESTConfig(), "websocket", u).StreamWithContext(ctxFor(t), remotecommand.StreamOptions{Stdout: &out}); err != nil || out.String() != "ws\n" {
		t.Fatalf("websocket: %v, stdout %q", err, out.String())
	}
}

func TestCutConnections(t *testing.T) {
	for _, tc := range []struct {
		name, proto string
		cutAfter    time.Duration
	}{
		{"spdy/CutConnections", "spdy", 0},
		{"websocket/CutConnections", "websocket", 0},
		{"spdy/CutAfter", "spdy", 300 * time.Millisecond},
		{"websocket/CutAfter", "websocket", 300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := defaultOptions()
			opts.CutAfter = tc.cutAfter
			srv := Start(t, opts)
			// The command would run far longer than the test waits.
			u := execURL(t, srv.RESTConfig(), "demo", &corev1.PodExecOptions{
				Command: []string{"sh", "-c", "echo start; sleep 300; echo done"}, Stdout: true, Stderr: true,
			})
			var out syncBuffer
			done := make(chan error, 1)
			go func() {
				done <- newExecutor(t, srv.RESTConfig(), tc.proto, u).StreamWithContext(ctxFor(t), remotecommand.StreamOptions{Stdout: &out, Stderr: io.Discard})
			}()
			if tc.cutAfter == 0 {
				waitFor(t, "start", func() bool { return strings.Contains(out.String(), "start") })
				srv.CutConnections()
			}
			// With CutAfter the timer cuts on its own, before or after the
			// command printed start: a loaded machine may take longer than
			// cutAfter to get there.
			select {
			case err := <-done:
				var ce exec.CodeExitError
				if errors.As(err, &ce) {
					t.Errorf("a cut session returned exit code %d", ce.Code)
				}
				// client-go's SPDY executor ends a cut v4 session with nil,
				// as if it succeeded (its error stream just ends): the very
				// case the plugin must not report as success. Its
				// WebSocket executor does see the abnormal closure.
				if tc.proto == "websocket" && err == nil {
					t.Errorf("a cut WebSocket session returned nil")
				}
				t.Logf("client-go returned %v", err)
			case <-time.After(time.Minute):
				t.Fatal("a cut session did not end")
			}
			// The client is gone, so the command must be too.
			if !srv.Executor.WaitIdle(time.Minute) {
				t.Errorf("the command outlived its client")
			}
			if strings.Contains(out.String(), "done") {
				t.Errorf("the command ran to its end: %q", out.String())
			}
		})
	}
}

func TestTokenAuth(t *testing.T) {
	opts := defaultOptions()
	opts.Token = "t0ken-for-tests"
	srv := Start(t, opts)
	anon := srv.RESTConfig()
	anon.BearerToken = ""
	cs, _ := kubernetes.NewForConfig(anon)
	if _, err := cs.CoreV1().Pods("default").Get(ctxFor(t), "demo", metav1.GetOptions{}); !apierrors.IsUnauthorized(err) {
		t.Errorf("GET without token: %v, want Unauthorized", err)
	}
	u := execURL(t, anon, "demo", &corev1.PodExecOptions{Command: []string{"true"}, Stdout: true})
	if err := newExecutor(t, anon, "fallback", u).StreamWithContext(ctxFor(t), remotecommand.StreamOptions{Stdout: io.Discard}); err == nil {
		t.Errorf("exec without token succeeded")
	}
	for _, proto := range []string{"spdy", "websocket"} {
		var out bytes.Buffer
		err := newExecutor(t, srv.RESTConfig(), proto, u).StreamWithContext(ctxFor(t), remotecommand.StreamOptions{Stdout: &out})
		if err != nil {
			t.Errorf("%s exec with token: %v", proto, err)
		}
	}
	cs, _ = kubernetes.NewForConfig(srv.RESTConfig())
	if _, err := cs.CoreV1().Pods("default").Get(ctxFor(t), "demo", metav1.GetOptions{}); err != nil {
		t.Errorf("GET with token: %v", err)
	}
}

func TestSelfSubjectReview(t *testing.T) {
	srv := Start(t, defaultOptions())
	cs, _ := kubernetes.NewForConfig(srv.RESTConfig())
	ssr, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctxFor(t), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ui := ssr.Status.UserInfo; ui.Username != "alice" || ui.UID != "uid-alice" || strings.Join(ui.Groups, ",") != "devs,system:authenticated" {
		t.Errorf("user %+v", ui)
	}

	opts := defaultOptions()
	opts.ForbidSelfSubjectReview = true
	forbidden := Start(t, opts)
	cs, _ = kubernetes.NewForConfig(forbidden.RESTConfig())
	if _, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctxFor(t), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("forbidden review: %v", err)
	}
}

func TestPodsAndDeployments(t *testing.T) {
	srv := Start(t, defaultOptions())
	cs, _ := kubernetes.NewForConfig(srv.RESTConfig())
	ctx := ctxFor(t)
	pod, err := cs.CoreV1().Pods("default").Get(ctx, "multi", metav1.GetOptions{})
	if err != nil || len(pod.Spec.Containers) != 2 || pod.Annotations["kubectl.kubernetes.io/default-container"] != "second" {
		t.Fatalf("pod %+v err %v", pod, err)
	}
	list, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(list.Items) != 1 || list.Items[0].Name != "web-abc" {
		t.Fatalf("selected pods %+v err %v", list, err)
	}
	list, err = cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=demo"})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("all-namespace list by field %+v err %v", list, err)
	}
	if list, _ := cs.CoreV1().Pods("other").List(ctx, metav1.ListOptions{}); len(list.Items) != 0 {
		t.Errorf("namespace other has %d pods", len(list.Items))
	}
	d, err := cs.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil || d.Spec.Selector.MatchLabels["app"] != "web" {
		t.Fatalf("deployment %+v err %v", d, err)
	}
	if _, err := cs.AppsV1().Deployments("default").Get(ctx, "nope", metav1.GetOptions{}); !apierrors.IsNotFound(err) || err.Error() != `deployments.apps "nope" not found` {
		t.Errorf("missing deployment: %v", err)
	}
	if _, err := cs.AppsV1().StatefulSets("default").Get(ctx, "db", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("missing statefulset: %v", err)
	}
	groups, resources, err := cs.Discovery().ServerGroupsAndResources()
	if err != nil || len(groups) != 4 || len(resources) != 4 {
		t.Fatalf("discovery: %d groups, %d resource lists, %v", len(groups), len(resources), err)
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil || v.GitVersion != serverVersion {
		t.Errorf("version %+v %v", v, err)
	}
}

func TestBadExecRequests(t *testing.T) {
	srv := Start(t, defaultOptions())
	for _, tc := range []struct {
		pod  string
		opts corev1.PodExecOptions
		want string
	}{
		{"multi", corev1.PodExecOptions{Command: []string{"true"}, Stdout: true}, "a container name must be specified for pod multi, choose one of: [first second]"},
		{"multi", corev1.PodExecOptions{Container: "nope", Command: []string{"true"}, Stdout: true}, "container nope is not valid for pod multi"},
		{"demo", corev1.PodExecOptions{Stdout: true}, "you must specify at least one command for the container"},
	} {
		u := execURL(t, srv.RESTConfig(), tc.pod, &tc.opts)
		err := newExecutor(t, srv.RESTConfig(), "spdy", u).StreamWithContext(ctxFor(t), remotecommand.StreamOptions{Stdout: io.Discard})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %+v: %v, want %q", tc.pod, tc.opts, err, tc.want)
		}
	}
	if n := len(srv.Calls()); n != 0 {
		t.Errorf("%d bad requests reached the executor", n)
	}
}

func TestClientGoneKillsCommand(t *testing.T) {
	srv := Start(t, defaultOptions())
	for _, proto := range []string{"spdy", "websocket"} {
		t.Run(proto, func(t *testing.T) {
			u := execURL(t, srv.RESTConfig(), "demo", &corev1.PodExecOptions{
				Command: []string{"sh", "-c", "echo start; sleep 300"}, Stdout: true,
			})
			ctx, cancel := context.WithCancel(context.Background())
			var out syncBuffer
			done := make(chan error, 1)
			go func() {
				done <- newExecutor(t, srv.RESTConfig(), proto, u).StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out})
			}()
			waitFor(t, "start", func() bool { return strings.Contains(out.String(), "start") })
			cancel() // the client closes its connection, as a killed kubectl would
			<-done
			// Nothing closed the server's side: only the peer's going away
			// can end the command.
			if !srv.Executor.WaitIdle(time.Minute) {
				t.Errorf("the command outlived its client")
			}
		})
	}
}
