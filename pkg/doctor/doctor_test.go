package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testserver"
)

func testPod(name string, labels, annotations map[string]string, containers ...string) corev1.Pod {
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Labels: labels, Annotations: annotations},
		Spec:       corev1.PodSpec{NodeName: "node-1"},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.1.2.3"},
	}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "img/" + c})
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c, Image: "img/" + c, Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(time.Now().Add(-time.Hour))}},
		})
	}
	return p
}

func serverOptions() testserver.Options {
	web := map[string]string{"app": "web"}
	return testserver.Options{
		Pods: []corev1.Pod{
			testPod("demo", nil, nil, "main"),
			testPod("multi", nil, map[string]string{"kubectl.kubernetes.io/default-container": "second"}, "first", "second"),
			testPod("web-abc", web, nil, "web"),
		},
		Deployments: []appsv1.Deployment{{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: web}},
		}},
		User: testserver.User{Username: "alice", UID: "uid-alice", Groups: []string{"devs", "system:authenticated"}},
	}
}

// flagsFor are kubectl's kubeconfig flags pointing at kubeconfig, with a
// private discovery cache.
func flagsFor(t *testing.T, kubeconfig string) *genericclioptions.ConfigFlags {
	t.Helper()
	f := genericclioptions.NewConfigFlags(false)
	f.KubeConfig = &kubeconfig
	cache := t.TempDir()
	f.CacheDir = &cache
	f.Password = nil
	return f
}

func config(t *testing.T, kubeconfig, target string) Config {
	return Config{
		Flags:         flagsFor(t, kubeconfig),
		Target:        target,
		StepTimeout:   5 * time.Second,
		RTTSamples:    5,
		ThroughputMiB: 1,
	}
}

func runDoctor(t *testing.T, cfg Config) (Report, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var steps []Step
	cfg.Progress = func(s Step) { steps = append(steps, s) }
	r, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(steps) != len(r.Steps) {
		t.Errorf("Progress saw %d steps, the report has %d", len(steps), len(r.Steps))
	}
	var text, js bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("JSON does not parse: %v\n%s", err, js.String())
	}
	t.Logf("report:\n%s", text.String())
	return r, text.String(), js.String()
}

// check finds a check by step and check name.
func check(t *testing.T, r Report, step, name string) Check {
	t.Helper()
	for _, s := range r.Steps {
		if s.Name != step {
			continue
		}
		for _, c := range s.Checks {
			if c.Name == name {
				return c
			}
		}
		var names []string
		for _, c := range s.Checks {
			names = append(names, c.Name)
		}
		t.Fatalf("step %s has no check %q (has %q)", step, name, names)
	}
	t.Fatalf("no step %s", step)
	return Check{}
}

func stepStatus(t *testing.T, r Report, name string) Status {
	t.Helper()
	for _, s := range r.Steps {
		if s.Name == name {
			return s.Status
		}
	}
	t.Fatalf("no step %s", name)
	return ""
}

