package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubectl-rexec/kubectl-rexec/test/cluster/cluster"
)

// The bench's users: dev is an ordinary user, whose plain exec the shipped
// policy refuses, so dev execs through the gateway; ops is in the
// break-glass group and may use the core pods/exec unrecorded by the
// cluster (the plugin still records it on the client).
const (
	devUser         = "dev"
	opsUser         = "ops"
	breakGlassGroup = "rexec:break-glass"
	benchNS         = "default"
	gatewayGroup    = "rexec.kubectl-rexec.io"
	gatewayVersion  = "v1alpha1"
)

// setupCmd installs the gateway's manifests on a cluster started by
// `rexec-cluster up`, and writes the users' and the gateway's kubeconfigs,
// a policy file and the ports the gateway and its debug listener use. It
// prints shell assignments naming them.
func setupCmd(args []string) error {
	fs := flag.NewFlagSet("setup", flag.ContinueOnError)
	state := fs.String("state", "", "the cluster's state directory (rexec-cluster up --state-dir)")
	deploy := fs.String("deploy", "", "the repository's deploy/ directory")
	out := fs.String("out", "", "directory for the kubeconfigs, the overlay and the policy")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *state == "" || *deploy == "" || *out == "" {
		return errors.New("-state, -deploy and -out are required")
	}
	c, err := cluster.Load(*state)
	if err != nil {
		return err
	}
	admin, err := clientcmd.BuildConfigFromFlags("", c.AdminKubeconfig)
	if err != nil {
		return fmt.Errorf("admin kubeconfig: %w", err)
	}
	client, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return err
	}
	gwPort, err := freePort()
	if err != nil {
		return err
	}
	debugPort, err := freePort()
	if err != nil {
		return err
	}
	if err := applyManifests(c, *deploy, *out, gwPort); err != nil {
		return err
	}
	ctx := context.Background()
	if err := createRBAC(ctx, client); err != nil {
		return err
	}
	pki := &cluster.PKI{CACert: filepath.Join(*state, "pki", "ca.crt"), CAKey: filepath.Join(*state, "pki", "ca.key")}
	caPEM, err := os.ReadFile(pki.CACert)
	if err != nil {
		return err
	}
	for name, groups := range map[string][]string{devUser: {"devs"}, opsUser: {"ops", breakGlassGroup}} {
		if err := userKubeconfig(pki, c.Server, caPEM, *out, name, groups...); err != nil {
			return err
		}
	}
	tok, err := client.CoreV1().ServiceAccounts("rexec-system").CreateToken(ctx, "rexec-gateway",
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(6 * 3600))}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("token for the gateway's ServiceAccount: %w", err)
	}
	gwKubeconfig := filepath.Join(*out, "gateway.kubeconfig")
	if err := writeKubeconfig(gwKubeconfig, c.Server, caPEM, "rexec-gateway", &clientcmdapi.AuthInfo{Token: tok.Status.Token}); err != nil {
		return err
	}
	policy := filepath.Join(*out, "policy.yaml")
	if err := os.WriteFile(policy, []byte("cluster: bench\n"), 0o600); err != nil {
		return err
	}
	fmt.Printf("GW_PORT=%d\nGW_DEBUG_PORT=%d\nGW_KUBECONFIG=%s\nGW_POLICY=%s\nDEV_KUBECONFIG=%s\nOPS_KUBECONFIG=%s\n",
		gwPort, debugPort, gwKubeconfig, policy, filepath.Join(*out, devUser+".kubeconfig"), filepath.Join(*out, opsUser+".kubeconfig"))
	return nil
}

