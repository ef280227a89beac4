package verify

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/source"
)

// The audit-log witness (docs/FORMAT.md, section 6.2). While a session is
// recorded, the client sends the chain head at each checkpoint, and a digest
// of the trailer at the close, as the Audit-ID header of a cheap request
// (record.CheckpointAnchor, record.EndAnchor); the API server writes it into
// its audit log as the event's auditID. The recorded user can rewrite the
// file and sign it again with their own key, but not the audit log: a
// recording that differs from what was anchored during the session is
// TAMPERED, and one the log does not witness up to its close is UNWITNESSED.

// anchorSlack is how long after the session's exec request ended (its
// ResponseComplete audit event) an anchor is still taken as sent by the
// session: the client anchors the close within seconds of the stream's end
// (pkg/session bounds it at 2 s); later anchors are someone else's.
const anchorSlack = time.Minute

// maxAuditLine bounds the audit log line read for an event of a session
// being verified (events at Metadata level are a few KiB). Other lines are
// skipped whatever their length, reading only their start.
const maxAuditLine = 4 << 20

// auditIDWindow is how much of a line's start is searched for its auditID:
// kube-apiserver writes it among the first keys.
const auditIDWindow = 64 << 10

// AuditLog is what an API server audit log (JSON lines, as
// --audit-log-format=json writes them) holds about the sessions being
// verified: their exec requests and their anchors.
type AuditLog struct {
	sessions map[string]*evidence
	// Lines is the number of lines read; Unreadable counts the lines of
	// the sessions being verified that were too long or did not parse.
	Lines      int
	Unreadable int
}

// evidence is one session's events, in log order.
type evidence struct {
	exec    []auditEvent
	anchors []anchorEvent
}

type auditEvent struct {
	line     int
	user     string
	stage    string
	received time.Time
	at       time.Time // stageTimestamp
	code     int
	objRes   string // "pods/exec" for the exec request
}

type anchorEvent struct {
	auditEvent
	seq   int
	value string
}

// rawEvent is the part of an audit.k8s.io/v1 Event the witness needs.
type rawEvent struct {
	AuditID string `json:"auditID"`
	Stage   string `json:"stage"`
	User    struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	RequestReceivedTimestamp time.Time `json:"requestReceivedTimestamp"`
	StageTimestamp           time.Time `json:"stageTimestamp"`
}

// ReadAuditLog reads a JSON-lines audit log from r, keeping the events of
// the sessions whose ids are given (a recording's rexec.session_id, which is
// also its rexec.audit_id): their exec requests and their anchors. It reads
// the log once, in bounded memory whatever its size.
func ReadAuditLog(r io.Reader, sessions []string) (*AuditLog, error) {
	l := &AuditLog{sessions: map[string]*evidence{}}
	for _, s := range sessions {
		if s != "" {
			l.sessions[s] = &evidence{}
		}
	}
	br := bufio.NewReaderSize(r, auditIDWindow)
	var long []byte
	for {
		line, err := br.ReadSlice('\n')
		full := err == nil || (errors.Is(err, io.EOF) && len(line) > 0)
		if len(line) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				return l, nil
			}
			return l, fmt.Errorf("read the audit log: %w", err)
		}
		l.Lines++
		id := auditIDOf(line)
		ev := l.lookup(id)
		if !full && errors.Is(err, bufio.ErrBufferFull) {
			// A long line: keep it only if it is one of ours.
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				if ev != nil && len(long) <= maxAuditLine {
					long = append(long, line...)
				}
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return l, fmt.Errorf("read the audit log: %w", err)
			}
			if ev != nil && len(long) > maxAuditLine {
				l.Unreadable++
				ev = nil
			}
			line = long
		}
		if ev != nil {
			l.add(ev, id, line)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return l, nil
			}
			if !errors.Is(err, bufio.ErrBufferFull) {
				return l, fmt.Errorf("read the audit log: %w", err)
			}
		}
	}
}

