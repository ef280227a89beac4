package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// policyMessage is in the ValidatingAdmissionPolicy's refusal.
const policyMessage = "use `kubectl rexec`"

// TestPlainExecRefused: real kubectl exec, as a user who may exec, is
// refused by the shipped policy with its message, on both protocols; so is
// attach, and so is kubectl rexec --via direct.
func TestPlainExecRefused(t *testing.T) {
	eachProto(t, func(t *testing.T, websocket bool) {
		r := kubectlExec(t, alice, websocket, nil, target, "--", "echo", "should not run")
		if r.code == 0 || strings.Contains(r.stdout, "should not run") || !strings.Contains(r.stderr, policyMessage) {
			t.Fatalf("plain kubectl exec: exit %d, stdout %q, stderr %q; want refused with %q", r.code, r.stdout, r.stderr, policyMessage)
		}
	})
	r := runCmd(t, baseEnv(t, true), nil, tc.Kubectl(), "--kubeconfig", users[alice], "attach", target, "-c", "main")
	if r.code == 0 || !strings.Contains(r.stderr, policyMessage) {
		t.Fatalf("plain kubectl attach: exit %d, stderr %q; want refused with %q", r.code, r.stderr, policyMessage)
	}
	// kubectl rexec --via direct is refused the same way, and names the
	// flag that went around the gateway.
	t.Run("rexec-via-direct", func(t *testing.T) {
		eachProto(t, func(t *testing.T, websocket bool) {
			r, _ := rexecRun(t, alice, websocket, nil, "--via", "direct", target, "--", "echo", "should not run")
			if r.code != 1 || strings.Contains(r.stdout, "should not run") || !strings.Contains(r.stderr, policyMessage) || !strings.Contains(r.stderr, "run the command again without --via direct") {
				t.Fatalf("kubectl rexec --via direct: exit %d, stdout %q, stderr %q; want exit 1, refused with %q and the flag named", r.code, r.stdout, r.stderr, policyMessage)
			}
		})
	})
}

// TestBreakGlass: the break-glass group gets plain kubectl exec, and the
// audit log marks the request.
func TestBreakGlass(t *testing.T) {
	eachProto(t, func(t *testing.T, websocket bool) {
		r := kubectlExec(t, carol, websocket, nil, target, "--", "sh", "-c", "echo glass; exit 5")
		if r.code != 5 || r.stdout != "glass\n" {
			t.Fatalf("break-glass kubectl exec: exit %d, stdout %q, stderr %q; want exit 5 and glass", r.code, r.stdout, r.stderr)
		}
	})
	var entry string
	waitFor(t, "an audit event of carol's exec with the break-glass annotation", func() bool {
		entry = auditEntry(t, func(ev auditEvent) bool {
			return ev.User.Username == carol && ev.ObjectRef.Subresource == "exec" &&
				ev.Annotations["rexec-require-recording.kubectl-rexec.io/break-glass"] != ""
		})
		return entry != ""
	})
	if !strings.Contains(entry, "unrecorded exec of default/"+target+" by carol") {
		t.Errorf("break-glass annotation: %s", entry)
	}
}

type auditEvent struct {
	AuditID    string `json:"auditID"`
	Stage      string `json:"stage"`
	RequestURI string `json:"requestURI"`
	User       struct {
		Username string              `json:"username"`
		Extra    map[string][]string `json:"extra"`
	} `json:"user"`
	ImpersonatedUser *struct {
		Username string              `json:"username"`
		Groups   []string            `json:"groups"`
		Extra    map[string][]string `json:"extra"`
	} `json:"impersonatedUser"`
	ObjectRef struct {
		Resource, Namespace, Name, Subresource string
	} `json:"objectRef"`
	ResponseStatus struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	Annotations map[string]string `json:"annotations"`
}

// auditEntry returns the first audit log line that match accepts.
func auditEntry(t *testing.T, match func(auditEvent) bool) string {
	t.Helper()
	f, err := os.Open(auditLog)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var ev auditEvent
		if json.Unmarshal(sc.Bytes(), &ev) == nil && match(ev) {
			return sc.Text()
		}
	}
	return ""
}

