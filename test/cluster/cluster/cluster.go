// Package cluster starts a real Kubernetes control plane on loopback for the
// end-to-end tests of kubectl-rexec: etcd, kube-apiserver v1.37.2 and the
// rexec-node kubelet stand-in (see package node), optionally with HAProxy in
// front of the apiserver. Binaries come from build.sh's cache.
//
// Everything a shell needs is written to a state directory (PIDs, logs,
// kubeconfigs, an env file), so `rexec-cluster up` can exit and leave the
// cluster to scripts, and `rexec-cluster down` can stop it later.
package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Version is the Kubernetes version of the binaries this package runs.
const Version = "v1.37.2"

// nodeImageAnnotation is node.ImageAnnotation: rexec-node names the image
// it really runs there (not imported, to keep this package's build small).
const nodeImageAnnotation = "rexec-node/image"

// NodeName is the name rexec-node registers.
const NodeName = "rexec-node"

const (
	serviceCIDR = "10.0.0.0/24" // only an allocation range: nothing routes it
	serviceIP   = "10.0.0.1"    // the "kubernetes" service's IP, in the serving cert
)

// Process names, also the names of their PID and log files.
const (
	procEtcd      = "etcd"
	procAPIServer = "kube-apiserver"
	procNode      = "rexec-node"
	procHAProxy   = "haproxy"
)

// Options configure Start.
type Options struct {
	// StateDir holds PKI, PIDs, logs, data and kubeconfigs. When empty a
	// temporary directory is used and removed by Stop.
	StateDir string
	// BinDir holds kube-apiserver, etcd, kubectl and rexec-node; see BinDir.
	BinDir string
	// HAProxy, when set, puts HAProxy in TCP mode in front of kube-apiserver
	// and writes proxy.kubeconfig pointing at it.
	HAProxy *HAProxyOptions
	// Pods are created ("namespace/name" or "name" for default) and waited
	// for until Running, with one container "main" each.
	Pods []string
	// Timeout bounds the whole start-up; 2 minutes when zero.
	Timeout time.Duration
	// Logf reports progress; log.Printf when nil.
	Logf func(format string, args ...any)
	// ExtraAPIServerArgs are appended to kube-apiserver's command line,
	// after the defaults (e.g. --audit-policy-file, --audit-log-path).
	ExtraAPIServerArgs []string
}

// Ports are the loopback ports in use, chosen free at start-up.
type Ports struct {
	EtcdClient int `json:"etcdClient"`
	EtcdPeer   int `json:"etcdPeer"`
	APIServer  int `json:"apiServer"`
	Node       int `json:"node"`
	HAProxy    int `json:"haproxy,omitempty"`
}

// Cluster is a started cluster. Its exported fields are also saved as
// <state>/state.json for Load.
type Cluster struct {
	StateDir string `json:"stateDir"`
	BinDir   string `json:"binDir"`
	// Server is the apiserver URL; ProxyServer the HAProxy URL, if any.
	Server      string `json:"server"`
	ProxyServer string `json:"proxyServer,omitempty"`
	Ports       Ports  `json:"ports"`
	// Kubeconfigs, all with the CA embedded: admin (system:masters client
	// cert), viewer (may read pods, may not exec), token (a static bearer
	// token in system:masters), proxy (admin, through HAProxy).
	AdminKubeconfig  string `json:"adminKubeconfig"`
	ViewerKubeconfig string `json:"viewerKubeconfig"`
	TokenKubeconfig  string `json:"tokenKubeconfig"`
	ProxyKubeconfig  string `json:"proxyKubeconfig,omitempty"`
	// EnvFile is a shell file exporting KUBECONFIG, PATH and the ports.
	EnvFile string `json:"envFile"`
	// StartupTime is how long Start took, binaries already built.
	StartupTime time.Duration `json:"startupTime"`

	// Client is an admin client; nil for a cluster from Load.
	Client kubernetes.Interface `json:"-"`
	// AdminConfig is the admin REST config.
	AdminConfig *rest.Config `json:"-"`

	pki     *PKI
	procs   []*proc // in start order
	tempDir bool
	logf    func(format string, args ...any)
	apiArgs []string // Options.ExtraAPIServerArgs
	image   string   // what rexec-node runs (node.ImageAnnotation), for CreatePod
}

