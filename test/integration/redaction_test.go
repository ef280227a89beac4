package integration

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/klauspost/compress/zstd"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testserver"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// The secrets typed in secretSession, each at a prompt that does not echo.
var secrets = []string{"hunter2-read-s", "s3cr3t-stty", "sudo-pa55", "pasted-secret"}

// ttyDriver types into kubectl-rexec running on a pseudo-terminal.
type ttyDriver struct {
	t      *testing.T
	ptmx   *os.File
	screen *syncBuffer
}

// typeEchoed types s key by key, each once the previous one came back.
func (d *ttyDriver) typeEchoed(s string) {
	d.t.Helper()
	for _, k := range s {
		before := strings.Count(d.screen.String(), string(k))
		d.write(string(k))
		waitFor(d.t, "the echo of "+string(k), func() bool { return strings.Count(d.screen.String(), string(k)) > before })
	}
}

// typeBlind types s key by key at a person's pace: nothing comes back.
func (d *ttyDriver) typeBlind(s string) {
	for _, k := range s {
		d.write(string(k))
		time.Sleep(30 * time.Millisecond)
	}
}

func (d *ttyDriver) write(s string) {
	d.t.Helper()
	if _, err := d.ptmx.Write([]byte(s)); err != nil {
		d.t.Fatal(err)
	}
}

func (d *ttyDriver) waitScreen(want string) {
	d.t.Helper()
	waitFor(d.t, want, func() bool { return strings.Contains(d.screen.String(), want) })
}

// secretSession runs an interactive bash through kubectl-rexec and types,
// besides ordinary commands, a secret at each kind of silent prompt: read
// -s, stty -echo (as passwd does), a sudo-style prompt, and a secret pasted
// in one piece.
// With short set, only the read -s secret is typed.
func secretSession(t *testing.T, kc string, env []string, short bool, flags ...string) string {
	t.Helper()
	dir := privateDir(t)
	args := append([]string{"--kubeconfig", kc, "--record-dir", dir}, flags...)
	args = append(args, "-it", "demo", "--", "env", "PS1=$ ", "bash", "--norc", "--noprofile", "-i")
	cmd := exec.Command(rexecBin, args...)
	cmd.Env = append(os.Environ(), env...)
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	d := &ttyDriver{t: t, ptmx: ptmx, screen: &syncBuffer{}}
	go func() { _, _ = io.Copy(d.screen, ptmx) }()
	d.waitScreen("$ ")

	d.typeEchoed("echo visible-command-one")
	d.write("\r")
	d.waitScreen("visible-command-one\r\n")

	d.typeEchoed(`read -s p; echo "len=${#p}"`)
	d.write("\r")
	time.Sleep(200 * time.Millisecond) // bash runs read and turns echo off
	d.typeBlind(secrets[0])
	d.write("\r")
	d.waitScreen("len=14")
	if short {
		d.typeEchoed("exit")
		d.write("\r")
		return d.finish(done, dir)
	}

	d.typeEchoed(`stty -echo; read q; stty echo; echo "q=${#q}"`)
	d.write("\r")
	time.Sleep(200 * time.Millisecond)
	d.typeBlind(secrets[1])
	d.write("\r")
	d.waitScreen("q=11")

	d.typeEchoed(`printf '[sudo] password for al: '; read -s r; echo; echo "r=${#r}"`)
	d.write("\r")
	d.waitScreen("[sudo] password for al: ")
	d.typeBlind(secrets[2])
	d.write("\r")
	d.waitScreen("r=9")

	d.typeEchoed(`read -s v; echo "v=${#v}"`)
	d.write("\r")
	time.Sleep(200 * time.Millisecond)
	d.write(secrets[3] + "\r")
	d.waitScreen("v=13")

	d.typeEchoed("echo visible-command-two")
	d.write("\r")
	d.waitScreen("visible-command-two\r\n")
	d.typeEchoed("exit")
	d.write("\r")
	return d.finish(done, dir)
}

// finish waits for kubectl-rexec to exit and returns its recording.
func (d *ttyDriver) finish(done <-chan error, dir string) string {
	d.t.Helper()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		d.t.Fatalf("kubectl-rexec did not exit; the screen shows:\n%s", d.screen.String())
	}
	return onlyFile(d.t, dir)
}

func onlyFile(t *testing.T, dir string) string {
	t.Helper()
	s := &started{dir: dir}
	return s.recording(t)
}