// TestParity: kubectl rexec through the gateway against direct kubectl
// exec (by the break-glass user, whom the policy lets through): the same
// stdout, stderr and exit code, on both protocols.
func TestParity(t *testing.T) {
	createDeployment(t)
	cases := []struct {
		name  string
		stdin []byte
		args  []string
	}{
		{"exit 0", nil, []string{target, "--", "sh", "-c", "echo out; echo err >&2"}},
		{"exit 3", nil, []string{target, "--", "sh", "-c", "echo three; exit 3"}},
		{"exit 42", nil, []string{target, "--", "sh", "-c", "exit 42"}},
		{"missing command", nil, []string{target, "--", "no-such-command"}},
		{"stdin to EOF", []byte(strings.Repeat("line of stdin\n", 2000)), []string{"-i", target, "--", "sh", "-c", "wc -l; cat | head -c 100"}},
		{"container", nil, []string{target, "-c", "side", "--", "sh", "-c", "echo $CONTAINER"}},
		{"deploy/NAME", nil, []string{"deploy/web", "--", "sh", "-c", "echo $POD_NAME; exit 6"}},
		{"no such pod", nil, []string{"nosuchpod", "--", "true"}},
		{"no such container", nil, []string{target, "-c", "nosuch", "--", "true"}},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, "/", "_"), func(t *testing.T) {
			eachProto(t, func(t *testing.T, websocket bool) {
				k := kubectlExec(t, carol, websocket, c.stdin, append([]string{"-q"}, c.args...)...)
				r, dir := rexecRun(t, alice, websocket, c.stdin, append([]string{"-q"}, c.args...)...)
				if r.code != k.code || r.stdout != k.stdout || r.stderr != k.stderr {
					t.Fatalf("rexec through the gateway: exit %d, stdout %q, stderr %q\nkubectl exec:               exit %d, stdout %q, stderr %q",
						r.code, r.stdout, r.stderr, k.code, k.stdout, k.stderr)
				}
				if c.name == "no such pod" || c.name == "no such container" {
					return // refused by kubectl's own checks before any exec
				}
				h := onlyHeader(t, dir)
				if h.Rexec.Via != "gateway" {
					t.Errorf("local recording: via %q, want gateway", h.Rexec.Via)
				}
				gwh, _ := gatewayRecording(t, gw, h.Rexec.SessionID)
				if gwh.Rexec.User.Username != alice {
					t.Errorf("gateway recording user %q, want alice", gwh.Rexec.User.Username)
				}
			})
		})
	}
}

func createDeployment(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	labels := map[string]string{"app": "web-gw"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "busybox", Command: []string{"sleep", "infinity"}}}},
			},
		},
	}
	if _, err := tc.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating deployment: %v", err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-7c9d8f6b5-q2x4z", Namespace: ns, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "busybox", Command: []string{"sleep", "infinity"}}}},
	}
	if _, err := tc.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating pod: %v", err)
	}
	waitFor(t, "pod web-7c9d8f6b5-q2x4z running", func() bool {
		p, err := tc.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning
	})
}

// onlyHeader reads the one recording the plugin left in dir.
func onlyHeader(t *testing.T, dir string) record.Header {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.cast.zst"))
	if len(files) != 1 {
		t.Fatalf("want one local recording in %s, found %v", dir, files)
	}
	return readHeader(t, files[0])
}

func readHeader(t *testing.T, path string) record.Header {
	t.Helper()
	rd, err := record.Open(path)
	if err != nil && rd == nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	defer rd.Close()
	return rd.Header()
}

// gatewayRecording finds the gateway's recording of the session whose
// client audit ID is clientID (the plugin's session ID).
func gatewayRecording(t *testing.T, g *gatewayProc, clientID string) (record.Header, string) {
	t.Helper()
	var h record.Header
	var path string
	waitFor(t, "the gateway's recording of client session "+clientID, func() bool {
		files, _ := filepath.Glob(filepath.Join(g.recordDir, "*.cast.zst"))
		for _, f := range files {
			rd, err := record.Open(f)
			if rd == nil {
				continue
			}
			hh := rd.Header()
			_ = rd.Close()
			if err == nil && hh.Rexec != nil && hh.Rexec.ClientAuditID == clientID {
				h, path = hh, f
				return true
			}
		}
		return false
	})
	return h, path
}