// BinDir is where build.sh puts the binaries: $REXEC_E2E_BIN_DIR, else
// ${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-rexec-e2e/v1.37.2/bin.
func BinDir() string {
	if d := os.Getenv("REXEC_E2E_BIN_DIR"); d != "" {
		return d
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "kubectl-rexec-e2e", Version, "bin")
}

// Binaries are the files Start needs in BinDir.
var Binaries = []string{"etcd", "kube-apiserver", "kubectl", "rexec-node"}

// Start brings up etcd, kube-apiserver and rexec-node (and HAProxy if asked),
// waits until the node is Ready and the requested pods run, and writes the
// state directory. On error everything already started is stopped.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	begin := time.Now()
	c := &Cluster{StateDir: opts.StateDir, BinDir: opts.BinDir, logf: opts.Logf, apiArgs: opts.ExtraAPIServerArgs}
	if c.logf == nil {
		c.logf = log.Printf
	}
	if c.BinDir == "" {
		c.BinDir = BinDir()
	}
	for _, b := range Binaries {
		if _, err := os.Stat(filepath.Join(c.BinDir, b)); err != nil {
			return nil, fmt.Errorf("binary %s missing in %s (run test/cluster/build.sh): %w", b, c.BinDir, err)
		}
	}
	if c.StateDir == "" {
		d, err := os.MkdirTemp("", "rexec-e2e-")
		if err != nil {
			return nil, fmt.Errorf("creating state directory: %w", err)
		}
		c.StateDir, c.tempDir = d, true
	}
	if c.StateDir, err = filepath.Abs(c.StateDir); err != nil {
		return nil, fmt.Errorf("resolving state directory: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(c.StateDir, "pids"), 0o755); err != nil {
		return nil, fmt.Errorf("creating state directory: %w", err)
	}
	for _, name := range []string{procEtcd, procAPIServer, procNode, procHAProxy} {
		if p, ok := loadProc(c.StateDir, name, name); ok {
			return nil, fmt.Errorf("%s (PID %d) from an earlier start still runs in %s: stop it first (rexec-cluster down)", name, p.pid, c.StateDir)
		}
	}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()

	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	if c.pki, err = ensurePKI(filepath.Join(c.StateDir, "pki")); err != nil {
		return nil, err
	}
	for _, p := range []*int{&c.Ports.EtcdClient, &c.Ports.EtcdPeer, &c.Ports.APIServer} {
		if *p, err = freePort(); err != nil {
			return nil, err
		}
	}
	c.Server = fmt.Sprintf("https://127.0.0.1:%d", c.Ports.APIServer)

	t := time.Now()
	if err := c.startEtcd(ctx); err != nil {
		return nil, err
	}
	c.logf("etcd ready on 127.0.0.1:%d in %v", c.Ports.EtcdClient, time.Since(t).Round(time.Millisecond))

	t = time.Now()
	if err := c.startAPIServer(ctx); err != nil {
		return nil, err
	}
	c.logf("kube-apiserver ready on %s in %v", c.Server, time.Since(t).Round(time.Millisecond))

	if err := c.writeKubeconfigs(); err != nil {
		return nil, err
	}
	if c.AdminConfig, err = clientcmd.BuildConfigFromFlags("", c.AdminKubeconfig); err != nil {
		return nil, fmt.Errorf("loading admin kubeconfig: %w", err)
	}
	if c.Client, err = kubernetes.NewForConfig(c.AdminConfig); err != nil {
		return nil, fmt.Errorf("creating admin client: %w", err)
	}
	if err := c.createRBAC(ctx); err != nil {
		return nil, err
	}

	t = time.Now()
	if err := c.startNode(ctx); err != nil {
		return nil, err
	}
	c.logf("%s ready, kubelet API on 127.0.0.1:%d, in %v", NodeName, c.Ports.Node, time.Since(t).Round(time.Millisecond))

	if opts.HAProxy != nil {
		if err := c.startHAProxy(ctx, *opts.HAProxy); err != nil {
			return nil, err
		}
		c.logf("haproxy on %s", c.ProxyServer)
	}

	for _, p := range opts.Pods {
		ns, name, ok := strings.Cut(p, "/")
		if !ok {
			ns, name = "default", p
		}
		if _, err := c.CreatePod(ctx, ns, name, "main"); err != nil {
			return nil, err
		}
	}

	c.StartupTime = time.Since(begin)
	if err := c.writeState(); err != nil {
		return nil, err
	}
	if rss, err := c.RSS(procAPIServer); err == nil {
		c.logf("cluster up in %v; kube-apiserver RSS %d MiB", c.StartupTime.Round(time.Millisecond), rss>>20)
	}
	return c, nil
}