// recordingText is the recording decompressed: what zstd -dc gives.
func recordingText(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := zstd.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	text, err := io.ReadAll(dec)
	if err != nil {
		t.Fatal(err)
	}
	return string(text)
}

func cli(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(rexecBin, args...).CombinedOutput()
	return string(out), exitCode(t, err)
}

// A secret typed at a prompt that does not echo is not in the recording:
// not in its text, not in grep --input, not in replay --show-input, not in
// the command labels. Its length and time are (H events), the header says
// so, and ordinary typing is recorded in full.
func TestTypedSecretsAreNotKept(t *testing.T) {
	_, kc := cluster(t, testserver.Options{})
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			rec := secretSession(t, kc, p.env, false)
			text := recordingText(t, rec)
			for _, s := range secrets {
				if strings.Contains(text, s) {
					t.Errorf("the recording holds the secret %q", s)
				}
			}
			h, streams, events, tr, err := readAll(t, rec)
			if err != nil || tr == nil {
				t.Fatalf("read: %v", err)
			}
			if h.Rexec.InputRedaction != record.InputRedactionUnechoed || !strings.Contains(text, `"input_redaction":"unechoed"`) {
				t.Errorf("header: input_redaction %q", h.Rexec.InputRedaction)
			}
			redacted := 0
			for _, ev := range events {
				redacted += ev.Redacted
			}
			want := 0
			for _, s := range secrets {
				want += len(s)
			}
			if redacted < want {
				t.Errorf("%d bytes recorded as redacted, want at least the secrets' %d", redacted, want)
			}
			for _, cmd := range []string{"echo visible-command-one", "echo visible-command-two", `read -s p; echo "len=${#p}"`} {
				if !strings.Contains(string(streams['i']), cmd) {
					t.Errorf("the ordinary command %q is not in the recorded input %q", cmd, streams['i'])
				}
			}
			out, code := cli(t, "grep", "--input", "visible-command-one", rec)
			if code != 0 || !strings.Contains(out, "echo visible-command-one") {
				t.Errorf("grep --input finds no ordinary command (exit %d): %s", code, out)
			}
			for _, s := range secrets {
				if out, code := cli(t, "grep", "--input", s, rec); code != 1 {
					t.Errorf("grep --input %s: exit %d, want 1 (nothing): %s", s, code, out)
				}
			}
			out, code = cli(t, "replay", "--no-wait", "--show-input", rec)
			for _, s := range secrets {
				if code != 0 || strings.Contains(out, s) {
					t.Errorf("replay --show-input (exit %d) shows the secret %q", code, s)
				}
			}
			out, _ = cli(t, "replay", "--commands", rec)
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("a command label holds the secret %q:\n%s", s, out)
				}
			}
			if !strings.Contains(out, "echo visible-command-two") {
				t.Errorf("commands:\n%s", out)
			}
			// Intact (unsigned: CONSISTENT, exit 6).
			if out, code := cli(t, "verify", rec); code != 6 || !strings.Contains(out, ": CONSISTENT (unsigned: not authenticated)") {
				t.Errorf("verify: %d %s", code, out)
			}
		})
	}
}

// --record-unechoed-input records them after all, and says nothing in the
// header; a config file can forbid that flag.
func TestRecordUnechoedInputOptOut(t *testing.T) {
	_, kc := cluster(t, testserver.Options{})
	env := noConfig(t)
	rec := secretSession(t, kc, env, true, "--record-unechoed-input")
	h, _, _, _, err := readAll(t, rec)
	if err != nil {
		t.Fatal(err)
	}
	if h.Rexec.InputRedaction != "" {
		t.Errorf("input_redaction %q with --record-unechoed-input", h.Rexec.InputRedaction)
	}
	if out, code := cli(t, "grep", "--input", secrets[0], rec); code != 0 {
		t.Errorf("grep --input of an opted-out recording: %d %s", code, out)
	}

	env, _ = configHome(t, "allowUnechoedInput: false\n")
	r := runCLI(t, env, "--kubeconfig", kc, "--record-dir", privateDir(t), "--record-unechoed-input", "-i", "demo", "--", "true")
	if r.code == 0 || !strings.Contains(r.stderr, "--record-unechoed-input is not permitted") {
		t.Errorf("forbidden flag: exit %d, stderr %q", r.code, r.stderr)
	}
}