// TestTTYResize: -it through the gateway, on a pty of the test's own, with
// a resize: the remote terminal sees both sizes, the exit code comes back,
// and the gateway's recording holds the resize.
func TestTTYResize(t *testing.T) {
	eachProto(t, func(t *testing.T, websocket bool) {
		dir := filepath.Join(t.TempDir(), "rec")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, rexecBin, "--kubeconfig", users[alice], "--record-dir", dir, "-it", target, "--",
			"sh", "-c", `stty size; while read l; do stty size; [ "$l" = q ] && exit 4; done`)
		cmd.Env = append(baseEnv(t, websocket), "TERM=xterm")
		ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 100})
		if err != nil {
			t.Fatal(err)
		}
		defer ptmx.Close()
		var screen syncBuffer
		go func() { _, _ = io.Copy(&screen, ptmx) }()
		waitFor(t, "the first size on screen", func() bool { return strings.Contains(screen.String(), "30 100") })
		if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 50, Cols: 120}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the new size on screen", func() bool {
			_, _ = ptmx.Write([]byte("\r"))
			return strings.Contains(screen.String(), "50 120")
		})
		_, _ = ptmx.Write([]byte("q\r"))
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errorsAs(err, &ee) || ee.ExitCode() != 4 {
			t.Fatalf("exit: %v; want 4; screen %q", err, screen.String())
		}
		h := onlyHeader(t, dir)
		_, path := gatewayRecording(t, gw, h.Rexec.SessionID)
		sizes := resizes(t, path)
		if !slices.Contains(sizes, "100x30") || !slices.Contains(sizes, "120x50") {
			t.Errorf("gateway recording resizes %v; want 100x30 and 120x50", sizes)
		}
	})
}

func errorsAs(err error, target **exec.ExitError) bool {
	ee, ok := err.(*exec.ExitError)
	if ok {
		*target = ee
	}
	return ok
}

// resizes lists a recording's r events.
func resizes(t *testing.T, path string) []string {
	t.Helper()
	var out []string
	for _, ev := range events(t, path) {
		if ev.Code == 'r' {
			out = append(out, string(ev.Data))
		}
	}
	return out
}

func events(t *testing.T, path string) []record.Event {
	t.Helper()
	rd, err := record.Open(path)
	if rd == nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	defer rd.Close()
	var evs []record.Event
	for {
		ev, err := rd.Next()
		if err != nil {
			return evs
		}
		evs = append(evs, ev)
	}
}

