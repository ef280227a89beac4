package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/test/cluster/cluster"
	"github.com/kubectl-rexec/kubectl-rexec/test/cluster/clustertest"
)

// Everything the tests share: one cluster per package (start-up ~4 s), the
// plugin binary, and whether HAProxy runs in front of the apiserver.
var (
	tc          *cluster.Cluster
	rexecBin    string
	haveHAProxy bool
)

// defaultPod is created at start-up (one container, "main") and only read.
const defaultPod = "e2e"

// tunnelTimeout is HAProxy's "timeout tunnel": an exec stream through the
// proxy that is idle for longer is cut, as behind a real load balancer.
const tunnelTimeout = 3 * time.Second

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ci := clustertest.CI()
	bin, cleanup, err := clustertest.RexecBinary()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer cleanup()
	rexecBin = bin

	if err := clustertest.BuildClusterBinaries(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}

	opts := cluster.Options{Pods: []string{defaultPod}}
	haveHAProxy = clustertest.HaveHAProxy()
	switch {
	case haveHAProxy:
		opts.HAProxy = &cluster.HAProxyOptions{TimeoutTunnel: tunnelTimeout}
	case ci:
		fmt.Fprintln(os.Stderr, "e2e: CI=true but haproxy is not installed (apt-get install -y haproxy)")
		return 1
	}
	c, err := cluster.Start(context.Background(), opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: starting cluster:", err)
		return 1
	}
	tc = c
	fmt.Fprintf(os.Stderr, "e2e: cluster up in %v (state %s), kubectl %s, kubectl-rexec %s\n",
		c.StartupTime.Round(time.Millisecond), c.StateDir, c.Kubectl(), rexecBin)
	code := m.Run()
	c.Stop()
	return code
}

// proto is one way of reaching the pod. Both tools read the same variable.
type proto struct {
	name      string
	websocket bool
	header    string // the recording header's protocol field
}

var protos = []proto{
	{"websocket", true, "v5.channel.k8s.io (websocket)"},
	{"spdy", false, "v4.channel.k8s.io (spdy)"},
}

// eachProto runs f as a subtest per protocol.
func eachProto(t *testing.T, f func(t *testing.T, p proto)) {
	t.Helper()
	for _, p := range protos {
		t.Run(p.name, func(t *testing.T) { f(t, p) })
	}
}

// inv is one invocation, run the same way through kubectl exec and rexec.
type inv struct {
	kubeconfig string
	websocket  bool
	stdin      []byte // nil: no stdin (os.DevNull)
	args       []string
	timeout    time.Duration // 60 s when zero
	env        []string      // added to the base environment
}

// res is what one invocation did.
type res struct {
	stdout, stderr string
	code           int
	took           time.Duration
	recordDir      string   // rexec only
	recordings     []string // rexec only: the files it left in recordDir
}

// baseEnv is the environment both tools run with: an empty HOME (no kuberc,
// no discovery cache, no default kubeconfig shared between runs), no
// KUBECONFIG from the caller, and the protocol switch set explicitly.
func baseEnv(t *testing.T, websocket bool) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "KUBECONFIG", "KUBERC", "KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "KUBECTL_REXEC_DIR", "XDG_STATE_HOME":
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+t.TempDir(),
		"KUBERC=off",
		fmt.Sprintf("KUBECTL_REMOTE_COMMAND_WEBSOCKETS=%v", websocket),
	)
}

