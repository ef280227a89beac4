// Package verify checks recordings as evidence: it recomputes the hash
// chain over every data frame, checks every checkpoint and the trailer
// against what the frames hold, cross-checks what the chain does not cover,
// checks the trailer's ed25519 signature, and checks the recording against
// the anchors its session left in the cluster's audit log (witness.go). It
// gives one verdict per file (OK, CONSISTENT, UNSIGNED, UNWITNESSED, ABRUPT,
// ERROR, NOT A RECORDING, TAMPERED, ranked so that a forgery never gets a
// milder one than an honest file) with an exit code scripts can use; only
// an authenticated recording is OK. docs/FORMAT.md section 6 is the
// contract it checks.
//
// It builds on pkg/record (Scan, the Reader, SigningInput) and adds what a
// verifier needs beyond a reader: the chain is checked before anything is
// decoded, checkpoint and trailer payloads must carry every key with its
// exact spelling (encoding/json would accept "Chain" for "chain"), the
// trailer's exit code, duration and end are checked against the chained
// events, and a file that looks cut off is told from one whose layout was
// altered to look cut off.
package verify

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/source"
)

// Verdict is the outcome for one file.
type Verdict string

// The verdicts, from best to worst (see severity). Only OK says the
// recording is authenticated: signed by a key the verifier trusts (--pub),
// or witnessed from start to close by the cluster's audit log
// (--audit-log). Their exit codes are documented in README.md and returned
// by ExitCode.
const (
	// OK: the chain, every checkpoint and the trailer check out, and the
	// recording is authenticated: its signature is valid under one of the
	// given keys, or the audit log witnesses it up to its close (and every
	// requirement given, --pub and --audit-log, is met).
	OK Verdict = "OK"
	// Consistent: the chain, every checkpoint and the trailer check out,
	// but nothing authenticates the file: it is unsigned, or its signature
	// was not checked (no --pub), and no audit log was given. Whoever can
	// write the file could have rewritten it consistently.
	Consistent Verdict = "CONSISTENT"
	// Unsigned: intact, but keys were given (--pub) and the recording is
	// not signed by any of them.
	Unsigned Verdict = "UNSIGNED"
	// Unwitnessed: intact, but an audit log was given (--audit-log) and it
	// does not witness the recording up to its close: no anchor of its
	// session, or the last anchors are missing.
	Unwitnessed Verdict = "UNWITNESSED"
	// Abrupt: no trailer; the recording was cut off (the recorder was
	// killed or the disk filled up). The chain holds up to the last
	// checkpoint; what follows it is missing. Nothing authenticates it: a
	// recording has no signature before its trailer.
	Abrupt Verdict = "ABRUPT"
	// Error: the file could not be read, or uses a newer format version.
	Error Verdict = "ERROR"
	// NotRecording: not a kubectl-rexec recording (not zstd, not asciicast
	// v3, or a plain asciicast file with nothing to verify).
	NotRecording Verdict = "NOT A RECORDING"
	// Tampered: something does not match: the recording was altered or
	// damaged. Check, Frame and Detail say what and where.
	Tampered Verdict = "TAMPERED"
)

// Exit codes of `kubectl rexec verify`: that of the worst verdict among the
// files (severity). Usage errors exit 1 too.
const (
	ExitOK           = 0
	ExitError        = 1
	ExitAbrupt       = 2
	ExitTampered     = 3
	ExitNotRecording = 4
	ExitUnsigned     = 5
	ExitConsistent   = 6
	ExitUnwitnessed  = 7
)

// ExitCode is the verdict's exit code.
func (v Verdict) ExitCode() int {
	switch v {
	case OK:
		return ExitOK
	case Consistent:
		return ExitConsistent
	case Unsigned:
		return ExitUnsigned
	case Unwitnessed:
		return ExitUnwitnessed
	case Abrupt:
		return ExitAbrupt
	case NotRecording:
		return ExitNotRecording
	case Tampered:
		return ExitTampered
	}
	return ExitError
}

// severity ranks verdicts, higher is worse, so that a forgery never gets a
// milder verdict than an honest file can: each verdict proves less than the
// one before it. CONSISTENT proves integrity but not authorship; UNSIGNED
// and UNWITNESSED fail a requirement the verifier set (an honest file can
// get them too, but a file can only get OK by meeting it); ABRUPT is
// incomplete and never authenticated (a forger who removes the trailer
// gets nothing milder than an honest unsigned file); ERROR proves nothing
// (an unknown format_version is a choice of whoever wrote the header);
// NOT A RECORDING and TAMPERED are what a file that is no honest
// recording gets.
func (v Verdict) severity() int {
	switch v {
	case OK:
		return 0
	case Consistent:
		return 1
	case Unsigned:
		return 2
	case Unwitnessed:
		return 3
	case Abrupt:
		return 4
	case Error:
		return 5
	case NotRecording:
		return 6
	case Tampered:
		return 7
	}
	return 5
}

