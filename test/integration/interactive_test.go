package integration

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testrec"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// tmuxDriver drives a program in a detached tmux session of its own server.
type tmuxDriver struct {
	t      *testing.T
	socket string
}

func newTmuxDriver(t *testing.T, cols, rows int, command string) *tmuxDriver {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed")
	}
	tm := &tmuxDriver{t: t, socket: filepath.Join(t.TempDir(), "tmux.sock")}
	tm.run("new-session", "-d", "-s", "it", "-x", fmt.Sprint(cols), "-y", fmt.Sprint(rows), command)
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", tm.socket, "kill-server").Run() })
	return tm
}

func (tm *tmuxDriver) run(args ...string) string {
	tm.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", tm.socket}, args...)...).CombinedOutput()
	if err != nil {
		tm.t.Fatalf("tmux %v: %v: %s", args, err, out)
	}
	return string(out)
}

func (tm *tmuxDriver) keys(keys ...string) {
	tm.run(append([]string{"send-keys", "-t", "it"}, keys...)...)
}

func (tm *tmuxDriver) screen() string { return tm.run("capture-pane", "-p", "-t", "it") }

// waitScreen waits until the pane shows what cond wants.
func (tm *tmuxDriver) waitScreen(what string, cond func(string) bool) string {
	tm.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		s := tm.screen()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("timed out waiting for %s; the screen shows:\n%s", what, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestInteractivePlayerInTmux plays a recording in a real terminal (tmux)
// and checks what the screen shows after pause, jumping to command N,
// seeking back, stepping, and quitting.
func TestInteractivePlayerInTmux(t *testing.T) {
	var steps []testrec.Step
	steps = append(steps, testrec.R(0, "80x24"), testrec.O(100*time.Millisecond, "$ "))
	for c := range 10 {
		at := time.Duration(c)*30*time.Second + time.Second
		cmd := fmt.Sprintf("step-%02d", c)
		steps = append(steps, testrec.I(at, cmd+"\r"), testrec.O(at+time.Millisecond, cmd+"\r\n"), testrec.M(at+2*time.Millisecond, cmd))
		for l := range 25 {
			steps = append(steps, testrec.O(at+time.Duration(l+1)*time.Second, fmt.Sprintf("cmd %02d output line %02d\r\n", c, l)))
		}
		steps = append(steps, testrec.O(at+26*time.Second, "$ "))
	}
	// A hostile recording would also try to write the clipboard.
	steps = append(steps, testrec.O(300*time.Second, "\x1b]52;c;ZXZpbA==\x07bye\r\n"))
	path := filepath.Join(privateDir(t), "long.cast.zst")
	if err := testrec.File(path, testrec.Session{
		Header: testrec.Header("carol", "prod", "default", "long", "main", time.Date(2026, 11, 27, 6, 15, 0, 0, time.UTC), "bash"),
		Steps:  steps, Exit: testrec.Code(0), Options: record.Options{FrameBytes: 2000},
	}); err != nil {
		t.Fatal(err)
	}
	// The pane stays open after the player exits, for the test to read.
	tm := newTmuxDriver(t, 80, 25, rexecBin+" replay "+path+"; echo EXITED-$?; sleep 3600")
	tm.waitScreen("the status bar", func(s string) bool { return strings.Contains(s, "1x") && strings.Contains(s, "/ 5:00") })

	tm.keys("Space")
	tm.waitScreen("pause", func(s string) bool { return strings.Contains(s, "paused") })
	tm.keys("]", "]", "]")
	// Each wait is for the whole screen a key must give, so that a screen
	// caught halfway through its redraw is waited past, not judged.
	tm.waitScreen("command 3 after ] ] ]", func(s string) bool {
		return strings.Contains(s, "cmd 3/10") && strings.Contains(s, "cmd 01 output line 24\n$ step-02") &&
			!strings.Contains(s, "cmd 02 output") && strings.Contains(s, "1:01 / 5:00")
	})

	tm.keys("Left")
	tm.waitScreen("seek back after ←", func(s string) bool {
		return strings.Contains(s, "0:56 / 5:00") && strings.Contains(s, "cmd 01 output line 23\ncmd 01 output line 24") && !strings.Contains(s, "step-02")
	})

	tm.keys(".")
	tm.waitScreen("a step after .", func(s string) bool {
		return strings.Contains(s, "0:57 / 5:00") && strings.Contains(s, "cmd 01 output line 24\n$")
	})

	tm.keys("S-Right")
	tm.waitScreen("seek 1m after ⇧→", func(s string) bool {
		return strings.Contains(s, "1:57 / 5:00") && strings.Contains(s, "cmd 03 output line 24") && !strings.Contains(s, "step-04")
	})

	// Play the end at 64x: the clipboard write is dropped, "bye" shows.
	for range 6 {
		tm.keys("+")
	}
	tm.keys("Space")
	s := tm.waitScreen("the end", func(s string) bool { return strings.Contains(s, "end") && strings.Contains(s, "bye") })
	if strings.Contains(s, "ZXZpbA") {
		t.Errorf("the OSC 52 payload reached the screen:\n%s", s)
	}
	tm.keys("q")
	tm.waitScreen("the player to exit", func(s string) bool { return strings.Contains(s, "EXITED-0") })
}
