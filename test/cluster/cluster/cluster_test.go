package cluster_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-rexec/kubectl-rexec/test/cluster/cluster"
	"github.com/kubectl-rexec/kubectl-rexec/test/cluster/clustertest"
	"github.com/kubectl-rexec/kubectl-rexec/test/cluster/node"
)

// One cluster for every test in the package: start-up costs ~4 s and the
// tests only share a pod they do not modify.
var (
	testCluster *cluster.Cluster
	haveHAProxy bool
)

const pod = "smoke"

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// Always through build.sh: binaries that are present and current are
	// skipped.
	if err := clustertest.BuildClusterBinaries(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	opts := cluster.Options{Pods: []string{pod}}
	haveHAProxy = clustertest.HaveHAProxy()
	if haveHAProxy {
		opts.HAProxy = &cluster.HAProxyOptions{}
	}
	c, err := cluster.Start(context.Background(), opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting cluster:", err)
		return 1
	}
	testCluster = c
	rss, _ := c.RSS("kube-apiserver")
	fmt.Fprintf(os.Stderr, "cluster started in %v, kube-apiserver RSS %d MiB, state %s\n",
		c.StartupTime.Round(time.Millisecond), rss>>20, c.StateDir)
	code := m.Run()
	c.Stop()
	return code
}

type result struct {
	stdout, stderr string
	code           int
}

// kubectlCmd prepares the built kubectl with an isolated HOME, so neither a
// user's kuberc nor their discovery cache takes part.
func kubectlCmd(t *testing.T, ctx context.Context, kubeconfig string, websockets bool, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, testCluster.Kubectl(), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(),
		"HOME="+t.TempDir(),
		"KUBERC=off",
		fmt.Sprintf("KUBECTL_REMOTE_COMMAND_WEBSOCKETS=%v", websockets),
	)
	return cmd
}

func kubectl(t *testing.T, kubeconfig string, websockets bool, stdin io.Reader, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := kubectlCmd(t, ctx, kubeconfig, websockets, args...)
	var out, errOut bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &errOut
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		r.code = ee.ExitCode()
	default:
		t.Fatalf("kubectl %v: %v (stderr %q)", args, err, r.stderr)
	}
	return r
}

// protocols runs f over WebSocket (kubectl's default, translated to SPDY by
// kube-apiserver) and over SPDY end to end.
func protocols(t *testing.T, f func(t *testing.T, websockets bool)) {
	for _, ws := range []bool{true, false} {
		name := "spdy"
		if ws {
			name = "websocket"
		}
		t.Run(name, func(t *testing.T) { f(t, ws) })
	}
}

func TestExecStreamsAndExitCode(t *testing.T) {
	protocols(t, func(t *testing.T, ws bool) {
		r := kubectl(t, testCluster.AdminKubeconfig, ws, nil, "exec", pod, "--", "sh", "-c", "echo out; echo err >&2; exit 3")
		if r.stdout != "out\n" {
			t.Errorf("stdout = %q, want %q", r.stdout, "out\n")
		}
		if !strings.HasPrefix(r.stderr, "err\n") {
			t.Errorf("stderr = %q, want it to start with %q", r.stderr, "err\n")
		}
		if r.code != 3 {
			t.Errorf("exit code = %d, want 3 (stderr %q)", r.code, r.stderr)
		}
	})
}

func TestExecExitCodes(t *testing.T) {
	for _, tc := range []struct {
		cmd  []string
		code int
	}{
		{[]string{"true"}, 0},
		{[]string{"false"}, 1},
		{[]string{"sh", "-c", "exit 42"}, 42},
		{[]string{"no-such-command-rexec"}, 127},
	} {
		t.Run(strings.Join(tc.cmd, " "), func(t *testing.T) {
			r := kubectl(t, testCluster.AdminKubeconfig, true, nil, append([]string{"exec", pod, "--"}, tc.cmd...)...)
			if r.code != tc.code {
				t.Errorf("exit code = %d, want %d (stderr %q)", r.code, tc.code, r.stderr)
			}
		})
	}
}