func ptr[T any](v T) *T { return &v }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// applyManifests applies deploy/ (with the ServiceAccount component) through
// an overlay that only says where the gateway listens, as the end-to-end
// tests do: the Service becomes an ExternalName for localhost, the
// APIService's port the gateway's, and the Deployment has no replicas (the
// bench runs the gateway binary itself, as a host process).
func applyManifests(c *cluster.Cluster, deploy, out string, port int) error {
	dir := filepath.Join(out, "overlay")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	base, err := filepath.Rel(dir, deploy)
	if err != nil {
		return err
	}
	k := fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- %[1]s
components:
- %[1]s/components/serviceaccounts
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
      value: %[2]d
- target: {kind: Deployment}
  patch: |-
    - op: replace
      path: /spec/replicas
      value: 0
`, base, port)
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o600); err != nil {
		return err
	}
	b, err := exec.Command(c.Kubectl(), "--kubeconfig", c.AdminKubeconfig, "apply", "--server-side", "-k", dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("applying deploy/: %w\n%s", err, b)
	}
	return nil
}

// createRBAC lets both users exec (core pods/exec: the gateway's upstream
// request is authorized as the user) and dev also through the gateway's
// group. The shipped ValidatingAdmissionPolicy then refuses dev's plain
// exec (no session marker) and lets ops' through (break-glass group).
func createRBAC(ctx context.Context, client kubernetes.Interface) error {
	rbac := client.RbacV1()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "bench-exec"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{""}, Resources: []string{"pods/exec", "pods/attach"}, Verbs: []string{"create", "get"}},
	}}
	if _, err := rbac.Roles(benchNS).Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating role %s: %w", role.Name, err)
	}
	user := func(name string) rbacv1.Subject {
		return rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: name}
	}
	bindings := []struct {
		name, kind, role string
		users            []string
	}{
		{"bench-exec", "Role", "bench-exec", []string{devUser, opsUser}},
		// deploy/'s role for the gateway's group (aggregated into edit
		// and admin where a controller manager runs; none runs here).
		{"bench-rexec-user", "ClusterRole", "rexec-user", []string{devUser}},
	}
	for _, b := range bindings {
		rb := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: b.name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: b.kind, Name: b.role},
		}
		for _, u := range b.users {
			rb.Subjects = append(rb.Subjects, user(u))
		}
		if _, err := rbac.RoleBindings(benchNS).Create(ctx, rb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("binding %s: %w", b.name, err)
		}
	}
	return nil
}

// userKubeconfig issues a client certificate for name from the cluster CA
// and writes DIR/NAME.kubeconfig with it.
func userKubeconfig(pki *cluster.PKI, server string, caPEM []byte, dir, name string, groups ...string) error {
	certFile, keyFile := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := pki.IssueClientCert(certFile, keyFile, name, groups...); err != nil {
		return fmt.Errorf("certificate for %s: %w", name, err)
	}
	cert, err := os.ReadFile(certFile)
	if err != nil {
		return err
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	return writeKubeconfig(filepath.Join(dir, name+".kubeconfig"), server, caPEM, name, &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key})
}

func writeKubeconfig(file, server string, caPEM []byte, user string, auth *clientcmdapi.AuthInfo) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["bench"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = auth
	cfg.Contexts["bench"] = &clientcmdapi.Context{Cluster: "bench", AuthInfo: user, Namespace: benchNS}
	cfg.CurrentContext = "bench"
	if err := clientcmd.WriteToFile(*cfg, file); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	return os.Chmod(file, 0o600)
}

// waitCmd waits until a discovery request through the API server, as the
// given user, reaches the gateway; it fails at once if the gateway process
// exits.
func waitCmd(args []string) error {
	fs := flag.NewFlagSet("wait", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "a user's kubeconfig")
	pid := fs.Int("pid", 0, "the gateway's process ID")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	url := strings.TrimSuffix(cfg.Host, "/") + "/apis/" + gatewayGroup + "/" + gatewayVersion
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var last string
	err = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if *pid > 0 && syscall.Kill(*pid, 0) != nil {
			return false, fmt.Errorf("the gateway (PID %d) exited", *pid)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		b := make([]byte, 4096)
		n, _ := resp.Body.Read(b)
		_ = resp.Body.Close()
		last = fmt.Sprintf("%d %s", resp.StatusCode, b[:n])
		return resp.StatusCode == http.StatusOK && strings.Contains(last, "pods/exec"), nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the gateway behind its APIService: %w; last answer %q", err, last)
	}
	return nil
}
