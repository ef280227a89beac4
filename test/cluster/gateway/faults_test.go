package gateway

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/kubectl-rexec/kubectl-rexec/internal/tests3"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/upload"
	"github.com/kubectl-rexec/kubectl-rexec/test/cluster/clustertest"
)

// s3Gateway starts a versitygw and returns gateway options that upload to
// it, with the given storeDown rule.
func s3Gateway(t *testing.T, storeDown string) (*tests3.Server, gatewayOptions, string) {
	t.Helper()
	srv := tests3.Start(t)
	bucket := "rexec-gw-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	if len(bucket) > 60 {
		bucket = bucket[:60]
	}
	srv.CreateBucket(t, bucket, false)
	policy := fmt.Sprintf(`cluster: e2e
upload:
  url: s3://%s/gw
  endpoint: %s
  pathStyle: true
  live: true
  liveInterval: 1s
storeDown: %s
`, bucket, srv.Endpoint, storeDown)
	return srv, gatewayOptions{policy: policy, env: srv.Env(), retryEvery: "1s"}, bucket
}

// startRexec starts the plugin with a stdin pipe the test holds open, and
// returns once the remote side printed "started".
func startRexec(t *testing.T, user string, args ...string) (*exec.Cmd, io.WriteCloser, *syncBuffer, *syncBuffer, string) {
	t.Helper()
	return startRexecProto(t, user, true, args...)
}

// startRexecProto is startRexec over WebSocket (true) or SPDY.
func startRexecProto(t *testing.T, user string, websocket bool, args ...string) (*exec.Cmd, io.WriteCloser, *syncBuffer, *syncBuffer, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rec")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(rexecBin, append([]string{"--kubeconfig", users[user], "--record-dir", dir}, args...)...)
	cmd.Env = baseEnv(t, websocket)
	stdin, out, errb, err := clustertest.StartPiped(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	waitFor(t, "the remote command to start", func() bool { return strings.Contains(out.String(), "started") })
	return cmd, stdin, out, errb, dir
}

// exitOf waits for cmd and returns its exit code.
func exitOf(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatalf("waiting for rexec: %v", err)
		}
		return 0
	case <-time.After(2 * time.Minute):
		t.Fatal("rexec did not end")
		return -1
	}
}

// trailerOf waits for the recording at path to be closed and returns its
// trailer.
func trailerOf(t *testing.T, path string) *record.Trailer {
	t.Helper()
	var tr *record.Trailer
	waitFor(t, "the recording "+path+" to be closed", func() bool {
		rd, err := record.Open(path)
		if err != nil || rd == nil {
			return false
		}
		defer rd.Close()
		for {
			// The trailer is read once the events are.
			if _, err := rd.Next(); err != nil {
				break
			}
		}
		tr = rd.Trailer()
		return tr != nil
	})
	return tr
}

// TestClientGone: a client killed mid-session ends the upstream exec too,
// and the gateway's recording says why it ended.
func TestClientGone(t *testing.T) {
	showGatewayLogOnFailure(t)
	cmd, _, _, _, dir := startRexec(t, alice, "-i", target, "--", "sh", "-c", "echo started; sleep 600")
	local := onlyHeader(t, dir)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_, _ = cmd.Process.Wait()
	_, path := gatewayRecording(t, gw, local.Rexec.SessionID)
	tr := trailerOf(t, path)
	if tr.Reason != string(record.ReasonInterrupted) || !strings.Contains(tr.Message, "client closed the connection") {
		t.Errorf("trailer: reason %q, message %q; want interrupted because the client went away", tr.Reason, tr.Message)
	}
}

// showGatewayLogOnFailure prints the gateway's log if the test fails.
func showGatewayLogOnFailure(t *testing.T) {
	g := gw
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- gateway log ---\n%s", g.logText())
		}
	})
}

// TestRecordingFailsMidSession: the gateway's recordings fill their
// filesystem mid-session; the session ends at once on both sides and the
// user is told why.
func TestRecordingFailsMidSession(t *testing.T) {
	dir := smallFilesystem(t, "512k")
	withGateway(t, gatewayOptions{recordDir: dir})
	r, _ := rexecRun(t, alice, true, nil, "-q", target, "--", "sh", "-c", "head -c 20000000 /dev/urandom | od -x; echo finished")
	if r.code == 0 || strings.Contains(r.stdout, "finished") {
		t.Fatalf("exit %d with %d bytes of output (finished: %v); want the session ended by the recording failure",
			r.code, len(r.stdout), strings.Contains(r.stdout, "finished"))
	}
	if !strings.Contains(r.stderr, "recording") || !strings.Contains(r.stderr, "no space left on device") {
		t.Errorf("stderr %q; want the cause: the recording failed, no space left on device", r.stderr)
	}
}

