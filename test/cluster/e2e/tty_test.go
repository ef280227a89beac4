package e2e

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/kubectl-rexec/kubectl-rexec/test/cluster/clustertest"
)

// ttyScript prints the remote terminal and its size, then the size again on
// every line read, and exits 4 on "q".
const ttyScript = `tty; stty size; while read l; do stty size; [ "$l" = q ] && exit 4; done`

// syncBuffer collects output while the test reads it.
type syncBuffer = clustertest.SyncBuffer

func waitOutput(t *testing.T, b *syncBuffer, want string, poke func()) {
	t.Helper()
	waitOutputWithin(t, b, want, time.Minute, poke)
}

// waitOutputWithin is waitOutput for output that comes later than a minute
// (a remote command that first holds the session silent).
func waitOutputWithin(t *testing.T, b *syncBuffer, want string, bound time.Duration, poke func()) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %q; screen so far %q", want, b.String())
		}
		if poke != nil {
			poke()
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ttySession runs bin with args on a pty of its own (30x100), resizes it to
// 50x120 once the first size shows, and quits the script. It returns the
// whole screen and the exit code.
func ttySession(t *testing.T, p proto, bin string, args []string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(baseEnv(t, p.websocket), "TERM=xterm")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 100})
	if err != nil {
		t.Fatalf("starting %s on a pty: %v", bin, err)
	}
	defer func() { _ = ptmx.Close() }()
	var screen syncBuffer
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(&screen, ptmx) // ends with EIO once the process is gone
	}()

	waitOutput(t, &screen, "30 100", nil)
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 50, Cols: 120}); err != nil {
		t.Fatalf("resizing: %v", err)
	}
	// The resize and the keystrokes travel on different streams: press
	// Enter until the new size shows.
	waitOutput(t, &screen, "50 120", func() { _, _ = ptmx.Write([]byte("\r")) })
	_, _ = ptmx.Write([]byte("q\r"))
	err = cmd.Wait()
	select {
	case <-copied:
	case <-time.After(30 * time.Second):
		t.Errorf("the pty did not reach EOF after %s exited", bin)
	}
	code := 0
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		code = ee.ExitCode()
	default:
		t.Fatalf("%s: %v; screen %q", bin, err, screen.String())
	}
	return screen.String(), code
}

// TestTTY: `-it` on a real pty with a resize. The screens of the two tools
// cannot be byte-identical (how many Enters it took to see the resize
// varies), so both must show a remote tty, both sizes and the exit code; the
// recording must hold both sizes as r events and replay to the screen.
func TestTTY(t *testing.T) {
	eachProto(t, func(t *testing.T, p proto) {
		argv := []string{"sh", "-c", ttyScript}
		kScreen, kCode := ttySession(t, p, tc.Kubectl(),
			append([]string{"--kubeconfig", tc.AdminKubeconfig, "exec", "-it", defaultPod, "--"}, argv...))
		dir := privateDir(t)
		rScreen, rCode := ttySession(t, p, rexecBin,
			append([]string{"--kubeconfig", tc.AdminKubeconfig, "--record-dir", dir, "-it", defaultPod, "--"}, argv...))
		t.Logf("kubectl screen %q", clip(kScreen))
		t.Logf("rexec screen   %q", clip(rScreen))
		if kCode != 4 || rCode != 4 {
			t.Errorf("exit codes: kubectl %d, rexec %d; want 4", kCode, rCode)
		}
		for _, s := range []struct{ tool, screen string }{{"kubectl", kScreen}, {"rexec", rScreen}} {
			for _, want := range []string{"/dev/pts/", "30 100\r\n", "50 120\r\n", "command terminated with exit code 4\r\n"} {
				if !strings.Contains(s.screen, want) {
					t.Errorf("%s's screen lacks %q", s.tool, want)
				}
			}
		}
		if !strings.Contains(rScreen, "\r\n"+recordedPrefix) {
			t.Errorf("rexec's screen lacks its %q line", recordedPrefix)
		}

		r := res{stderr: rScreen, recordDir: dir, recordings: recordingsIn(t, dir)}
		rc := onlyRecording(t, r)
		checkRecording(t, rc, wantRec{
			kubeconfig: tc.AdminKubeconfig, proto: p, pod: defaultPod, container: "main", argv: argv,
			tty: true, stdin: true, stderr: []byte{}, exit: 4,
		})
		if h := rc.header.Term; h.Cols != 100 || h.Rows != 30 || h.Type != "xterm" {
			t.Errorf("header term %+v, want 100x30 xterm", h)
		}
		if len(rc.resizes) < 2 || rc.resizes[0] != "100x30" || !slices.Contains(rc.resizes, "120x50") {
			t.Errorf("r events %q, want 100x30 first, then 120x50", rc.resizes)
		}
		in := string(rc.streams['i'])
		if !strings.HasSuffix(in, "q\r") || strings.Trim(in, "\r") != "q" {
			t.Errorf("recorded input %q, want Enters and q Enter", in)
		}
		// What the session showed is the screen up to rexec's own closing
		// lines, printed after the terminal left raw mode.
		out, errOut := replay(t, rc.path)
		if errOut != "" {
			t.Errorf("replay of a tty session wrote stderr %q", errOut)
		}
		if out != string(rc.streams['o']) {
			t.Errorf("replay stdout differs from the recorded o stream")
		}
		session, tail, ok := strings.Cut(rScreen, recordedPrefix)
		if !ok || session != out {
			t.Errorf("replay %q is not the screen before %q: %q", clip(out), recordedPrefix, clip(session))
		}
		if _, after, _ := strings.Cut(tail, "\r\n"); after != "command terminated with exit code 4\r\n" {
			t.Errorf("after the recorded line the screen shows %q", after)
		}
		if !strings.HasSuffix(kScreen, "\r\ncommand terminated with exit code 4\r\n") {
			t.Errorf("kubectl's screen does not end with its exit message: %q", clip(kScreen))
		}
	})
}
