//go:build linux

package testexec

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// sink is an io.WriteCloser that remembers what was written and whether it
// was closed, like one stream of an exec session.
type sink struct {
	mu     sync.Mutex
	b      bytes.Buffer
	closed bool
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func (s *sink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var ce utilexec.CodeExitError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a CodeExitError", err, err)
	}
	return ce.Code
}

func TestPipesExitCodeAndStreams(t *testing.T) {
	e := New(t.TempDir(), nil)
	out, errOut := &sink{}, &sink{}
	err := e.ExecInContainer(context.Background(), "demo_default", "uid-1", "main",
		[]string{"sh", "-c", "echo out; echo err >&2; pwd; exit 3"}, nil, out, errOut, false, nil, 0)
	if code := exitCode(t, err); code != 3 {
		t.Fatalf("exit code %d, want 3", code)
	}
	if got, want := out.String(), "out\n"+e.Dir+"\n"; got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
	if errOut.String() != "err\n" {
		t.Errorf("stderr %q", errOut.String())
	}
	if !out.closed || !errOut.closed {
		t.Errorf("output streams not closed: stdout %v stderr %v", out.closed, errOut.closed)
	}
	c, ok := e.LastCall()
	if !ok || c.Name != "demo_default" || c.UID != "uid-1" || c.Container != "main" || c.TTY || c.Stdin || len(c.Cmd) != 3 {
		t.Errorf("recorded call %+v", c)
	}
}

func TestStdinEOFEndsCat(t *testing.T) {
	e := New("", nil)
	out := &sink{}
	input := strings.Repeat("0123456789abcdef\n", 10000) // more than a pipe buffer
	err := e.ExecInContainer(context.Background(), "p", "", "c", []string{"cat"},
		strings.NewReader(input), out, &sink{}, false, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != input {
		t.Errorf("cat gave %d bytes, want %d", len(out.String()), len(input))
	}
}

func TestNotRunnable(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "noexec"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := New(dir, append(os.Environ(), "PATH="+dir+":/usr/bin:/bin"))
	for _, tc := range []struct {
		cmd  string
		code int
	}{
		{"no-such-command-xyz", 127},
		{"./missing", 127},
		{"noexec", 126},
		{"./noexec", 126},
		{dir, 126},
	} {
		errOut := &sink{}
		err := e.ExecInContainer(context.Background(), "p", "", "c", []string{tc.cmd}, nil, &sink{}, errOut, false, nil, 0)
		if code := exitCode(t, err); code != tc.code {
			t.Errorf("%s: exit code %d, want %d", tc.cmd, code, tc.code)
		}
		if !strings.Contains(errOut.String(), tc.cmd) {
			t.Errorf("%s: stderr %q does not name the command", tc.cmd, errOut.String())
		}
	}
}

func TestSignalExitCode(t *testing.T) {
	e := New("", nil)
	err := e.ExecInContainer(context.Background(), "p", "", "c", []string{"sh", "-c", "kill -TERM $$"}, nil, &sink{}, &sink{}, false, nil, 0)
	if code := exitCode(t, err); code != 128+15 {
		t.Errorf("exit code %d, want 143", code)
	}
}

func TestTTYSizeResizeAndEOF(t *testing.T) {
	e := New("", nil)
	resize := make(chan remotecommand.TerminalSize, 2)
	resize <- remotecommand.TerminalSize{Width: 100, Height: 30}
	stdinR, stdinW := io.Pipe()
	out := &sink{}
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The shell says when it sees the new size, so the line is typed after
	// the resize has reached the terminal.
	go func() {
		done <- e.ExecInContainer(ctx, "p", "", "c",
			[]string{"sh", "-c", `stty size; until [ "$(stty size)" = "40 120" ]; do sleep 0.01; done; echo resized; read line; stty size; echo "got:$line"; test -t 0 && echo tty; cat; exit 4`},
			stdinR, out, nil, true, resize, 0)
	}()
	waitFor(t, "the first size", func() bool { return strings.Contains(out.String(), "30 100") })
	resize <- remotecommand.TerminalSize{Width: 120, Height: 40}
	waitFor(t, "the shell to see the resize", func() bool { return strings.Contains(out.String(), "resized") })
	if _, err := stdinW.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the line read back", func() bool { return strings.Contains(out.String(), "got:hello") })
	_ = stdinW.Close() // EOF: Ctrl-D ends cat, then the shell exits 4
	select {
	case err := <-done:
		if code := exitCode(t, err); code != 4 {
			t.Fatalf("exit code %d, want 4; output %q", code, out.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("tty command did not end at stdin EOF; output %q", out.String())
	}
	if s := out.String(); !strings.Contains(s, "40 120") || !strings.Contains(s, "tty") {
		t.Errorf("output %q lacks the resized size or the tty", s)
	}
}

func TestCancelKillsProcessGroup(t *testing.T) {
	e := New("", nil)
	ctx, cancel := context.WithCancel(context.Background())
	out := &sink{}
	done := make(chan error, 1)
	// The background sleep would outlive its shell without the group kill.
	go func() {
		done <- e.ExecInContainer(ctx, "p", "", "c", []string{"sh", "-c", "sleep 30 & echo $!; wait"}, nil, out, &sink{}, false, nil, 0)
	}()
	waitFor(t, "the background job's pid", func() bool { return strings.HasSuffix(out.String(), "\n") })
	child, err := strconv.Atoi(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatal(err)
	}
	if e.Running() != 1 {
		t.Fatalf("running %d, want 1", e.Running())
	}
	cancel()
	select {
	case err := <-done:
		if code := exitCode(t, err); code != 128+9 {
			t.Errorf("exit code %d, want 137", code)
		}
	case <-time.After(time.Minute):
		t.Fatal("cancelled command did not end")
	}
	if e.Running() != 0 {
		t.Fatal("executor still tracks the command")
	}
	// Gone, or at most a zombie waiting for whoever inherited it.
	waitFor(t, "the background job to end", func() bool {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(child) + "/stat")
		return err != nil || strings.Contains(string(stat), ") Z ")
	})
}

func TestKillAll(t *testing.T) {
	e := New("", nil)
	done := make(chan error, 2)
	for _, tty := range []bool{false, true} {
		go func() {
			done <- e.ExecInContainer(context.Background(), "p", "", "c", []string{"sleep", "30"}, nil, &sink{}, nil, tty, nil, 0)
		}()
	}
	waitFor(t, "two commands running", func() bool { return e.Running() == 2 })
	e.KillAll()
	for range 2 {
		select {
		case err := <-done:
			if code := exitCode(t, err); code != 137 {
				t.Errorf("exit code %d, want 137", code)
			}
		case <-time.After(time.Minute):
			t.Fatal("KillAll left a command running")
		}
	}
}

// waitFor polls cond until it holds, failing after a minute with what was
// awaited.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
