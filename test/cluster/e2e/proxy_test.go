package e2e

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// needHAProxy skips without HAProxy, except in CI where TestMain has
// already failed the run for it.
func needHAProxy(t *testing.T) {
	t.Helper()
	if !haveHAProxy {
		t.Skip("haproxy is not installed (apt-get install -y haproxy)")
	}
}

// TestHAProxyPassthrough: through the proxy, a short session is unchanged.
func TestHAProxyPassthrough(t *testing.T) {
	needHAProxy(t)
	eachProto(t, func(t *testing.T, p proto) {
		argv := []string{"sh", "-c", "echo via proxy; echo err >&2; exit 2"}
		k, r := both(t, inv{kubeconfig: tc.ProxyKubeconfig, websocket: p.websocket, args: append([]string{defaultPod, "--"}, argv...)})
		if k.code != 2 || k.stdout != "via proxy\n" {
			t.Errorf("kubectl itself: exit %d, stdout %q, stderr %q", k.code, k.stdout, k.stderr)
		}
		rc := onlyRecording(t, r)
		checkRecording(t, rc, wantRec{
			kubeconfig: tc.ProxyKubeconfig, proto: p, pod: defaultPod, container: "main", argv: argv,
			stdout: []byte("via proxy\n"), stderr: []byte("err\n"), exit: 2,
		})
	})
}

