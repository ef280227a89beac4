package doctor

import (
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

// The -o json schema as a consumer reads it (package pkg/doctor is not
// imported: this module does not carry the plugin's kubectl dependencies,
// and the JSON is the contract).
type jsonReport struct {
	Server    string     `json:"server"`
	Namespace string     `json:"namespace"`
	Pod       string     `json:"pod"`
	Container string     `json:"container"`
	Protocol  string     `json:"protocol"`
	Steps     []jsonStep `json:"steps"`
	OK        bool       `json:"ok"`
	Warnings  int        `json:"warnings"`
	Broken    *struct {
		Step  string `json:"step"`
		Check string `json:"check"`
		Hop   string `json:"hop"`
		Hint  string `json:"hint"`
	} `json:"firstBroken"`
	Summary string  `json:"summary"`
	TookMs  float64 `json:"tookMs"`
}

type jsonStep struct {
	Number int         `json:"number"`
	Name   string      `json:"name"`
	Title  string      `json:"title"`
	Status string      `json:"status"`
	TookMs float64     `json:"tookMs"`
	Checks []jsonCheck `json:"checks"`
}

type jsonCheck struct {
	Name   string         `json:"name"`
	Status string         `json:"status"`
	TookMs float64        `json:"tookMs"`
	Detail string         `json:"detail"`
	Hint   string         `json:"hint"`
	Hop    string         `json:"hop"`
	Data   map[string]any `json:"data"`
}

// report decodes doctor's -o json output.
func report(t *testing.T, r result) jsonReport {
	t.Helper()
	var rep jsonReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("-o json output does not parse: %v\n%s", err, r.stdout)
	}
	return rep
}

func findCheck(t *testing.T, rep jsonReport, step, name string) jsonCheck {
	t.Helper()
	for _, s := range rep.Steps {
		if s.Name != step {
			continue
		}
		for _, c := range s.Checks {
			if c.Name == name {
				return c
			}
		}
	}
	t.Fatalf("no check %s/%s in the report", step, name)
	return jsonCheck{}
}

func stepOf(t *testing.T, rep jsonReport, name string) jsonStep {
	t.Helper()
	for _, s := range rep.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no step %s in the report", name)
	return jsonStep{}
}

// TestAdminAllPass: with the admin kubeconfig every step passes, in text
// and in JSON, and a silent session directly to the API server survives
// (no proxy in the path).
func TestAdminAllPass(t *testing.T) {
	r := doctor(t, nil, "--kubeconfig", tc.AdminKubeconfig, pod, "--rtt-samples", "10", "--throughput-mib", "4")
	if r.code != 0 {
		t.Errorf("exit %d, want 0", r.code)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) < 8 || !strings.HasPrefix(lines[0], "kubectl rexec doctor "+pod) {
		t.Fatalf("text report too short:\n%s", r.stdout)
	}
	steps := 0
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "   ") || strings.HasPrefix(l, "     ") {
			if !strings.HasPrefix(strings.TrimSpace(l), "✓ ") {
				t.Errorf("check not passed: %q", l)
			}
			continue
		}
		steps++
		if !strings.HasPrefix(l, "✓ ") {
			t.Errorf("step or summary not passed: %q", l)
		}
	}
	if steps != 7 { // 6 steps and the summary
		t.Errorf("%d step and summary lines, want 7", steps)
	}
	wantSummary := "✓ all checks passed: exec into pod default/" + pod + " container main works over v5.channel.k8s.io (websocket)"
	if !strings.HasPrefix(lines[len(lines)-1], wantSummary) {
		t.Errorf("summary %q, want %q", lines[len(lines)-1], wantSummary)
	}

	j := doctor(t, nil, "--kubeconfig", tc.AdminKubeconfig, pod, "-o", "json", "--rtt-samples", "5", "--throughput-mib", "1", "--idle", "1s")
	rep := report(t, j)
	if j.code != 0 || !rep.OK || rep.Warnings != 0 || rep.Broken != nil {
		t.Errorf("exit %d, ok %v, warnings %d, broken %+v", j.code, rep.OK, rep.Warnings, rep.Broken)
	}
	if len(rep.Steps) != 7 {
		t.Errorf("%d steps, want 7 with --idle", len(rep.Steps))
	}
	for _, s := range rep.Steps {
		if s.Status != "ok" {
			t.Errorf("step %s: %s", s.Name, s.Status)
		}
	}
	if rep.Server != tc.Server || rep.Pod != pod || rep.Container != "main" || rep.Namespace != "default" {
		t.Errorf("server %q pod %q container %q namespace %q", rep.Server, rep.Pod, rep.Container, rep.Namespace)
	}
	if u := findCheck(t, rep, "identity", "user"); u.Data["username"] != "admin" {
		t.Errorf("user %+v", u.Data)
	}
	if v := findCheck(t, rep, "reachability", "/version"); v.Data["gitVersion"] != "v1.37.2" {
		t.Errorf("/version %+v", v.Data)
	}
	if ws := findCheck(t, rep, "handshake", "websocket"); ws.Data["protocol"] != "v5.channel.k8s.io" || ws.Data["status"] != float64(101) {
		t.Errorf("websocket %+v", ws.Data)
	}
	if sp := findCheck(t, rep, "handshake", "spdy"); sp.Data["protocol"] != "v4.channel.k8s.io" || sp.Data["status"] != float64(101) {
		t.Errorf("spdy %+v", sp.Data)
	}
	for _, kind := range []string{"websocket", "spdy"} {
		if c := findCheck(t, rep, "idle", "idle "+kind); c.Data["cut"] != false {
			t.Errorf("idle %s: %s %q", kind, c.Status, c.Detail)
		}
	}
}

