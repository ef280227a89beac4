package verify

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// anchorLog is a record.Witness that keeps the anchors a session would
// send, as pkg/session does.
type anchorLog struct {
	session string
	ids     []string
}

func (a *anchorLog) Checkpoint(cp record.Checkpoint) {
	a.ids = append(a.ids, record.CheckpointAnchor(a.session, cp.Seq, cp.Chain))
}

func (a *anchorLog) Close(t *record.Trailer) {
	a.ids = append(a.ids, record.EndAnchor(a.session, t))
	t.Anchors = &record.Anchors{Sent: len(a.ids)}
}

var (
	sid       = header().Rexec.SessionID
	execStart = time.Date(2026, 11, 27, 6, 14, 59, 0, time.UTC)
	execEnd   = time.Date(2026, 11, 27, 6, 15, 15, 0, time.UTC)
)

// auditLine is one audit.k8s.io/v1 event as kube-apiserver writes it.
func auditLine(t *testing.T, auditID, user, stage, resource, sub string, at time.Time) string {
	t.Helper()
	return auditLineAt(t, auditID, user, stage, resource, sub, at, at.Add(time.Millisecond))
}

// auditLineAt is auditLine for a request received at received whose stage
// came at stage.
func auditLineAt(t *testing.T, auditID, user, stage, resource, sub string, received, stageAt time.Time) string {
	t.Helper()
	ev := map[string]any{
		"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": auditID, "stage": stage,
		"requestURI": "/apis/authentication.k8s.io/v1/selfsubjectreviews", "verb": "create",
		"user":                     map[string]any{"username": user, "groups": []string{"system:authenticated"}},
		"objectRef":                map[string]any{"resource": resource, "subresource": sub, "apiGroup": "authentication.k8s.io", "apiVersion": "v1"},
		"responseStatus":           map[string]any{"metadata": map[string]any{}, "code": 201},
		"requestReceivedTimestamp": received.Format(time.RFC3339Nano),
		"stageTimestamp":           stageAt.Format(time.RFC3339Nano),
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

// auditLog is an audit log holding the session's exec request and the
// anchors given, sent by alice during the session, among other events.
func auditLog(t *testing.T, anchors []string, extra ...string) string {
	return auditLogBy(t, "alice", anchors, extra...)
}

// auditLogBy is auditLog with the anchors sent by user.
func auditLogBy(t *testing.T, user string, anchors []string, extra ...string) string {
	var b strings.Builder
	b.WriteString(auditLine(t, "0c0ffee0-0000-4000-8000-000000000000", "bob", "ResponseComplete", "pods", "", execStart))
	b.WriteString(auditLineAt(t, sid, "alice", "ResponseStarted", "pods", "exec", execStart, execStart))
	for i, a := range anchors {
		at := execStart.Add(time.Duration(i+1) * time.Second)
		b.WriteString(auditLine(t, a, user, "RequestReceived", "selfsubjectreviews", "", at))
		b.WriteString(auditLine(t, a, user, "ResponseComplete", "selfsubjectreviews", "", at))
	}
	b.WriteString(auditLineAt(t, sid, "alice", "ResponseComplete", "pods", "exec", execStart, execEnd))
	for _, e := range extra {
		b.WriteString(e)
	}
	return b.String()
}

func witnessVerify(t *testing.T, data []byte, log string, keys ...[]byte) Result {
	t.Helper()
	l, err := ReadAuditLog(strings.NewReader(log), []string{sid})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Witness: l}
	if len(keys) > 0 {
		opts.Keys = append(opts.Keys, testPub())
	}
	return Verify(bytes.NewReader(data), int64(len(data)), opts)
}

// TestWitnessHonest: a recording whose anchors are all in the audit log
// is witnessed up to its close: OK, authenticated, signed or not.
func TestWitnessHonest(t *testing.T) {
	for _, signed := range []bool{false, true} {
		w := &anchorLog{session: sid}
		var data []byte
		if signed {
			data = sessionWitnessed(t, testKey, exited(0), w)
		} else {
			data = sessionWitnessed(t, nil, exited(0), w)
		}
		var keys [][]byte
		if signed {
			keys = [][]byte{nil}
		}
		r := witnessVerify(t, data, auditLog(t, w.ids), keys...)
		if r.Verdict != OK || !r.Authenticated || r.Witness == nil || !r.Witness.Closed || !strings.Contains(r.Summary, "witnessed by the audit log up to") {
			t.Errorf("signed %v: %s %s %+v", signed, r.Verdict, r.Summary, r.Witness)
		}
		if signed && !strings.HasPrefix(r.Summary, "OK (signed by "+record.KeyID(testPub())+"; witnessed") {
			t.Errorf("summary %s", r.Summary)
		}
		t.Logf("%s", r.Summary)
		// Without the audit log, the unsigned one is only consistent.
		if !signed {
			if r := verifyBytes(data); r.Verdict != Consistent {
				t.Errorf("without the log: %s", r.Verdict)
			}
		}
	}
}

// TestWitnessCatchesOwnKeyRewrite: the user rewrites their own signed
// recording with their own key (same session, other content): the
// signature holds, the audit log does not.
func TestWitnessCatchesOwnKeyRewrite(t *testing.T) {
	w := &anchorLog{session: sid}
	sessionWitnessed(t, testKey, exited(0), w)
	log := auditLog(t, w.ids)

	// Rewritten: another session with the same header, signed anew.
	forged := forge(t, headerLine(t, nil), tourEvents("echo nothing to see"), code(0), testKey, "")
	if r := verifyBytes(forged, testPub()); r.Verdict != OK {
		t.Fatalf("the signature alone: %s %s", r.Verdict, r.Summary)
	}
	r := witnessVerify(t, forged, log, nil)
	if r.Verdict != Tampered || r.Check != CheckWitness {
		t.Errorf("rewritten: %s %s", r.Verdict, r.Summary)
	}
	t.Logf("%s", r.Summary)
}

// TestWitnessCatchesTruncation: the end of the recording dropped and the
// trailer rewritten and signed again to match: TAMPERED; and a cut file
// (no trailer) whose close the log witnessed: TAMPERED.
func TestWitnessCatchesTruncation(t *testing.T) {
	w := &anchorLog{session: sid}
	data := sessionWitnessed(t, testKey, exited(0), w)
	log := auditLog(t, w.ids)
	segs, _ := segments(t, data)
	short := join(segs[:len(segs)-2]...)
	r := witnessVerify(t, short, log, nil)
	if r.Verdict != Tampered || r.Check != CheckWitness || !strings.Contains(r.Detail, "close") {
		t.Errorf("cut after the close: %s %s", r.Verdict, r.Summary)
	}
	// Only the checkpoints anchored (the close was not): the file lacks
	// the last ones.
	r = witnessVerify(t, short, auditLog(t, w.ids[:len(w.ids)-1]), nil)
	if r.Verdict != Tampered || !strings.Contains(r.Detail, "which the file lacks") {
		t.Errorf("cut, checkpoints only: %s %s", r.Verdict, r.Summary)
	}
}

// TestWitnessMissingOrPartial: no anchor, or anchors that stop before the
// close: UNWITNESSED, never OK; a cut recording stays ABRUPT with what the
// log witnesses noted.
func TestWitnessMissingOrPartial(t *testing.T) {
	w := &anchorLog{session: sid}
	data := sessionWitnessed(t, testKey, exited(0), w)
	var noExec strings.Builder
	for _, l := range strings.SplitAfter(auditLog(t, w.ids), "\n") {
		if !strings.Contains(l, `"subresource":"exec"`) {
			noExec.WriteString(l)
		}
	}
	late := auditLog(t, nil)
	for i, a := range w.ids {
		late += auditLine(t, a, "alice", "ResponseComplete", "selfsubjectreviews", "", execEnd.Add(anchorSlack+time.Duration(i+1)*time.Second))
	}
	for name, log := range map[string]string{
		"no anchors":   auditLog(t, nil),
		"no close":     auditLog(t, w.ids[:len(w.ids)-2]),
		"no exec":      noExec.String(),
		"empty log":    "",
		"another user": auditLogBy(t, "mallory", w.ids),
		"sent later":   late,
	} {
		r := witnessVerify(t, data, log, nil)
		if r.Verdict != Unwitnessed || r.Authenticated {
			t.Errorf("%s: %s %s", name, r.Verdict, r.Summary)
		}
		t.Logf("%s: %s", name, r.Summary)
	}
	// Anchors from someone else, among the session's own: ignored, noted.
	mixed := auditLog(t, w.ids, auditLine(t, record.CheckpointAnchor(sid, 1, strings.Repeat("0", 64)), "mallory", "ResponseComplete", "selfsubjectreviews", "", execEnd))
	r := witnessVerify(t, data, mixed, nil)
	if r.Verdict != OK || len(r.Witness.Ignored) != 1 || !strings.Contains(r.Summary, "not used") {
		t.Errorf("mixed: %s %s %+v", r.Verdict, r.Summary, r.Witness)
	}
	// A later anchor that differs from the first for the same checkpoint
	// is reported; the first one counts.
	conflict := auditLog(t, w.ids, auditLine(t, record.CheckpointAnchor(sid, 2, strings.Repeat("0", 64)), "alice", "ResponseComplete", "selfsubjectreviews", "", execEnd.Add(time.Second)))
	r = witnessVerify(t, data, conflict, nil)
	if r.Verdict != OK || len(r.Witness.Ignored) != 1 || !strings.Contains(r.Witness.Ignored[0], "differs from the first one") {
		t.Errorf("late conflict: %s %s %+v", r.Verdict, r.Summary, r.Witness)
	}
	// A cut recording, anchored up to its cut: ABRUPT, with the witness
	// noted.
	cw := &anchorLog{session: sid}
	cut := sessionWitnessed(t, nil, exited(0), cw)
	cut = cut[:locate(t, cut).trailerOff-1]
	r = witnessVerify(t, cut, auditLog(t, cw.ids[:len(cw.ids)-3]))
	if r.Verdict != Abrupt || !strings.Contains(r.Summary, "witnesses the recording up to") {
		t.Errorf("cut: %s %s", r.Verdict, r.Summary)
	}
}

// TestReadAuditLogBounded: lines of other requests, however long, are
// skipped without being kept; a line of ours too long to read is counted.
func TestReadAuditLogBounded(t *testing.T) {
	huge := `{"kind":"Event","auditID":"other","requestObject":"` + strings.Repeat("x", 8<<20) + `"}` + "\n"
	ours := `{"kind":"Event","auditID":"` + record.CheckpointAnchor(sid, 0, strings.Repeat("a", 64)) + `","x":"` + strings.Repeat("y", 5<<20) + `"}` + "\n"
	l, err := ReadAuditLog(strings.NewReader(huge+ours+"not json at all\n"+auditLine(t, sid, "alice", "ResponseComplete", "pods", "exec", execEnd)), []string{sid})
	if err != nil {
		t.Fatal(err)
	}
	ev := l.sessions[sid]
	if l.Lines != 4 || l.Unreadable != 1 || len(ev.exec) != 1 || len(ev.anchors) != 0 {
		t.Errorf("lines %d, unreadable %d, exec %d, anchors %d", l.Lines, l.Unreadable, len(ev.exec), len(ev.anchors))
	}
}
