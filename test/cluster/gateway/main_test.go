package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kubectl-rexec/kubectl-rexec/test/cluster/cluster"
	"github.com/kubectl-rexec/kubectl-rexec/test/cluster/clustertest"
)

// What the tests share: one cluster with the gateway installed from
// deploy/, its users, and the gateway process of the moment.
var (
	tc           *cluster.Cluster
	rexecBin     string
	gatewayBin   string
	workDir      string
	auditLog     string
	gwPort       int
	gwKubeconfig string
	users        = map[string]string{} // user name -> kubeconfig
	gw           *gatewayProc
)

const (
	ns     = "default"
	target = "target" // a pod with containers "main" and "side"
	// The users: alice may exec (core and through the gateway), bob only
	// through the gateway's group (not core pods/exec), carol is in the
	// break-glass group, ci-bot is a ServiceAccount that may exec.
	alice, bob, carol, ciBot = "alice", "bob", "carol", "ci-bot"
	breakGlassGroup          = "rexec:break-glass"
	instance                 = "gw-e2e"
)

// auditPolicy logs exec and attach at Metadata level: user (with extras),
// the request and the annotations, which is where the policy marks a
// break-glass session.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  resources:
  - group: ""
    resources: ["pods/exec", "pods/attach"]
- level: None
`

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "gateway e2e:", err)
		return 1
	}
	var err error
	var cleanup func()
	if rexecBin, cleanup, err = clustertest.RexecBinary(); err != nil {
		return fail(err)
	}
	defer cleanup()
	if gatewayBin, cleanup, err = clustertest.GatewayBinary(); err != nil {
		return fail(err)
	}
	defer cleanup()
	if err := clustertest.BuildClusterBinaries(); err != nil {
		return fail(err)
	}
	if workDir, err = os.MkdirTemp("", "rexec-gateway-e2e-"); err != nil {
		return fail(err)
	}
	defer os.RemoveAll(workDir)
	policyFile := filepath.Join(workDir, "audit-policy.yaml")
	if err := os.WriteFile(policyFile, []byte(auditPolicy), 0o600); err != nil {
		return fail(err)
	}
	auditLog = filepath.Join(workDir, "audit.log")
	c, err := cluster.Start(context.Background(), cluster.Options{
		ExtraAPIServerArgs: []string{"--audit-policy-file=" + policyFile, "--audit-log-path=" + auditLog},
	})
	if err != nil {
		return fail(fmt.Errorf("starting cluster: %w", err))
	}
	tc = c
	defer c.Stop()
	if err := setUp(context.Background()); err != nil {
		return fail(err)
	}
	code := m.Run()
	if gw != nil {
		gw.stop()
	}
	return code
}

// setUp applies deploy/, creates the pods and users, and starts the gateway.
func setUp(ctx context.Context) error {
	if _, err := tc.CreatePod(ctx, ns, target, "main", "side"); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	gwPort = port
	if out, err := applyManifests(""); err != nil {
		return fmt.Errorf("applying deploy/: %w\n%s", err, out)
	}
	if err := createUsers(ctx); err != nil {
		return err
	}
	tok, err := tc.Client.CoreV1().ServiceAccounts("rexec-system").CreateToken(ctx, "rexec-gateway",
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(6 * 3600))}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("token for the gateway's ServiceAccount: %w", err)
	}
	if gwKubeconfig, err = tc.TokenKubeconfigFor("rexec-gateway", tok.Status.Token); err != nil {
		return err
	}
	gw, err = launchGateway(gatewayOptions{})
	return err
}

// applyManifests applies the shipped manifests with real kubectl
// (server-side), through an overlay that only says where the gateway
// listens: the Service becomes an ExternalName for localhost (the API server
// resolves that to https://localhost:PORT; a loopback address cannot be an
// Endpoints entry) and the Deployment has no replicas (the test runs the
// gateway itself). variant is "" for deploy/ or "rollout-audit".
func applyManifests(variant string) (string, error) {
	dir, err := os.MkdirTemp(workDir, "overlay-")
	if err != nil {
		return "", err
	}
	deploy := filepath.Join(clustertest.RepoRoot(), "deploy")
	rel, err := filepath.Rel(dir, filepath.Join(deploy, variant))
	if err != nil {
		return "", err
	}
	// ServiceAccounts exec too in these tests (TestServiceAccountUser),
	// and the companion policies are tested too.
	comp, err := filepath.Rel(dir, filepath.Join(deploy, "components", "serviceaccounts"))
	if err != nil {
		return "", err
	}
	companions, err := filepath.Rel(dir, filepath.Join(deploy, "components", "companions"))
	if err != nil {
		return "", err
	}
	k := fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- %s
components:
- %s
- %s
patches:
- target: {kind: Service, name: rexec-gateway}
  patch: |-
    apiVersion: v1
    kind: Service
    metadata: {name: rexec-gateway, namespace: rexec-system}
    spec:
      type: ExternalName
      externalName: localhost
      selector: null
      ports: null
- target: {kind: APIService}
  patch: |-
    - op: replace
      path: /spec/service/port
      value: %d
- target: {kind: Deployment}
  patch: |-
    - op: replace
      path: /spec/replicas
      value: 0
`, rel, comp, companions, gwPort)
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o600); err != nil {
		return "", err
	}
	out, err := exec.Command(tc.Kubectl(), "--kubeconfig", tc.AdminKubeconfig, "apply", "--server-side", "-k", dir).CombinedOutput()
	return string(out), err
}

