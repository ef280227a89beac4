package record

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// FormatVersion is the header's rexec.format_version this package writes
// and the newest it reads: a later, incompatible layout bumps it, and the
// reader refuses what it cannot read safely rather than misreading it.
// Version 2 writes binary events as O, E, I instead of ob, eb, ib (a
// version 1 reader would skip them as unknown codes and then find the
// trailer's byte counts wrong); the reader accepts both spellings.
const FormatVersion = 2

// Term is the asciicast v3 "term" object.
type Term struct {
	Cols int    `json:"cols"`
	Rows int    `json:"rows"`
	Type string `json:"type,omitempty"`
}

// User is who the API server says ran the session (SelfSubjectReview).
// Error says why that could not be learned; Username is then "unknown".
type User struct {
	Username string   `json:"username"`
	UID      string   `json:"uid,omitempty"`
	Groups   []string `json:"groups,omitempty"`
	// Extra is the user's extra authentication information (user.Info's
	// Extra), as the API server vouched for it.
	Extra map[string][]string `json:"extra,omitempty"`
	Error string              `json:"error,omitempty"`
}

// Meta is the header's "rexec" extension object: who ran what, where, when.
type Meta struct {
	FormatVersion int       `json:"format_version"`
	SessionID     string    `json:"session_id"`
	User          User      `json:"user"`
	Context       string    `json:"context,omitempty"`
	Cluster       string    `json:"cluster,omitempty"`
	Server        string    `json:"server,omitempty"`
	Namespace     string    `json:"namespace"`
	Pod           string    `json:"pod"`
	PodUID        string    `json:"pod_uid,omitempty"`
	Container     string    `json:"container"`
	Node          string    `json:"node,omitempty"`
	Image         string    `json:"image,omitempty"`
	Argv          []string  `json:"argv"`
	ClientArgv    []string  `json:"client_argv,omitempty"`
	TTY           bool      `json:"tty"`
	Stdin         bool      `json:"stdin"`
	Protocol      string    `json:"protocol"`
	ClientHost    string    `json:"client_host"`
	ClientUser    string    `json:"client_user"`
	Version       string    `json:"rexec_version"`
	Start         time.Time `json:"start"`
	AuditID       string    `json:"audit_id,omitempty"`
	// Reason and Ticket say why the session was opened (--reason, --ticket).
	Reason string `json:"reason,omitempty"`
	Ticket string `json:"ticket,omitempty"`
	// InputOmitted: stdin was attached but deliberately not recorded
	// (--record-input=false); the recording has no i/ib events.
	InputOmitted bool `json:"input_omitted,omitempty"`
	// Gateway is the rexec gateway instance that recorded the session on
	// the server side (empty for a recording made by the plugin). Its user
	// is the identity the API server vouched for to the gateway.
	Gateway string `json:"gateway,omitempty"`
	// ClientAuditID is the audit ID of the client's request to the
	// gateway, as the API server logged it; AuditID is then the gateway's
	// own upstream exec request.
	ClientAuditID string `json:"client_audit_id,omitempty"`
	// Via says how a plugin session reached the pod: "gateway" when it
	// went through the rexec gateway (which keeps its own recording).
	Via string `json:"via,omitempty"`
	// InputRedaction says which typed input was recorded as its length
	// only (H events): InputRedactionUnechoed, or empty for none.
	InputRedaction string `json:"input_redaction,omitempty"`
}

// InputRedactionUnechoed: input the remote terminal did not echo back was
// recorded as its length only (docs/FORMAT.md, 4.2).
const InputRedactionUnechoed = "unechoed"