func (c *Cluster) bin(name string) string { return filepath.Join(c.BinDir, name) }

func (c *Cluster) start(name, bin string, args ...string) (*proc, error) {
	if name == procAPIServer {
		args = append(args, c.apiArgs...) // Options.ExtraAPIServerArgs, after the defaults
	}
	p, err := startProc(c.StateDir, name, bin, args...)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	return p, nil
}

// waitFor polls check until it returns true, the process dies or ctx ends.
func waitFor(ctx context.Context, p *proc, what string, check func(context.Context) bool) error {
	err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if p != nil && !p.alive() {
			return false, fmt.Errorf("%s exited", p.name)
		}
		return check(ctx), nil
	})
	if err != nil {
		tail := ""
		if p != nil {
			tail = "\n--- " + p.logFile + " (tail) ---\n" + p.logTail()
		}
		return fmt.Errorf("waiting for %s: %w%s", what, err, tail)
	}
	return nil
}

func (c *Cluster) startEtcd(ctx context.Context) error {
	// A fresh data directory each start: tests want an empty cluster, and a
	// member restarted on a different peer port would need reconfiguring.
	dataDir := filepath.Join(c.StateDir, "etcd")
	if err := os.RemoveAll(dataDir); err != nil {
		return fmt.Errorf("clearing etcd data: %w", err)
	}
	client := fmt.Sprintf("http://127.0.0.1:%d", c.Ports.EtcdClient)
	peer := fmt.Sprintf("http://127.0.0.1:%d", c.Ports.EtcdPeer)
	p, err := c.start(procEtcd, c.bin("etcd"),
		"--name=rexec-e2e",
		"--data-dir="+dataDir,
		"--listen-client-urls="+client,
		"--advertise-client-urls="+client,
		"--listen-peer-urls="+peer,
		"--initial-advertise-peer-urls="+peer,
		"--initial-cluster=rexec-e2e="+peer,
		"--initial-cluster-state=new",
		// Durability is worthless for a throw-away test cluster, and fsync
		// dominates start-up and write latency on slow disks.
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	)
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: time.Second}
	return waitFor(ctx, p, "etcd /health", func(ctx context.Context) bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, client+"/health", nil)
		resp, err := hc.Do(req)
		if err != nil {
			return false
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK && strings.Contains(string(b), `"health":"true"`)
	})
}