// TestViewerLacksExec: the viewer may get pods but not create pods/exec;
// the permission step fails with a hint and the summary names RBAC.
func TestViewerLacksExec(t *testing.T) {
	r := doctor(t, nil, "--kubeconfig", tc.ViewerKubeconfig, pod, "--rtt-samples", "0", "--throughput-mib", "0")
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	for _, want := range []string{
		"✗ 3. identity and permission",
		"✗ create pods/exec  denied in namespace default",
		"hint: ask for a Role (or ClusterRole) bound to you in namespace default that allows \"create\" on \"pods/exec\"; check with: kubectl auth can-i create pods --subresource=exec -n default",
		"✓ get pods          allowed in namespace default",
		"✗ first broken hop: authorization (RBAC) in namespace default",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("text report lacks %q", want)
		}
	}
	rep := report(t, doctor(t, nil, "--kubeconfig", tc.ViewerKubeconfig, pod, "-o", "json", "--rtt-samples", "0", "--throughput-mib", "0"))
	if rep.OK || rep.Broken == nil || rep.Broken.Check != "create pods/exec" {
		t.Errorf("ok %v broken %+v", rep.OK, rep.Broken)
	}
	if u := findCheck(t, rep, "identity", "user"); u.Data["username"] != "viewer" {
		t.Errorf("user %+v", u.Data)
	}
	// The API server refuses both upgrades as it would refuse kubectl exec.
	for _, kind := range []string{"websocket", "spdy"} {
		if c := findCheck(t, rep, "handshake", kind); c.Status != "fail" || c.Data["status"] != float64(403) {
			t.Errorf("%s: %s %+v", kind, c.Status, c.Data)
		}
	}
}

// TestIdleCutByHAProxy: through HAProxy with "timeout tunnel 3s", a silent
// session is cut after ~3 s on both protocols, and doctor names the proxy's
// timeout.
func TestIdleCutByHAProxy(t *testing.T) {
	needHAProxy(t)
	r := doctor(t, nil, "--kubeconfig", tc.ProxyKubeconfig, pod, "-o", "json", "--idle", "6s", "--rtt-samples", "5", "--throughput-mib", "1")
	rep := report(t, r)
	if r.code != 1 || rep.OK {
		t.Errorf("exit %d ok %v, want a failure", r.code, rep.OK)
	}
	for _, s := range rep.Steps[:6] {
		if s.Status != "ok" {
			t.Errorf("step %s: %s (everything but the idle session works through the proxy)", s.Name, s.Status)
		}
	}
	idle := stepOf(t, rep, "idle")
	if idle.Status != "fail" || idle.TookMs > 6000 {
		t.Errorf("idle step %s in %vms", idle.Status, idle.TookMs)
	}
	for _, kind := range []string{"websocket", "spdy"} {
		c := findCheck(t, rep, "idle", "idle "+kind)
		cut, _ := c.Data["cutAfterMs"].(float64)
		if c.Status != "fail" || c.Data["cut"] != true || cut < 2500 || cut > 4000 {
			t.Errorf("%s: %s, cut after %vms: %q", kind, c.Status, cut, c.Detail)
		}
		if c.Data["roundSeconds"] != true || !strings.Contains(c.Hint, "a cut after a round 3 s") || !strings.Contains(c.Hint, "timeout tunnel") {
			t.Errorf("%s: hint %q does not name the proxy timeout", kind, c.Hint)
		}
		if c.Hop != "an idle timeout on a proxy or load balancer between here and the API server" {
			t.Errorf("%s: hop %q", kind, c.Hop)
		}
	}
	if rep.Broken == nil || rep.Broken.Step != "an idle session (6s)" || !strings.Contains(rep.Summary, "timeout tunnel") {
		t.Errorf("broken %+v, summary %q", rep.Broken, rep.Summary)
	}

	// The same in text: one line per protocol, and the summary; client-go's
	// own error lines about the broken streams are not printed without -v.
	r = doctor(t, nil, "--kubeconfig", tc.ProxyKubeconfig, pod, "--idle", "6s", "--rtt-samples", "0", "--throughput-mib", "0")
	if r.stderr != "" {
		t.Errorf("stderr %q, want none", r.stderr)
	}
	for _, want := range []string{"✗ 7. an idle session (6s)", "✗ idle websocket  cut after 3", "✗ idle spdy       cut after 3", "(over SPDY kubectl reports this as success, exit 0)",
		"✗ first broken hop: an idle timeout on a proxy or load balancer between here and the API server"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("text report lacks %q", want)
		}
	}
}