func TestAllGood(t *testing.T) {
	srv := testserver.Start(t, serverOptions())
	r, text, _ := runDoctor(t, config(t, srv.Kubeconfig(t), "demo"))
	for _, s := range r.Steps {
		if s.Status != StatusOK {
			t.Errorf("step %d %s: %s", s.Number, s.Name, s.Status)
		}
	}
	if !r.OK || r.ExitCode() != 0 || r.Broken != nil || r.Warnings != 0 {
		t.Errorf("OK %v, exit %d, broken %+v, warnings %d", r.OK, r.ExitCode(), r.Broken, r.Warnings)
	}
	if r.Context != testserver.KubeconfigContext || r.Namespace != "default" || r.Pod != "demo" || r.Container != "main" {
		t.Errorf("context %q namespace %q pod %q container %q", r.Context, r.Namespace, r.Pod, r.Container)
	}
	if r.Protocol != "v5.channel.k8s.io (websocket)" {
		t.Errorf("protocol %q", r.Protocol)
	}
	if got := len(r.Steps); got != 6 {
		t.Errorf("%d steps, want 6 (no --idle)", got)
	}
	if c := check(t, r, "kubeconfig", "auth"); !strings.HasPrefix(c.Detail, "client certificate (subject CN=testserver-user") {
		t.Errorf("auth: %q", c.Detail)
	}
	if c := check(t, r, "reachability", "tls"); !strings.Contains(c.Detail, "verified against the kubeconfig's certificate-authority-data") ||
		!strings.Contains(c.Detail, "TLS 1.3") || !strings.Contains(c.Detail, "127.0.0.1") {
		t.Errorf("tls: %q", c.Detail)
	}
	if c := check(t, r, "reachability", "/version"); !strings.HasPrefix(c.Detail, "v1.37.2") {
		t.Errorf("/version: %q", c.Detail)
	}
	if c := check(t, r, "identity", "user"); c.Detail != "alice (groups devs, system:authenticated)" {
		t.Errorf("user: %q", c.Detail)
	}
	ws := check(t, r, "handshake", "websocket")
	if ws.Data["status"] != 101 || ws.Data["protocol"] != "v5.channel.k8s.io" {
		t.Errorf("websocket: %+v", ws)
	}
	if sp := check(t, r, "handshake", "spdy"); sp.Data["status"] != 101 || sp.Data["protocol"] != "v4.channel.k8s.io" {
		t.Errorf("spdy: %+v", sp)
	}
	if c := check(t, r, "stream", "echo websocket"); c.Data["samples"] != 5 {
		t.Errorf("echo: %+v", c)
	}
	if c := check(t, r, "stream", "throughput websocket"); c.Data["bytes"] != int64(1<<20) {
		t.Errorf("throughput: %+v", c)
	}
	if !strings.Contains(text, "✓ all checks passed: exec into pod default/demo container main works over v5.channel.k8s.io (websocket)") {
		t.Errorf("summary missing from text")
	}
	// Both upgrades went to the server, each offering what client-go offers.
	var ws5, spdy5 bool
	for _, e := range srv.Execs() {
		switch {
		case e.Protocol == "websocket" && strings.Join(e.Subprotocols, ",") == "v5.channel.k8s.io":
			ws5 = true
		case e.Protocol == "spdy" && strings.Join(e.Subprotocols, ",") == "v5.channel.k8s.io,v4.channel.k8s.io,v3.channel.k8s.io,v2.channel.k8s.io,channel.k8s.io":
			spdy5 = true
		}
	}
	if !ws5 || !spdy5 {
		t.Errorf("exec requests: %+v", srv.Execs())
	}
}

func TestWebSocketRefusedIsNamed(t *testing.T) {
	opts := serverOptions()
	opts.RejectWebSocket = true
	srv := testserver.Start(t, opts)
	r, _, _ := runDoctor(t, config(t, srv.Kubeconfig(t), "demo"))
	ws := check(t, r, "handshake", "websocket")
	if ws.Status != StatusWarn || !strings.HasPrefix(ws.Detail, "WebSocket upgrade refused (403), SPDY works: OpenShift does this on some versions; rexec falls back automatically") {
		t.Errorf("websocket: %s %q", ws.Status, ws.Detail)
	}
	if sp := check(t, r, "handshake", "spdy"); sp.Status != StatusOK {
		t.Errorf("spdy: %s %q", sp.Status, sp.Detail)
	}
	if !r.OK || r.Warnings != 1 || r.Protocol != "v4.channel.k8s.io (spdy)" {
		t.Errorf("OK %v, warnings %d, protocol %q", r.OK, r.Warnings, r.Protocol)
	}
	if c := check(t, r, "stream", "echo spdy"); c.Status != StatusOK {
		t.Errorf("echo over SPDY: %s %q", c.Status, c.Detail)
	}
}