// TestGatewayRecording: the gateway's recording names the user and groups
// the API server vouched for and the gateway instance, holds the whole
// session, verifies, and is signed by the key the gateway publishes.
func TestGatewayRecording(t *testing.T) {
	r, dir := rexecRun(t, alice, true, []byte("typed input\n"), "-i", "--reason", "incident 7", "--ticket", "INC-7", target, "--",
		"sh", "-c", "read l; echo got $l; echo oops >&2; exit 9")
	if r.code != 9 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	local := onlyHeader(t, dir)
	h, path := gatewayRecording(t, gw, local.Rexec.SessionID)
	m := h.Rexec
	if m.User.Username != alice || !slices.Contains(m.User.Groups, "devs") || m.Gateway != instance {
		t.Errorf("header: user %+v, gateway %q", m.User, m.Gateway)
	}
	if m.Reason != "incident 7" || m.Ticket != "INC-7" || m.Pod != target || m.Namespace != ns {
		t.Errorf("header: reason %q ticket %q pod %s/%s", m.Reason, m.Ticket, m.Namespace, m.Pod)
	}
	var o, e, i string
	for _, ev := range events(t, path) {
		switch ev.Code {
		case 'o':
			o += string(ev.Data)
		case 'e':
			e += string(ev.Data)
		case 'i':
			i += string(ev.Data)
		}
	}
	if o != "got typed input\n" || e != "oops\n" || i != "typed input\n" {
		t.Errorf("recorded stdout %q, stderr %q, stdin %q", o, e, i)
	}
	pub := gatewayPublicKey(t)
	v := runCmd(t, baseEnv(t, true), nil, rexecBin, "verify", "--pub", pub, path)
	cm, err := tc.Client.CoreV1().ConfigMaps("rexec-system").Get(context.Background(), "rexec-gateway-signing", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v.code != 0 || !strings.Contains(v.stdout, "OK (signed by "+cm.Data["key-id"]) {
		t.Errorf("verify --pub: exit %d, %q %q", v.code, v.stdout, v.stderr)
	}
	// The audit log has the gateway's upstream exec, as alice, with the
	// marker holding the gateway's session ID.
	waitFor(t, "the audit event of the gateway's upstream exec", func() bool {
		return auditEntry(t, func(ev auditEvent) bool {
			return ev.ImpersonatedUser != nil && ev.ImpersonatedUser.Username == alice &&
				slices.Contains(ev.ImpersonatedUser.Extra["rexec.kubectl-rexec.io/session"], m.SessionID)
		}) != ""
	})
}

// gatewayPublicKey writes the public key the gateway publishes to a file.
func gatewayPublicKey(t *testing.T) string {
	t.Helper()
	cm, err := tc.Client.CoreV1().ConfigMaps("rexec-system").Get(context.Background(), "rexec-gateway-signing", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the gateway's public key: %v", err)
	}
	pub := filepath.Join(t.TempDir(), "gateway.pub")
	if err := os.WriteFile(pub, []byte(cm.Data["sign.pub"]), 0o600); err != nil {
		t.Fatal(err)
	}
	return pub
}

// TestNoEscalation: bob may use the gateway's group but not core
// pods/exec: the gateway refuses him with the API server's own words.
func TestNoEscalation(t *testing.T) {
	eachProto(t, func(t *testing.T, websocket bool) {
		r, _ := rexecRun(t, bob, websocket, nil, "-q", target, "--", "echo", "should not run")
		want := `cannot create resource "pods/exec" in API group "" in the namespace "default"`
		if r.code == 0 || strings.Contains(r.stdout, "should not run") || !strings.Contains(r.stderr, want) {
			t.Fatalf("bob through the gateway: exit %d, stdout %q, stderr %q; want refused with %q", r.code, r.stdout, r.stderr, want)
		}
	})
}

// TestForgedIdentity: the gateway's own port, reached directly, trusts no
// header: without the front-proxy certificate, 401.
func TestForgedIdentity(t *testing.T) {
	url := "https://127.0.0.1:" + itoa(gwPort) + "/apis/rexec.kubectl-rexec.io/v1alpha1/namespaces/default/pods/" + target + "/exec?command=id&stdout=true"
	admin, err := tls.LoadX509KeyPair(filepath.Join(tc.StateDir, "pki", "admin.crt"), filepath.Join(tc.StateDir, "pki", "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	for name, cert := range map[string]*tls.Certificate{"no certificate": nil, "a cluster client certificate": &admin} {
		req, _ := http.NewRequest(http.MethodPost, url, nil)
		req.Header.Set("X-Remote-User", alice)
		req.Header.Set("X-Remote-Group", "system:masters")
		resp, err := insecureClient(cert).Do(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s with a forged X-Remote-User: status %d, want 401", name, resp.StatusCode)
		}
	}
}

// TestMarkerForgery: a user cannot add the marker extra themselves (it
// takes impersonation rights only the gateway has), neither on the core
// exec nor through the gateway's path.
func TestMarkerForgery(t *testing.T) {
	cfg, err := clientcmd.BuildConfigFromFlags("", users[alice])
	if err != nil {
		t.Fatal(err)
	}
	cfg.Impersonate = rest.ImpersonationConfig{UserName: alice, Groups: []string{"devs"}, Extra: map[string][]string{"rexec.kubectl-rexec.io/session": {"forged"}}}
	for _, prefix := range []string{"/api/v1", "/apis/rexec.kubectl-rexec.io/v1alpha1"} {
		u, err := url.Parse(cfg.Host + prefix + "/namespaces/" + ns + "/pods/" + target + "/exec?command=echo&command=should+not+run&stdout=true")
		if err != nil {
			t.Fatal(err)
		}
		ex, err := remotecommand.NewSPDYExecutor(cfg, "POST", u)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		err = ex.StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdout: &out})
		if err == nil || out.Len() > 0 || !strings.Contains(err.Error(), "cannot impersonate") {
			t.Errorf("exec at %s with a forged marker: err %v, output %q; want an impersonation refusal", prefix, err, out.String())
		}
	}
}

