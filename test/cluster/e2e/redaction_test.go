package e2e

import (
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// typedSecrets are typed at prompts that do not echo.
var typedSecrets = []string{"e2e-hunter2", "e2e-stty-pw", "e2e-sudo-pw"}

// TestTypedSecretsNotRecorded: through the real API server and kubelet
// path, an interactive shell (busybox ash, the sandbox's) gets secrets at read -s, at a passwd-style
// prompt (stty -echo; read) and at a sudo-style prompt. None of them is in
// the recording, its grep --input or replay --show-input; the ordinary
// commands typed around them are.
func TestTypedSecretsNotRecorded(t *testing.T) {
	eachProto(t, func(t *testing.T, p proto) {
		dir := privateDir(t)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, rexecBin, "--kubeconfig", tc.AdminKubeconfig, "--record-dir", dir,
			"-it", defaultPod, "--", "env", "PS1=$ ", "sh", "-i")
		cmd.WaitDelay = 5 * time.Second
		cmd.Env = append(baseEnv(t, p.websocket), "TERM=xterm")
		ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 100})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = ptmx.Close() }()
		var screen syncBuffer
		drained := make(chan struct{}) // the pty reached its end: all output is in screen
		go func() { _, _ = io.Copy(&screen, ptmx); close(drained) }()
		write := func(s string) {
			if _, err := ptmx.Write([]byte(s)); err != nil {
				t.Fatal(err)
			}
		}
		// Ordinary typing: each key once the previous one came back.
		typeEchoed := func(s string) {
			for _, k := range s {
				before := strings.Count(screen.String(), string(k))
				write(string(k))
				deadline := time.Now().Add(20 * time.Second)
				for strings.Count(screen.String(), string(k)) <= before {
					if time.Now().After(deadline) {
						t.Fatalf("no echo of %q; screen %q", k, clip(screen.String()))
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			write("\r")
		}
		// A secret: keys at a person's pace, nothing comes back.
		typeBlind := func(s string) {
			for _, k := range s {
				write(string(k))
				time.Sleep(30 * time.Millisecond)
			}
			write("\r")
		}
		waitOutput(t, &screen, "$ ", nil)
		typeEchoed("echo e2e-visible-one")
		waitOutput(t, &screen, "e2e-visible-one\r\n", nil)
		typeEchoed(`printf 'ready\n'; read -s a; echo "a=${#a}"`)
		waitOutput(t, &screen, "ready\r\n", nil)
		typeBlind(typedSecrets[0])
		waitOutput(t, &screen, "a=11", nil)
		typeEchoed(`printf 'New password: '; stty -echo; read b; stty echo; echo; echo "b=${#b}"`)
		waitOutput(t, &screen, "New password: ", nil)
		typeBlind(typedSecrets[1])
		waitOutput(t, &screen, "b=11", nil)
		typeEchoed(`printf '[sudo] password for admin: '; read -s c; echo; echo "c=${#c}"`)
		waitOutput(t, &screen, "[sudo] password for admin: ", nil)
		typeBlind(typedSecrets[2])
		waitOutput(t, &screen, "c=11", nil)
		typeEchoed("echo e2e-visible-two")
		waitOutput(t, &screen, "e2e-visible-two\r\n", nil)
		typeEchoed("exit 0")
		if err := cmd.Wait(); err != nil {
			t.Fatalf("rexec: %v; screen %q", err, clip(screen.String()))
		}
		// The last lines (the recording's path) may still be in the pty.
		select {
		case <-drained:
		case <-ctx.Done():
			t.Fatalf("the pty never reached its end; screen %q", clip(screen.String()))
		}

		rc := onlyRecording(t, res{stderr: screen.String(), recordDir: dir, recordings: recordingsIn(t, dir)})
		if rc.header.Rexec.InputRedaction != record.InputRedactionUnechoed {
			t.Errorf("header input_redaction %q", rc.header.Rexec.InputRedaction)
		}
		redacted := 0
		for _, ev := range rc.events {
			redacted += ev.Redacted
		}
		if redacted < 3*11 {
			t.Errorf("%d bytes recorded as their length only, want at least 33", redacted)
		}
		typed := string(rc.streams['i'])
		for _, want := range []string{"echo e2e-visible-one", "echo e2e-visible-two", `read -s a; echo "a=${#a}"`} {
			if !strings.Contains(typed, want) {
				t.Errorf("ordinary input %q is not recorded: %q", want, typed)
			}
		}
		text, _ := rexecOut(t, "export", "--format", "asciicast-v3", rc.path)
		showInput, _ := rexecOut(t, "replay", "--no-wait", "--show-input", rc.path)
		for _, s := range typedSecrets {
			if strings.Contains(text, s) || strings.Contains(typed, s) || strings.Contains(showInput, s) {
				t.Errorf("the secret %q is in the recording", s)
			}
			if out, code := rexecOut(t, "grep", "--input", s, rc.path); code != 1 {
				t.Errorf("grep --input %s: exit %d: %s", s, code, out)
			}
		}
		if out, code := rexecOut(t, "grep", "--input", "e2e-visible-two", rc.path); code != 0 || !strings.Contains(out, "echo e2e-visible-two") {
			t.Errorf("grep --input does not find an ordinary command: %d %s", code, out)
		}
	})
}

// rexecOut runs a reading subcommand and returns its stdout and exit code.
func rexecOut(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(rexecBin, args...).Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return string(out), code
}