func TestBothUpgradesRefused(t *testing.T) {
	opts := serverOptions()
	opts.RejectWebSocket, opts.RejectSPDY = true, true
	srv := testserver.Start(t, opts)
	r, _, _ := runDoctor(t, config(t, srv.Kubeconfig(t), "demo"))
	if r.OK || r.Broken == nil || r.Broken.Check != "websocket" {
		t.Fatalf("OK %v, broken %+v", r.OK, r.Broken)
	}
	if stepStatus(t, r, "stream") != StatusSkip {
		t.Errorf("the stream step ran without a working upgrade")
	}
}

func TestSPDYForcedButRefused(t *testing.T) {
	opts := serverOptions()
	opts.RejectSPDY = true
	srv := testserver.Start(t, opts)
	cfg := config(t, srv.Kubeconfig(t), "demo")
	cfg.RTTSamples, cfg.ThroughputMiB = 0, 0
	r, _, _ := runDoctor(t, cfg)
	if c := check(t, r, "handshake", "spdy"); c.Status != StatusWarn {
		t.Errorf("SPDY refused while WebSocket is used: %s %q", c.Status, c.Detail)
	}
	cfg = config(t, srv.Kubeconfig(t), "demo")
	cfg.PreferSPDY = true
	r, _, _ = runDoctor(t, cfg)
	if c := check(t, r, "handshake", "spdy"); c.Status != StatusFail {
		t.Errorf("SPDY refused while forced: %s %q", c.Status, c.Detail)
	}
	if c := check(t, r, "handshake", "websocket"); c.Status != StatusOK {
		t.Errorf("websocket: %s %q", c.Status, c.Detail)
	}
}

func TestSelfSubjectReviewForbidden(t *testing.T) {
	opts := serverOptions()
	opts.ForbidSelfSubjectReview = true
	srv := testserver.Start(t, opts)
	r, _, _ := runDoctor(t, config(t, srv.Kubeconfig(t), "demo"))
	c := check(t, r, "identity", "user")
	if c.Status != StatusWarn || !strings.Contains(c.Detail, "403") || !strings.Contains(c.Hint, "unknown") {
		t.Errorf("user: %s %q hint %q", c.Status, c.Detail, c.Hint)
	}
	if !r.OK || r.Warnings != 1 {
		t.Errorf("a forbidden SelfSubjectReview alone must not fail: OK %v, warnings %d", r.OK, r.Warnings)
	}
}

func TestExecDenied(t *testing.T) {
	opts := serverOptions()
	opts.Authorize = func(a authorizationv1.ResourceAttributes) (bool, string) {
		if a.Subresource == "exec" {
			return false, ""
		}
		return true, "viewer role"
	}
	srv := testserver.Start(t, opts)
	r, text, _ := runDoctor(t, config(t, srv.Kubeconfig(t), "demo"))
	c := check(t, r, "identity", "create pods/exec")
	if c.Status != StatusFail || c.Detail != "denied in namespace default" ||
		!strings.Contains(c.Hint, "kubectl auth can-i create pods --subresource=exec -n default") {
		t.Errorf("create pods/exec: %s %q hint %q", c.Status, c.Detail, c.Hint)
	}
	if g := check(t, r, "identity", "get pods"); g.Status != StatusOK {
		t.Errorf("get pods: %s %q", g.Status, g.Detail)
	}
	if r.OK || r.ExitCode() != 1 || r.Broken.Hop != "authorization (RBAC) in namespace default" {
		t.Errorf("OK %v exit %d broken %+v", r.OK, r.ExitCode(), r.Broken)
	}
	if !strings.Contains(text, "✗ first broken hop: authorization (RBAC) in namespace default") {
		t.Errorf("summary does not name RBAC")
	}
}

const secretToken = "doctor-test-token-Zq81xYw0"

