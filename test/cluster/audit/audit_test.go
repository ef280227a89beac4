package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/verify"
	"github.com/kubectl-rexec/kubectl-rexec/test/cluster/cluster"
)

// event is the part of an audit.k8s.io/v1 Event the join needs.
type event struct {
	AuditID    string `json:"auditID"`
	Stage      string `json:"stage"`
	Verb       string `json:"verb"`
	RequestURI string `json:"requestURI"`
	User       struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

// execEvents reads the audit log's pods/exec events on pod.
func execEvents(t *testing.T) []event {
	t.Helper()
	f, err := os.Open(auditLog)
	if err != nil {
		t.Fatalf("audit log: %v", err)
	}
	defer f.Close()
	var out []event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit log line %q: %v", sc.Text(), err)
		}
		if e.ObjectRef != nil && e.ObjectRef.Resource == "pods" && e.ObjectRef.Subresource == "exec" && e.ObjectRef.Name == pod {
			out = append(out, e)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// session runs one recorded exec and returns its recording's header.
func session(t *testing.T, kubeconfig string, env []string, marker string) record.Header {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, rexecBin, "--kubeconfig", kubeconfig, "--record-dir", dir,
		"--reason", "audit join test", pod, "--", "sh", "-c", "echo "+marker)
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir())
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil || out.String() != marker+"\n" {
		t.Fatalf("kubectl-rexec: %v, stdout %q, stderr %q", err, out.String(), errb.String())
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.cast.zst"))
	if len(files) != 1 {
		t.Fatalf("recordings %v", files)
	}
	if res := verify.File(files[0], verify.Options{}); res.Verdict != verify.Consistent {
		t.Fatalf("verify: %s", res.Summary)
	}
	r, err := record.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := r.Header()
	if h.Rexec == nil || h.Rexec.AuditID == "" || h.Rexec.AuditID != h.Rexec.SessionID {
		t.Fatalf("header %+v has no audit id equal to the session id", h.Rexec)
	}
	return h
}

// TestAuditIDJoinsRecordingAndAuditLog: for every session, the apiserver's
// audit events for its exec request carry exactly the recording's
// audit_id, name the same pod and user, and no other exec request does.
func TestAuditIDJoinsRecordingAndAuditLog(t *testing.T) {
	type want struct {
		name, user string
		header     record.Header
	}
	var recorded []want
	for _, s := range []struct {
		name, kubeconfig, user string
		env                    []string
	}{
		{"websocket", tc.AdminKubeconfig, cluster.AdminUser, nil},
		{"spdy", tc.AdminKubeconfig, cluster.AdminUser, []string{"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false"}},
		{"websocket-token", tc.TokenKubeconfig, cluster.TokenUser, nil},
	} {
		h := session(t, s.kubeconfig, s.env, "hello-"+s.name)
		if h.Rexec.User.Username != s.user {
			t.Errorf("%s: header user %q, want %q", s.name, h.Rexec.User.Username, s.user)
		}
		recorded = append(recorded, want{s.name, s.user, h})
	}

	// A control: kubectl's own exec sends no Audit-ID, so the apiserver
	// makes one up; it must match none of the recordings.
	kubectl := exec.Command(tc.Kubectl(), "--kubeconfig", tc.AdminKubeconfig, "exec", pod, "--", "sh", "-c", "echo control")
	if out, err := kubectl.CombinedOutput(); err != nil || string(out) != "control\n" {
		t.Fatalf("kubectl exec: %v %q", err, out)
	}
	sessions := len(recorded)

	// With --audit-log-mode=blocking the events are written before the
	// response; allow a moment anyway for the ResponseComplete stage.
	var events []event
	deadline := time.Now().Add(time.Minute)
	for {
		events = execEvents(t)
		complete := 0
		for _, s := range recorded {
			for _, e := range events {
				if e.AuditID == s.header.Rexec.AuditID && e.Stage == "ResponseComplete" {
					complete++
					break
				}
			}
		}
		if (complete == sessions && len(events) >= 2*sessions+2) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	byID := map[string][]event{}
	for _, e := range events {
		byID[e.AuditID] = append(byID[e.AuditID], e)
	}
	ours := map[string]bool{}
	for _, s := range recorded {
		id := s.header.Rexec.AuditID
		ours[id] = true
		evs := byID[id]
		if len(evs) == 0 {
			t.Errorf("%s: no audit event has auditID %s (the recording's audit_id); exec events: %+v", s.name, id, events)
			continue
		}
		stages := []string{}
		for _, e := range evs {
			stages = append(stages, e.Stage)
			if e.ObjectRef.Namespace != "default" || e.ObjectRef.Name != pod || e.User.Username != s.user || e.Verb == "" ||
				!strings.Contains(e.RequestURI, "/namespaces/default/pods/"+pod+"/exec") || !strings.Contains(e.RequestURI, "command=sh") {
				t.Errorf("%s: audit event %+v does not describe this session", s.name, e)
			}
			if e.Stage == "ResponseComplete" && (e.ResponseStatus == nil || e.ResponseStatus.Code != 101) {
				t.Errorf("%s: exec request completed with %+v, want 101 Switching Protocols", s.name, e.ResponseStatus)
			}
		}
		t.Logf("%s: recording audit_id %s = auditID of %d audit events (stages %v), user %s, pod default/%s",
			s.name, id, len(evs), stages, s.user, pod)
	}
	// The exec requests logged are our sessions, one auditID each, and the
	// control's, whose apiserver-made auditID matches no recording.
	var others []string
	for id := range byID {
		if !ours[id] {
			others = append(others, id)
		}
	}
	if len(ours) != sessions || len(others) != 1 {
		t.Errorf("%d recordings with distinct audit ids (want %d), exec auditIDs of no recording %v (want the control's only): %+v", len(ours), sessions, others, events)
	} else {
		t.Logf("control: kubectl exec got auditID %s from the apiserver, which no recording names", others[0])
	}
}