// Verdicts lists every verdict from best to worst.
var Verdicts = []Verdict{OK, Consistent, Unsigned, Unwitnessed, Abrupt, Error, NotRecording, Tampered}

// ExitCode is the exit code for a set of results: the worst verdict's.
func ExitCode(results []Result) int {
	worst := OK
	for _, r := range results {
		if r.Verdict.severity() > worst.severity() {
			worst = r.Verdict
		}
	}
	return worst.ExitCode()
}

// The checks a TAMPERED verdict names.
const (
	CheckLayout     = "layout"     // frame/checkpoint/trailer structure of the file
	CheckChain      = "chain"      // the SHA-256 chain over the data frames' bytes
	CheckCheckpoint = "checkpoint" // a checkpoint's payload
	CheckIndex      = "index"      // the index frame against the checkpoints
	CheckContent    = "content"    // a frame's decoded text against its checkpoint
	CheckHeader     = "header"     // the header line
	CheckTrailer    = "trailer"    // the trailer against the chain and the events
	CheckSignature  = "signature"  // the trailer's ed25519 signature
)

// Options tune Verify.
type Options struct {
	// Keys are the trusted public keys (--pub). When set, a recording must
	// carry a valid signature by one of them, else the verdict is UNSIGNED
	// (not signed by any of them) or TAMPERED (the signature fails).
	Keys []ed25519.PublicKey
	// Witness is the cluster's audit log (--audit-log), read for the
	// sessions to verify (ReadAuditLog). When set, a recording must be
	// witnessed by it up to its close, else the verdict is UNWITNESSED, or
	// TAMPERED when the log witnessed something else (witness.go).
	Witness *AuditLog
}

// Result is the verdict for one file, with what was established.
type Result struct {
	File    string  `json:"file"`
	Verdict Verdict `json:"verdict"`
	// Summary is the verdict as printed: "OK (signed by SHA256:...)".
	Summary string `json:"summary"`
	// Check, Frame, Offset: for TAMPERED, which check failed and where
	// (Frame -1 is the trailer).
	Check  string `json:"check,omitempty"`
	Frame  *int   `json:"frame,omitempty"`
	Offset *int64 `json:"offset,omitempty"`
	Detail string `json:"detail,omitempty"`

	// KeyID is the key id in the trailer; SignatureVerified is true when
	// the signature was checked against one of Options.Keys.
	KeyID             string `json:"key_id,omitempty"`
	SignatureVerified bool   `json:"signature_verified"`
	// Authenticated is true when something the verifier trusts vouches for
	// the whole recording: a signature under one of Options.Keys, or the
	// audit log witnessing it up to its close. Only OK has it.
	Authenticated bool `json:"authenticated"`
	// Witness is what the audit log (Options.Witness) says about the
	// recording; nil when no audit log was given.
	Witness *Witnessed `json:"witness,omitempty"`
	// NegativeIntervals counts events whose interval was negative, read as
	// 0 (docs/FORMAT.md, section 4.3): the reference writer never writes
	// one, so some other program wrote (or rewrote) these events.
	NegativeIntervals int64 `json:"negative_intervals,omitempty"`

	SessionID string `json:"session_id,omitempty"`
	AuditID   string `json:"audit_id,omitempty"`
	// Frames is the number of data frames whose chain checked out;
	// Events and Bytes the totals of the events decoded.
	Frames int                 `json:"verified_frames"`
	Events int64               `json:"events"`
	Bytes  *record.StreamBytes `json:"bytes,omitempty"`
	// VerifiedUntil is the session time up to which the hash chain holds
	// (the last checkpoint's time_end). For ABRUPT, RecoveredUntil is the
	// time of the last complete event, which may lie after it.
	VerifiedUntil  *record.Seconds `json:"verified_until,omitempty"`
	RecoveredUntil *record.Seconds `json:"recovered_until,omitempty"`
	// From the trailer, when there is one.
	Duration *record.Seconds `json:"duration,omitempty"`
	Reason   string          `json:"reason,omitempty"`
	ExitCode *int            `json:"exit_code,omitempty"`

	// qualifier goes in parentheses after the verdict: "signed by ...".
	qualifier string
	// notes are appended to the summary after the detail.
	notes []string
}

// File verifies the recording at path.
func File(path string, opts Options) Result {
	res := func() Result {
		if fi, err := source.StatFile(path); err == nil && fi.IsDir {
			return Result{Verdict: Error, Detail: "it is a directory"}
		}
		f, err := source.OpenFile(path)
		if err != nil {
			return Result{Verdict: Error, Detail: err.Error()}
		}
		defer f.Close()
		return Verify(f, f.Size(), opts)
	}()
	res.File = path
	if res.Summary == "" {
		res.Summary = summary(res)
	}
	return res
}

