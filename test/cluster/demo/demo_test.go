package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/kubectl-rexec/kubectl-rexec/test/cluster/cluster"
	"github.com/kubectl-rexec/kubectl-rexec/test/cluster/clustertest"
)

func TestMain(m *testing.M) {
	// The real cluster's binaries: the real run needs them, the quick run
	// borrows kubectl.
	if err := clustertest.BuildClusterBinaries(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// repoRoot is the plugin's repository, where `make demo` runs.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(file))))
}

// demoEnv is a user's environment with the demo's state, recordings and
// binaries in directories of the test, and no kubeconfig of the caller's.
type demoEnv struct {
	state, recs, bin, installDir string
}

func (d demoEnv) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "KUBECONFIG", "KUBERC", "KUBECTL_REXEC_DIR", "REXEC_E2E_STATE_DIR", "REXEC_E2E_BIN_DIR", "XDG_STATE_HOME", "BINDIR":
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"REXEC_E2E_STATE_DIR="+d.state, "REXEC_E2E_BIN_DIR="+d.bin, "KUBECTL_REXEC_DIR="+d.recs,
		"REXEC_DEMO_BUILD_CLUSTER=0", "BINDIR="+d.installDir, "KUBERC=off")
}

func TestDemoQuick(t *testing.T) {
	// A bin dir without kube-apiserver, as on a first run; kubectl is
	// borrowed so that nothing minutes-long is built here.
	bin := t.TempDir()
	if err := os.Symlink(filepath.Join(cluster.BinDir(), "kubectl"), filepath.Join(bin, "kubectl")); err != nil {
		t.Fatal(err)
	}
	d := demoEnv{state: t.TempDir(), recs: privateDir(t), bin: bin, installDir: t.TempDir()}
	out := runDemo(t, d)
	for _, want := range []string{"starting rexec-quick", "the real cluster is still building in the background"} {
		if !strings.Contains(out, want) {
			t.Errorf("make demo's output lacks %q", want)
		}
	}
	nextSteps(t, d, out)
}

func TestDemoReal(t *testing.T) {
	d := demoEnv{state: t.TempDir(), recs: privateDir(t), bin: cluster.BinDir(), installDir: t.TempDir()}
	out := runDemo(t, d)
	if !strings.Contains(out, "starting the test cluster: etcd, kube-apiserver") {
		t.Errorf("make demo did not start the real cluster")
	}
	nextSteps(t, d, out)
}

// privateDir is a recording directory as rexec makes one (0700), so that
// its warning about a readable one stays out of the output.
func privateDir(t *testing.T) string {
	d := t.TempDir()
	if err := os.Chmod(d, 0o700); err != nil {
		t.Fatal(err)
	}
	return d
}

// runDemo runs `make demo` without a terminal (its scripted session) and
// checks the session, the recording and the replay.
func runDemo(t *testing.T, d demoEnv) string {
	t.Helper()
	t.Cleanup(func() {
		cmd := exec.Command("make", "cluster-down")
		cmd.Dir, cmd.Env = repoRoot(), d.environ()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("make cluster-down: %v\n%s", err, out)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "demo")
	cmd.Dir, cmd.Env = repoRoot(), d.environ()
	b, err := cmd.CombinedOutput()
	out := string(b)
	t.Logf("make demo:\n%s", out)
	if err != nil {
		t.Fatalf("make demo: %v", err)
	}
	recs, _ := filepath.Glob(filepath.Join(d.recs, "*.cast.zst"))
	if len(recs) != 1 {
		t.Fatalf("recordings %v, want one", recs)
	}
	for _, want := range []string{
		"pod demo runs rexec-node/busybox-static:", // the sandbox, not this machine
		"hello from demo\nbin\n",                   // the session: echo, then ls / in the pod's own root
		"command terminated with exit code 7",
		"==> replaying " + recs[0],
		"==> next, in your shell",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("make demo's output lacks %q", want)
		}
	}
	return out
}

// nextSteps runs each command `make demo` printed after "next, in your
// shell", as printed, in bash from the repository root, after the first one
// (sourcing demo.env), which every later one needs.
func nextSteps(t *testing.T, d demoEnv, out string) {
	t.Helper()
	_, block, ok := strings.Cut(out, "==> next, in your shell")
	if !ok {
		t.Fatal("no next steps printed")
	}
	var cmds []string
	for _, line := range strings.Split(block, "\n")[1:] {
		if !strings.HasPrefix(line, "    ") {
			break
		}
		cmd, _, _ := strings.Cut(strings.TrimSpace(line), "  #") // the comment after the command
		cmds = append(cmds, strings.TrimSpace(cmd))
	}
	if len(cmds) < 5 || !strings.HasPrefix(cmds[0], ". ") {
		t.Fatalf("next steps %q: want a source line first", cmds)
	}
	source := cmds[0]
	for _, c := range cmds[1:] {
		t.Run(c, func(t *testing.T) {
			script := source + "\n" + c
			if strings.Contains(c, " -it ") {
				interactive(t, d, script)
				return
			}
			cmd := exec.Command("bash", "-eu", "-c", script)
			cmd.Dir, cmd.Env = repoRoot(), d.environ()
			b, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, b)
			}
			switch {
			case strings.HasPrefix(c, "kubectl rexec ls"):
				if !strings.Contains(string(b), "default/demo/main") {
					t.Errorf("ls: %s", b)
				}
			case strings.HasPrefix(c, "make install"):
				if _, err := os.Stat(filepath.Join(d.installDir, "kubectl-rexec")); err != nil {
					t.Errorf("make install: %v\n%s", err, b)
				}
			}
		})
	}
}

// interactive runs script on a terminal, waits for the pod's shell prompt,
// and exits it with a code that must come back.
func interactive(t *testing.T, d demoEnv, script string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-eu", "-c", script)
	cmd.Dir, cmd.Env = repoRoot(), append(d.environ(), "TERM=xterm")
	cmd.WaitDelay = 5 * time.Second
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ptmx.Close() }()
	var mu sync.Mutex
	var screen bytes.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	shown := func() string { mu.Lock(); defer mu.Unlock(); return screen.String() }
	for !strings.Contains(shown(), "# ") {
		if ctx.Err() != nil {
			t.Fatalf("no prompt; screen %q", shown())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := io.WriteString(ptmx, "exit 5\r"); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 5 {
		t.Errorf("exit: %v, want code 5; screen %q", err, shown())
	}
}
