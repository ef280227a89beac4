package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// buf is a WriteCloser that can be read while commands write to it.
type buf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}
func (b *buf) Close() error { return nil }
func (b *buf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newTestExecutor(t *testing.T) *Executor {
	dir := t.TempDir()
	sb := Detect("", t.TempDir())
	t.Logf("isolation %s, image %s %s", sb.Isolation, sb.Image(), sb.Reason)
	e := &Executor{Runtime: sb, Lookup: func(key, container string) (ContainerInfo, error) {
		return ContainerInfo{Namespace: "ns", Pod: "p", Container: container, Dir: dir, Env: []string{"EXTRA=1"}}, nil
	}}
	t.Cleanup(e.Close)
	return e
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	// ServeExec type-asserts, so the error must not be wrapped.
	ee, ok := err.(utilexec.ExitError)
	if !ok {
		t.Fatalf("error %v (%T) is not a utilexec.ExitError", err, err)
	}
	return ee.ExitStatus()
}

func TestExecPipes(t *testing.T) {
	e := newTestExecutor(t)
	info, _ := e.Lookup("ns_p", "c")
	if err := os.WriteFile(filepath.Join(info.Dir, "data.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		cmd        []string
		stdin      io.Reader
		out, errS  string
		code       int
		errContain bool
	}{
		{name: "streams", cmd: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, out: "out\n", errS: "err\n", code: 3},
		{name: "env", cmd: []string{"sh", "-c", "echo $POD_NAME $POD_NAMESPACE $CONTAINER $EXTRA"}, out: "p ns c 1\n"},
		{name: "stdin EOF", cmd: []string{"cat"}, stdin: strings.NewReader("a\nb\n"), out: "a\nb\n"},
		{name: "not found", cmd: []string{"no-such-command-rexec"}, errS: "executable file not found", code: 127, errContain: true},
		{name: "not executable", cmd: []string{"./data.txt"}, errS: "permission denied", code: 126, errContain: true},
		{name: "signal", cmd: []string{"sh", "-c", "kill -9 $$"}, code: 137},
		// A background job holding stdout must not hold the exec open.
		{name: "background job", cmd: []string{"sh", "-c", "sleep 100 & echo bg"}, out: "bg\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut buf
			start := time.Now()
			err := e.ExecInContainer(context.Background(), "ns_p", "", "c", tc.cmd, tc.stdin, &out, &errOut, false, nil, 0)
			if got := exitCode(t, err); got != tc.code {
				t.Errorf("exit code %d, want %d", got, tc.code)
			}
			if out.String() != tc.out {
				t.Errorf("stdout %q, want %q", out.String(), tc.out)
			}
			if tc.errContain && !strings.Contains(errOut.String(), tc.errS) || !tc.errContain && errOut.String() != tc.errS {
				t.Errorf("stderr %q, want %q", errOut.String(), tc.errS)
			}
			// Generous for a loaded machine, and still far less than the
			// background job's 100 s or a stdin that never ends.
			if d := time.Since(start); d > time.Minute {
				t.Errorf("took %v", d)
			}
		})
	}
	if n := e.Running(); n != 0 {
		t.Errorf("%d commands still tracked", n)
	}
}

func TestExecContextCancelKills(t *testing.T) {
	e := newTestExecutor(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out buf
	go func() {
		done <- e.ExecInContainer(ctx, "ns_p", "", "c", []string{"sh", "-c", "echo up; sleep 100"}, nil, &out, nil, false, nil, 0)
	}()
	for deadline := time.Now().Add(time.Minute); !strings.Contains(out.String(), "up"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for the command to print up; output %q", out.String())
		}
	}
	cancel()
	select {
	case err := <-done:
		if code := exitCode(t, err); code != 137 {
			t.Errorf("exit code %d, want 137 (SIGKILL)", code)
		}
	case <-time.After(time.Minute):
		t.Fatal("command survived its context")
	}
}

func TestExecTTY(t *testing.T) {
	e := newTestExecutor(t)
	resize := make(chan remotecommand.TerminalSize, 1)
	resize <- remotecommand.TerminalSize{Width: 91, Height: 27}
	close(resize)
	var out buf
	err := e.ExecInContainer(context.Background(), "ns_p", "", "c", []string{"sh", "-c", "stty size; tty; exit 5"},
		nil, &out, nil, true, resize, 0)
	if code := exitCode(t, err); code != 5 {
		t.Errorf("exit code %d, want 5", code)
	}
	if !strings.Contains(out.String(), "27 91") || !strings.Contains(out.String(), "/dev/pts/") {
		t.Errorf("output %q, want the size 27 91 and a /dev/pts tty", out.String())
	}
}

func TestExecCloseRefusesNew(t *testing.T) {
	e := newTestExecutor(t)
	e.Close()
	err := e.ExecInContainer(context.Background(), "ns_p", "", "c", []string{"true"}, nil, nil, nil, false, nil, 0)
	if err == nil || errors.As(err, new(utilexec.CodeExitError)) {
		t.Errorf("exec after Close: %v, want a refusal", err)
	}
}

// TestSandboxIsolates: a command sees its own root filesystem (busybox, no
// host files), its own PID namespace (init is PID 1, the command is not),
// the pod's hostname, and, in a user namespace, root mapped to a host uid
// that is not the node's.
func TestSandboxIsolates(t *testing.T) {
	e := newTestExecutor(t)
	if e.Runtime.Isolation == IsolationHost {
		t.Fatalf("no sandbox on this machine: %s (CI installs busybox-static and runs as root)", e.Runtime.Reason)
	}
	hostFile := filepath.Join(t.TempDir(), "host-only")
	if err := os.WriteFile(hostFile, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `echo "pid=$$ ppid=$PPID host=$(hostname) uid=$(id -u) home=$HOME"
cat /proc/1/cmdline | tr '\0' ' '; echo
ls /
test -e ` + hostFile + ` && echo HOST-FILE-VISIBLE
test -e /proc/1/root/` + hostFile + ` && echo HOST-FILE-VIA-PROC
cat /proc/self/uid_map
echo kept > /root/note`
	var out, errOut buf
	err := e.ExecInContainer(context.Background(), "ns_p", "", "c", []string{"sh", "-c", script}, nil, &out, &errOut, false, nil, 0)
	if code := exitCode(t, err); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	got := out.String()
	t.Logf("inside:\n%s", got)
	if strings.HasPrefix(got, "pid=1 ") {
		t.Errorf("the command is PID 1; init should be")
	}
	for _, want := range []string{" ppid=1 host=p uid=0 home=/root", sandboxArg0, "bin\n", "proc\n", "root\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(got, "HOST-FILE") {
		t.Errorf("a host file is visible inside")
	}
	if e.Runtime.Isolation == IsolationUserNS {
		uid, _ := e.Runtime.owner()
		if want := fmt.Sprintf("0 %10d", uid); !strings.Contains(got, want) {
			t.Errorf("uid_map lacks %q (container root as host uid %d)", want, uid)
		}
	}
	// The root filesystem persists across sessions, like a container's.
	out = buf{}
	err = e.ExecInContainer(context.Background(), "ns_p", "", "c", []string{"cat", "/root/note"}, nil, &out, &errOut, false, nil, 0)
	if code := exitCode(t, err); code != 0 || out.String() != "kept\n" {
		t.Errorf("second session: exit %d, output %q, want kept", code, out.String())
	}
}

// TestExecOnHost: without a sandbox (no static busybox, no namespaces)
// commands still run, on the host, in the container's directory.
func TestExecOnHost(t *testing.T) {
	dir := t.TempDir()
	e := &Executor{Lookup: func(key, container string) (ContainerInfo, error) {
		return ContainerInfo{Namespace: "ns", Pod: "p", Container: container, Dir: dir}, nil
	}}
	t.Cleanup(e.Close)
	var out buf
	err := e.ExecInContainer(context.Background(), "ns_p", "", "c", []string{"sh", "-c", "pwd; echo $POD_NAME; exit 3"}, nil, &out, nil, false, nil, 0)
	if code := exitCode(t, err); code != 3 || out.String() != dir+"\np\n" {
		t.Errorf("exit %d, output %q; want 3 and %q", code, out.String(), dir+"\np\n")
	}
	err = e.ExecInContainer(context.Background(), "ns_p", "", "c", []string{"no-such-command-rexec"}, nil, &out, nil, false, nil, 0)
	if code := exitCode(t, err); code != 127 {
		t.Errorf("missing command: exit %d, want 127", code)
	}
}
