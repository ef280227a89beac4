package verify

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

func mustZstd(t testing.TB, p []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	return enc.EncodeAll(p, nil)
}

// testKey is a fixed key, so that fuzz seeds stay valid across runs.
var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

func testPub() ed25519.PublicKey { return testKey.Public().(ed25519.PublicKey) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type buffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func header() record.Header {
	return record.Header{
		Term:      record.Term{Cols: 80, Rows: 24, Type: "xterm-256color"},
		Timestamp: 1795760100,
		Command:   "sh",
		Rexec: &record.Meta{
			SessionID: "5f0c2a9e-8d1b-4c3e-9a57-0b6c1d2e3f40", AuditID: "5f0c2a9e-8d1b-4c3e-9a57-0b6c1d2e3f40",
			User: record.User{Username: "alice"}, Namespace: "default", Pod: "web", Container: "main",
			Argv: []string{"sh"}, TTY: true, Stdin: true, Reason: "debug INC-1", Ticket: "INC-1",
			Start: time.Date(2026, 11, 27, 6, 15, 0, 0, time.UTC),
		},
	}
}

// session writes a real recording with the real writer: many small frames
// (FrameBytes 200), text, binary, input, resizes, a marker.
func session(t testing.TB, signer ed25519.PrivateKey, end record.End) []byte {
	t.Helper()
	return sessionWitnessed(t, signer, end, nil)
}

// sessionWitnessed is session, told to witness as it is written.
func sessionWitnessed(t testing.TB, signer ed25519.PrivateKey, end record.End, witness record.Witness) []byte {
	t.Helper()
	c := &clock{t: time.Date(2026, 11, 27, 6, 15, 0, 0, time.UTC)}
	opts := record.Options{FrameBytes: 200, Now: c.Now, Witness: witness}
	if signer != nil {
		opts.Signer = signer
	}
	var out buffer
	w := record.NewWriter(&out, opts)
	if err := w.Begin(header()); err != nil {
		t.Fatalf("Begin: %v", err)
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.Resize(80, 24))
	for i := 0; i < 12; i++ {
		c.Add(137 * time.Millisecond)
		must(w.Stdout([]byte("$ ")))
		c.Add(time.Second + 3*time.Microsecond)
		must(w.Stdin([]byte("ls -l /tmp\r")))
		c.Add(2 * time.Millisecond)
		must(w.Stdout([]byte("ls -l /tmp\r\ntotal 0\r\n-rw-r--r-- 1 root root 0 file\xff\xfe\r\n")))
		if i == 5 {
			must(w.Resize(120, 40))
			must(w.Marker("half way"))
		}
	}
	c.Add(333333 * time.Microsecond)
	must(w.Close(end))
	return out.b
}

func exited(code int) record.End { return record.End{Reason: record.ReasonExited, ExitCode: &code} }

var interrupted = record.End{Reason: record.ReasonInterrupted, Message: "session interrupted by signal terminated"}

// layout locates the trailer payload and its values in a recording.
type layout struct {
	ix         *record.Index
	trailerOff int64 // the trailer's skippable frame
	payloadOff int64 // its JSON payload
	payload    []byte
}

func locate(t testing.TB, data []byte) layout {
	t.Helper()
	ix, err := record.Scan(bytes.NewReader(data), int64(len(data)))
	if err != nil || ix.Trailer == nil {
		t.Fatalf("scan: %v (trailer %v)", err, ix.Trailer)
	}
	n := binary.LittleEndian.Uint32(data[ix.TrailerOffset+4:])
	p := data[ix.TrailerOffset+8 : ix.TrailerOffset+8+int64(n)]
	return layout{ix: ix, trailerOff: ix.TrailerOffset, payloadOff: ix.TrailerOffset + 8, payload: p}
}

// valueRange is where the value of key lies in the file (strings without
// their quotes).
func (l layout) valueRange(t testing.TB, key string) (int64, int64) {
	t.Helper()
	k := []byte(`"` + key + `":`)
	i := bytes.Index(l.payload, k)
	if i < 0 {
		t.Fatalf("key %s not in trailer %s", key, l.payload)
	}
	start := i + len(k)
	dec := json.NewDecoder(bytes.NewReader(l.payload[start:]))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		t.Fatal(err)
	}
	end := start + len(raw)
	if raw[0] == '"' {
		start++
		end--
	}
	return l.payloadOff + int64(start), l.payloadOff + int64(end)
}

// segments cuts a recording into its parts: for each data frame, the
// frame and its checkpoint; then the trailer.
func segments(t testing.TB, data []byte) ([][]byte, []byte) {
	t.Helper()
	l := locate(t, data)
	var segs [][]byte
	for i, f := range l.ix.Frames {
		end := l.trailerOff
		if i+1 < len(l.ix.Frames) {
			end = l.ix.Frames[i+1].Offset
		}
		segs = append(segs, data[f.Offset:end])
	}
	return segs, data[l.trailerOff:]
}

