// Command gen records testdata/fullscreen.cast.zst, the session the browser
// test plays: real bash, vim, top and less on a local pseudo-terminal, with
// two resizes (a larger terminal before anything scrolled, then a smaller
// one before top and less). Run it from
// the repository root when the fixture needs to change:
//
//	go run ./pkg/webplayer/testdata/gen pkg/webplayer/testdata/fullscreen.cast.zst
//
// The test compares two renderings of whatever this recorded, so the
// fixture's exact timing does not matter.
package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/creack/pty"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

type session struct {
	w    *record.Writer
	tty  *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	seen int
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gen OUT.cast.zst")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	text := ""
	for i := 1; i <= 60; i++ {
		text += fmt.Sprintf("%02d the quick brown fox jumps over the lazy dog\n", i)
	}
	file := "/tmp/webplayer-fixture.txt"
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		return err
	}
	cmd := exec.Command("bash", "--norc", "--noprofile", "-i")
	cmd.Env = []string{"TERM=xterm-256color", "PS1=$ ", "HOME=/tmp", "PATH=/usr/bin:/bin", "LANG=C.UTF-8"}
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: 80, Rows: 24})
	if err != nil {
		return err
	}
	_ = os.Remove(path)
	w, err := record.Create(path, record.Options{})
	if err != nil {
		return err
	}
	start := time.Now()
	h := record.Header{
		Term: record.Term{Cols: 80, Rows: 24, Type: "xterm-256color"}, Timestamp: start.Unix(), Command: "bash",
		Title: "default/fixture/main", Env: map[string]string{"TERM": "xterm-256color"},
		Rexec: &record.Meta{SessionID: "00000000-0000-4000-8000-00000000f1c5", User: record.User{Username: "alice"},
			Namespace: "default", Pod: "fixture", Container: "main", Argv: []string{"bash"}, TTY: true, Stdin: true,
			Protocol: "local pty", ClientHost: "gen", ClientUser: "gen", Version: "fixture", Start: start.UTC()},
	}
	if err := w.Begin(h); err != nil {
		return err
	}
	if err := w.Resize(80, 24); err != nil {
		return err
	}
	s := &session{w: w, tty: tty}
	go s.read()
	steps := []func() error{
		func() error { return s.wait("$ ") },
		func() error { return s.command("seq 1 5", "5\r\n") },
		func() error { return s.resize(100, 30) },
		func() error { return s.command("echo wider; tput cols; tput lines; seq -s- 1 40", "39-40\r\n") },
		func() error { return s.command("for i in $(seq 1 30); do echo line $i; done", "line 30\r\n") },
		func() error { return s.command("vim -u NONE -N -i NONE "+file, "29 the quick") },
		func() error { return s.keys("Gohello from vim\x1b", "hello from vim") },
		func() error { return s.keys(":q!\r", "$ ") },
		func() error { return s.resize(72, 20) },
		func() error { return s.command("top -d 0.3", "load average") },
		func() error { return s.waitCount("load average", 3) },
		func() error { return s.keys("q", "$ ") },
		func() error { return s.command("less "+file, "01 the quick") },
		func() error { return s.keys(" ", "20 the quick") },
		func() error { return s.keys("q", "$ ") },
		func() error { return s.command("exit 0", "exit") },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("step %d: %w\noutput so far:\n%q", i, err, s.output())
		}
	}
	_ = cmd.Wait()
	code := 0
	return w.Close(record.End{Reason: record.ReasonExited, ExitCode: &code})
}

func (s *session) read() {
	buf := make([]byte, 32<<10)
	for {
		n, err := s.tty.Read(buf)
		if n > 0 {
			_ = s.w.Stdout(buf[:n])
			s.mu.Lock()
			s.out.Write(buf[:n])
			s.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

func (s *session) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// wait waits for want in the output after what earlier waits consumed.
func (s *session) wait(want string) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		out := s.output()
		if i := strings.Index(out[s.seen:], want); i >= 0 {
			s.seen += i + len(want)
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("no %q in the output", want)
}

func (s *session) waitCount(want string, n int) error {
	for i := 0; i < n; i++ {
		if err := s.wait(want); err != nil {
			return err
		}
	}
	return nil
}

func (s *session) keys(k, want string) error {
	time.Sleep(150 * time.Millisecond) // a person's pace, and idle gaps to seek into
	if err := s.w.Stdin([]byte(k)); err != nil {
		return err
	}
	if _, err := s.tty.Write([]byte(k)); err != nil {
		return err
	}
	return s.wait(want)
}

func (s *session) command(line, want string) error {
	time.Sleep(150 * time.Millisecond)
	if err := s.w.Marker(line); err != nil {
		return err
	}
	return s.keys(line+"\r", want)
}

func (s *session) resize(cols, rows int) error {
	time.Sleep(150 * time.Millisecond)
	if err := pty.Setsize(s.tty, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)}); err != nil {
		return err
	}
	return s.w.Resize(cols, rows)
}
