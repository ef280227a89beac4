package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// ownHAProxy is a second HAProxy in front of the shared apiserver, started
// by the test so it can be killed without touching the package's proxy.
type ownHAProxy struct {
	cmd        *exec.Cmd
	addr       string // 127.0.0.1:PORT
	kubeconfig string // the admin kubeconfig pointed at addr
}

// startOwnHAProxy starts Debian's HAProxy in TCP mode with the given tunnel
// timeout. The cluster package starts its HAProxy privately, so this one is
// configured here.
func startOwnHAProxy(t *testing.T, tunnel time.Duration) *ownHAProxy {
	t.Helper()
	needHAProxy(t)
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		bin = "/usr/sbin/haproxy"
	}
	port := freePort(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global
	maxconn 200
defaults
	mode tcp
	timeout connect 5s
	timeout client 1m
	timeout server 1m
	timeout tunnel %dms
frontend fe
	bind 127.0.0.1:%s
	default_backend be
backend be
	server apiserver 127.0.0.1:%d
`, tunnel.Milliseconds(), port, tc.Ports.APIServer)
	cfgFile := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	h := &ownHAProxy{addr: "127.0.0.1:" + port}
	h.cmd = exec.Command(bin, "-db", "-f", cfgFile)
	logf, err := os.Create(filepath.Join(dir, "haproxy.log"))
	if err != nil {
		t.Fatal(err)
	}
	h.cmd.Stdout, h.cmd.Stderr = logf, logf
	if err := h.cmd.Start(); err != nil {
		t.Fatalf("starting haproxy: %v", err)
	}
	t.Cleanup(func() { h.kill(); _ = logf.Close() })

	// The package's proxy kubeconfig (admin credentials, the apiserver's CA,
	// whose certificate names 127.0.0.1) with this proxy's address.
	b, err := os.ReadFile(tc.ProxyKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), tc.ProxyServer) {
		t.Fatalf("%s does not name %s", tc.ProxyKubeconfig, tc.ProxyServer)
	}
	h.kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(h.kubeconfig, []byte(strings.ReplaceAll(string(b), tc.ProxyServer, "https://"+h.addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := net.DialTimeout("tcp", h.addr, time.Second)
		if err == nil {
			_ = c.Close()
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy did not listen on %s: %v", h.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill ends HAProxy with SIGKILL, as a crash or an OOM kill would: the
// kernel closes its sockets, no goodbye on either side.
func (h *ownHAProxy) kill() {
	if h.cmd.ProcessState != nil {
		return
	}
	_ = h.cmd.Process.Signal(syscall.SIGKILL)
	_ = h.cmd.Wait()
}

// TestHAProxyKilledMidSession: the proxy between rexec and the apiserver
// dies while a command runs. rexec must exit non-zero within its ping
// deadline with a "connection lost" error, keep what was printed before the
// cut, and finalise the recording with reason connection lost and no exit
// code. Then doctor, pointed at the dead proxy's address (an apiserver that
// is down, as the client sees it), names reachability as the broken hop.
// The package's shared apiserver is not stopped: the other tests use it.
func TestHAProxyKilledMidSession(t *testing.T) {
	eachProto(t, func(t *testing.T, p proto) {
		h := startOwnHAProxy(t, time.Minute) // only the kill may end the session
		// Both protocols ping at the interval rexec sets. The deadline is
		// one interval and some slack.
		ping := time.Second
		args := []string{"--kubeconfig", h.kubeconfig, "--record-dir", privateDir(t), "--ping-interval", ping.String()}
		dir := args[3]
		args = append(args, defaultPod, "--", "sh", "-c", "echo started; sleep 30; echo done")

		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, rexecBin, args...)
		cmd.WaitDelay = 5 * time.Second
		cmd.Env = baseEnv(t, p.websocket)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(out)
		first, err := br.ReadString('\n')
		if first != "started\n" {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("first output %q (%v), stderr %q", first, err, stderr.String())
		}
		killed := time.Now()
		h.kill()
		rest, _ := io.ReadAll(br)
		err = cmd.Wait()
		took := time.Since(killed)
		if ctx.Err() != nil {
			t.Fatalf("rexec hung after the proxy was killed; stderr %q", stderr.String())
		}
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		t.Logf("rexec: exit %d %v after the kill, stdout after the cut %q, stderr %q", code, took.Round(time.Millisecond), rest, stderr.String())
		if code == 0 {
			t.Errorf("rexec exited 0 for a session whose proxy was killed")
		}
		if len(rest) != 0 {
			t.Errorf("stdout after the kill %q: the command cannot have finished", rest)
		}
		if !strings.Contains(stderr.String(), "error: connection lost: ") {
			t.Errorf("stderr %q lacks a named connection lost error", stderr.String())
		}
		if took > ping+2*time.Second {
			t.Errorf("rexec took %v after the kill: want it named within the ping deadline (%v + 2s)", took, ping)
		}

		r := res{stderr: stderr.String(), recordDir: dir, recordings: recordingsIn(t, dir)}
		rc := onlyRecording(t, r)
		if rc.header.Rexec.Protocol != p.header {
			t.Errorf("header protocol %q, want %q", rc.header.Rexec.Protocol, p.header)
		}
		tr := rc.trailer
		t.Logf("trailer: reason %q, exit %s, message %q", tr.Reason, deref(tr.ExitCode), tr.Message)
		if tr.Reason != string(record.ReasonConnectionLost) || tr.ExitCode != nil {
			t.Errorf("trailer reason %q exit %s, want %q and no exit code", tr.Reason, deref(tr.ExitCode), record.ReasonConnectionLost)
		}
		if !strings.Contains(tr.Message, "connection lost") {
			t.Errorf("trailer message %q does not say connection lost", tr.Message)
		}
		if len(rc.exits) != 0 {
			t.Errorf("x events %q in a cut session", rc.exits)
		}
		if got := string(rc.streams['o']); got != "started\n" {
			t.Errorf("recorded stdout %q, want what was printed before the cut", got)
		}

		// The apiserver's address, as this client knows it, is now dead.
		d := runCmd(t, "kubectl-rexec doctor", rexecBin, []string{"doctor", "--kubeconfig", h.kubeconfig, defaultPod},
			inv{websocket: p.websocket, timeout: 30 * time.Second})
		t.Logf("doctor: exit %d in %v\n%s%s", d.code, d.took.Round(time.Millisecond), d.stdout, d.stderr)
		if d.code != 1 || d.took > 10*time.Second {
			t.Errorf("doctor exit %d in %v, want 1 quickly", d.code, d.took)
		}
		for _, want := range []string{"reachability", "✗ tcp", "connection refused", "✗ first broken hop: the network path to " + h.addr} {
			if !strings.Contains(d.stdout, want) {
				t.Errorf("doctor report lacks %q", want)
			}
		}
	})
}

// TestPingIntervalBridgesTunnelTimeout: the package's HAProxy cuts a tunnel
// idle for 3 s, which client-go's 5 s pings do not bridge (see
// TestHAProxyTunnelTimeout). With --ping-interval 1s the same silent
// session stays alive through the proxy to the command's own exit, on
// both protocols (WebSocket through rexec's own v5 client, pkg/wsexec).
func TestPingIntervalBridgesTunnelTimeout(t *testing.T) {
	needHAProxy(t)
	eachProto(t, func(t *testing.T, p proto) {
		argv := []string{"sh", "-c", "sleep 7; echo done; exit 3"}
		r := rexec(t, inv{kubeconfig: tc.ProxyKubeconfig, websocket: p.websocket, timeout: 45 * time.Second,
			args: append([]string{"--ping-interval", "1s", defaultPod, "--"}, argv...)})
		t.Logf("rexec: exit %d in %v, stdout %q, stderr %q", r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
		if r.code != 3 || r.stdout != "done\n" {
			t.Fatalf("exit %d stdout %q: want the command's exit 3 and its output, the pings bridging HAProxy's %v tunnel timeout", r.code, r.stdout, tunnelTimeout)
		}
		if r.took < 7*time.Second {
			t.Errorf("took %v, less than the command's sleep", r.took)
		}
		rc := onlyRecording(t, r)
		checkRecording(t, rc, wantRec{
			kubeconfig: tc.ProxyKubeconfig, proto: p, pod: defaultPod, container: "main", argv: argv,
			stdout: []byte("done\n"), exit: 3,
		})
	})
}

// TestIdleMinuteSurvivesLongerTunnelTimeout: behind a proxy whose tunnel
// timeout (10 s) is longer than client-go's 5 s ping interval, a session
// silent for a whole minute is not cut, on either protocol. The protocols
// run in parallel, so the test takes about a minute, not two.
func TestIdleMinuteSurvivesLongerTunnelTimeout(t *testing.T) {
	needHAProxy(t)
	for _, p := range protos {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			h := startOwnHAProxy(t, 10*time.Second)
			argv := []string{"sh", "-c", "sleep 60; echo done; exit 5"}
			r := rexec(t, inv{kubeconfig: h.kubeconfig, websocket: p.websocket, timeout: 90 * time.Second,
				args: append([]string{defaultPod, "--"}, argv...)})
			t.Logf("rexec: exit %d in %v, stdout %q, stderr %q", r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
			if r.code != 5 || r.stdout != "done\n" {
				t.Fatalf("exit %d stdout %q: want the command's exit 5 after an idle minute", r.code, r.stdout)
			}
			rc := onlyRecording(t, r)
			if tr := rc.trailer; tr.Reason != string(record.ReasonExited) || tr.ExitCode == nil || *tr.ExitCode != 5 {
				t.Errorf("trailer reason %q exit %s, want exited 5", tr.Reason, deref(tr.ExitCode))
			}
			if got := string(rc.streams['o']); got != "done\n" {
				t.Errorf("recorded stdout %q", got)
			}
		})
	}
}