// Verify verifies the recording held by ra, size bytes long.
func Verify(ra io.ReaderAt, size int64, opts Options) Result {
	v := &verifier{ra: ra, size: size, opts: opts}
	res := v.run()
	res.Frames = v.frames
	if v.haveVerified {
		t := v.verifiedUntil
		res.VerifiedUntil = &t
	}
	if opts.Witness != nil {
		res = v.witness(res)
	}
	if n := v.negIntervals; n > 0 {
		res.NegativeIntervals = n
		res.notes = append(res.notes, fmt.Sprintf("%d events have a negative interval, read as 0: "+
			"the reference writer never writes one, so another program wrote these events", n))
	}
	if res.Summary == "" {
		res.Summary = summary(res)
	}
	return res
}

// summary is the verdict as printed: "TAMPERED (chain check, frame 3 at
// offset 1234): ...", "OK (signed by KEY-ID)", "ABRUPT: ...".
func summary(r Result) string {
	s := string(r.Verdict)
	if r.qualifier != "" {
		s += " (" + r.qualifier + ")"
	}
	if r.Verdict == Tampered && r.Check != "" {
		s += " (" + r.Check + " check"
		switch {
		case r.Frame != nil && *r.Frame >= 0 && r.Offset != nil:
			s += fmt.Sprintf(", frame %d at offset %d", *r.Frame, *r.Offset)
		case r.Offset != nil:
			s += fmt.Sprintf(", offset %d", *r.Offset)
		}
		s += ")"
	}
	if r.Detail != "" {
		s += ": " + r.Detail
	}
	for _, n := range r.notes {
		s += "; note: " + n
	}
	return s
}

// chainSeed is hashed to give H_0 (docs/FORMAT.md, section 5).
const chainSeed = "kubectl-rexec recording chain v1"

const (
	zstdMagic        = 0xFD2FB528
	indexMagic       = 0x184D2A5D
	checkpointMagic  = 0x184D2A5E
	trailerMagic     = 0x184D2A5F
	skippableMask    = 0xFFFFFFF0
	skippableBase    = 0x184D2A50
	maxPayload       = 1 << 20
	notZstdSearchMax = 4 << 20
)

// The keys every checkpoint and trailer carries (docs/FORMAT.md 3.1, 3.2).
var (
	checkpointKeys = []string{"seq", "offset", "size", "text_offset", "text_size", "time_start", "time_end", "events", "chain"}
	trailerKeys    = []string{"end", "duration", "reason", "message", "exit_code", "frames", "events", "bytes", "chain", "header_sha256"}
	bytesKeys      = []string{"o", "e", "i"}
	reasons        = map[string]bool{
		string(record.ReasonExited): true, string(record.ReasonConnectionLost): true,
		string(record.ReasonInterrupted): true, string(record.ReasonRecordingError): true,
	}
)

type verifier struct {
	ra   io.ReaderAt
	size int64
	opts Options

	frames        int // data frames whose chain checked out
	verifiedUntil record.Seconds
	haveVerified  bool
	trailerRaw    map[string]json.RawMessage
	cpPayloads    [][]byte // every checkpoint's payload, in order
	cpEnd         int64    // the offset after the last checkpoint
	// The index's markers, as written, for decode to check against the m
	// events.
	indexMarkers    []byte
	hasIndexMarkers bool
	negIntervals    int64 // events with a negative interval (decode)
	// What the witness check needs: the layout and, once decoded, the
	// trailer (nil for a recording without one).
	ix      *record.Index
	trailer *record.Trailer
}

func tampered(check string, frame int, off int64, format string, args ...any) Result {
	return Result{Verdict: Tampered, Check: check, Frame: &frame, Offset: &off, Detail: fmt.Sprintf(format, args...)}
}

func (v *verifier) run() Result {
	if v.size == 0 {
		return Result{Verdict: Abrupt, Detail: "the file is empty; the session never began"}
	}
	var m [4]byte
	n, err := v.ra.ReadAt(m[:min(4, v.size)], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return Result{Verdict: Error, Detail: err.Error()}
	}
	if n < 4 {
		if bytes.Equal(m[:n], []byte{0x28, 0xb5, 0x2f, 0xfd}[:n]) {
			return Result{Verdict: Abrupt, Detail: "the file ends inside the header frame; the session never began"}
		}
		return Result{Verdict: NotRecording, Detail: "the file is not zstd-compressed"}
	}
	if magic := binary.LittleEndian.Uint32(m[:]); magic != zstdMagic && magic&skippableMask != skippableBase {
		if off, what, ok := v.findStructure(0, min(v.size, notZstdSearchMax)); ok {
			return tampered(CheckLayout, 0, 0, "the file does not start with a zstd frame (it starts with %08x), yet holds a kubectl-rexec %s at offset %d", magic, what, off)
		}
		return Result{Verdict: NotRecording, Detail: "the file is not zstd-compressed"}
	}

	ix, err := record.Scan(v.ra, v.size)
	if err != nil {
		var ce *record.CorruptError
		if !errors.As(err, &ce) {
			return Result{Verdict: Error, Detail: err.Error()}
		}
		// Damage before the one Scan found is reported first.
		if ix != nil {
			if r := v.chain(ix); r != nil {
				return *r
			}
		}
		check := CheckLayout
		if ce.Frame < 0 {
			check = CheckTrailer
		}
		return tampered(check, ce.Frame, ce.Offset, "%v", ce.Err)
	}
	if ix.Abrupt {
		if r := v.disambiguate(ix); r != nil {
			return *r
		}
	}
	if r := v.chain(ix); r != nil {
		return *r
	}
	if r := v.payloads(ix); r != nil {
		return *r
	}
	if r := v.index(ix); r != nil {
		return *r
	}
	return v.decode(ix)
}

