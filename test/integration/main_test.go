// Package integration runs the built kubectl-rexec binary against an
// in-process server made of upstream Kubernetes exec code (cri-streaming's
// ServeExec for SPDY, the apiserver's stream translator for WebSocket v5),
// on both protocols, and checks every session's recording.
package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var rexecBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rexec-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rexecBin = filepath.Join(dir, "kubectl-rexec")
	build := exec.Command("go", "build", "-o", rexecBin, "../../cmd/kubectl-rexec")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build kubectl-rexec:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// protocols are the two ways the plugin reaches the pod.
var protocols = []struct {
	name string
	env  []string
	want string // suffix of the header's protocol field
}{
	{"websocket", nil, "(websocket)"},
	{"spdy", []string{"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false"}, "(spdy)"},
}

// run is one invocation of the binary.
type run struct {
	stdout, stderr string
	code           int
	recording      string // path of the recording it wrote, "" if none
}

// rexec runs the plugin with a kubeconfig, a private recording directory and
// optional stdin, and finds the recording it wrote.
func rexec(t *testing.T, kubeconfig string, env []string, stdin string, args ...string) run {
	t.Helper()
	dir := privateDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, rexecBin, append([]string{"--kubeconfig", kubeconfig, "--record-dir", dir}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("kubectl-rexec %v hung: stdout %q stderr %q", args, out.String(), errb.String())
	}
	r := run{stdout: out.String(), stderr: errb.String(), code: exitCode(t, err)}
	files, _ := filepath.Glob(filepath.Join(dir, "*.cast.zst"))
	if len(files) > 1 {
		t.Fatalf("want at most one recording, got %v", files)
	}
	if len(files) == 1 {
		r.recording = files[0]
	}
	return r
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	t.Fatalf("run kubectl-rexec: %v", err)
	return -1
}

// withoutRecordedLine drops rexec's closing "Session recorded to" line, the
// only thing it adds to stderr beside kubectl's own output.
func withoutRecordedLine(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if strings.HasPrefix(l, "Session recorded to ") {
			continue
		}
		b.WriteString(l)
	}
	return b.String()
}

// replayed is what `kubectl rexec replay --no-wait` prints for a recording.
func replayed(t *testing.T, path string) (string, string) {
	t.Helper()
	cmd := exec.Command(rexecBin, "replay", "--no-wait", "-q", path)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("replay %s: %v: %s", path, err, errb.String())
	}
	return out.String(), errb.String()
}

// privateDir is a 0700 temporary directory, as rexec wants for recordings.
func privateDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}
