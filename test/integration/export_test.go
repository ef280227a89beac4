package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testrec"
)

// exportFixture is a session with colors, stderr, a character split
// across writes and bytes that are not UTF-8.
func exportFixture(t *testing.T) string {
	t.Helper()
	path := filepath.Join(privateDir(t), "x.cast.zst")
	s := testrec.Session{
		Header: testrec.Header("alice", "prod", "default", "web", "main", time.Date(2026, 11, 27, 6, 15, 0, 0, time.UTC), "sh"),
		Steps: []testrec.Step{
			testrec.R(0, "80x24"),
			testrec.O(100*time.Millisecond, "$ "), testrec.I(time.Second, "ls\r"),
			testrec.O(1100*time.Millisecond, "ls\r\n\x1b[01;34mbin\x1b[0m caf\xc3"),
			testrec.O(1200*time.Millisecond, "\xa9 \xff\xfe raw\r\n"),
			testrec.E(1300*time.Millisecond, "an error\n"),
			testrec.M(1400*time.Millisecond, "ls"),
			testrec.O(2*time.Second, "$ "),
		},
		Exit: testrec.Code(0),
	}
	if err := testrec.File(path, s); err != nil {
		t.Fatal(err)
	}
	return path
}

// asciinemaCat runs Debian's asciinema 2.x `cat`, which wants a terminal.
func asciinemaCat(t *testing.T, cast string) []byte {
	t.Helper()
	bin, err := exec.LookPath("asciinema")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("asciinema is not installed; CI must install it (apt-get install asciinema)")
		}
		t.Skip("asciinema is not installed")
	}
	cmd := exec.Command(bin, "cat", cast)
	var out bytes.Buffer
	cmd.Stdout = &out // the pty is only its controlling terminal
	tty, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("asciinema cat: %v", err)
	}
	return out.Bytes()
}

// The v2 export plays in asciinema 2.x: `asciinema cat` writes what our
// own replay writes, stderr folded in, bytes that are not UTF-8 replaced.
func TestExportV2PlaysInAsciinema(t *testing.T) {
	rec := exportFixture(t)
	cast := filepath.Join(t.TempDir(), "x.cast")
	if out, errOut, code := replayCLI(t, nil, "export", "--format", "asciicast-v2", "-O", cast, rec); code != 0 {
		t.Fatalf("export: %d %s %s", code, out, errOut)
	}
	head, _ := os.ReadFile(cast)
	if !bytes.HasPrefix(head, []byte(`{"command":"sh","env":{"TERM":"xterm-256color"},"height":24,`)) {
		t.Errorf("v2 header: %s", head)
	}
	cmd := exec.Command(rexecBin, "replay", "--no-wait", "--raw", "-q", rec)
	var ours bytes.Buffer
	cmd.Stdout, cmd.Stderr = &ours, &ours
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	want := strings.ToValidUTF8(ours.String(), "\uFFFD")
	if got := string(asciinemaCat(t, cast)); got != want {
		t.Errorf("asciinema cat gives\n%q\nour replay\n%q", got, want)
	}
}

func TestExportV3IsTheRecordingText(t *testing.T) {
	rec := exportFixture(t)
	out, _, code := replayCLI(t, nil, "export", "--format", "asciicast-v3", rec)
	if code != 0 || !strings.HasPrefix(out, `{"version":3,`) || !strings.Contains(out, `"O","`) {
		t.Fatalf("v3: %d %q", code, out)
	}
	if zstd, err := exec.LookPath("zstd"); err == nil {
		want, err := exec.Command(zstd, "-dc", rec).Output()
		if err != nil {
			t.Fatal(err)
		}
		if out != string(want) {
			t.Errorf("export v3 differs from zstd -dc:\n%q\n%q", out, want)
		}
	}
}

func TestExportTextAndJSON(t *testing.T) {
	rec := exportFixture(t)
	out, _, code := replayCLI(t, nil, "export", "--format", "txt", rec)
	if want := "$ ls\nbin café \uFFFD\uFFFD raw\nan error\n$\n"; code != 0 || out != want {
		t.Errorf("txt: %d\n%q\nwant\n%q", code, out, want)
	}
	out, _, code = replayCLI(t, nil, "export", "--format", "json", rec)
	if code != 0 || !strings.Contains(out, `"code":"m","data":"ls"`) || !strings.Contains(out, `"base64":true`) || !strings.Contains(out, `"reason":"exited"`) {
		t.Errorf("json: %d %s", code, out)
	}
}