func TestExecStdinEOF(t *testing.T) {
	protocols(t, func(t *testing.T, ws bool) {
		in := "line one\nline two\n"
		start := time.Now()
		r := kubectl(t, testCluster.AdminKubeconfig, ws, strings.NewReader(in), "exec", "-i", pod, "--", "cat")
		if r.code != 0 || r.stdout != in {
			t.Errorf("exec -i cat: code %d, stdout %q, stderr %q; want 0 and %q", r.code, r.stdout, r.stderr, in)
		}
		// Generous for a loaded machine; without the EOF, cat never ends.
		if d := time.Since(start); d > 45*time.Second {
			t.Errorf("exec -i cat took %v: stdin EOF did not end the command", d)
		}
	})
}

func TestViewerForbidden(t *testing.T) {
	r := kubectl(t, testCluster.ViewerKubeconfig, true, nil, "get", "pod", pod)
	if r.code != 0 {
		t.Fatalf("viewer get pod: code %d, stderr %q", r.code, r.stderr)
	}
	protocols(t, func(t *testing.T, ws bool) {
		r := kubectl(t, testCluster.ViewerKubeconfig, ws, nil, "exec", pod, "--", "true")
		if r.code == 0 || !strings.Contains(r.stderr, `cannot create resource "pods/exec"`) {
			t.Errorf("viewer exec: code %d, stderr %q; want a Forbidden error", r.code, r.stderr)
		}
	})
}