func TestTokenNeverShown(t *testing.T) {
	opts := serverOptions()
	opts.Token = secretToken
	srv := testserver.Start(t, opts)
	kc := srv.Kubeconfig(t)
	r, text, js := runDoctor(t, config(t, kc, "demo"))
	if !r.OK {
		t.Errorf("not OK: %s", r.Summary)
	}
	if c := check(t, r, "kubeconfig", "auth"); c.Detail != "bearer token (from the kubeconfig user)" {
		t.Errorf("auth: %q", c.Detail)
	}
	for _, out := range []string{text, js} {
		if strings.Contains(out, secretToken) || strings.Contains(out, secretToken[:12]) {
			t.Errorf("the token appears in the output")
		}
	}

	// A wrong token: named as such, and the rest is skipped.
	bad := filepath.Join(t.TempDir(), "bad")
	writeKubeconfig(t, kc, bad, func(c *clientcmdConfig) { c.AuthInfos[testserver.KubeconfigUser].Token = "wrong-" + secretToken })
	r, text, js = runDoctor(t, config(t, bad, "demo"))
	c := check(t, r, "identity", "user")
	if c.Status != StatusFail || !strings.Contains(c.Detail, "401") || !strings.Contains(c.Hint, "token") {
		t.Errorf("user: %s %q hint %q", c.Status, c.Detail, c.Hint)
	}
	if r.Broken == nil || r.Broken.Hop != hopAuthn || stepStatus(t, r, "pod") != StatusSkip {
		t.Errorf("broken %+v", r.Broken)
	}
	for _, out := range []string{text, js} {
		if strings.Contains(out, secretToken[:12]) {
			t.Errorf("the token appears in the output")
		}
	}
}

func TestMissingPod(t *testing.T) {
	srv := testserver.Start(t, serverOptions())
	r, text, _ := runDoctor(t, config(t, srv.Kubeconfig(t), "nope"))
	c := check(t, r, "pod", "lookup")
	if c.Status != StatusFail || !strings.Contains(c.Detail, `pods "nope" not found`) || !strings.Contains(c.Hint, "-n") {
		t.Errorf("lookup: %s %q hint %q", c.Status, c.Detail, c.Hint)
	}
	for _, s := range []string{"handshake", "stream"} {
		if stepStatus(t, r, s) != StatusSkip {
			t.Errorf("step %s ran without a pod", s)
		}
	}
	if r.ExitCode() != 1 || r.Broken.Hop != "the pod nope in namespace default" {
		t.Errorf("exit %d broken %+v", r.ExitCode(), r.Broken)
	}
	if !strings.Contains(text, "✗ first broken hop: the pod nope in namespace default") {
		t.Errorf("summary does not name the pod")
	}
	if n := len(srv.Execs()); n != 0 {
		t.Errorf("%d exec requests without a pod", n)
	}
}

func TestContainerChoice(t *testing.T) {
	srv := testserver.Start(t, serverOptions())
	kc := srv.Kubeconfig(t)
	for _, tc := range []struct {
		target, container, want string
		status                  Status
	}{
		{"multi", "", "second (the kubectl.kubernetes.io/default-container annotation)", StatusOK},
		{"multi", "first", "first (-c)", StatusOK},
		{"deploy/web", "", "web (the only container)", StatusOK},
		{"demo", "nope", "container nope is not valid for pod demo out of: main", StatusFail},
	} {
		cfg := config(t, kc, tc.target)
		cfg.Container, cfg.RTTSamples, cfg.ThroughputMiB = tc.container, 0, 0
		r, _, _ := runDoctor(t, cfg)
		c := check(t, r, "pod", "container")
		if c.Status != tc.status || c.Detail != tc.want {
			t.Errorf("%s -c %q: %s %q, want %s %q", tc.target, tc.container, c.Status, c.Detail, tc.status, tc.want)
		}
	}
}

