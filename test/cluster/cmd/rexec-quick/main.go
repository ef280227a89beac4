// Command rexec-quick is the demo's quick start: one small process that
// serves, on loopback, an API server stand-in and a kubelet stand-in with
// pods whose containers are rexec-node's sandboxes. It is what `make demo`
// runs while the real cluster (kube-apiserver, etcd; minutes to build) is
// still building, so that a first recorded session takes only the plugin's
// build.
//
// What is real and what is not: the API side is
// internal/testserver, the plugin's integration-test server, whose
// discovery, pod and review endpoints are written by hand (it has no etcd,
// admission or RBAC, and its pods are fixed at start-up), while the whole
// exec path is upstream code: kube-apiserver's stream translator
// (k8s.io/apiserver) turns WebSocket v5 into SPDY, and the kubelet's stream
// server (k8s.io/cri-streaming) hands the streams to the same sandboxed
// executor rexec-node uses (package node).
//
//	rexec-quick up   [--state-dir DIR] [--pod NAME]... [--bin-dir DIR]   start in the background, write DIR/env
//	rexec-quick down [--state-dir DIR]
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testserver"
	"github.com/kubectl-rexec/kubectl-rexec/test/cluster/cluster"

	"github.com/kubectl-rexec/kubectl-rexec/test/cluster/sandbox"
)

// Names the quick server goes by: recordings made against it say so in
// their context and node fields.
const (
	contextName = "rexec-quick"
	nodeName    = "rexec-quick"
	procName    = "rexec-quick"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "rexec-quick:", err)
		os.Exit(1)
	}
}

type podList []string

func (p *podList) String() string     { return strings.Join(*p, ",") }
func (p *podList) Set(v string) error { *p = append(*p, v); return nil }

func defaultStateDir() string {
	if d := os.Getenv("REXEC_E2E_STATE_DIR"); d != "" {
		return d
	}
	return filepath.Join(filepath.Dir(filepath.Dir(cluster.BinDir())), "state")
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: rexec-quick up|down [flags]")
	}
	fs := flag.NewFlagSet("rexec-quick "+args[0], flag.ContinueOnError)
	stateDir := fs.String("state-dir", defaultStateDir(), "state directory (kubeconfig, env, PID, log, containers)")
	binDir := fs.String("bin-dir", cluster.BinDir(), "directory put first on PATH by the env file (where kubectl is once built)")
	var pods podList
	fs.Var(&pods, "pod", "pod to serve, NAME or NAMESPACE/NAME (repeatable; default: demo)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if len(pods) == 0 {
		pods = podList{"demo"}
	}
	dir, err := filepath.Abs(*stateDir)
	if err != nil {
		return fmt.Errorf("resolving state directory: %w", err)
	}
	switch args[0] {
	case "up":
		return up(dir, args[1:])
	case "serve":
		return serve(dir, *binDir, pods)
	case "down":
		return down(dir)
	}
	return fmt.Errorf("unknown command %q: want up or down", args[0])
}

func pidFile(dir string) string   { return filepath.Join(dir, "pids", procName+".pid") }
func readyFile(dir string) string { return filepath.Join(dir, procName+".ready") }
func logFile(dir string) string   { return filepath.Join(dir, "logs", procName+".log") }