func TestTokenKubeconfig(t *testing.T) {
	r := kubectl(t, testCluster.TokenKubeconfig, true, nil, "exec", pod, "--", "sh", "-c", "echo $POD_NAME")
	if r.code != 0 || r.stdout != pod+"\n" {
		t.Errorf("token exec: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestHAProxy(t *testing.T) {
	if !haveHAProxy {
		if os.Getenv("CI") != "" {
			t.Fatal("haproxy is not installed; CI must install it (apt-get install -y haproxy)")
		}
		t.Skip("haproxy is not installed (apt-get install -y haproxy)")
	}
	protocols(t, func(t *testing.T, ws bool) {
		r := kubectl(t, testCluster.ProxyKubeconfig, ws, nil, "exec", pod, "--", "sh", "-c", "echo via proxy; exit 2")
		if r.code != 2 || r.stdout != "via proxy\n" {
			t.Errorf("exec through haproxy: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
}

// syncBuffer collects output while the test reads it.
type syncBuffer = clustertest.SyncBuffer

func waitOutput(t *testing.T, b *syncBuffer, want string, poke func()) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %q; output so far %q", want, b.String())
		}
		if poke != nil {
			poke()
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestExecTTY runs `kubectl exec -it` on a terminal of our own: the remote
// side must get a tty of the client's size, follow a resize, and return the
// exit code.
func TestExecTTY(t *testing.T) {
	protocols(t, func(t *testing.T, ws bool) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		script := `tty; stty size; while read l; do stty size; [ "$l" = q ] && exit 4; done`
		cmd := kubectlCmd(t, ctx, testCluster.AdminKubeconfig, ws, "exec", "-it", pod, "--", "sh", "-c", script)
		ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 100})
		if err != nil {
			t.Fatalf("starting kubectl on a pty: %v", err)
		}
		defer func() { _ = ptmx.Close() }()
		var out syncBuffer
		go func() { _, _ = io.Copy(&out, ptmx) }()

		waitOutput(t, &out, "30 100", nil)
		if !strings.Contains(out.String(), "/dev/pts/") {
			t.Errorf("remote stdin is not a terminal: %q", out.String())
		}
		if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 50, Cols: 120}); err != nil {
			t.Fatalf("resizing: %v", err)
		}
		// The resize and the keystroke travel on different streams; press
		// Enter until the new size shows.
		waitOutput(t, &out, "50 120", func() { _, _ = ptmx.Write([]byte("\r")) })
		_, _ = ptmx.Write([]byte("q\r"))
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 4 {
			t.Errorf("kubectl exec -it: %v, want exit code 4; output %q", err, out.String())
		}
	})
}

// TestClientKilled checks that killing kubectl mid-exec kills the remote
// command instead of leaving it to run out its time on the node.
func TestClientKilled(t *testing.T) {
	protocols(t, func(t *testing.T, ws bool) {
		marker := fmt.Sprintf("%d", 3000+time.Now().UnixNano()%1000)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := kubectlCmd(t, ctx, testCluster.AdminKubeconfig, ws, "exec", pod, "--", "sh", "-c", "echo started; exec sleep "+marker)
		var out syncBuffer
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting kubectl: %v", err)
		}
		waitOutput(t, &out, "started", nil)
		if len(sleepers(marker)) == 0 {
			t.Fatalf("no `sleep %s` process found on the node", marker)
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		// The sleep lasts 3000 s or more: a minute is generous and still
		// tells a killed command from one left to run.
		deadline := time.Now().Add(time.Minute)
		for len(sleepers(marker)) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("`sleep %s` still runs a minute after its client was killed", marker)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// sleepers lists live processes whose command line is "sleep <marker>".
func sleepers(marker string) []string {
	var found []string
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		cmdline, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || string(cmdline) != "sleep\x00"+marker+"\x00" {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join(d, "stat")); err == nil {
			if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
				continue // exited, not yet reaped
			}
		}
		found = append(found, d)
	}
	return found
}

func TestNodeAndPod(t *testing.T) {
	ctx := context.Background()
	n, err := testCluster.Client.CoreV1().Nodes().Get(ctx, cluster.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("getting node: %v", err)
	}
	if len(n.Spec.Taints) != 0 {
		t.Errorf("node taints = %v, want none", n.Spec.Taints)
	}
	p, err := testCluster.Client.CoreV1().Pods("default").Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("getting pod: %v", err)
	}
	if p.Spec.NodeName != cluster.NodeName || p.Status.PodIP != "127.0.0.1" ||
		len(p.Status.ContainerStatuses) != 1 || !p.Status.ContainerStatuses[0].Ready {
		t.Errorf("pod not running on the node: nodeName %q, podIP %q, statuses %+v",
			p.Spec.NodeName, p.Status.PodIP, p.Status.ContainerStatuses)
	}
}

// TestPodIsolated: the pod is what its image says, a busybox root
// filesystem and namespaces of its own, not a shell on this machine.
func TestPodIsolated(t *testing.T) {
	ctx := context.Background()
	n, err := testCluster.Client.CoreV1().Nodes().Get(ctx, cluster.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := testCluster.Client.CoreV1().Pods("default").Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	image := n.Annotations[node.ImageAnnotation]
	if !strings.HasPrefix(image, "rexec-node/busybox-static:") {
		t.Fatalf("node runs %q (isolation %q), want a busybox root filesystem: install busybox-static; see logs/rexec-node.log",
			image, n.Annotations[node.IsolationAnnotation])
	}
	if got, st := p.Spec.Containers[0].Image, p.Status.ContainerStatuses[0].Image; got != image || st != image || testCluster.NodeImage() != image {
		t.Errorf("pod spec image %q, status image %q, cluster %q; want the node's %q", got, st, testCluster.NodeImage(), image)
	}
	hostFile, err := os.Executable() // this test binary: on the host, not in the pod
	if err != nil {
		t.Fatal(err)
	}
	r := kubectl(t, testCluster.AdminKubeconfig, true, nil, "exec", pod, "--", "sh", "-c",
		"ls /bin/busybox /etc/passwd; tr '\\0' ' ' </proc/1/cmdline; echo; hostname; id -u; if test -e "+hostFile+"; then echo HOST-FILE; fi")
	want := "/bin/busybox\n/etc/passwd\n" + "rexec-node-init \n" + pod + "\n0\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("inside the pod: code %d, stdout %q, stderr %q; want %q", r.code, r.stdout, r.stderr, want)
	}
}