// chain recomputes the hash chain over every checkpointed frame, before
// anything is decoded.
func (v *verifier) chain(ix *record.Index) *Result {
	h := sha256.Sum256([]byte(chainSeed))
	hasher := sha256.New()
	for i, f := range ix.Frames {
		if f.Checkpoint == nil || !f.Complete {
			break
		}
		hasher.Reset()
		hasher.Write(h[:])
		if _, err := io.Copy(hasher, io.NewSectionReader(v.ra, f.Offset, f.Size)); err != nil {
			return &Result{Verdict: Error, Detail: fmt.Sprintf("read frame %d: %v", i, err)}
		}
		hasher.Sum(h[:0])
		if got := hex.EncodeToString(h[:]); got != f.Checkpoint.Chain {
			r := tampered(CheckChain, i, f.Offset, "frame %d (offset %d, %d bytes) hashes to chain %s, its checkpoint says %s: the frame or its checkpoint was altered", i, f.Offset, f.Size, got, f.Checkpoint.Chain)
			return &r
		}
		v.frames = i + 1
		v.verifiedUntil, v.haveVerified = f.Checkpoint.TimeEnd, true
	}
	return nil
}

// payloads checks that every checkpoint and the trailer carry all their
// keys, spelled exactly.
func (v *verifier) payloads(ix *record.Index) *Result {
	v.cpPayloads, v.cpEnd = v.cpPayloads[:0], 0
	for i, f := range ix.Frames {
		if f.Checkpoint == nil {
			break
		}
		off, p, err := v.ourFrameAfter(f.Offset+f.Size, checkpointMagic)
		if err != nil {
			r := tampered(CheckLayout, i, f.Offset, "checkpoint of frame %d: %v", i, err)
			return &r
		}
		if _, err := objectKeys(p, checkpointKeys); err != nil {
			r := tampered(CheckCheckpoint, i, off, "checkpoint of frame %d at offset %d: %v", i, off, err)
			return &r
		}
		v.cpPayloads = append(v.cpPayloads, p)
		v.cpEnd = off + 8 + int64(len(p))
	}
	if ix.Trailer == nil {
		return nil
	}
	off := ix.TrailerOffset
	p, err := v.payloadAt(off)
	if err != nil {
		r := tampered(CheckTrailer, -1, off, "%v", err)
		return &r
	}
	m, err := objectKeys(p, trailerKeys)
	if err == nil {
		_, err = objectKeys(m["bytes"], bytesKeys)
		if err != nil {
			err = fmt.Errorf("bytes: %w", err)
		}
	}
	if err != nil {
		r := tampered(CheckTrailer, -1, off, "trailer at offset %d: %v", off, err)
		return &r
	}
	v.trailerRaw = m
	return nil
}

// index checks the index frame (docs/FORMAT.md, section 3.4): the trailer's
// index_offset, spelled exactly, must point right after the last
// checkpoint at an index frame that ends at the trailer and holds exactly
// the checkpoints' payloads; an index frame that no trailer points at is
// tampering too, so that removing the key cannot hide a changed index.
func (v *verifier) index(ix *record.Index) *Result {
	if ix.Trailer == nil {
		return nil
	}
	var at *int64
	if raw, ok := v.trailerRaw["index_offset"]; ok {
		var off int64
		if err := json.Unmarshal(raw, &off); err != nil {
			r := tampered(CheckTrailer, -1, ix.TrailerOffset, "trailer: index_offset %s is not an offset", raw)
			return &r
		}
		at = &off
	}
	pos := v.cpEnd
	found := false
	for pos < ix.TrailerOffset {
		var h [8]byte
		if _, err := v.ra.ReadAt(h[:], pos); err != nil {
			return &Result{Verdict: Error, Detail: fmt.Sprintf("read at %d: %v", pos, err)}
		}
		end := pos + 8 + int64(binary.LittleEndian.Uint32(h[4:]))
		if binary.LittleEndian.Uint32(h[:4]) == indexMagic {
			if at == nil || *at != pos {
				r := tampered(CheckIndex, -1, pos, "an index frame at offset %d that the trailer does not point at", pos)
				return &r
			}
			if end != ix.TrailerOffset {
				r := tampered(CheckIndex, -1, pos, "the index frame at offset %d does not end at the trailer", pos)
				return &r
			}
			if r := v.indexPayload(pos); r != nil {
				return r
			}
			found = true
		}
		pos = end
	}
	if at != nil && !found {
		r := tampered(CheckIndex, -1, ix.TrailerOffset, "the trailer points at an index at offset %d, but none is there", *at)
		return &r
	}
	return nil
}