func TestIdleCutIsNamed(t *testing.T) {
	opts := serverOptions()
	opts.CutAfter = 2 * time.Second
	srv := testserver.Start(t, opts)
	cfg := config(t, srv.Kubeconfig(t), "demo")
	cfg.Idle = time.Second
	start := time.Now()
	r, _, _ := runDoctor(t, cfg)
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("took %v", took)
	}
	for _, kind := range []string{"websocket", "spdy"} {
		c := check(t, r, "idle", "idle "+kind)
		held := time.Duration(c.Data["heldMs"].(Millis))
		if c.Status != StatusFail || held < 1700*time.Millisecond || held > 2500*time.Millisecond {
			t.Errorf("%s: %s after %v: %q", kind, c.Status, held, c.Detail)
		}
		if !strings.Contains(c.Hint, "timeout tunnel") || !strings.Contains(c.Hop, "proxy") || c.Data["roundSeconds"] != true {
			t.Errorf("%s: hop %q hint %q", kind, c.Hop, c.Hint)
		}
	}
	if r.OK || r.Broken == nil || r.Broken.Step != "an idle session (1s)" {
		t.Errorf("OK %v broken %+v", r.OK, r.Broken)
	}
}

func TestUnreachable(t *testing.T) {
	srv := testserver.Start(t, serverOptions())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	kc := filepath.Join(t.TempDir(), "kc")
	writeKubeconfig(t, srv.Kubeconfig(t), kc, func(c *clientcmdConfig) { c.Clusters[testserver.KubeconfigCluster].Server = "https://" + addr })
	start := time.Now()
	r, _, _ := runDoctor(t, config(t, kc, "demo"))
	c := check(t, r, "reachability", "tcp")
	if c.Status != StatusFail || !strings.Contains(c.Detail, "connection refused") || !strings.Contains(c.Hint, "nothing listens") {
		t.Errorf("tcp: %s %q hint %q", c.Status, c.Detail, c.Hint)
	}
	if stepStatus(t, r, "identity") != StatusSkip || r.Broken.Check != "tcp" {
		t.Errorf("broken %+v", r.Broken)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %v for a refused connection", took)
	}
}

// A server that accepts connections and says nothing must not hang doctor.
func TestSilentServerTimesOut(t *testing.T) {
	srv := testserver.Start(t, serverOptions())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	kc := filepath.Join(t.TempDir(), "kc")
	writeKubeconfig(t, srv.Kubeconfig(t), kc, func(c *clientcmdConfig) {
		c.Clusters[testserver.KubeconfigCluster].Server = "https://" + l.Addr().String()
	})
	cfg := config(t, kc, "demo")
	cfg.StepTimeout = time.Second
	start := time.Now()
	r, _, _ := runDoctor(t, cfg)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %v with a 1s step timeout", took)
	}
	c := check(t, r, "reachability", "tls")
	if c.Status != StatusFail || r.Broken == nil || r.Broken.Check != "tls" {
		t.Errorf("tls: %s %q; broken %+v", c.Status, c.Detail, r.Broken)
	}
}

// A credential plugin that never answers (a login waiting for a browser)
// must not hang doctor either.
func TestHangingCredentialPlugin(t *testing.T) {
	srv := testserver.Start(t, serverOptions())
	kc := filepath.Join(t.TempDir(), "kc")
	writeKubeconfig(t, srv.Kubeconfig(t), kc, func(c *clientcmdConfig) {
		c.AuthInfos[testserver.KubeconfigUser] = &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{
			APIVersion: "client.authentication.k8s.io/v1", Command: "sh", Args: []string{"-c", "sleep 5"},
			InteractiveMode: clientcmdapi.NeverExecInteractiveMode,
		}}
	})
	cfg := config(t, kc, "demo")
	cfg.StepTimeout = time.Second
	start := time.Now()
	r, _, _ := runDoctor(t, cfg)
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("took %v with a 1s step timeout", took)
	}
	if c := check(t, r, "kubeconfig", "auth"); c.Detail != `exec plugin "sh" (client.authentication.k8s.io/v1)` {
		t.Errorf("auth %q", c.Detail)
	}
	c := check(t, r, "reachability", "/version")
	if c.Status != StatusFail || !strings.Contains(c.Detail, "no answer before the step's timeout") || c.Hop != "the credential plugin sh" {
		t.Errorf("/version: %s %q", c.Status, c.Detail)
	}
	if stepStatus(t, r, "identity") != StatusSkip {
		t.Errorf("identity ran after /version got no answer")
	}
}