func createUsers(ctx context.Context) error {
	rbac := tc.Client.RbacV1()
	roles := []*rbacv1.Role{
		{ObjectMeta: metav1.ObjectMeta{Name: "exec-pods", Namespace: ns}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{""}, Resources: []string{"pods/exec", "pods/attach"}, Verbs: []string{"create", "get"}},
			{APIGroups: []string{""}, Resources: []string{"pods/ephemeralcontainers"}, Verbs: []string{"update", "patch"}},
		}},
		{ObjectMeta: metav1.ObjectMeta{Name: "read-pods", Namespace: ns}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list"}},
		}},
	}
	for _, r := range roles {
		if _, err := rbac.Roles(ns).Create(ctx, r, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating role %s: %w", r.Name, err)
		}
	}
	user := func(name string) rbacv1.Subject {
		return rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: name}
	}
	sa := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: ciBot, Namespace: ns}
	bindings := []struct {
		name, kind, role string
		subjects         []rbacv1.Subject
	}{
		{"exec-pods", "Role", "exec-pods", []rbacv1.Subject{user(alice), user(carol), sa}},
		{"read-pods", "Role", "read-pods", []rbacv1.Subject{user(alice), user(bob), user(carol), sa}},
		// The deploy/ role for the gateway's group (aggregated into edit
		// and admin in a cluster with a controller manager).
		{"rexec-user", "ClusterRole", "rexec-user", []rbacv1.Subject{user(alice), user(bob), sa}},
	}
	for _, b := range bindings {
		rb := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: b.name, Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: b.kind, Name: b.role},
			Subjects:   b.subjects,
		}
		if _, err := rbac.RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("binding %s: %w", b.name, err)
		}
	}
	for name, groups := range map[string][]string{alice: {"devs"}, bob: {"devs"}, carol: {"ops", breakGlassGroup}} {
		kc, err := tc.UserKubeconfig(name, groups...)
		if err != nil {
			return err
		}
		users[name] = kc
	}
	if _, err := tc.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: ciBot}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating ServiceAccount %s: %w", ciBot, err)
	}
	tok, err := tc.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, ciBot,
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(6 * 3600))}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("token for %s: %w", ciBot, err)
	}
	users[ciBot], err = tc.TokenKubeconfigFor(ciBot, tok.Status.Token)
	return err
}

func ptr[T any](v T) *T { return &v }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// gatewayOptions say how one gateway process runs.
type gatewayOptions struct {
	policy    string   // the policy file's YAML; empty: cluster name only
	recordDir string   // default: a fresh directory
	spoolDir  string   // default: a fresh directory
	env       []string // added to the environment (S3 credentials)
	// retryEvery is --retry-every; default 1s, so that tests wait on the
	// upload rather than on the schedule.
	retryEvery string
}

// gatewayProc is a running rexec-gateway.
type gatewayProc struct {
	opts      gatewayOptions
	cmd       *exec.Cmd
	log       string
	done      chan struct{}
	recordDir string
	spoolDir  string
}

// launchGateway starts the gateway as its ServiceAccount with --bootstrap,
// as the Deployment does, and waits until the API server routes to it.
func launchGateway(o gatewayOptions) (*gatewayProc, error) {
	dir, err := os.MkdirTemp(workDir, "gateway-")
	if err != nil {
		return nil, err
	}
	if o.recordDir == "" {
		o.recordDir = filepath.Join(dir, "recordings")
	}
	if o.spoolDir == "" {
		o.spoolDir = filepath.Join(dir, "spool")
	}
	if o.policy == "" {
		o.policy = "cluster: e2e\n"
	}
	if o.retryEvery == "" {
		o.retryEvery = "1s"
	}
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte(o.policy), 0o600); err != nil {
		return nil, err
	}
	g := &gatewayProc{opts: o, log: filepath.Join(dir, "gateway.log"), done: make(chan struct{}), recordDir: o.recordDir, spoolDir: o.spoolDir}
	logf, err := os.Create(g.log)
	if err != nil {
		return nil, err
	}
	g.cmd = exec.Command(gatewayBin,
		"--kubeconfig", gwKubeconfig,
		"--listen", fmt.Sprintf("127.0.0.1:%d", gwPort),
		"--instance", instance,
		"--bootstrap", "rexec-system/rexec-gateway",
		"--record-dir", o.recordDir,
		"--spool-dir", o.spoolDir,
		"--policy", policy,
		"--drain-timeout", "10s",
		"--retry-every", o.retryEvery,
	)
	g.cmd.Env = append(os.Environ(), o.env...)
	g.cmd.Stdout, g.cmd.Stderr = logf, logf
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := g.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting the gateway: %w", err)
	}
	go func() {
		_ = g.cmd.Wait()
		logf.Close()
		close(g.done)
	}()
	if err := g.waitServing(); err != nil {
		g.stop()
		return nil, err
	}
	return g, nil
}