// indexPayload checks the index frame at off byte for byte against the
// checkpoints it copies.
func (v *verifier) indexPayload(off int64) *Result {
	var h [8]byte
	if _, err := v.ra.ReadAt(h[:], off); err != nil {
		return &Result{Verdict: Error, Detail: fmt.Sprintf("read at %d: %v", off, err)}
	}
	n := int64(binary.LittleEndian.Uint32(h[4:]))
	want := []byte(`{"checkpoints":[`)
	for i, p := range v.cpPayloads {
		if i > 0 {
			want = append(want, ',')
		}
		want = append(want, p...)
	}
	want = append(want, ']')
	got := make([]byte, n)
	if _, err := v.ra.ReadAt(got, off+8); err != nil {
		return &Result{Verdict: Error, Detail: fmt.Sprintf("read at %d: %v", off+8, err)}
	}
	if i := firstDiff(got, want); i >= 0 || len(got) < len(want) {
		if i < 0 {
			i = len(got)
		}
		r := tampered(CheckIndex, -1, off+8+int64(i), "the index at offset %d differs from the checkpoints at byte %d", off, i)
		return &r
	}
	// Then "}" alone, or the markers, which decode checks against the
	// recording's m events.
	rest := got[len(want):]
	const markersKey = `,"markers":[`
	switch {
	case string(rest) == "}":
	case len(rest) >= len(markersKey)+2 && string(rest[:len(markersKey)]) == markersKey && string(rest[len(rest)-2:]) == "]}":
		v.indexMarkers = rest[len(markersKey) : len(rest)-2]
		v.hasIndexMarkers = true
	default:
		r := tampered(CheckIndex, -1, off+8+int64(len(want)), "the index at offset %d holds something after its checkpoints that is not its markers", off)
		return &r
	}
	return nil
}

// firstDiff is the first index where a and b differ within their common
// length, -1 when one is a prefix of the other.
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// objectKeys decodes a JSON object and checks that it has every key in
// want, spelled exactly, and no key that differs from one of them only in
// case (which encoding/json would take for it). Other keys are allowed:
// later versions may add them.
func objectKeys(p []byte, want []string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(p, &m); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	if m == nil {
		return nil, errors.New("not a JSON object")
	}
	for _, k := range want {
		if _, ok := m[k]; !ok {
			return nil, fmt.Errorf("key %q is missing", k)
		}
	}
	for k := range m {
		for _, w := range want {
			if k != w && strings.EqualFold(k, w) {
				return nil, fmt.Errorf("key %q is not %q", k, w)
			}
		}
	}
	return m, nil
}

// ourFrameAfter returns the payload of the first skippable frame with magic
// at or after pos, skipping other skippable frames (Scan has checked the
// layout already).
func (v *verifier) ourFrameAfter(pos int64, magic uint32) (int64, []byte, error) {
	for {
		var h [8]byte
		if _, err := v.ra.ReadAt(h[:], pos); err != nil {
			return pos, nil, fmt.Errorf("read at %d: %v", pos, err)
		}
		mg := binary.LittleEndian.Uint32(h[:4])
		if mg == magic {
			p, err := v.payloadAt(pos)
			return pos, p, err
		}
		if mg&skippableMask != skippableBase {
			return pos, nil, fmt.Errorf("no checkpoint at offset %d", pos)
		}
		pos += 8 + int64(binary.LittleEndian.Uint32(h[4:]))
	}
}

// payloadAt reads the payload of the skippable frame at off.
func (v *verifier) payloadAt(off int64) ([]byte, error) {
	var h [8]byte
	if _, err := v.ra.ReadAt(h[:], off); err != nil {
		return nil, fmt.Errorf("read at %d: %v", off, err)
	}
	n := int64(binary.LittleEndian.Uint32(h[4:]))
	if n > maxPayload || off+8+n > v.size {
		return nil, fmt.Errorf("skippable frame at offset %d has a bad length %d", off, n)
	}
	p := make([]byte, n)
	if _, err := v.ra.ReadAt(p, off+8); err != nil {
		return nil, fmt.Errorf("read at %d: %v", off+8, err)
	}
	return p, nil
}

// skippableEnd returns the offset after the skippable frame at off.
func (v *verifier) skippableEnd(off int64) int64 {
	var h [8]byte
	if _, err := v.ra.ReadAt(h[:], off); err != nil {
		return v.size
	}
	return off + 8 + int64(binary.LittleEndian.Uint32(h[4:]))
}