func (c *Cluster) startAPIServer(ctx context.Context) error {
	k := c.pki
	p, err := c.start(procAPIServer, c.bin("kube-apiserver"),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(c.Ports.APIServer),
		"--etcd-servers="+fmt.Sprintf("http://127.0.0.1:%d", c.Ports.EtcdClient),
		"--tls-cert-file="+k.APIServerCert,
		"--tls-private-key-file="+k.APIServerKey,
		"--client-ca-file="+k.CACert,
		"--token-auth-file="+k.TokenFile,
		"--authorization-mode=Node,RBAC",
		"--anonymous-auth=false",
		"--service-account-key-file="+k.SAPub,
		"--service-account-signing-key-file="+k.SAKey,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range="+serviceCIDR,
		// The apiserver reaches nodes by InternalIP and checks their serving
		// certificate against the cluster CA, authenticating with its own
		// client certificate, exactly as in a kubeadm cluster.
		"--kubelet-preferred-address-types=InternalIP",
		"--kubelet-certificate-authority="+k.CACert,
		"--kubelet-client-certificate="+k.KubeletClientCert,
		"--kubelet-client-key="+k.KubeletClientKey,
		"--allow-privileged=true",
		// No controller manager creates the "default" ServiceAccount, and
		// without it ServiceAccount admission rejects every pod.
		"--disable-admission-plugins=ServiceAccount",
		// The loopback advertise address cannot be an Endpoints entry, and
		// nothing here needs the in-cluster "kubernetes" service endpoints.
		"--endpoint-reconciler-type=none",
		// The aggregation layer, as kubeadm sets it up: the API server
		// proxies aggregated APIs (the rexec gateway) with the front-proxy
		// client certificate and the user in X-Remote-* headers.
		"--requestheader-client-ca-file="+k.FrontProxyCACert,
		"--requestheader-allowed-names="+FrontProxyClientName,
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-uid-headers=X-Remote-Uid",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file="+k.FrontProxyClientCert,
		"--proxy-client-key-file="+k.FrontProxyClientKey,
		"--profiling=false",
		"--v=1",
	)
	if err != nil {
		return err
	}
	hc, err := c.adminHTTPClient()
	if err != nil {
		return err
	}
	return waitFor(ctx, p, "kube-apiserver /readyz", func(ctx context.Context) bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.Server+"/readyz", nil)
		resp, err := hc.Do(req)
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// adminHTTPClient speaks TLS to the apiserver as admin, before kubeconfigs.
func (c *Cluster) adminHTTPClient() (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(c.pki.AdminCert, c.pki.AdminKey)
	if err != nil {
		return nil, fmt.Errorf("loading admin certificate: %w", err)
	}
	caPEM, err := os.ReadFile(c.pki.CACert)
	if err != nil {
		return nil, fmt.Errorf("reading CA: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}, nil
}

// createRBAC lets "viewer" read pods and nothing more; in particular it may
// not create pods/exec, which is what the Forbidden tests rely on.
func (c *Cluster) createRBAC(ctx context.Context) error {
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "rexec-e2e-viewer"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods", "pods/log", "namespaces"}, Verbs: []string{"get", "list", "watch"}},
		},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "rexec-e2e-viewer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: ViewerUser}},
	}
	rbac := c.Client.RbacV1()
	if _, err := rbac.ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating viewer role: %w", err)
	}
	if _, err := rbac.ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("binding viewer role: %w", err)
	}
	return nil
}

func (c *Cluster) startNode(ctx context.Context) error {
	k := c.pki
	p, err := c.start(procNode, c.bin("rexec-node"),
		"--kubeconfig="+c.AdminKubeconfig,
		"--name="+NodeName,
		"--tls-cert-file="+k.KubeletCert,
		"--tls-private-key-file="+k.KubeletKey,
		"--client-ca-file="+k.CACert,
		"--work-dir="+filepath.Join(c.StateDir, "node"),
	)
	if err != nil {
		return err
	}
	return waitFor(ctx, p, "node "+NodeName+" Ready", func(ctx context.Context) bool {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil || n.Status.DaemonEndpoints.KubeletEndpoint.Port == 0 {
			return false
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				// etcd starts empty, so this Node is this run's; rexec-node
				// listens before it registers.
				c.Ports.Node = int(n.Status.DaemonEndpoints.KubeletEndpoint.Port)
				c.image = n.Annotations[nodeImageAnnotation]
				return true
			}
		}
		return false
	})
}

// CreatePod creates a pod whose containers are the given names (default
// "main") and waits until rexec-node reports it Running. The image is the
// one rexec-node says it runs (a busybox root filesystem, or the host).
func (c *Cluster) CreatePod(ctx context.Context, namespace, name string, containers ...string) (*corev1.Pod, error) {
	if c.Client == nil {
		return nil, errors.New("cluster has no client (loaded from a state directory?)")
	}
	if len(containers) == 0 {
		containers = []string{"main"}
	}
	if namespace != "default" {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
		if _, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating namespace %s: %w", namespace, err)
		}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{"app": name}},
	}
	if c.image == "" {
		return nil, errors.New("rexec-node did not say what image it runs (node annotation " + nodeImageAnnotation + ")")
	}
	for _, ct := range containers {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{
			Name: ct, Image: c.image, Command: []string{"sleep", "infinity"},
		})
	}
	pods := c.Client.CoreV1().Pods(namespace)
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating pod %s/%s: %w", namespace, name, err)
	}
	var got *corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		got = p
		return p.Status.Phase == corev1.PodRunning, nil
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for pod %s/%s to run: %w", namespace, name, err)
	}
	return got, nil
}