// waitServing waits until a discovery request through the API server, as
// alice, reaches this gateway process.
func (g *gatewayProc) waitServing() error {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var last string
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		select {
		case <-g.done:
			return false, errors.New("the gateway exited")
		default:
		}
		out, err := exec.CommandContext(ctx, tc.Kubectl(), "--kubeconfig", users[alice], "get", "--raw", "/apis/rexec.kubectl-rexec.io/v1alpha1").CombinedOutput()
		last = string(out)
		return err == nil && strings.Contains(last, "pods/exec"), nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the gateway behind its APIService: %w; last answer %q\n--- gateway log ---\n%s", err, last, g.logText())
	}
	return nil
}

func (g *gatewayProc) logText() string {
	b, _ := os.ReadFile(g.log)
	return string(b)
}

// stop sends SIGTERM (the gateway drains) and waits for the process.
func (g *gatewayProc) stop() {
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(30 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.done
	}
}

// kill is kill -9.
func (g *gatewayProc) kill() {
	_ = g.cmd.Process.Kill()
	<-g.done
}

// restartGateway replaces the running gateway with one run with o.
func restartGateway(t *testing.T, o gatewayOptions) *gatewayProc {
	t.Helper()
	if gw != nil {
		gw.stop()
	}
	g, err := launchGateway(o)
	if err != nil {
		t.Fatal(err)
	}
	gw = g
	return g
}

// withGateway runs the rest of the test with a gateway run with o, and puts
// the default one back afterwards.
func withGateway(t *testing.T, o gatewayOptions) *gatewayProc {
	t.Helper()
	g := restartGateway(t, o)
	t.Cleanup(func() {
		if gw == g {
			restartGateway(t, gatewayOptions{})
		}
	})
	return g
}

// result is what one command did.
type result struct {
	stdout, stderr string
	code           int
}

// baseEnv: an empty HOME (no kuberc, no discovery cache), the protocol
// switch set explicitly.
func baseEnv(t *testing.T, websocket bool) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "KUBECONFIG", "KUBERC", "KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "KUBECTL_REXEC_DIR", "XDG_STATE_HOME", "XDG_CONFIG_HOME":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+t.TempDir(), "KUBERC=off", fmt.Sprintf("KUBECTL_REMOTE_COMMAND_WEBSOCKETS=%v", websocket))
}

func runCmd(t *testing.T, env []string, stdin []byte, bin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	default:
		t.Fatalf("%s %v: %v\nstderr: %s", bin, args, err, errb.String())
	}
	return r
}

// kubectlExec runs real kubectl exec as user.
func kubectlExec(t *testing.T, user string, websocket bool, stdin []byte, args ...string) result {
	t.Helper()
	return runCmd(t, baseEnv(t, websocket), stdin, tc.Kubectl(), append([]string{"--kubeconfig", users[user], "exec"}, args...)...)
}

// rexecRun runs the plugin as user, recording into a fresh directory,
// which it returns.
func rexecRun(t *testing.T, user string, websocket bool, stdin []byte, args ...string) (result, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "recordings")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return runCmd(t, baseEnv(t, websocket), stdin, rexecBin, append([]string{"--kubeconfig", users[user], "--record-dir", dir}, args...)...), dir
}

// insecureGet is a plain HTTPS client to the gateway's own port, with or
// without a client certificate: what an attacker who reaches the pod could
// send.
func insecureClient(cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the attacker's side
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

var protos = []struct {
	name      string
	websocket bool
}{{"websocket", true}, {"spdy", false}}

// eachProto runs f as a subtest per client protocol.
func eachProto(t *testing.T, f func(t *testing.T, websocket bool)) {
	for _, p := range protos {
		t.Run(p.name, func(t *testing.T) { f(t, p.websocket) })
	}
}

// syncBuffer collects output while the test reads it.
type syncBuffer = clustertest.SyncBuffer

// waitFor polls cond until it holds, failing after a generous deadline
// with what was awaited.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitForWithin(t, what, 60*time.Second, cond)
}

// waitForWithin is waitFor for what comes later than a minute (a remote
// command that first holds the session silent).
func waitForWithin(t *testing.T, what string, bound time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