// disambiguate tells a file that was cut off from one whose layout was
// altered so that its walk runs off the end. A cut leaves a prefix of a
// recording: nothing complete can follow the structure the cut landed in.
// So if a complete checkpoint or trailer lies after that point, or if the
// torn checkpoint or trailer holds a complete JSON object (its length field
// was altered), the file was tampered with.
func (v *verifier) disambiguate(ix *record.Index) *Result {
	var from int64
	tornAt := int64(-1)
	frame := len(ix.Frames) - 1
	if frame >= 0 {
		last := ix.Frames[frame]
		switch {
		case last.Checkpoint != nil:
			cp, _, err := v.ourFrameAfter(last.Offset+last.Size, checkpointMagic)
			if err != nil {
				r := tampered(CheckLayout, frame, last.Offset, "checkpoint of frame %d: %v", frame, err)
				return &r
			}
			from = v.skippableEnd(cp)
			tornAt = v.pastWholeSkippables(from)
		case last.Complete:
			from = last.Offset
			tornAt = last.Offset + last.Size
		default:
			from = last.Offset
		}
	}
	if tornAt >= 0 && tornAt+8 <= v.size {
		var h [8]byte
		if _, err := v.ra.ReadAt(h[:], tornAt); err == nil {
			mg := binary.LittleEndian.Uint32(h[:4])
			n := int64(binary.LittleEndian.Uint32(h[4:]))
			if (mg == checkpointMagic || mg == trailerMagic || mg == indexMagic) && tornAt+8+n > v.size {
				dec := json.NewDecoder(io.NewSectionReader(v.ra, tornAt+8, min(v.size-tornAt-8, maxPayload)))
				var raw json.RawMessage
				if dec.Decode(&raw) == nil && len(raw) > 0 && raw[0] == '{' {
					what := map[uint32]string{checkpointMagic: "checkpoint", trailerMagic: "trailer", indexMagic: "index"}[mg]
					r := tampered(CheckLayout, frame, tornAt, "the %s at offset %d declares %d bytes, more than the file holds, yet its JSON is complete: its length was altered, the file was not cut off", what, tornAt, n)
					return &r
				}
			}
		}
	}
	if off, what, ok := v.findStructure(from, v.size); ok {
		r := tampered(CheckLayout, max(frame, 0), from, "the file looks cut off at frame %d, yet a complete %s lies at offset %d: a frame header or block header was altered, the file was not cut off", max(frame, 0), what, off)
		return &r
	}
	return nil
}

// pastWholeSkippables returns the offset after the whole skippable frames
// (the index, someone else's) that start at pos, stopping at a trailer.
func (v *verifier) pastWholeSkippables(pos int64) int64 {
	for pos+8 <= v.size {
		var h [8]byte
		if _, err := v.ra.ReadAt(h[:], pos); err != nil {
			return pos
		}
		mg := binary.LittleEndian.Uint32(h[:4])
		end := pos + 8 + int64(binary.LittleEndian.Uint32(h[4:]))
		if mg&skippableMask != skippableBase || mg == trailerMagic || end > v.size {
			return pos
		}
		pos = end
	}
	return pos
}

// findStructure looks in [from, end) for what can only be one of our
// skippable frames: the bytes 2A 4D 18 of a skippable magic (whatever its
// first byte: an altered magic counts too), a length that fits in the file,
// and a JSON object payload with a "chain" key, as checkpoints and trailers
// have. Compressed data matching all that by chance is not a practical
// concern, and stored frames never hold byte 0x18 (it is escaped in JSON).
func (v *verifier) findStructure(from, end int64) (int64, string, bool) {
	const chunk = 1 << 20
	pat := []byte{0x2a, 0x4d, 0x18}
	buf := make([]byte, chunk+2)
	for base := from; base < end; base += chunk {
		n, err := v.ra.ReadAt(buf[:min(int64(len(buf)), end-base)], base)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, "", false
		}
		b := buf[:n]
		for i := 0; ; {
			j := bytes.Index(b[i:], pat)
			if j < 0 {
				break
			}
			p := base + int64(i+j) - 1 // the magic's first byte
			i += j + 1
			if p < from {
				continue
			}
			if what, ok := v.ourPayloadAt(p); ok {
				return p, what, true
			}
		}
	}
	return 0, "", false
}

func (v *verifier) ourPayloadAt(p int64) (string, bool) {
	var h [8]byte
	if p+8 > v.size {
		return "", false
	}
	if _, err := v.ra.ReadAt(h[:], p); err != nil {
		return "", false
	}
	n := int64(binary.LittleEndian.Uint32(h[4:]))
	if n < 2 || n > maxPayload || p+8+n > v.size {
		return "", false
	}
	pl := make([]byte, n)
	if _, err := v.ra.ReadAt(pl, p+8); err != nil {
		return "", false
	}
	var m map[string]json.RawMessage
	if pl[0] != '{' || json.Unmarshal(pl, &m) != nil {
		return "", false
	}
	if _, ok := m["chain"]; !ok {
		return "", false
	}
	if _, ok := m["header_sha256"]; ok {
		return "trailer", true
	}
	return "checkpoint", true
}