func join(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func verifyBytes(data []byte, keys ...ed25519.PublicKey) Result {
	return Verify(bytes.NewReader(data), int64(len(data)), Options{Keys: keys})
}

// forgedEvent is one event line of a forged recording: its interval as
// written, its code and its data.
type forgedEvent struct {
	iv   string
	code string
	data string
}

// forge writes a recording the way someone who rewrites one as a whole
// would: the header line and the events as given, compressed, with correct
// checkpoints, chain and trailer; signed with key when it is not nil.
// keyID, when not empty, replaces the key id (signed or not: with key nil
// and keyID set, the signature is 64 random-looking bytes). exit is the
// exit code of a final x event, or nil for none.
func forge(t testing.TB, headerLine string, evs []forgedEvent, exit *int, key ed25519.PrivateKey, keyID string) []byte {
	t.Helper()
	var text []byte
	var us, lastUs int64
	var bytesO, bytesE, bytesI int64
	n := int64(0)
	add := func(iv, code, data string) {
		line, _ := json.Marshal([]any{json.Number(iv), code, data})
		text = append(append(text, line...), '\n')
		n++
		f, err := strconv.ParseFloat(iv, 64)
		if err != nil {
			t.Fatal(err)
		}
		if d := int64(math.Round(f * 1e6)); d > 0 {
			us += d
		}
		lastUs = us
		switch code {
		case "o":
			bytesO += int64(len(data))
		case "e":
			bytesE += int64(len(data))
		case "i":
			bytesI += int64(len(data))
		}
	}
	for _, e := range evs {
		add(e.iv, e.code, e.data)
	}
	if exit != nil {
		add("0.1", "x", strconv.Itoa(*exit))
	}
	hl := []byte(headerLine + "\n")
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderCRC(true))
	if err != nil {
		t.Fatal(err)
	}
	f0, f1 := enc.EncodeAll(hl, nil), enc.EncodeAll(text, nil)
	seed := sha256.Sum256([]byte(chainSeed))
	h1 := sha256.Sum256(append(seed[:], f0...))
	h2 := sha256.Sum256(append(h1[:], f1...))
	var out []byte
	skippable := func(magic uint32, v any) {
		p, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out = binary.LittleEndian.AppendUint32(out, magic)
		out = binary.LittleEndian.AppendUint32(out, uint32(len(p)))
		out = append(out, p...)
	}
	out = append(out, f0...)
	skippable(checkpointMagic, record.Checkpoint{Seq: 0, Offset: 0, Size: int64(len(f0)), TextSize: int64(len(hl)), Chain: hex.EncodeToString(h1[:])})
	off := int64(len(out))
	out = append(out, f1...)
	skippable(checkpointMagic, record.Checkpoint{Seq: 1, Offset: off, Size: int64(len(f1)), TextOffset: int64(len(hl)), TextSize: int64(len(text)),
		TimeEnd: record.Seconds(lastUs * 1000), Events: n, Chain: hex.EncodeToString(h2[:])})
	tr := record.Trailer{
		End: time.Date(2026, 11, 27, 6, 20, 0, 0, time.UTC), Duration: record.Seconds(lastUs * 1000),
		Reason: string(record.ReasonExited), ExitCode: exit, Frames: 2, Events: n,
		Bytes: record.StreamBytes{O: bytesO, E: bytesE, I: bytesI},
		Chain: hex.EncodeToString(h2[:]),
	}
	if exit == nil {
		tr.Reason = string(record.ReasonConnectionLost)
	}
	hs := sha256.Sum256(hl)
	tr.HeaderSHA256 = hex.EncodeToString(hs[:])
	switch {
	case key != nil:
		tr.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, record.SigningInput(&tr)))
		tr.KeyID = record.KeyID(key.Public().(ed25519.PublicKey))
	case keyID != "":
		tr.Signature = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, ed25519.SignatureSize))
	}
	if keyID != "" {
		tr.KeyID = keyID
	}
	skippable(trailerMagic, tr)
	return out
}

// headerLine is header() as the header line, with format_version set.
func headerLine(t testing.TB, edit func(h *record.Header)) string {
	t.Helper()
	h := header()
	h.Version = 3
	h.Rexec.FormatVersion = record.FormatVersion
	if edit != nil {
		edit(&h)
	}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tourEvents is a short session, as in docs/tour.cast.zst, typing cmd.
func tourEvents(cmd string) []forgedEvent {
	return []forgedEvent{
		{"0", "r", "80x24"},
		{"0.5", "o", "$ "},
		{"1.2", "i", cmd + "\r"},
		{"0.003", "o", cmd + "\r\nhello from demo\r\n$ "},
	}
}

func code(c int) *int { return &c }
