package integration

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/klauspost/compress/zstd"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testserver"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// syncBuffer collects a child's output while the test polls it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// started is a kubectl-rexec process the test drives while it runs.
type started struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	dir            string
	done           chan error
}

func start(t *testing.T, kubeconfig string, env []string, args ...string) *started {
	t.Helper()
	return startInput(t, kubeconfig, env, nil, args...)
}

// startInput is start with stdin read from in.
func startInput(t *testing.T, kubeconfig string, env []string, in io.Reader, args ...string) *started {
	t.Helper()
	s := &started{stdout: &syncBuffer{}, stderr: &syncBuffer{}, dir: privateDir(t), done: make(chan error, 1)}
	s.cmd = exec.Command(rexecBin, append([]string{"--kubeconfig", kubeconfig, "--record-dir", s.dir}, args...)...)
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stdin, s.cmd.Stdout, s.cmd.Stderr = in, s.stdout, s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() { _ = s.cmd.Process.Kill() })
	return s
}

func (s *started) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.done:
		return err
	case <-time.After(2 * time.Minute):
		t.Fatalf("kubectl-rexec did not end; stdout %q stderr %q", s.stdout.String(), s.stderr.String())
		return nil
	}
}

func (s *started) recording(t *testing.T) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(s.dir, "*.cast.zst"))
	if len(files) != 1 {
		t.Fatalf("want one recording in %s, got %v", s.dir, files)
	}
	return files[0]
}

func TestTTYWithResize(t *testing.T) {
	_, kc := cluster(t, testserver.Options{})
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			dir := privateDir(t)
			// The pod prints its size for every line it reads, so the test can
			// keep asking until the resize has travelled, however loaded the machine.
			cmd := exec.Command(rexecBin, "--kubeconfig", kc, "--record-dir", dir, "-it", "demo", "--",
				"sh", "-c", `stty size; while read line; do stty size; echo "got:$line"; [ "$line" = bye ] && exit 0; done`)
			cmd.Env = append(os.Environ(), p.env...)
			ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 100})
			if err != nil {
				t.Fatal(err)
			}
			defer ptmx.Close()
			var screen syncBuffer
			go func() { _, _ = io.Copy(&screen, ptmx) }()
			waitFor(t, "initial size 30 100", func() bool { return strings.Contains(screen.String(), "30 100") })
			if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 120}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the pod to see 40 120", func() bool {
				if _, err := ptmx.Write([]byte("hello\r")); err != nil {
					t.Fatal(err)
				}
				time.Sleep(100 * time.Millisecond)
				return strings.Contains(screen.String(), "40 120")
			})
			if _, err := ptmx.Write([]byte("bye\r")); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("exit: %v; screen %q", err, screen.String())
			}
			if !strings.Contains(screen.String(), "40 120") {
				t.Errorf("pod did not see the resize: %q", screen.String())
			}
			files, _ := filepath.Glob(filepath.Join(dir, "*.cast.zst"))
			if len(files) != 1 {
				t.Fatalf("recordings %v", files)
			}
			h, streams, events, tr, err := readAll(t, files[0])
			if err != nil || tr == nil {
				t.Fatalf("read recording: %v trailer %v", err, tr)
			}
			if !h.Rexec.TTY || !strings.HasSuffix(h.Rexec.Protocol, p.want) {
				t.Errorf("header tty %v protocol %q", h.Rexec.TTY, h.Rexec.Protocol)
			}
			var resizes []string
			for _, ev := range events {
				if ev.Code == 'r' {
					resizes = append(resizes, string(ev.Data))
				}
			}
			if len(resizes) < 2 || resizes[0] != "100x30" || resizes[len(resizes)-1] != "120x40" {
				t.Errorf("resize events %v, want 100x30 ... 120x40", resizes)
			}
			if !strings.Contains(string(streams['i']), "hello\r") {
				t.Errorf("stdin not recorded: %q", streams['i'])
			}
			out := string(streams['o'])
			if !strings.Contains(out, "30 100") || !strings.Contains(out, "40 120") || !strings.Contains(out, "got:hello") {
				t.Errorf("recorded output %q", out)
			}
			if len(streams['e']) != 0 {
				t.Errorf("a tty session has no separate stderr, got %q", streams['e'])
			}
		})
	}
}

func TestCutConnectionIsNeverSuccess(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			srv, kc := cluster(t, testserver.Options{})
			s := start(t, kc, p.env, "demo", "--", "sh", "-c", "echo start; sleep 20; echo done")
			waitFor(t, "start", func() bool { return strings.Contains(s.stdout.String(), "start") })
			srv.CutConnections()
			err := s.wait(t)
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			}
			if code == 0 {
				t.Fatalf("a cut session exited 0; stderr %q", s.stderr.String())
			}
			if !strings.Contains(s.stderr.String(), "error: connection lost: ") {
				t.Errorf("the cut is not named: %q", s.stderr.String())
			}
			if strings.Contains(s.stdout.String(), "done") {
				t.Fatalf("the command was not cut")
			}
			_, _, events, tr, rerr := readAll(t, s.recording(t))
			if rerr != nil || tr == nil {
				t.Fatalf("recording not closed properly: %v", rerr)
			}
			if tr.Reason != string(record.ReasonConnectionLost) || tr.ExitCode != nil {
				t.Errorf("trailer %+v, want connection lost without exit code", tr)
			}
			for _, ev := range events {
				if ev.Code == 'x' {
					t.Errorf("an exit status was recorded for a cut session: %q", ev.Data)
				}
			}
		})
	}
}