// TestServiceAccountUser: a ServiceAccount goes through the gateway too
// (its own impersonation mode: no groups sent).
func TestServiceAccountUser(t *testing.T) {
	r, dir := rexecRun(t, ciBot, false, nil, "-q", target, "--", "sh", "-c", "echo bot; exit 2")
	if r.code != 2 || r.stdout != "bot\n" {
		t.Fatalf("ServiceAccount through the gateway: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	h, _ := gatewayRecording(t, gw, onlyHeader(t, dir).Rexec.SessionID)
	if h.Rexec.User.Username != "system:serviceaccount:default:"+ciBot {
		t.Errorf("gateway recording user %q", h.Rexec.User.Username)
	}
}

// TestAPIResources: kubectl api-resources lists the gateway's group.
func TestAPIResources(t *testing.T) {
	r := runCmd(t, baseEnv(t, true), nil, tc.Kubectl(), "--kubeconfig", users[alice], "api-resources", "--api-group=rexec.kubectl-rexec.io")
	if r.code != 0 || !strings.Contains(r.stdout, "rexec.kubectl-rexec.io/v1alpha1") {
		t.Fatalf("api-resources: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
}

// TestRequireReason: a gateway with requireReason refuses a session with no
// --reason, saying how to give one, and takes one that has it.
func TestRequireReason(t *testing.T) {
	withGateway(t, gatewayOptions{policy: "cluster: e2e\nrequireReason: true\n"})
	r, _ := rexecRun(t, alice, true, nil, "-q", target, "--", "echo", "should not run")
	if r.code == 0 || !strings.Contains(r.stderr, "--reason") {
		t.Fatalf("no reason: exit %d, stdout %q, stderr %q; want refused, naming --reason", r.code, r.stdout, r.stderr)
	}
	r, _ = rexecRun(t, alice, true, nil, "-q", "--reason", "deploy check", target, "--", "echo", "ran")
	if r.code != 0 || r.stdout != "ran\n" {
		t.Fatalf("with a reason: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// TestManifestsReapply: the manifests apply again without change, and the
// roll-out overlay (warn and audit only) applies too: plain exec then works
// with a warning, until deploy/ is applied again.
func TestManifestsReapply(t *testing.T) {
	if out, err := applyManifests(""); err != nil {
		t.Fatalf("re-applying deploy/: %v\n%s", err, out)
	}
	if out, err := applyManifests("rollout-audit"); err != nil {
		t.Fatalf("applying deploy/rollout-audit: %v\n%s", err, out)
	}
	defer func() {
		if out, err := applyManifests(""); err != nil {
			t.Fatalf("applying deploy/ again: %v\n%s", err, out)
		}
		waitFor(t, "the policy to deny again", func() bool {
			r := kubectlExec(t, alice, true, nil, target, "--", "true")
			return r.code != 0 && strings.Contains(r.stderr, policyMessage)
		})
	}()
	// The policy now only audits (and warns, in the upgrade response's
	// headers, which kubectl does not print for a stream): plain exec runs,
	// and the audit log marks it as a validation failure.
	var last result
	waitFor(t, "plain exec to pass under the roll-out policy", func() bool {
		last = kubectlExec(t, alice, true, nil, target, "--", "echo", "audited")
		return last.code == 0 && last.stdout == "audited\n"
	})
	waitFor(t, "the audit log to mark alice's unrecorded exec", func() bool {
		return auditEntry(t, func(ev auditEvent) bool {
			return ev.User.Username == alice && ev.ImpersonatedUser == nil && ev.ObjectRef.Subresource == "exec" &&
				strings.Contains(ev.Annotations["validation.policy.admission.k8s.io/validation_failure"], "rexec-require-recording")
		}) != ""
	})
}

// TestEphemeralContainersRefused: the companion policy refuses kubectl
// debug's ephemeral containers, whose commands would run unrecorded.
func TestEphemeralContainersRefused(t *testing.T) {
	cfg, err := clientcmd.BuildConfigFromFlags("", users[alice])
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pod, err := client.CoreV1().Pods(ns).Get(ctx, target, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Spec.EphemeralContainers = append(pod.Spec.EphemeralContainers, corev1.EphemeralContainer{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debugger", Image: "busybox", Command: []string{"sh"}},
	})
	_, err = client.CoreV1().Pods(ns).UpdateEphemeralContainers(ctx, target, pod, metav1.UpdateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "ephemeral (debug) containers run commands that are not recorded") {
		t.Fatalf("adding an ephemeral container: %v; want the companion policy's refusal", err)
	}
}