// UserKubeconfig writes a kubeconfig for user (with groups) authenticated
// by a client certificate from the cluster CA, and returns its path.
func (c *Cluster) UserKubeconfig(user string, groups ...string) (string, error) {
	dir := filepath.Join(c.StateDir, "users")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	certFile, keyFile := filepath.Join(dir, user+".crt"), filepath.Join(dir, user+".key")
	if err := c.pki.IssueClientCert(certFile, keyFile, user, groups...); err != nil {
		return "", fmt.Errorf("issuing a certificate for %s: %w", user, err)
	}
	cert, err := os.ReadFile(certFile)
	if err != nil {
		return "", err
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return "", err
	}
	caPEM, err := os.ReadFile(c.pki.CACert)
	if err != nil {
		return "", err
	}
	file := filepath.Join(dir, user+".kubeconfig")
	return file, writeKubeconfig(file, c.Server, caPEM, user, &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key})
}

// TokenKubeconfigFor writes a kubeconfig that authenticates with a bearer
// token (a ServiceAccount's, say) and returns its path.
func (c *Cluster) TokenKubeconfigFor(name, token string) (string, error) {
	dir := filepath.Join(c.StateDir, "users")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	caPEM, err := os.ReadFile(c.pki.CACert)
	if err != nil {
		return "", err
	}
	file := filepath.Join(dir, name+".kubeconfig")
	return file, writeKubeconfig(file, c.Server, caPEM, name, &clientcmdapi.AuthInfo{Token: token})
}

// NodeImage is the image rexec-node runs every container from (its busybox
// root filesystem, or "rexec-node/host"); pods made for it should name it.
func (c *Cluster) NodeImage() string { return c.image }

// RSS is the resident memory of one of the cluster's processes
// ("kube-apiserver", "etcd", "rexec-node", "haproxy"), in bytes.
func (c *Cluster) RSS(name string) (int64, error) {
	for _, p := range c.procs {
		if p.name == name {
			return p.rss()
		}
	}
	return 0, fmt.Errorf("no process %q in this cluster", name)
}

// LogFile is the path of a process's log.
func (c *Cluster) LogFile(name string) string {
	return filepath.Join(c.StateDir, "logs", name+".log")
}

// Kubectl is the path of the built kubectl.
func (c *Cluster) Kubectl() string { return c.bin("kubectl") }

// Stop stops every process in reverse start order (SIGTERM to its process
// group, SIGKILL after a grace period; rexec-node kills the commands it runs
// on SIGTERM), removes the PID files and, for a temporary state directory,
// the directory. It is safe to call more than once.
func (c *Cluster) Stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		p.stop(10 * time.Second)
		_ = os.Remove(pidFile(c.StateDir, p.name))
	}
	c.procs = nil
	if c.tempDir && os.Getenv("REXEC_E2E_KEEP_STATE") == "" {
		_ = os.RemoveAll(c.StateDir)
	}
}

// Load finds the cluster started in stateDir by another process, for
// `rexec-cluster down` and `env`. Processes no longer running are skipped.
func Load(stateDir string) (*Cluster, error) {
	b, err := os.ReadFile(filepath.Join(stateDir, "state.json"))
	if err != nil {
		return nil, fmt.Errorf("reading cluster state: %w", err)
	}
	c := &Cluster{logf: log.Printf}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("parsing %s/state.json: %w", stateDir, err)
	}
	c.StateDir = stateDir
	for _, name := range []string{procEtcd, procAPIServer, procNode, procHAProxy} {
		if p, ok := loadProc(stateDir, name, name); ok {
			c.procs = append(c.procs, p)
		} else {
			_ = os.Remove(pidFile(stateDir, name))
		}
	}
	return c, nil
}

// Running reports the names of the cluster's processes that are alive.
func (c *Cluster) Running() []string {
	var names []string
	for _, p := range c.procs {
		if p.alive() {
			names = append(names, p.name)
		}
	}
	return names
}