// smallFilesystem mounts a tmpfs of the given size for the rest of the
// test: the only honest way to fill a disk. It needs root (CI has it).
func smallFilesystem(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		if clustertest.CI() {
			t.Fatal("this test mounts a tmpfs and needs root, which CI has")
		}
		t.Skip("needs root to mount a small tmpfs (CI runs it)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// TestStoreDownRefuses: with storeDown: refuse, no session starts while the
// object store cannot be reached, and the user is told so; sessions start
// again once it is back.
func TestStoreDownRefuses(t *testing.T) {
	srv, o, _ := s3Gateway(t, "refuse")
	withGateway(t, o)
	r, _ := rexecRun(t, alice, true, nil, "-q", target, "--", "echo", "up")
	if r.code != 0 || r.stdout != "up\n" {
		t.Fatalf("with the store up: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	srv.Stop()
	var last result
	waitFor(t, "a refusal that names the object store", func() bool {
		last, _ = rexecRun(t, alice, true, nil, "-q", target, "--", "echo", "should not run")
		return last.code != 0 && strings.Contains(last.stderr, "object store")
	})
	if strings.Contains(last.stdout, "should not run") || !strings.Contains(last.stderr, "not started") {
		t.Errorf("refused session: stdout %q, stderr %q", last.stdout, last.stderr)
	}
	srv.Restart(t)
	waitFor(t, "sessions to start again with the store back", func() bool {
		last, _ = rexecRun(t, alice, true, nil, "-q", target, "--", "echo", "back")
		return last.code == 0 && last.stdout == "back\n"
	})
}

// TestStoreDownQueues: with storeDown: queue, sessions go on while the
// store is down, and their recordings are uploaded once it is back.
func TestStoreDownQueues(t *testing.T) {
	srv, o, bucket := s3Gateway(t, "queue")
	g := withGateway(t, o)
	srv.Stop()
	r, dir := rexecRun(t, alice, true, nil, "-q", target, "--", "echo", "queued")
	if r.code != 0 || r.stdout != "queued\n" {
		t.Fatalf("with the store down: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	h, _ := gatewayRecording(t, g, onlyHeader(t, dir).Rexec.SessionID)
	srv.Restart(t)
	key := upload.Key("gw", h)
	waitObject(t, srv, bucket, key)
	// The plugin's reading commands take the gateway's recordings from the
	// store like any other.
	env := append(baseEnv(t, true), srv.Env()...)
	ls := runCmd(t, env, nil, rexecBin, "ls", "-o", "wide", "s3://"+bucket+"/gw")
	if ls.code != 0 || !strings.Contains(ls.stdout, alice) || !strings.Contains(ls.stdout, "complete") {
		t.Errorf("ls s3://%s/gw: exit %d, %q %q", bucket, ls.code, ls.stdout, ls.stderr)
	}
	v := runCmd(t, env, nil, rexecBin, "verify", "--pub", gatewayPublicKey(t), "s3://"+bucket+"/"+key)
	if v.code != 0 || !strings.Contains(v.stdout, "OK (signed by") {
		t.Errorf("verify s3://...: exit %d, %q %q", v.code, v.stdout, v.stderr)
	}
}

// TestDrain: SIGTERM drains: the running session goes on to its end, new
// sessions are refused with a word saying why, and the gateway exits once
// the session is over.
func TestDrain(t *testing.T) {
	g := withGateway(t, gatewayOptions{})
	cmd, stdin, out, _, _ := startRexec(t, alice, "-i", target, "--", "sh", "-c", "echo started; cat")
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var last result
	waitFor(t, "new sessions to be refused while draining", func() bool {
		last, _ = rexecRun(t, alice, true, nil, "-q", target, "--", "echo", "should not run")
		return last.code != 0 && strings.Contains(last.stderr, "shutting down")
	})
	if _, err := io.WriteString(stdin, "still here\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the running session to go on", func() bool { return strings.Contains(out.String(), "still here") })
	stdin.Close()
	if code := exitOf(t, cmd); code != 0 {
		t.Errorf("the drained session exited %d, want 0", code)
	}
	select {
	case <-g.done:
	case <-time.After(30 * time.Second):
		t.Errorf("the gateway did not exit once its last session ended")
	}
}

// waitObject waits until the store holds key.
func waitObject(t *testing.T, srv *tests3.Server, bucket, key string) []byte {
	t.Helper()
	var body []byte
	waitFor(t, "s3://"+bucket+"/"+key, func() bool {
		out, err := srv.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			return false
		}
		defer out.Body.Close()
		body, err = io.ReadAll(out.Body)
		return err == nil
	})
	return body
}

// TestGatewayKilled: kill -9 of the gateway mid-session. The user gets an
// error that names the gateway; the recording on the gateway's volume is
// readable and ends "abrupt"; the restarted gateway uploads it.
func TestGatewayKilled(t *testing.T) {
	srv, o, bucket := s3Gateway(t, "queue")
	g := withGateway(t, o)
	cmd, stdin, _, errb, dir := startRexec(t, alice, "-i", target, "--", "sh", "-c", "echo started; cat")
	defer stdin.Close()
	h, path := gatewayRecording(t, g, onlyHeader(t, dir).Rexec.SessionID)
	// The recorder flushes once a second: a kill loses at most that.
	// Kill once the output is in the file, to check it survives.
	waitFor(t, "the session's output in the gateway's recording", func() bool { return hasOutput(t, path, "started") })
	g.kill()
	if code := exitOf(t, cmd); code == 0 {
		t.Errorf("rexec exited 0 after the gateway was killed")
	}
	if !strings.Contains(errb.String(), "rexec gateway") {
		t.Errorf("stderr %q; want an error naming the rexec gateway", errb.String())
	}
	v := runCmd(t, baseEnv(t, true), nil, rexecBin, "verify", path)
	if v.code != 2 || !strings.Contains(v.stdout, "ABRUPT") {
		t.Errorf("verify of the killed gateway's recording: exit %d, %q %q; want ABRUPT (2)", v.code, v.stdout, v.stderr)
	}
	// The same volume, a new process: it uploads what the dead one left.
	restartGateway(t, gatewayOptions{policy: o.policy, env: o.env, recordDir: g.recordDir, spoolDir: g.spoolDir})
	body := waitObject(t, srv, bucket, upload.Key("gw", h))
	local, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != string(local) {
		t.Errorf("uploaded object (%d bytes) differs from the recording (%d bytes)", len(body), len(local))
	}
	if !hasOutput(t, path, "started") {
		t.Errorf("the abrupt recording lost the session's output")
	}
}

// hasOutput says whether the recording at path (complete or not) holds
// want in its stdout.
func hasOutput(t *testing.T, path, want string) bool {
	t.Helper()
	rd, err := record.Open(path)
	if rd == nil {
		_ = err
		return false
	}
	defer rd.Close()
	var out strings.Builder
	for {
		ev, err := rd.Next()
		if err != nil {
			break
		}
		if ev.Code == 'o' {
			out.Write(ev.Data)
		}
	}
	return strings.Contains(out.String(), want)
}

// TestGatewayDown: with the APIService installed and no gateway behind it,
// the plugin says so instead of trying a plain exec the policy refuses.
func TestGatewayDown(t *testing.T) {
	gw.stop()
	defer restartGateway(t, gatewayOptions{})
	var last result
	waitFor(t, "the plugin to report the gateway down", func() bool {
		last, _ = rexecRun(t, alice, true, nil, "-q", target, "--", "echo", "should not run")
		return last.code != 0 && strings.Contains(last.stderr, "rexec gateway is installed in this cluster but does not answer")
	})
	if strings.Contains(last.stdout, "should not run") || !strings.Contains(last.stderr, "kubectl -n rexec-system get pods") {
		t.Errorf("stdout %q, stderr %q", last.stdout, last.stderr)
	}
}

// idleFor is how long TestIdleSession leaves a session without a byte:
// past client-go's WebSocket heartbeat deadline (12 pings 5s apart, plus
// a second), so that a gateway which does not answer pings fails it. The
// remote command keeps that silence (sleep) and then says so: the test
// waits on its word, not on a clock of its own.
const idleFor = 70 * time.Second

// TestIdleSession: a session that moves no byte for over a minute, as an
// open shell does while its user reads, is still there afterwards, on
// both client protocols. Then either the user types (a line after the idle
// time) or the user's stdin ends (closed more than a minute after its last
// byte, which client-go's WebSocket executor could not do: package wsexec).
// Both legs are under test: the client's and the gateway's own upstream.
func TestIdleSession(t *testing.T) {
	showGatewayLogOnFailure(t)
	for _, p := range protos {
		for _, end := range []string{"type", "close"} {
			t.Run(p.name+"/"+end, func(t *testing.T) {
				t.Parallel()
				idle := fmt.Sprintf("sleep %d; echo idle-over", int(idleFor.Seconds()))
				script := "echo started; " + idle + "; read line; echo got-$line"
				if end == "close" {
					script = "echo started; read line; echo got-$line; " + idle + "; cat; echo eof"
				}
				cmd, stdin, out, errb, dir := startRexecProto(t, alice, p.websocket, "-i", target, "--", "sh", "-c", script)
				// The client's own protocol, which the heartbeat belongs to.
				if got := onlyHeader(t, dir).Rexec.Protocol; strings.Contains(got, "websocket") != p.websocket {
					t.Fatalf("the client spoke %q", got)
				}
				want := "got-hello"
				if end == "close" {
					// The last byte of stdin, before the idle time.
					if _, err := io.WriteString(stdin, "hello\n"); err != nil {
						t.Fatal(err)
					}
					waitFor(t, "the answer before the idle time", func() bool { return strings.Contains(out.String(), "got-hello") })
					want = "eof"
				}
				// No byte either way until the command has slept idleFor.
				waitForWithin(t, "the end of the idle time", idleFor+time.Minute, func() bool { return strings.Contains(out.String(), "idle-over") })
				if end == "type" {
					if _, err := io.WriteString(stdin, "hello\n"); err != nil {
						t.Fatalf("writing after %v idle: %v; stderr %q", idleFor, err, errb.String())
					}
				}
				_ = stdin.Close()
				if code := exitOf(t, cmd); code != 0 || !strings.Contains(out.String(), want) {
					t.Errorf("exit %d, stdout %q after %v idle, want 0 and %s; stderr %q", code, out.String(), idleFor, want, errb.String())
				}
			})
		}
	}
}