func TestSIGKILLLeavesReadableRecording(t *testing.T) {
	_, kc := cluster(t, testserver.Options{})
	s := start(t, kc, nil, "demo", "--", "sh", "-c", "echo hello; sleep 30")
	waitFor(t, "hello", func() bool { return strings.Contains(s.stdout.String(), "hello") })
	// The recorder flushes once a second: kill it once hello is in the file.
	waitFor(t, "hello flushed to the recording", func() bool {
		files, _ := filepath.Glob(filepath.Join(s.dir, "*.cast.zst"))
		if len(files) != 1 {
			return false
		}
		_, streams, _, _, _ := readAll(t, files[0])
		return string(streams['o']) == "hello\n"
	})
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = s.wait(t)
	_, streams, _, tr, err := readAll(t, s.recording(t))
	if !errors.Is(err, record.ErrAbrupt) || tr != nil {
		t.Fatalf("want an abrupt recording, got err %v trailer %v", err, tr)
	}
	if string(streams['o']) != "hello\n" {
		t.Errorf("recorded stdout %q, want hello", streams['o'])
	}
	out, _ := exec.Command(rexecBin, "replay", "--no-wait", s.recording(t)).CombinedOutput()
	if !strings.HasPrefix(string(out), "hello\n") || !strings.Contains(string(out), "abruptly") {
		t.Errorf("replay of the torn recording: %q", out)
	}
}

func TestSIGTERMClosesRecording(t *testing.T) {
	_, kc := cluster(t, testserver.Options{})
	s := start(t, kc, nil, "demo", "--", "sh", "-c", "echo hello; sleep 30")
	waitFor(t, "hello", func() bool { return strings.Contains(s.stdout.String(), "hello") })
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := s.wait(t)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Success() {
		t.Fatalf("want a failed exit after SIGTERM, got %v", err)
	}
	_, streams, _, tr, rerr := readAll(t, s.recording(t))
	if rerr != nil || tr == nil {
		t.Fatalf("recording not closed on SIGTERM: %v", rerr)
	}
	if tr.Reason != string(record.ReasonInterrupted) || string(streams['o']) != "hello\n" {
		t.Errorf("trailer %+v stdout %q", tr, streams['o'])
	}
}

func TestNoCredentialInOutputOrRecording(t *testing.T) {
	const token = "s3cr3t-t0ken-abcdef0123456789"
	_, kc := cluster(t, testserver.Options{Token: token})
	runs := []run{
		rexec(t, kc, nil, "", "-v", "9", "demo", "--", "sh", "-c", "echo ok"),
		rexec(t, kc, nil, "", "-v", "9", "nope", "--", "true"),
		rexec(t, kc, nil, "", "--token", token, "demo", "--", "sh", "-c", "echo ok"),
	}
	if runs[0].code != 0 || runs[0].stdout != "ok\n" {
		t.Fatalf("token session failed: %d %q", runs[0].code, runs[0].stderr)
	}
	for i, r := range runs {
		if strings.Contains(r.stdout+r.stderr, token) {
			t.Errorf("run %d printed the token", i)
		}
		if r.recording == "" {
			continue
		}
		raw, err := os.ReadFile(r.recording)
		if err != nil {
			t.Fatal(err)
		}
		dec, _ := zstd.NewReader(nil)
		plain, err := dec.DecodeAll(raw, nil)
		if err != nil {
			t.Fatalf("decompress: %v", err)
		}
		if bytes.Contains(plain, []byte(token)) || bytes.Contains(raw, []byte(token)) {
			t.Errorf("run %d: the token is in the recording", i)
		}
	}
	h, _, _, _, _ := readAll(t, runs[2].recording)
	if !strings.Contains(strings.Join(h.Rexec.ClientArgv, " "), "--token REDACTED") {
		t.Errorf("client argv %q", h.Rexec.ClientArgv)
	}
}

func TestRecordingPermissions(t *testing.T) {
	_, kc := cluster(t, testserver.Options{})
	state := t.TempDir()
	cmd := exec.Command(rexecBin, "--kubeconfig", kc, "demo", "--", "true")
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+state, "KUBECTL_REXEC_DIR=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	dir := filepath.Join(state, "kubectl-rexec", "recordings")
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %o, want 700", fi.Mode().Perm())
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*_test-ctx_default_demo_*.cast.zst"))
	if len(files) != 1 {
		t.Fatalf("recordings %v", files)
	}
	fi, _ = os.Stat(files[0])
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %o, want 600", fi.Mode().Perm())
	}
}

func TestUnwritableRecordDirDoesNotStartSession(t *testing.T) {
	srv, kc := cluster(t, testserver.Options{})
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r := rexec(t, kc, nil, "", "--record-dir", filepath.Join(blocker, "sub"), "demo", "--", "sh", "-c", "echo ran")
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "session was not started") {
		t.Errorf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	if n := len(srv.Upgrades()); n != 0 {
		t.Errorf("the session reached the server %d times without a recording", n)
	}
}