// TestTokenNeverPrinted: the token kubeconfig works and its token appears
// in neither output format; nor does a wrong token given with --token.
func TestTokenNeverPrinted(t *testing.T) {
	cfg, err := clientcmd.LoadFromFile(tc.TokenKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	var token string
	for _, a := range cfg.AuthInfos {
		token = a.Token
	}
	if len(token) < 16 {
		t.Fatalf("token kubeconfig has no usable token (%d chars)", len(token))
	}
	text := doctor(t, nil, "--kubeconfig", tc.TokenKubeconfig, pod, "--rtt-samples", "2", "--throughput-mib", "1", "-v", "9")
	js := doctor(t, nil, "--kubeconfig", tc.TokenKubeconfig, pod, "-o", "json", "--rtt-samples", "2", "--throughput-mib", "1")
	if text.code != 0 || js.code != 0 {
		t.Errorf("exit %d and %d, want 0", text.code, js.code)
	}
	if a := findCheck(t, report(t, js), "kubeconfig", "auth"); a.Detail != "bearer token (from the kubeconfig user)" {
		t.Errorf("auth %q", a.Detail)
	}
	wrong := "wrong-" + token[:8] + "-doctor-e2e"
	bad := doctor(t, nil, "--kubeconfig", tc.TokenKubeconfig, "--token", wrong, pod)
	if bad.code != 1 || !strings.Contains(bad.stdout, "401 Unauthorized") || !strings.Contains(bad.stdout, "bearer token (from --token)") {
		t.Errorf("wrong token: exit %d", bad.code)
	}
	for name, r := range map[string]result{"text with -v 9": text, "json": js, "wrong --token": bad} {
		for _, secret := range []string{token, token[:12], token[len(token)-12:], wrong} {
			if strings.Contains(r.stdout, secret) || strings.Contains(r.stderr, secret) {
				t.Errorf("%s: a token appears in the output", name)
			}
		}
	}
}

// TestNothingListens: an API server address nothing listens on fails the
// TCP check quickly and skips the rest.
func TestNothingListens(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	cfg, err := clientcmd.LoadFromFile(tc.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cfg.Clusters {
		c.Server = "https://" + addr
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, kc); err != nil {
		t.Fatal(err)
	}
	r := doctor(t, nil, "--kubeconfig", kc, pod)
	if r.code != 1 || r.took > 10*time.Second {
		t.Errorf("exit %d in %v", r.code, r.took)
	}
	for _, want := range []string{"✗ tcp", "connection refused", "- 3. identity and permission", "✗ first broken hop: the network path to " + addr} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("text report lacks %q", want)
		}
	}
}

// TestRootStillExecs: with doctor added, the root command still execs, and
// kubeconfig flags may come before the subcommand's name.
func TestRootStillExecs(t *testing.T) {
	r := plugin(t, nil, "--kubeconfig", tc.AdminKubeconfig, "--record-dir", t.TempDir(), "-q", "-n", "default", pod, "--", "echo", "hi")
	if r.code != 0 || r.stdout != "hi\n" {
		t.Errorf("exec: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = plugin(t, nil, "--kubeconfig", tc.AdminKubeconfig, "-n", "default", "doctor", pod, "--rtt-samples", "0", "--throughput-mib", "0")
	if r.code != 0 || !strings.Contains(r.stdout, "✓ all checks passed") {
		t.Errorf("flags before doctor: exit %d", r.code)
	}
}