// auditIDOf finds the value of "auditID" in the start of a JSON line
// without parsing it all ("" if there is none).
func auditIDOf(line []byte) string {
	const key = `"auditID":"`
	i := bytes.Index(line[:min(len(line), auditIDWindow)], []byte(key))
	if i < 0 {
		return ""
	}
	rest := line[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 || j > 512 {
		return ""
	}
	return string(rest[:j])
}

// lookup returns the evidence of the session id belongs to, as an exec
// request's audit id or as an anchor, nil if it is none of ours.
func (l *AuditLog) lookup(id string) *evidence {
	if id == "" {
		return nil
	}
	if ev, ok := l.sessions[id]; ok {
		return ev
	}
	if s, _, _, ok := record.ParseAnchor(id); ok {
		return l.sessions[s]
	}
	if strings.HasPrefix(id, "rexec-") {
		// A malformed anchor naming one of ours still counts: it is
		// reported as ignored.
		for s, ev := range l.sessions {
			if strings.HasPrefix(id, "rexec-"+s+"-") {
				return ev
			}
		}
	}
	return nil
}

// add records the event on line in ev.
func (l *AuditLog) add(ev *evidence, id string, line []byte) {
	var raw rawEvent
	if err := json.Unmarshal(line, &raw); err != nil || raw.AuditID != id {
		l.Unreadable++
		return
	}
	e := auditEvent{line: l.Lines, user: raw.User.Username, stage: raw.Stage,
		received: raw.RequestReceivedTimestamp, at: raw.StageTimestamp}
	if raw.ResponseStatus != nil {
		e.code = raw.ResponseStatus.Code
	}
	if raw.ObjectRef != nil {
		e.objRes = raw.ObjectRef.Resource + "/" + raw.ObjectRef.Subresource
	}
	if !strings.HasPrefix(id, "rexec-") {
		if e.objRes == "pods/exec" {
			ev.exec = append(ev.exec, e)
		}
		return
	}
	a := anchorEvent{auditEvent: e, seq: -2}
	if _, seq, value, ok := record.ParseAnchor(id); ok {
		a.seq, a.value = seq, value
	}
	ev.anchors = append(ev.anchors, a)
}

// Witnessed is what the audit log says about one recording.
type Witnessed struct {
	// ExecLogged: the log holds the session's exec request (its audit id);
	// User is who the API server says made it.
	ExecLogged bool   `json:"exec_logged"`
	User       string `json:"user,omitempty"`
	// Anchors is the number of checkpoints (and the close) the log holds
	// an anchor for, first one each; Checkpoint the last checkpoint they
	// reach and Closed whether the close is among them.
	Anchors    int  `json:"anchors"`
	Checkpoint *int `json:"checkpoint,omitempty"`
	Closed     bool `json:"closed"`
	// Until is the session time up to which the log vouches for the
	// recording; At is when the API server received the last anchor used.
	Until *record.Seconds `json:"until,omitempty"`
	At    *time.Time      `json:"at,omitempty"`
	// Ignored lists the anchors of the session that were not used: sent
	// by another user, outside the session's exec request, malformed, or
	// differing from an earlier anchor of the same checkpoint (the first
	// one counts).
	Ignored []string `json:"ignored,omitempty"`
}

// witness checks res, the verdict on the file, against the audit log.
func (v *verifier) witness(res Result) Result {
	switch res.Verdict {
	case Tampered, NotRecording, Error:
		return res
	}
	if res.SessionID == "" {
		return v.unwitnessed(res, &Witnessed{}, "the recording names no session, so the audit log cannot witness it")
	}
	ev := v.opts.Witness.sessions[res.SessionID]
	w := &Witnessed{}
	res.Witness = w
	if ev == nil || len(ev.exec) == 0 {
		n := 0
		if ev != nil {
			n = len(ev.anchors)
		}
		return v.unwitnessed(res, w, fmt.Sprintf("the audit log holds no exec request with audit id %s (and %d anchors): "+
			"it does not witness this session (the audit policy must log pods/exec and selfsubjectreviews, docs/FORMAT.md section 6.2)", res.SessionID, n))
	}
	w.ExecLogged, w.User = true, ev.exec[0].user
	first := v.firstAnchors(ev, w)
	if r, bad := v.compareAnchors(res, first); bad {
		r.Witness = w
		return r
	}
	seqs := make([]int, 0, len(first))
	for s := range first {
		seqs = append(seqs, s)
	}
	sort.Ints(seqs)
	w.Anchors = len(seqs)
	if len(ignoredNotes(w)) > 0 {
		res.notes = append(res.notes, ignoredNotes(w)...)
	}
	if len(seqs) == 0 && len(w.Ignored) > 0 {
		return v.unwitnessed(res, w, fmt.Sprintf("the audit log holds the session's exec request but no anchor the session can have sent (%d others, see the note)", len(w.Ignored)))
	}
	if len(seqs) == 0 {
		return v.unwitnessed(res, w, "the audit log holds the session's exec request but no anchor of it: "+
			"the client could not reach the API server, or the audit policy does not log selfsubjectreviews")
	}
	last := first[seqs[len(seqs)-1]]
	at := last.received
	w.At = &at
	if _, ok := first[record.AnchorEndSeq]; ok {
		w.Closed = true
		d := v.trailer.Duration
		w.Until = &d
		return v.witnessed(res, w)
	}
	k := seqs[len(seqs)-1]
	w.Checkpoint = &k
	u := v.ix.Frames[k].Checkpoint.TimeEnd
	w.Until = &u
	return v.unwitnessed(res, w, fmt.Sprintf("the audit log witnesses the recording up to %v (checkpoint %d of %d), not its close",
		u.Duration(), k, len(v.ix.Frames)-1))
}

// firstAnchors picks, per checkpoint, the first anchor the session itself
// can have sent: by the exec request's user, from its start until shortly
// after its end. Every other anchor goes to w.Ignored.
func (v *verifier) firstAnchors(ev *evidence, w *Witnessed) map[int]anchorEvent {
	start, end, ended := ev.exec[0].received, time.Time{}, false
	for _, e := range ev.exec {
		if e.received.Before(start) {
			start = e.received
		}
		if e.stage == "ResponseComplete" && e.at.After(end) {
			end, ended = e.at, true
		}
	}
	user := ev.exec[0].user
	first := map[int]anchorEvent{}
	name := func(a anchorEvent) string {
		if a.seq == record.AnchorEndSeq {
			return "the close"
		}
		return fmt.Sprintf("checkpoint %d", a.seq)
	}
	for _, a := range ev.anchors {
		why := ""
		switch {
		case a.seq == -2:
			why = "not a well-formed anchor"
		case a.user != user:
			why = fmt.Sprintf("an anchor of %s sent by %q, not by the session's user %q", name(a), a.user, user)
		case a.received.Before(start):
			why = fmt.Sprintf("an anchor of %s sent before the session's exec request", name(a))
		case ended && a.received.After(end.Add(anchorSlack)):
			why = fmt.Sprintf("an anchor of %s sent %v after the session's exec request ended", name(a), a.received.Sub(end).Round(time.Second))
		}
		if f, ok := first[a.seq]; why == "" && ok {
			if f.value == a.value {
				continue // the same anchor again (another audit stage)
			}
			why = fmt.Sprintf("an anchor of %s that differs from the first one (line %d)", name(a), f.line)
		}
		if why != "" {
			w.Ignored = append(w.Ignored, fmt.Sprintf("line %d: %s", a.line, why))
			continue
		}
		first[a.seq] = a
	}
	return first
}

// compareAnchors checks the first anchors against the file: a value that
// differs, or an anchor of something the file lacks, means the file is not
// the recording the session wrote.
func (v *verifier) compareAnchors(res Result, first map[int]anchorEvent) (Result, bool) {
	seqs := make([]int, 0, len(first))
	for s := range first {
		seqs = append(seqs, s)
	}
	sort.Ints(seqs) // the close (-1) first: it vouches for everything
	for _, s := range seqs {
		a := first[s]
		when := fmt.Sprintf("the audit log (line %d, %s by %s)", a.line, a.received.UTC().Format(time.RFC3339), a.user)
		if s == record.AnchorEndSeq {
			switch {
			case v.trailer == nil:
				return v.witnessTampered(res, -1, "%s witnessed the recording's close, but the file has no trailer: it was cut after the session closed it", when), true
			case record.TrailerDigest(v.trailer) != a.value:
				return v.witnessTampered(res, -1, "%s witnessed a different close: the trailer (or the frames it totals) is not the one the session wrote; the recording was rewritten", when), true
			}
			continue
		}
		if s >= v.frames {
			return v.witnessTampered(res, s, "%s witnessed checkpoint %d, which the file lacks (its chain holds %d frames): the end of the recording was removed", when, s, v.frames), true
		}
		if got := v.ix.Frames[s].Checkpoint.Chain; got != a.value {
			return v.witnessTampered(res, s, "%s witnessed chain %s for checkpoint %d, the file has %s: the recording was rewritten at or before frame %d", when, a.value, s, got, s), true
		}
	}
	return res, false
}

// CheckWitness names the audit-log witness in a TAMPERED verdict.
const CheckWitness = "witness"

func (v *verifier) witnessTampered(res Result, frame int, format string, args ...any) Result {
	off := int64(0)
	if frame >= 0 && frame < len(v.ix.Frames) {
		off = v.ix.Frames[frame].Offset
	} else if v.ix != nil {
		off = v.ix.TrailerOffset
	}
	r := tampered(CheckWitness, frame, off, format, args...)
	r.SessionID, r.AuditID, r.Events, r.Bytes = res.SessionID, res.AuditID, res.Events, res.Bytes
	r.Duration, r.Reason, r.ExitCode, r.KeyID = res.Duration, res.Reason, res.ExitCode, res.KeyID
	r.SignatureVerified = res.SignatureVerified
	return r
}

// witnessed upgrades res: the audit log vouches for the whole recording.
func (v *verifier) witnessed(res Result, w *Witnessed) Result {
	what := fmt.Sprintf("witnessed by the audit log up to %v, closed at %s", w.Until.Duration(), w.At.UTC().Format(time.RFC3339))
	switch res.Verdict {
	case OK:
		res.qualifier += "; " + what
	case Consistent:
		res.Verdict, res.Authenticated = OK, true
		if res.KeyID != "" {
			res.qualifier = what + "; its signature by " + res.KeyID + " not checked"
		} else {
			res.qualifier = what + "; unsigned"
		}
	default: // UNSIGNED: the --pub requirement is still not met
		res.notes = append(res.notes, what)
	}
	return res
}

// unwitnessed downgrades res: --audit-log was given, and the log does not
// vouch for the recording up to its close.
func (v *verifier) unwitnessed(res Result, w *Witnessed, why string) Result {
	res.Witness = w
	switch res.Verdict {
	case Abrupt:
		res.notes = append(res.notes, why)
		return res
	case Unsigned:
		res.Detail += "; and " + why
	default:
		res.Detail = why
	}
	res.Verdict, res.Authenticated = Unwitnessed, false
	return res
}

// ignoredNotes says, in one note, which anchors were not used.
func ignoredNotes(w *Witnessed) []string {
	if len(w.Ignored) == 0 {
		return nil
	}
	shown := w.Ignored[:min(3, len(w.Ignored))]
	s := fmt.Sprintf("the audit log holds %d anchors of this session that were not used: %s", len(w.Ignored), strings.Join(shown, "; "))
	if len(w.Ignored) > len(shown) {
		s += "; ..."
	}
	return []string{s}
}

// SessionID is the session id in the header of the recording at path, ""
// when it cannot be read: what ReadAuditLog needs to know before the
// recordings are verified.
func SessionID(path string) string {
	r, err := source.Open(path)
	if err != nil {
		return ""
	}
	defer r.Close()
	if h := r.Header(); h.Rexec != nil {
		return h.Rexec.SessionID
	}
	return ""
}