func TestProxyURLShownWithoutPassword(t *testing.T) {
	srv := testserver.Start(t, serverOptions())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	kc := filepath.Join(t.TempDir(), "kc")
	writeKubeconfig(t, srv.Kubeconfig(t), kc, func(c *clientcmdConfig) {
		c.Clusters[testserver.KubeconfigCluster].ProxyURL = "http://proxyuser:proxy-pass-Kx7@" + addr
	})
	r, text, js := runDoctor(t, config(t, kc, "demo"))
	p := check(t, r, "kubeconfig", "proxy")
	if !strings.Contains(p.Detail, "proxyuser:xxxxx@"+addr) || !strings.Contains(p.Detail, "from the kubeconfig") {
		t.Errorf("proxy: %q", p.Detail)
	}
	c := check(t, r, "reachability", "tcp")
	if c.Status != StatusFail || !strings.Contains(c.Detail, "the proxy") || !strings.Contains(c.Hint, "proxy") {
		t.Errorf("tcp: %s %q hint %q", c.Status, c.Detail, c.Hint)
	}
	for _, out := range []string{text, js} {
		if strings.Contains(out, "proxy-pass-Kx7") {
			t.Errorf("the proxy password appears in the output")
		}
	}
}

func TestBadConfig(t *testing.T) {
	if _, err := Run(context.Background(), Config{Target: "x"}); err == nil {
		t.Errorf("no Flags: no error")
	}
	missing := filepath.Join(t.TempDir(), "missing")
	r, _, _ := runDoctor(t, config(t, missing, "demo"))
	if c := check(t, r, "kubeconfig", "files"); c.Status != StatusFail || !strings.Contains(c.Detail, missing) {
		t.Errorf("files: %s %q", c.Status, c.Detail)
	}
	if r.OK || stepStatus(t, r, "reachability") != StatusSkip {
		t.Errorf("OK %v", r.OK)
	}
}

func TestPercentile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 20; i++ {
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	if p := percentile(s, 0.5); p != 10*time.Millisecond {
		t.Errorf("p50 %v", p)
	}
	if p := percentile(s, 0.99); p != 20*time.Millisecond {
		t.Errorf("p99 %v", p)
	}
	if p := percentile(nil, 0.5); p != 0 {
		t.Errorf("empty: %v", p)
	}
}

func TestIsRoundCut(t *testing.T) {
	for secs, want := range map[float64]bool{3.0: true, 2.95: true, 3.02: true, 3.31: true, 3.5: false, 2.7: false, 60.95: true, 61.2: true, 61.5: false, 4.45: false} {
		if got := isRoundCut(secs); got != want {
			t.Errorf("isRoundCut(%v) = %v, want %v", secs, got, want)
		}
	}
}

func TestMillisJSON(t *testing.T) {
	b, err := json.Marshal(map[string]Millis{"a": Millis(1500 * time.Microsecond)})
	if err != nil || string(b) != `{"a":1.5}` {
		t.Errorf("%s %v", b, err)
	}
	var back map[string]Millis
	if err := json.Unmarshal(b, &back); err != nil || back["a"] != Millis(1500*time.Microsecond) {
		t.Errorf("back: %v %v", back, err)
	}
}

type clientcmdConfig = clientcmdapi.Config

// writeKubeconfig copies the kubeconfig at from to to, changed by edit.
func writeKubeconfig(t *testing.T, from, to string, edit func(*clientcmdConfig)) {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(from)
	if err != nil {
		t.Fatal(err)
	}
	edit(cfg)
	if err := clientcmd.WriteToFile(*cfg, to); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(to, 0o600); err != nil {
		t.Fatal(err)
	}
}