// Header is line 1 of the recording: an asciicast v3 header with the rexec
// extension object.
type Header struct {
	Version   int               `json:"version"`
	Term      Term              `json:"term"`
	Timestamp int64             `json:"timestamp"`
	Command   string            `json:"command,omitempty"`
	Title     string            `json:"title,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
	Rexec     *Meta             `json:"rexec,omitempty"`
}

// EndReason says how a session ended; it is the trailer's "reason".
type EndReason string

// The end reasons a trailer may carry.
const (
	ReasonExited         EndReason = "exited"
	ReasonConnectionLost EndReason = "connection lost"
	ReasonInterrupted    EndReason = "interrupted"
	ReasonRecordingError EndReason = "recording error"
)

// End is what the caller knows about the end of the session when it closes
// the recording.
type End struct {
	Reason   EndReason
	Message  string
	ExitCode *int // nil when the remote exit status is unknown
}

// StreamBytes counts the raw bytes recorded per stream.
type StreamBytes struct {
	O int64 `json:"o"`
	E int64 `json:"e"`
	I int64 `json:"i"`
}

// Seconds is a session time or duration that travels in JSON as seconds
// with at most six decimals (microsecond precision), like event intervals.
type Seconds time.Duration

// Duration returns s as a time.Duration.
func (s Seconds) Duration() time.Duration { return time.Duration(s) }

// MarshalJSON prints s as a JSON number of seconds, microsecond precision.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return appendMicros(nil, roundMicros(int64(s))), nil
}

// MaxSessionMicros is the longest session time, in microseconds, that a
// time.Duration holds (about 292 years). A reader refuses a recording whose
// times pass it rather than let them wrap around.
const MaxSessionMicros = math.MaxInt64 / 1000

// UnmarshalJSON reads a JSON number of seconds.
func (s *Seconds) UnmarshalJSON(b []byte) error {
	us, ok := parseMicros(b)
	if !ok {
		return fmt.Errorf("bad seconds value %q", b)
	}
	if us > MaxSessionMicros || us < -MaxSessionMicros {
		return fmt.Errorf("seconds value %s is out of range (at most %d)", b, MaxSessionMicros/1_000_000)
	}
	*s = Seconds(us * 1000)
	return nil
}

// Checkpoint is the payload of a checkpoint skippable frame: where zstd
// frame Seq is, what it holds, and the hash chain up to and including it.
type Checkpoint struct {
	Seq        int     `json:"seq"`
	Offset     int64   `json:"offset"`
	Size       int64   `json:"size"`
	TextOffset int64   `json:"text_offset"`
	TextSize   int64   `json:"text_size"`
	TimeStart  Seconds `json:"time_start"`
	TimeEnd    Seconds `json:"time_end"`
	Events     int64   `json:"events"`
	Chain      string  `json:"chain"`
}

// Trailer is the payload of the trailer skippable frame that ends a
// recording that was closed properly.
type Trailer struct {
	End          time.Time   `json:"end"`
	Duration     Seconds     `json:"duration"`
	Reason       string      `json:"reason"`
	Message      string      `json:"message"`
	ExitCode     *int        `json:"exit_code"`
	Frames       int         `json:"frames"`
	Events       int64       `json:"events"`
	Bytes        StreamBytes `json:"bytes"`
	Chain        string      `json:"chain"`
	HeaderSHA256 string      `json:"header_sha256"`
	// Signature and KeyID are set when the writer had a Signer (Options):
	// an ed25519 signature, base64, over SigningInput, and the signing
	// key's SHA-256 fingerprint (KeyID). Both or neither.
	Signature string `json:"signature,omitempty"`
	KeyID     string `json:"key_id,omitempty"`
	// IndexOffset is where the index frame starts, when the recording has
	// one (docs/FORMAT.md, section 3.4). It is not signed: the index only
	// saves a reader the walk through the file, and is checked against the
	// frames it describes.
	IndexOffset *int64 `json:"index_offset,omitempty"`
	// Anchors counts the anchors sent to the audit log while the
	// recording was written (Options.Witness); not signed.
	Anchors *Anchors `json:"anchors,omitempty"`
}

// Event is one decoded event. Binary events (O, E, I; ob, eb, ib in format
// version 1) come back as 'o',
// 'e' and 'i' with their exact bytes, so concatenating Data per code gives
// back each stream exactly as it was written.
type Event struct {
	Time time.Duration // absolute session time (sum of the intervals so far)
	Code byte          // 'o', 'e', 'i', 'r', 'x' or 'm'
	Data []byte        // owned by the caller
	// Redacted, for an 'i' event, is how many bytes were typed whose
	// content was not recorded (an H event: input the remote terminal did
	// not echo); Data is then empty.
	Redacted int
}

// Stats is what a Writer has recorded so far.
type Stats struct {
	Events int64 // event lines written
	Frames int   // zstd frames completed, the header frame included
	// RawFrames counts data frames stored uncompressed because compressing
	// them would have slowed the stream (writer_store.go).
	RawFrames int
	Bytes     StreamBytes // raw stream bytes written
}

// Errors. Match them with errors.Is; the errors returned carry detail.
var (
	// ErrNotRecording: the file is not zstd-compressed asciicast v3.
	ErrNotRecording = errors.New("not a kubectl-rexec recording")
	// ErrAbrupt: the recording ends without its trailer (the recorder was
	// killed or the disk filled up). Every complete event before the end
	// was returned.
	ErrAbrupt = errors.New("recording ended abruptly")
	// ErrCorrupt: the recording was damaged or altered.
	ErrCorrupt = errors.New("recording is corrupt")
	// ErrClosed: the Writer was closed.
	ErrClosed = errors.New("recording is closed")
	// ErrUnsupportedVersion: the recording's rexec.format_version is newer
	// than this package knows.
	ErrUnsupportedVersion = errors.New("unsupported recording format version")
	// ErrNotBegun: an event was recorded before Begin.
	ErrNotBegun = errors.New("recording has not begun: Begin must come first")
)

// AbruptError is returned (matching ErrAbrupt) when a recording ends
// without its trailer.
type AbruptError struct {
	At     time.Duration // session time of the last complete event
	Detail string        // what was missing
}

func (e *AbruptError) Error() string {
	s := "recording ended abruptly at " + formatAt(e.At)
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

// Is makes errors.Is(err, ErrAbrupt) true.
func (e *AbruptError) Is(target error) bool { return target == ErrAbrupt }

// CorruptError is returned (matching ErrCorrupt) when a recording is
// damaged: Frame is the zstd frame (0 is the header frame) in which or right
// after which the damage was found, -1 for the trailer; Offset is the file
// offset of that frame.
type CorruptError struct {
	Frame  int
	Offset int64
	Err    error
}

func (e *CorruptError) Error() string {
	where := "frame " + strconv.Itoa(e.Frame)
	if e.Frame < 0 {
		where = "trailer"
	}
	return "recording is corrupt: " + where + " at offset " + strconv.FormatInt(e.Offset, 10) + ": " + e.Err.Error()
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Unwrap gives the underlying failure (a zstd error, say).
func (e *CorruptError) Unwrap() error { return e.Err }

// formatAt prints a session time the way people read it, to the
// microsecond, which is the format's precision.
func formatAt(d time.Duration) string {
	return d.Round(time.Microsecond).String()
}
