package integration

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testserver"
)

// replayCLI runs a kubectl-rexec subcommand that needs no cluster.
func replayCLI(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(rexecBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), exitCode(t, err)
}

// ptyReplay runs `replay ARGS` on an 80x24 terminal and returns all it
// wrote there.
func ptyReplay(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(rexecBin, append([]string{"replay"}, args...)...)
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	var out bytes.Buffer
	_, _ = io.Copy(&out, ptmx) // until the player exits (EIO)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("replay %v: %v: %q", args, err, out.String())
	}
	return out.String()
}

// interactiveShell runs an interactive shell in the pod under a pty, types each
// line once the output shows the one before it was run, and returns the
// recording.
func interactiveShell(t *testing.T, kc string, lines ...string) string {
	t.Helper()
	dir := privateDir(t)
	cmd := exec.Command(rexecBin, "--kubeconfig", kc, "--record-dir", dir, "-it", "demo", "--", "sh", "-c", `PS1="$ " exec sh -i`)
	cmd.Env = append(os.Environ(), "PS1=$ ", "ENV=")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	var screen syncBuffer
	go func() { _, _ = io.Copy(&screen, ptmx) }()
	waitFor(t, "the first prompt", func() bool { return strings.Contains(screen.String(), "$ ") })
	for _, l := range lines {
		prompts := strings.Count(screen.String(), "$ ")
		for _, c := range []byte(l) { // typed, key by key
			if _, err := ptmx.Write([]byte{c}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if _, err := ptmx.Write([]byte("\r")); err != nil {
			t.Fatal(err)
		}
		if l != "exit" {
			waitFor(t, "the prompt after "+l, func() bool { return strings.Count(screen.String(), "$ ") > prompts })
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("session: %v; screen %q", err, screen.String())
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.cast.zst"))
	if len(files) != 1 {
		t.Fatalf("recordings %v", files)
	}
	return files[0]
}

// A TTY session's commands become markers: replay --commands lists them,
// --jump starts at one, grep finds what they printed and what was typed.
func TestCommandsGrepAndJump(t *testing.T) {
	_, kc := cluster(t, testserver.Options{})
	rec := interactiveShell(t, kc, "echo first-one", "echo second-two", "exit")

	out, errOut, code := replayCLI(t, nil, "replay", "--commands", rec)
	if code != 0 {
		t.Fatalf("--commands: %d %s", code, errOut)
	}
	t.Logf("replay --commands:\n%s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasSuffix(lines[1], "echo first-one") || !strings.HasSuffix(lines[2], "echo second-two") || !strings.HasSuffix(lines[3], "exit") {
		t.Fatalf("commands:\n%s", out)
	}

	out, _, code = replayCLI(t, nil, "replay", "--no-wait", "-q", "--jump", "2", rec)
	if code != 0 || !strings.Contains(out, "second-two") || strings.Contains(out, "first-one") {
		t.Errorf("--jump 2 played %q", out)
	}

	out, _, code = replayCLI(t, nil, "grep", "^second-two$", rec)
	t.Logf("grep: %s", out)
	if code != 0 || strings.Count(out, "\n") != 1 {
		t.Fatalf("grep: %d %q", code, out)
	}
	offset := strings.SplitN(out, ":", 2)[0]
	// OFFSET is when the hit appeared: the screen replay draws there on a
	// terminal shows it.
	if screen := ptyReplay(t, "--keys=false", "-q", "--from", offset, "--to", offset, rec); !strings.Contains(screen, "second-two") {
		t.Errorf("replay --from %s on a terminal draws %q, want the matched line on the screen", offset, screen)
	}
	out, _, code = replayCLI(t, nil, "grep", "--input", "-i", "ECHO SECOND", rec)
	if code != 0 || !strings.Contains(out, ":echo second-two") {
		t.Errorf("grep --input: %d %q", code, out)
	}
	if _, _, code := replayCLI(t, nil, "grep", "no such text", rec); code != 1 {
		t.Errorf("grep without a match exits %d, want 1", code)
	}
}

func TestLsAndInfoOnRealSessions(t *testing.T) {
	_, kc := cluster(t, testserver.Options{})
	dir := privateDir(t)
	for _, args := range [][]string{{"demo", "--", "sh", "-c", "echo hi"}, {"web-abc", "--", "sh", "-c", "exit 3"}} {
		cmd := exec.Command(rexecBin, append([]string{"--kubeconfig", kc, "--record-dir", dir}, args...)...)
		_ = cmd.Run()
		time.Sleep(1100 * time.Millisecond) // distinct start times, in order
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.cast.zst"), []byte("not zstd at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := replayCLI(t, []string{"KUBECTL_REXEC_DIR=" + dir}, "ls")
	t.Logf("ls:\n%s", out)
	rows := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(rows) != 4 {
		t.Fatalf("ls: %d %q %q", code, out, errOut)
	}
	var demo, web, broken string
	for _, r := range rows[1:] {
		switch {
		case strings.Contains(r, "default/demo/main"):
			demo = r
		case strings.Contains(r, "default/web-abc/web"):
			web = r
		case strings.Contains(r, "not-a-recording"):
			broken = r
		}
	}
	if !strings.Contains(demo, "alice") || !strings.Contains(demo, "sh -c echo hi") || !strings.Contains(demo, " 0 ") || !strings.Contains(demo, "complete") {
		t.Errorf("demo row %q", demo)
	}
	if !strings.Contains(web, " 3 ") || broken == "" {
		t.Errorf("web row %q, broken row %q", web, broken)
	}
	out, _, _ = replayCLI(t, nil, "ls", dir, "--pod", "web-*", "-o", "name")
	files := strings.Fields(out)
	if len(files) != 1 {
		t.Fatalf("ls --pod web-*: %q", out)
	}
	out, _, code = replayCLI(t, nil, "info", files[0])
	t.Logf("info:\n%s", out)
	for _, want := range []string{"exited, exit code 3", "Audit ID:", "alice", "web-abc", "complete"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("info lacks %q", want)
		}
	}
}

// replay --follow shows a session while it runs and stops when it ends.
// The session waits for a line on stdin after tick-1, so follow is
// attached while it runs however slow the machine is.
func TestFollowLiveSession(t *testing.T) {
	_, kc := cluster(t, testserver.Options{})
	in, inW := io.Pipe()
	defer inW.Close()
	s := startInput(t, kc, nil, in, "-i", "demo", "--", "sh", "-c", "echo tick-1; read go; for i in 2 3 4 5 6; do echo tick-$i; done")
	waitFor(t, "the recording", func() bool {
		files, _ := filepath.Glob(filepath.Join(s.dir, "*.cast.zst"))
		return len(files) == 1 && strings.Contains(s.stdout.String(), "tick-1")
	})
	rec := s.recording(t)
	f := exec.Command(rexecBin, "replay", "--follow", "--from", "0", rec)
	var fout, ferr syncBuffer
	f.Stdout, f.Stderr = &fout, &ferr
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.Wait() }()
	waitFor(t, "follow to show tick-1", func() bool { return strings.Contains(fout.String(), "tick-1") })
	select {
	case err := <-done:
		t.Fatalf("replay --follow ended while the session runs: %v; out %q err %q", err, fout.String(), ferr.String())
	default:
	}
	if _, err := inW.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	_ = inW.Close()
	if err := s.wait(t); err != nil {
		t.Fatalf("session: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("follow: %v %s", err, ferr.String())
		}
	case <-time.After(time.Minute):
		_ = f.Process.Kill()
		t.Fatalf("replay --follow did not stop when the session ended; out %q err %q", fout.String(), ferr.String())
	}
	for i := 1; i <= 6; i++ {
		if n := strings.Count(fout.String(), "tick-"+string(rune('0'+i))); n != 1 {
			t.Errorf("tick-%d shown %d times: %q", i, n, fout.String())
		}
	}
	if !strings.Contains(ferr.String(), "The session ended (exited, exit code 0)") {
		t.Errorf("follow stderr %q", ferr.String())
	}
}
