package integration

import (
	"strings"
	"testing"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testserver"
)

// TestPingIntervalSPDY: with --ping-interval 1s the SPDY round tripper rexec
// builds itself (instead of client-go's, which pings every 5 s) still
// authenticates (a bearer token the server insists on), still carries the
// Audit-ID, and a session that stays silent over several ping periods ends
// with the command's own exit status.
func TestPingIntervalSPDY(t *testing.T) {
	srv, kc := cluster(t, testserver.Options{Token: "ping-token"})
	spdy := []string{"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false"}
	r := rexec(t, kc, spdy, "", "--ping-interval", "1s", "demo", "--", "sh", "-c", "sleep 2.5; echo done; exit 4")
	if r.code != 4 || r.stdout != "done\n" {
		t.Fatalf("exit %d stdout %q stderr %q, want exit 4 and done", r.code, r.stdout, r.stderr)
	}
	h := checkRecording(t, r, "(spdy)", 4)
	execs := srv.Execs()
	if len(execs) != 1 || execs[0].Protocol != "spdy" {
		t.Fatalf("exec requests %+v, want one over spdy", execs)
	}
	if execs[0].AuditID == "" || execs[0].AuditID != h.Rexec.SessionID {
		t.Errorf("exec Audit-ID %q, want the session ID %q", execs[0].AuditID, h.Rexec.SessionID)
	}
}

// TestPingIntervalWebSocketAccepted: on WebSocket the flag is accepted and
// the session works; that its pings bridge a proxy's short idle timeout is
// shown through HAProxy in test/cluster/e2e
// (TestPingIntervalBridgesTunnelTimeout).
func TestPingIntervalWebSocketAccepted(t *testing.T) {
	_, kc := cluster(t, testserver.Options{})
	r := rexec(t, kc, nil, "", "--ping-interval", "1s", "demo", "--", "sh", "-c", "echo ws")
	if r.code != 0 || r.stdout != "ws\n" {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	checkRecording(t, r, "(websocket)", 0)
}

// TestPingIntervalInvalid: zero, negative and malformed values are usage
// errors, before anything is sent or recorded.
func TestPingIntervalInvalid(t *testing.T) {
	srv, kc := cluster(t, testserver.Options{})
	for _, v := range []string{"0", "-1s", "0s", "soon"} {
		t.Run(v, func(t *testing.T) {
			r := rexec(t, kc, nil, "", "--ping-interval="+v, "demo", "--", "true")
			if r.code == 0 {
				t.Fatalf("--ping-interval=%s accepted: stderr %q", v, r.stderr)
			}
			if !strings.Contains(r.stderr, "ping-interval") {
				t.Errorf("stderr %q does not name --ping-interval", r.stderr)
			}
			if r.recording != "" {
				t.Errorf("a recording was written for a usage error: %s", r.recording)
			}
		})
	}
	if n := len(srv.Execs()); n != 0 {
		t.Errorf("%d exec requests for invalid flags, want none", n)
	}
}