// privateDir is a fresh 0700 directory, as rexec wants for recordings.
func privateDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp(t.TempDir(), "rec-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runCmd(t *testing.T, name string, bin string, args []string, i inv) res {
	t.Helper()
	timeout := i.timeout
	if timeout == 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(baseEnv(t, i.websocket), i.env...)
	if i.stdin != nil {
		cmd.Stdin = bytes.NewReader(i.stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := res{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	if ctx.Err() != nil {
		t.Fatalf("%s %q hung: killed after %v; stdout %q, stderr %q", name, args, timeout, r.stdout, r.stderr)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	default:
		t.Fatalf("%s %q: %v (stderr %q)", name, args, err, r.stderr)
	}
	return r
}

// kubectl runs `kubectl --kubeconfig K exec ARGS`.
func kubectl(t *testing.T, i inv) res {
	t.Helper()
	args := append([]string{"--kubeconfig", i.kubeconfig, "exec"}, i.args...)
	return runCmd(t, "kubectl", tc.Kubectl(), args, i)
}

// rexec runs `kubectl-rexec --kubeconfig K --record-dir D ARGS` with a fresh
// 0700 D, and lists the recordings it left there.
func rexec(t *testing.T, i inv) res {
	t.Helper()
	dir := privateDir(t)
	args := append([]string{"--kubeconfig", i.kubeconfig, "--record-dir", dir}, i.args...)
	r := runCmd(t, "kubectl-rexec", rexecBin, args, i)
	r.recordDir = dir
	r.recordings = recordingsIn(t, dir)
	return r
}

func recordingsIn(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("listing %s: %v", dir, err)
	}
	var files []string
	for _, e := range entries {
		files = append(files, filepath.Join(dir, e.Name()))
	}
	return files
}

// both runs i through kubectl exec, then rexec, and checks that they agree:
// stdout byte for byte, stderr apart from rexec's "Session recorded to"
// line, and the exit code.
func both(t *testing.T, i inv) (k, r res) {
	t.Helper()
	k = kubectl(t, i)
	r = rexec(t, i)
	t.Logf("kubectl: exit %d in %v, stderr %q", k.code, k.took.Round(time.Millisecond), clip(k.stderr))
	t.Logf("rexec:   exit %d in %v, stderr %q", r.code, r.took.Round(time.Millisecond), clip(r.stderr))
	if r.stdout != k.stdout {
		t.Errorf("stdout differs:\nkubectl %q\nrexec   %q", clip(k.stdout), clip(r.stdout))
	}
	if got, want := normalizeKlog(withoutRecordedLine(r.stderr)), normalizeKlog(k.stderr); got != want {
		t.Errorf("stderr differs (rexec's Session recorded line removed, klog times and PIDs masked):\nkubectl %q\nrexec   %q", want, got)
	}
	if r.code != k.code {
		t.Errorf("exit code differs: kubectl %d, rexec %d", k.code, r.code)
	}
	return k, r
}

const recordedPrefix = "Session recorded to "

// withoutRecordedLine drops rexec's "Session recorded to PATH" line, the one
// thing it adds to kubectl exec's stderr. Under a terminal the line ends in
// \r\n.
func withoutRecordedLine(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if strings.HasPrefix(l, recordedPrefix) {
			continue
		}
		b.WriteString(l)
	}
	return b.String()
}

// klogPrefix is the header of a klog line: severity, date, time, PID and
// the source line that logged.
var klogPrefix = regexp.MustCompile(`(?m)^([IWEF])\d{4} \d\d:\d\d:\d\d\.\d{6}\s+\d+ [\w.-]+\.go:\d+\] `)

// normalizeKlog masks what differs between any two runs in client-go's log
// lines (time and PID) and where the line was logged from: over WebSocket
// rexec's own v5 client (pkg/wsexec) logs client-go's messages about a
// broken stream from its own source file. The messages are compared whole.
func normalizeKlog(s string) string {
	return klogPrefix.ReplaceAllString(s, "${1}MMDD hh:mm:ss.uuuuuu PID FILE:LINE] ")
}

// recordedPath is the path rexec named on its "Session recorded to" line.
func recordedPath(stderr string) string {
	for _, l := range strings.Split(stderr, "\n") {
		if p, ok := strings.CutPrefix(strings.TrimRight(l, "\r"), recordedPrefix); ok {
			return p
		}
	}
	return ""
}

// clip shortens long output for messages.
func clip(s string) string {
	if len(s) <= 400 {
		return s
	}
	return s[:200] + fmt.Sprintf("…[%d bytes]…", len(s)-400) + s[len(s)-200:]
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// freePort is a loopback port that nothing listens on (now).
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// lineDiff lists the lines of a that are not in b.
func lineDiff(a, b string) []string {
	in := map[string]int{}
	for _, l := range strings.Split(b, "\n") {
		in[l]++
	}
	var only []string
	for _, l := range strings.Split(a, "\n") {
		if in[l] > 0 {
			in[l]--
			continue
		}
		only = append(only, l)
	}
	return only
}