// TestHAProxyTunnelTimeout: HAProxy cuts an exec stream that stays idle for
// longer than its tunnel timeout (3 s here) while the command still runs.
//
// Over SPDY, client-go takes the closed connection for a finished stream
// with no error, so kubectl exits 0 and prints nothing: the command's
// "done" and its real exit status are lost silently. rexec notices that
// the server never sent the exit status the protocol (v4+) always sends,
// exits 1 with "error: connection lost: ...", and the recording's trailer
// says "connection lost" with no exit code.
//
// Over WebSocket both tools fail (exit 1). kubectl prints client-go's error
// about the abnormal closure; rexec prints "error: connection lost: ..."
// with that error inside. The rest of stderr (client-go's log lines, their
// times and PIDs masked) must match.
func TestHAProxyTunnelTimeout(t *testing.T) {
	needHAProxy(t)
	argv := []string{"sh", "-c", "sleep 8; echo done"}
	i := func(p proto) inv {
		return inv{kubeconfig: tc.ProxyKubeconfig, websocket: p.websocket, timeout: 45 * time.Second,
			args: append([]string{defaultPod, "--"}, argv...)}
	}
	t.Run("spdy", func(t *testing.T) {
		p := protos[1]
		k := kubectl(t, i(p))
		r := rexec(t, i(p))
		t.Logf("kubectl: exit %d in %v, stdout %q, stderr %q", k.code, k.took.Round(time.Millisecond), k.stdout, k.stderr)
		t.Logf("rexec:   exit %d in %v, stdout %q, stderr %q", r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
		if k.code != 0 || k.stdout != "" || k.stderr != "" {
			t.Logf("kubectl no longer reports a cut SPDY stream as success (exit %d, stderr %q): update this test", k.code, k.stderr)
		}
		if r.code == 0 {
			t.Errorf("rexec exited 0 for a session cut by the proxy")
		}
		if r.stdout != "" {
			t.Errorf("rexec stdout %q: the command cannot have finished", r.stdout)
		}
		if !strings.Contains(r.stderr, "error: connection lost: ") {
			t.Errorf("rexec stderr %q lacks a connection lost error", r.stderr)
		}
		// The cut ends the session ~3 s in, not the command's 8 s: judged on
		// the session's own recorded length, which leaves out the process
		// start a loaded machine makes slow; the whole run only must not
		// linger.
		if d := onlyRecording(t, r).trailer.Duration.Duration(); d > 7*time.Second {
			t.Errorf("the recorded session lasted %v: the cut should end it after ~%v", d, tunnelTimeout)
		}
		if r.took > 30*time.Second {
			t.Errorf("rexec took %v after a cut ~%v into the session", r.took, tunnelTimeout)
		}
		checkLost(t, r, p)
	})
	t.Run("websocket", func(t *testing.T) {
		p := protos[0]
		k := kubectl(t, i(p))
		r := rexec(t, i(p))
		t.Logf("kubectl: exit %d in %v, stdout %q, stderr %q", k.code, k.took.Round(time.Millisecond), k.stdout, k.stderr)
		t.Logf("rexec:   exit %d in %v, stdout %q, stderr %q", r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
		if k.code == 0 || r.code == 0 {
			t.Errorf("exit codes kubectl %d, rexec %d: want both non-zero", k.code, r.code)
		}
		if k.code != r.code {
			t.Errorf("exit codes differ: kubectl %d, rexec %d", k.code, r.code)
		}
		if k.stdout != "" || r.stdout != "" {
			t.Errorf("stdout kubectl %q, rexec %q: want none", k.stdout, r.stdout)
		}
		// rexec words a lost connection its own way (it names the likely
		// hop), but must carry client-go's error that kubectl prints.
		kl, rl := lastErrorLine(k.stderr), lastErrorLine(r.stderr)
		if kl == "" || !strings.HasPrefix(rl, "error: connection lost: ") || !strings.Contains(rl, strings.TrimPrefix(kl, "error: ")) {
			t.Errorf("final error lines:\nkubectl %q\nrexec   %q\nwant rexec's to say connection lost and to carry kubectl's", kl, rl)
		}
		// Everything else on stderr (client-go's log lines about the failed
		// stdout and stderr copies, in either order) must be the same.
		kn := sortedLines(normalizeKlog(withoutLine(k.stderr, kl)))
		rn := sortedLines(normalizeKlog(withoutLine(withoutRecordedLine(r.stderr), rl)))
		if kn != rn {
			t.Errorf("other stderr lines differ (klog times and PIDs masked):\nonly kubectl %q\nonly rexec   %q", lineDiff(kn, rn), lineDiff(rn, kn))
		}
		checkLost(t, r, p)
	})
}

// checkLost checks the recording of a session the proxy cut.
func checkLost(t *testing.T, r res, p proto) {
	t.Helper()
	rc := onlyRecording(t, r)
	m := rc.header.Rexec
	if m.Protocol != p.header || m.Server != tc.ProxyServer {
		t.Errorf("header protocol %q server %q, want %q %q", m.Protocol, m.Server, p.header, tc.ProxyServer)
	}
	tr := rc.trailer
	t.Logf("trailer: reason %q, exit %s, message %q, duration %v", tr.Reason, deref(tr.ExitCode), tr.Message, tr.Duration.Duration())
	if tr.Reason != string(record.ReasonConnectionLost) || tr.ExitCode != nil {
		t.Errorf("trailer reason %q exit %s, want %q and no exit code", tr.Reason, deref(tr.ExitCode), record.ReasonConnectionLost)
	}
	if len(rc.exits) != 0 {
		t.Errorf("x events %q in a cut session", rc.exits)
	}
	if len(rc.streams['o']) != 0 {
		t.Errorf("recorded output %q: the command cannot have finished", rc.streams['o'])
	}
}

// sortedLines sorts s's lines.
func sortedLines(s string) string {
	l := strings.SplitAfter(s, "\n")
	sort.Strings(l)
	return strings.Join(l, "")
}

// withoutLine drops the line l (without its newline) from s.
func withoutLine(s, l string) string {
	var b strings.Builder
	for _, x := range strings.SplitAfter(s, "\n") {
		if strings.TrimSuffix(x, "\n") != l {
			b.WriteString(x)
		}
	}
	return b.String()
}

// lastErrorLine is the last "error: " line of stderr.
func lastErrorLine(s string) string {
	last := ""
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "error: ") {
			last = l
		}
	}
	return last
}
