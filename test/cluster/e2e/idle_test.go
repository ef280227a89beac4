package e2e

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/test/cluster/clustertest"
)

// idleStdin is how long TestStdinClosedAfterIdleMinute leaves stdin without
// a byte before closing it: past client-go's 60 s write deadline. The remote
// command keeps that silence (sleep) and says when it is over, so the test
// waits on its word, not on a clock of its own.
const idleStdin = 65 * time.Second

// TestStdinClosedAfterIdleMinute: `-i` with a pipe whose writer falls
// silent for over a minute and then closes it, as `(echo hello; sleep 65) |
// kubectl rexec -i ...` does. The command must see the end of its stdin and
// the session end with its exit status, on both protocols. client-go's
// WebSocket executor (kubectl exec -i v1.37.2) writes that close against
// the stale deadline of its last write and loses the session 61 s later
// with exit 1; rexec's own v5 client (package wsexec) does not. The
// protocols run in parallel, so the test takes about a minute.
func TestStdinClosedAfterIdleMinute(t *testing.T) {
	for _, p := range protos {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			dir := privateDir(t)
			argv := []string{"sh", "-c", fmt.Sprintf("read line; echo got-$line; sleep %d; echo idle-over; cat; echo eof; exit 6", int(idleStdin.Seconds()))}
			ctx, cancel := context.WithTimeout(context.Background(), idleStdin+90*time.Second)
			defer cancel()
			args := append([]string{"--kubeconfig", tc.AdminKubeconfig, "--record-dir", dir, "-i", defaultPod, "--"}, argv...)
			cmd := exec.CommandContext(ctx, rexecBin, args...)
			cmd.WaitDelay = 5 * time.Second
			cmd.Env = baseEnv(t, p.websocket)
			stdin, out, errb, err := clustertest.StartPiped(cmd)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(stdin, "hello\n"); err != nil {
				t.Fatal(err)
			}
			waitOutput(t, out, "got-hello", nil)
			// stdin stays silent until the command has slept idleStdin.
			waitOutputWithin(t, out, "idle-over", idleStdin+time.Minute, nil)
			_ = stdin.Close()
			err = cmd.Wait()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != 6 || out.String() != "got-hello\nidle-over\neof\n" {
				t.Fatalf("exit %d stdout %q stderr %q, want the command's exit 6 after its stdin ended", code, out.String(), errb.String())
			}
			if strings.Contains(errb.String(), "connection lost") {
				t.Errorf("stderr %q", errb.String())
			}
			rc := onlyRecording(t, res{stderr: errb.String(), recordDir: dir, recordings: recordingsIn(t, dir)})
			checkRecording(t, rc, wantRec{
				kubeconfig: tc.AdminKubeconfig, proto: p, pod: defaultPod, container: "main", argv: argv, stdin: true,
				stdout: []byte("got-hello\nidle-over\neof\n"), stderr: []byte{}, input: []byte("hello\n"), exit: 6,
			})
		})
	}
}
