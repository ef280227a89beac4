package doctor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/test/cluster/cluster"
	"github.com/kubectl-rexec/kubectl-rexec/test/cluster/clustertest"
)

var (
	tc          *cluster.Cluster
	rexecBin    string
	haveHAProxy bool
)

// pod is created at start-up, one container "main".
const pod = "target"

// tunnelTimeout is HAProxy's "timeout tunnel", shorter than client-go's 5 s
// ping interval, so an idle exec stream through the proxy is cut.
const tunnelTimeout = 3 * time.Second

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ci := clustertest.CI()
	bin, cleanup, err := clustertest.RexecBinary()
	if err != nil {
		fmt.Fprintln(os.Stderr, "doctor e2e:", err)
		return 1
	}
	defer cleanup()
	rexecBin = bin

	if err := clustertest.BuildClusterBinaries(); err != nil {
		fmt.Fprintln(os.Stderr, "doctor e2e:", err)
		return 1
	}

	opts := cluster.Options{Pods: []string{pod}}
	haveHAProxy = clustertest.HaveHAProxy()
	switch {
	case haveHAProxy:
		opts.HAProxy = &cluster.HAProxyOptions{TimeoutTunnel: tunnelTimeout}
	case ci:
		fmt.Fprintln(os.Stderr, "doctor e2e: CI=true but haproxy is not installed (apt-get install -y haproxy)")
		return 1
	}
	c, err := cluster.Start(context.Background(), opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "doctor e2e: starting cluster:", err)
		return 1
	}
	tc = c
	code := m.Run()
	c.Stop()
	return code
}

// needHAProxy skips without HAProxy, except in CI where TestMain has
// already failed the run for it.
func needHAProxy(t *testing.T) {
	t.Helper()
	if !haveHAProxy {
		t.Skip("haproxy is not installed (apt-get install -y haproxy)")
	}
}

// result is one doctor run.
type result struct {
	stdout, stderr string
	code           int
	took           time.Duration
}

// doctor runs `kubectl-rexec doctor ARGS` with an empty HOME and no
// KUBECONFIG or proxy settings from the caller, plus env.
func doctor(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return plugin(t, env, append([]string{"doctor"}, args...)...)
}

// plugin runs `kubectl-rexec ARGS` as doctor does.
func plugin(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, rexecBin, args...)
	cmd.WaitDelay = 5 * time.Second
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "KUBECONFIG", "KUBERC", "KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy":
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, "HOME="+t.TempDir(), "KUBERC=off")
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	if ctx.Err() != nil {
		t.Fatalf("doctor %q hung: killed after 90s; stdout %q, stderr %q", args, r.stdout, r.stderr)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	default:
		t.Fatalf("doctor %q: %v (stderr %q)", args, err, r.stderr)
	}
	t.Logf("kubectl-rexec %s: exit %d in %v\n%s%s", strings.Join(args, " "), r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
	return r
}