// up starts `serve` in a session of its own, so that it outlives this
// command and the shell, and waits until it is ready or gone.
func up(dir string, args []string) error {
	if pid, ok := running(dir); ok {
		return fmt.Errorf("already running (PID %d) in %s: rexec-quick down first", pid, dir)
	}
	for _, d := range []string{"pids", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return fmt.Errorf("creating state directory: %w", err)
		}
	}
	_ = os.Remove(readyFile(dir))
	log, err := os.Create(logFile(dir))
	if err != nil {
		return fmt.Errorf("creating log: %w", err)
	}
	defer func() { _ = log.Close() }()
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding own binary: %w", err)
	}
	cmd := exec.Command(self, append([]string{"serve"}, args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting server: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(time.Minute)
	for {
		if _, err := os.Stat(readyFile(dir)); err == nil {
			return nil
		}
		select {
		case err := <-exited:
			b, _ := os.ReadFile(logFile(dir))
			return fmt.Errorf("server exited (%v):\n%s", err, b)
		case <-deadline:
			_ = cmd.Process.Kill()
			return fmt.Errorf("server not ready after a minute; log in %s", logFile(dir))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// serve runs the servers until SIGTERM or SIGINT.
func serve(dir, binDir string, pods []string) error {
	sb := sandbox.Detect("", filepath.Join(dir, "node"))
	fmt.Printf("containers run %s (isolation %s)\n", sb.Image(), sb.Isolation)
	if sb.Reason != "" {
		fmt.Printf("isolation %s because: %s\n", sb.Isolation, sb.Reason)
	}
	exe := &sandbox.Executor{Runtime: sb, Lookup: lookup(dir, pods)}
	defer exe.Close()
	token, err := randomToken()
	if err != nil {
		return err
	}
	var objs []corev1.Pod
	for _, p := range pods {
		objs = append(objs, podObject(p, sb.Image()))
	}
	srv, err := testserver.New(testserver.Options{
		Pods:   objs,
		Runner: exe,
		Token:  token,
		User:   testserver.User{Username: "admin", Groups: []string{"system:masters", "system:authenticated"}},
	})
	if err != nil {
		return fmt.Errorf("starting servers: %w", err)
	}
	defer srv.Close()
	kubeconfig := filepath.Join(dir, "quick.kubeconfig")
	if err := writeKubeconfig(kubeconfig, srv, token); err != nil {
		return err
	}
	if err := writeEnv(dir, kubeconfig, binDir, srv.URL); err != nil {
		return err
	}
	if err := os.WriteFile(pidFile(dir), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing PID file: %w", err)
	}
	defer func() { _ = os.Remove(pidFile(dir)) }()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := os.WriteFile(readyFile(dir), nil, 0o644); err != nil {
		return fmt.Errorf("writing ready file: %w", err)
	}
	defer func() { _ = os.Remove(readyFile(dir)) }()
	fmt.Printf("serving %s, pods %s\n", srv.URL, strings.Join(pods, " "))
	<-ctx.Done()
	fmt.Println("stopping: killing", exe.Running(), "running command(s)")
	return nil
}

// lookup finds the container of an exec request: ServeExec names pods the
// kubelet's way, NAME_NAMESPACE.
func lookup(dir string, pods []string) func(string, string) (sandbox.ContainerInfo, error) {
	return func(full, container string) (sandbox.ContainerInfo, error) {
		name, ns, _ := strings.Cut(full, "_")
		for _, p := range pods {
			pns, pname := splitPod(p)
			if pns == ns && pname == name && container == "main" {
				return sandbox.ContainerInfo{Namespace: ns, Pod: name, Container: container,
					Dir: filepath.Join(dir, "node", ns+"_"+name, container)}, nil
			}
		}
		return sandbox.ContainerInfo{}, fmt.Errorf("container %q of pod %s/%s does not exist", container, ns, name)
	}
}

func splitPod(p string) (ns, name string) {
	if ns, name, ok := strings.Cut(p, "/"); ok {
		return ns, name
	}
	return "default", p
}

// podObject is a running pod with one container, "main", on this node.
func podObject(p, image string) corev1.Pod {
	ns, name := splitPod(p)
	now := metav1.Now()
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID("quick-" + ns + "-" + name),
			Labels: map[string]string{"app": name}, CreationTimestamp: now},
		Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{
			{Name: "main", Image: image, Command: []string{"sleep", "infinity"}},
		}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "127.0.0.1", HostIP: "127.0.0.1", StartTime: &now,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "main", Image: image, Ready: true,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}}},
	}
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making a token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func writeKubeconfig(path string, srv *testserver.Server, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[contextName] = &clientcmdapi.Cluster{Server: srv.URL, CertificateAuthorityData: srv.CAData}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[contextName] = &clientcmdapi.Context{Cluster: contextName, AuthInfo: "admin", Namespace: "default"}
	cfg.CurrentContext = contextName
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("writing kubeconfig: %w", err)
	}
	return os.Chmod(path, 0o600)
}

// writeEnv writes DIR/env, the file `make demo` and users source, as
// rexec-cluster up does for the real cluster.
func writeEnv(dir, kubeconfig, binDir, server string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# rexec-quick: source me (. %s)\n", filepath.Join(dir, "env"))
	for _, kv := range [][2]string{
		{"KUBECONFIG", kubeconfig},
		{"REXEC_E2E_STATE_DIR", dir},
		{"REXEC_E2E_BIN_DIR", binDir},
		{"REXEC_E2E_SERVER", server},
		{"REXEC_E2E_QUICK", "1"},
	} {
		fmt.Fprintf(&b, "export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
	fmt.Fprintf(&b, "export PATH=%s:\"$PATH\"\n", shellQuote(binDir))
	if err := os.WriteFile(filepath.Join(dir, "env.tmp"), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("writing env file: %w", err)
	}
	return os.Rename(filepath.Join(dir, "env.tmp"), filepath.Join(dir, "env"))
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// running reports the PID of a server that still runs for dir: the PID
// file names a live process whose binary is a rexec-quick (a PID reused by
// something else is never signalled).
func running(dir string) (int, bool) {
	b, err := os.ReadFile(pidFile(dir))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil || !strings.HasPrefix(filepath.Base(exe), procName) {
		return 0, false
	}
	return pid, true
}

func down(dir string) error {
	pid, ok := running(dir)
	if !ok {
		fmt.Println("no rexec-quick running in", dir)
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stopping PID %d: %w", pid, err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, ok := running(dir); !ok {
			fmt.Println("stopped rexec-quick")
			return nil
		}
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	fmt.Println("killed rexec-quick (it did not stop within 10s)")
	return nil
}