// decode reads every event, which checks each frame's text against its
// checkpoint and the trailer's totals, then cross-checks the trailer.
func (v *verifier) decode(ix *record.Index) Result {
	v.ix = ix
	rd, err := record.NewReader(v.ra, v.size)
	if err != nil {
		return v.readError(err, nil)
	}
	defer rd.Close()
	h := rd.Header()
	base := Result{}
	if h.Rexec != nil {
		base.SessionID, base.AuditID = h.Rexec.SessionID, h.Rexec.AuditID
	}
	if h.Rexec == nil && (len(ix.Frames) == 0 || ix.Frames[0].Checkpoint == nil) {
		base.Verdict, base.Detail = NotRecording, "a plain asciicast v3 file, without the rexec header, checkpoints or trailer: nothing to verify"
		return base
	}
	var (
		marks            []byte // the index's markers, rebuilt from the m events
		events           int64
		streams          record.StreamBytes
		xEvents          int
		last             record.Event
		lastAt           time.Duration
		haveLast, lastIn bool
	)
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			base.Events, base.Bytes = events, &streams
			v.negIntervals = rd.NegativeIntervals()
			return v.readError(err, &base)
		}
		events++
		switch ev.Code {
		case 'o':
			streams.O += int64(len(ev.Data))
		case 'e':
			streams.E += int64(len(ev.Data))
		case 'i':
			streams.I += int64(len(ev.Data))
			lastIn = true
		case 'x':
			xEvents++
		case 'm':
			if len(marks) > 0 {
				marks = append(marks, ',')
			}
			marks = record.AppendIndexMarker(marks, ev.Time, ev.Data)
		}
		last, lastAt, haveLast = ev, ev.Time, true
	}
	base.Events, base.Bytes = events, &streams
	v.negIntervals = rd.NegativeIntervals()
	if v.hasIndexMarkers && !bytes.Equal(marks, v.indexMarkers) {
		i := max(firstDiff(marks, v.indexMarkers), 0)
		r := tampered(CheckIndex, -1, ix.TrailerOffset, "the index's markers differ from the recording's marker events (from byte %d of the list)", i)
		r.SessionID, r.AuditID, r.Events, r.Bytes = base.SessionID, base.AuditID, base.Events, base.Bytes
		return r
	}
	t := rd.Trailer()
	if t == nil {
		base.Verdict, base.Detail = NotRecording, "a plain asciicast v3 file without checkpoints or trailer: nothing to verify"
		return base
	}
	v.trailer = t
	d := t.Duration
	base.Duration, base.Reason, base.ExitCode = &d, t.Reason, t.ExitCode
	bad := func(format string, args ...any) Result {
		r := tampered(CheckTrailer, -1, ix.TrailerOffset, format, args...)
		r.SessionID, r.AuditID, r.Events, r.Bytes = base.SessionID, base.AuditID, base.Events, base.Bytes
		return r
	}
	if v.trailerRaw == nil {
		return bad("the trailer was not checked")
	}
	// What the chain does not cover, checked against what it does.
	if !reasons[t.Reason] {
		return bad("reason %q is not one of exited, connection lost, interrupted, recording error", t.Reason)
	}
	if t.Reason == string(record.ReasonExited) && t.ExitCode == nil {
		return bad("reason exited without an exit code")
	}
	switch {
	case xEvents > 1:
		return bad("the recording holds %d exit status events; a session has one", xEvents)
	case t.ExitCode == nil && xEvents > 0:
		return bad("exit_code is null, but the recording holds the exit status event %q", last.Data)
	case t.ExitCode != nil && (!haveLast || last.Code != 'x'):
		return bad("exit_code is %d, but the recording does not end with an exit status event", *t.ExitCode)
	case t.ExitCode != nil && string(last.Data) != strconv.Itoa(*t.ExitCode):
		return bad("exit_code is %d, but the recorded exit status is %s", *t.ExitCode, last.Data)
	}
	if cps := ix.Checkpoints(); len(cps) > 0 && t.Duration < cps[len(cps)-1].TimeEnd {
		return bad("duration %v is shorter than the session's last event at %v", t.Duration.Duration(), cps[len(cps)-1].TimeEnd.Duration())
	}
	if haveLast && t.Duration.Duration() < lastAt.Truncate(time.Microsecond) {
		return bad("duration %v is shorter than the session's last event at %v", t.Duration.Duration(), lastAt)
	}
	var endText string
	if err := json.Unmarshal(v.trailerRaw["end"], &endText); err != nil {
		return bad("end is not a string")
	}
	if canon := t.End.UTC().Format(time.RFC3339Nano); endText != canon {
		return bad("end %q is not written as the format requires (%q)", endText, canon)
	}
	if h.Rexec != nil && h.Rexec.InputOmitted && (t.Bytes.I != 0 || lastIn) {
		return bad("the header says input was not recorded, yet the recording holds input")
	}
	return v.signature(t, base, ix.TrailerOffset)
}