func (c *Cluster) writeState() error {
	c.EnvFile = filepath.Join(c.StateDir, "env")
	if err := c.writeEnv(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding state: %w", err)
	}
	if err := os.WriteFile(filepath.Join(c.StateDir, "state.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	return nil
}

// writeEnv writes <state>/env for `source`: KUBECONFIG points at admin, the
// built kubectl comes first on PATH, and every path and port is exported.
func (c *Cluster) writeEnv() error {
	vars := [][2]string{
		{"KUBECONFIG", c.AdminKubeconfig},
		{"PATH", c.BinDir + ":$PATH"},
		{"REXEC_E2E_STATE_DIR", c.StateDir},
		{"REXEC_E2E_BIN_DIR", c.BinDir},
		{"REXEC_E2E_KUBECTL", c.bin("kubectl")},
		{"REXEC_E2E_SERVER", c.Server},
		{"REXEC_E2E_ADMIN_KUBECONFIG", c.AdminKubeconfig},
		{"REXEC_E2E_VIEWER_KUBECONFIG", c.ViewerKubeconfig},
		{"REXEC_E2E_TOKEN_KUBECONFIG", c.TokenKubeconfig},
		{"REXEC_E2E_ETCD_PORT", strconv.Itoa(c.Ports.EtcdClient)},
		{"REXEC_E2E_APISERVER_PORT", strconv.Itoa(c.Ports.APIServer)},
		{"REXEC_E2E_NODE_PORT", strconv.Itoa(c.Ports.Node)},
	}
	if c.ProxyServer != "" {
		vars = append(vars,
			[2]string{"REXEC_E2E_PROXY_SERVER", c.ProxyServer},
			[2]string{"REXEC_E2E_PROXY_KUBECONFIG", c.ProxyKubeconfig},
			[2]string{"REXEC_E2E_HAPROXY_PORT", strconv.Itoa(c.Ports.HAProxy)})
	}
	var sb strings.Builder
	sb.WriteString("# Written by rexec-cluster up; source it to use the test cluster.\n")
	for _, v := range vars {
		// Double quotes so $PATH expands; none of our paths contain quotes.
		fmt.Fprintf(&sb, "export %s=\"%s\"\n", v[0], v[1])
	}
	if err := os.WriteFile(c.EnvFile, []byte(sb.String()), 0o644); err != nil {
		return fmt.Errorf("writing env file: %w", err)
	}
	return nil
}

func (c *Cluster) writeKubeconfigs() error {
	caPEM, err := os.ReadFile(c.pki.CACert)
	if err != nil {
		return fmt.Errorf("reading CA: %w", err)
	}
	certUser := func(certFile, keyFile string) (*clientcmdapi.AuthInfo, error) {
		cert, err := os.ReadFile(certFile)
		if err != nil {
			return nil, fmt.Errorf("reading client certificate: %w", err)
		}
		key, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, fmt.Errorf("reading client key: %w", err)
		}
		return &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key}, nil
	}
	admin, err := certUser(c.pki.AdminCert, c.pki.AdminKey)
	if err != nil {
		return err
	}
	viewer, err := certUser(c.pki.ViewerCert, c.pki.ViewerKey)
	if err != nil {
		return err
	}
	c.AdminKubeconfig = filepath.Join(c.StateDir, "admin.kubeconfig")
	c.ViewerKubeconfig = filepath.Join(c.StateDir, "viewer.kubeconfig")
	c.TokenKubeconfig = filepath.Join(c.StateDir, "token.kubeconfig")
	for _, kc := range []struct {
		file, user string
		auth       *clientcmdapi.AuthInfo
	}{
		{c.AdminKubeconfig, AdminUser, admin},
		{c.ViewerKubeconfig, ViewerUser, viewer},
		{c.TokenKubeconfig, TokenUser, &clientcmdapi.AuthInfo{Token: c.pki.Token}},
	} {
		if err := writeKubeconfig(kc.file, c.Server, caPEM, kc.user, kc.auth); err != nil {
			return err
		}
	}
	return nil
}

func writeKubeconfig(file, server string, caPEM []byte, user string, auth *clientcmdapi.AuthInfo) error {
	const name = "rexec-e2e"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = auth
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: user, Namespace: "default"}
	cfg.CurrentContext = name
	if err := clientcmd.WriteToFile(*cfg, file); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	return nil
}