// readError turns a Reader error into a verdict.
func (v *verifier) readError(err error, base *Result) Result {
	r := Result{}
	if base != nil {
		r = *base
	}
	var ae *record.AbruptError
	var ce *record.CorruptError
	switch {
	case errors.As(err, &ae):
		at := record.Seconds(ae.At)
		r.Verdict, r.RecoveredUntil = Abrupt, &at
		if v.haveVerified {
			r.Detail = fmt.Sprintf("no trailer (%s); the hash chain holds up to %v (frame %d); the rest is missing", ae.Detail, v.verifiedUntil.Duration(), v.frames-1)
			if ae.At > v.verifiedUntil.Duration() {
				r.Detail += fmt.Sprintf("; events up to %v were recovered after it, not covered by a checkpoint", ae.At)
			}
		} else {
			r.Detail = fmt.Sprintf("no trailer (%s); no frame is covered by a checkpoint", ae.Detail)
		}
	case errors.As(err, &ce):
		check := CheckContent
		if ce.Frame < 0 {
			check = CheckTrailer
		} else if ce.Frame == 0 {
			check = CheckHeader
		}
		f, off := ce.Frame, ce.Offset
		r.Verdict, r.Check, r.Frame, r.Offset, r.Detail = Tampered, check, &f, &off, ce.Err.Error()
	case errors.Is(err, record.ErrNotRecording):
		if v.frames > 0 {
			r.Verdict, r.Check, r.Detail = Tampered, CheckHeader, err.Error()
		} else {
			r.Verdict, r.Detail = NotRecording, strings.TrimPrefix(err.Error(), record.ErrNotRecording.Error()+": ")
		}
	case errors.Is(err, record.ErrUnsupportedVersion):
		r.Verdict, r.Detail = Error, err.Error()
	default:
		r.Verdict, r.Detail = Error, err.Error()
	}
	return r
}

// signature checks the trailer's signature, if any, against opts.Keys.
func (v *verifier) signature(t *record.Trailer, base Result, off int64) Result {
	bad := func(format string, args ...any) Result {
		r := tampered(CheckSignature, -1, off, format, args...)
		r.SessionID, r.AuditID, r.Events, r.Bytes = base.SessionID, base.AuditID, base.Events, base.Bytes
		r.Duration, r.Reason, r.ExitCode, r.KeyID = base.Duration, base.Reason, base.ExitCode, t.KeyID
		return r
	}
	_, hasSig := v.trailerRaw["signature"]
	_, hasKID := v.trailerRaw["key_id"]
	res := base
	res.KeyID = t.KeyID
	if !hasSig && !hasKID {
		if len(v.opts.Keys) > 0 {
			res.Verdict, res.Detail = Unsigned, "the recording is not signed"
			return res
		}
		res.Verdict, res.qualifier = Consistent, "unsigned: not authenticated"
		return res
	}
	if hasSig != hasKID || t.Signature == "" || t.KeyID == "" {
		return bad("the trailer must carry both signature and key_id, or neither")
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(t.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return bad("the signature is not a base64 ed25519 signature")
	}
	if !validKeyID(t.KeyID) {
		return bad("key_id %q is not a SHA256 key fingerprint", t.KeyID)
	}
	if len(v.opts.Keys) == 0 {
		// Anyone can write a key id and 64 random bytes: without the key
		// the signature proves nothing.
		res.Verdict = Consistent
		res.qualifier = "claims a signature by " + t.KeyID + ", not checked: no --pub key given; not authenticated"
		return res
	}
	msg := record.SigningInput(t)
	for _, k := range v.opts.Keys {
		if ed25519.Verify(k, msg, sig) {
			if id := record.KeyID(k); id != t.KeyID {
				return bad("the signature is by %s, but key_id says %s: key_id was altered", id, t.KeyID)
			}
			res.Verdict, res.SignatureVerified, res.Authenticated = OK, true, true
			res.qualifier = "signed by " + t.KeyID
			return res
		}
	}
	for _, k := range v.opts.Keys {
		if record.KeyID(k) == t.KeyID {
			return bad("the signature by %s does not match the trailer: the trailer (end, duration, reason, message, exit code, totals, chain head or header hash) or the signature was altered", t.KeyID)
		}
	}
	res.Verdict, res.Detail = Unsigned, fmt.Sprintf("signed by %s, which is not one of the given keys", t.KeyID)
	return res
}

func validKeyID(s string) bool {
	rest, ok := strings.CutPrefix(s, "SHA256:")
	if !ok {
		return false
	}
	b, err := base64.RawStdEncoding.Strict().DecodeString(rest)
	return err == nil && len(b) == sha256.Size
}
