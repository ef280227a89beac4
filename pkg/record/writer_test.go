package record

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"
)

// decompress returns the asciicast text of a recording the way any zstd
// tool sees it: skippable frames skipped.
func decompress(t testing.TB, data []byte) []byte {
	t.Helper()
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	text, err := dec.DecodeAll(data, nil)
	if err != nil {
		t.Fatalf("plain zstd decoder: %v", err)
	}
	return text
}

// lines returns the decompressed event lines as [interval, code, data].
func eventLines(t testing.TB, data []byte) [][3]any {
	t.Helper()
	text := decompress(t, data)
	var out [][3]any
	for i, line := range strings.Split(strings.TrimSuffix(string(text), "\n"), "\n")[1:] {
		var ev []any
		if err := json.Unmarshal([]byte(line), &ev); err != nil || len(ev) != 3 {
			t.Fatalf("line %d %q: %v", i+2, line, err)
		}
		out = append(out, [3]any{ev[0], ev[1], ev[2]})
	}
	return out
}

// op is one hot-path call in a random session.
type op struct {
	code byte // 'o', 'e', 'i', 'r', 'm'
	data []byte
	a, b int
}

func randomOps(rng *mrand.Rand, n int) []op {
	chunks := [][]byte{
		[]byte("plain text\r\n"), []byte("\x1b[1;32mgreen\x1b[0m"), []byte("€✓😀 é"),
		{0xff, 0xfe, 0x00, 0x80}, []byte("a\xffb"), []byte("\"quotes\" and \\ and <>&\x7f"),
	}
	var ops []op
	for len(ops) < n {
		switch rng.IntN(12) {
		case 0:
			ops = append(ops, op{code: 'r', a: 1 + rng.IntN(300), b: 1 + rng.IntN(100)})
			continue
		case 1:
			ops = append(ops, op{code: 'm', data: []byte(fmt.Sprintf("marker %d ✓", len(ops)))})
			continue
		}
		code := "oei"[rng.IntN(3)]
		var p []byte
		switch rng.IntN(5) {
		case 0: // binary
			p = make([]byte, rng.IntN(5000))
			_, _ = rand.Read(p)
		case 1: // large text
			p = bytes.Repeat([]byte("log line ✓ \x1b[0m\n"), 1+rng.IntN(30000))
		default:
			for k := rng.IntN(6); k >= 0; k-- {
				p = append(p, chunks[rng.IntN(len(chunks))]...)
			}
		}
		// Cut multi-byte characters across writes at random points.
		for len(p) > 0 {
			k := 1 + rng.IntN(len(p))
			ops = append(ops, op{code: code, data: p[:k]})
			p = p[k:]
		}
	}
	return ops
}

func apply(t testing.TB, w *Writer, o op) {
	t.Helper()
	var err error
	switch o.code {
	case 'o':
		err = w.Stdout(o.data)
	case 'e':
		err = w.Stderr(o.data)
	case 'i':
		err = w.Stdin(o.data)
	case 'r':
		err = w.Resize(o.a, o.b)
	case 'm':
		err = w.Marker(string(o.data))
	}
	if err != nil {
		t.Fatalf("%c: %v", o.code, err)
	}
}

func TestRoundTripRandomSessions(t *testing.T) {
	seeds := 12
	if testing.Short() {
		seeds = 4
	}
	for seed := 0; seed < seeds; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := mrand.New(mrand.NewPCG(uint64(seed), 99))
			ops := randomOps(rng, 300)
			clock := newFakeClock()
			want := map[byte][]byte{}
			var wantMeta []string
			data := record(t, Options{Now: clock.Now, FrameBytes: 64 << 10}, exited(seed), func(w *Writer) {
				// The caller's buffer is reused at once, as io.Copy does.
				buf := make([]byte, 0, 1<<20)
				for _, o := range ops {
					clock.Add(time.Duration(rng.IntN(3_000_000)))
					buf = append(buf[:0], o.data...)
					apply(t, w, op{code: o.code, data: buf, a: o.a, b: o.b})
					clear(buf)
					switch o.code {
					case 'r':
						wantMeta = append(wantMeta, fmt.Sprintf("r%dx%d", o.a, o.b))
					case 'm':
						wantMeta = append(wantMeta, "m"+string(o.data))
					default:
						want[o.code] = append(want[o.code], o.data...)
					}
				}
			})
			_, evs, tr := mustReadAll(t, data)
			got := streamsOf(evs)
			for _, c := range []byte("oei") {
				if !bytes.Equal(got[c], want[c]) {
					t.Errorf("stream %c: read back %d bytes, wrote %d (first difference at %d)", c, len(got[c]), len(want[c]), firstDiff(got[c], want[c]))
				}
			}
			var gotMeta []string
			var last time.Duration
			for _, ev := range evs {
				if ev.Time < last {
					t.Fatalf("event time went back from %v to %v", last, ev.Time)
				}
				last = ev.Time
				if ev.Code == 'r' || ev.Code == 'm' {
					gotMeta = append(gotMeta, string(ev.Code)+string(ev.Data))
				}
			}
			if !reflect.DeepEqual(gotMeta, wantMeta) {
				t.Errorf("resize and marker events %q, want %q", gotMeta, wantMeta)
			}
			if x := evs[len(evs)-1]; x.Code != 'x' || string(x.Data) != fmt.Sprint(seed) {
				t.Errorf("last event %c %q, want the exit status", x.Code, x.Data)
			}
			if tr.Bytes.O != int64(len(want['o'])) || tr.Bytes.E != int64(len(want['e'])) || tr.Bytes.I != int64(len(want['i'])) {
				t.Errorf("trailer bytes %+v", tr.Bytes)
			}
			if tr.ExitCode == nil || *tr.ExitCode != seed || tr.Reason != "exited" || tr.Events != int64(len(eventLines(t, data))) {
				t.Errorf("trailer %+v", tr)
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// Every split of multi-byte characters between two writes is carried over
// and recorded as text, never as binary.
func TestSplitUTF8AtEveryPosition(t *testing.T) {
	text := []byte("aé€😀\u0800\U0010ffff✓z")
	for cut := 0; cut <= len(text); cut++ {
		data := record(t, Options{}, End{Reason: ReasonExited}, func(w *Writer) {
			apply(t, w, op{code: 'o', data: text[:cut]})
			apply(t, w, op{code: 'o', data: text[cut:]})
		})
		_, evs, _ := mustReadAll(t, data)
		if got := streamsOf(evs)['o']; !bytes.Equal(got, text) {
			t.Errorf("cut %d: read back %q", cut, got)
		}
		for _, l := range eventLines(t, data) {
			if l[1] != "o" || !utf8.ValidString(l[2].(string)) {
				t.Errorf("cut %d: event %v, want text events only", cut, l)
			}
		}
	}
}

func TestBinaryEvents(t *testing.T) {
	data := record(t, Options{}, End{Reason: ReasonExited}, func(w *Writer) {
		apply(t, w, op{code: 'o', data: []byte("ab\xffcd")})           // text, binary, text
		apply(t, w, op{code: 'e', data: []byte("a\xffb\xfec\xfd")})    // six runs: one binary event
		apply(t, w, op{code: 'i', data: []byte("x\xe2\x82")})          // "x", then a partial € ...
		apply(t, w, op{code: 'i', data: []byte("\xac")})               // ... completed by the next write
		apply(t, w, op{code: 'o', data: []byte("\xf0\x9f")})           // never completed: binary at Close
		apply(t, w, op{code: 'e', data: []byte{0xe2, 0x82, 'q', 'r'}}) // a partial character that is not completed
	})
	got := eventLines(t, data)
	want := [][2]string{
		{"o", "ab"}, {"O", "/w=="}, {"o", "cd"},
		{"E", "Yf9i/mP9"},
		{"i", "x"}, {"i", "€"},
		{"E", "4oI="}, {"e", "qr"},
		{"O", "8J8="},
	}
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i := range want {
		if got[i][1] != want[i][0] || got[i][2] != want[i][1] {
			t.Errorf("event %d: %v, want %v", i, got[i], want[i])
		}
	}
	// Events made of one write share its time: interval 0 after the first.
	if got[1][0] != 0.0 || got[2][0] != 0.0 {
		t.Errorf("split write intervals %v %v, want 0", got[1][0], got[2][0])
	}
}

// A write larger than maxChunk becomes several events, each within bounds,
// with characters straddling the cut carried over.
func TestLargeWriteIsChunked(t *testing.T) {
	big := bytes.Repeat([]byte("€"), maxChunk) // 3 bytes each, so cuts fall mid-character
	data := record(t, Options{}, End{}, func(w *Writer) { apply(t, w, op{code: 'o', data: big}) })
	_, evs, _ := mustReadAll(t, data)
	if got := streamsOf(evs)['o']; !bytes.Equal(got, big) {
		t.Fatalf("read back %d bytes, want %d", len(got), len(big))
	}
	lines := eventLines(t, data)
	if len(lines) < 3 {
		t.Fatalf("%d events for a %d byte write", len(lines), len(big))
	}
	for _, l := range lines {
		if l[1] != "o" {
			t.Errorf("event code %v, want text", l[1])
		}
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	h := Header{
		Version: 3, Term: Term{Cols: 132, Rows: 43, Type: "xterm-256color"}, Timestamp: 1795760100,
		Command: "bash -l", Title: "default/web/main", Env: map[string]string{"TERM": "xterm-256color", "SHELL": "/bin/sh"},
		Rexec: &Meta{
			FormatVersion: 1, SessionID: "0b6c", User: User{Username: "alice", UID: "u1", Groups: []string{"devs", "system:authenticated"}},
			Context: "prod", Cluster: "c1", Server: "https://k:6443", Namespace: "default", Pod: "web", PodUID: "uid",
			Container: "main", Node: "n1", Image: "img:1", Argv: []string{"bash", "-l"}, ClientArgv: []string{"kubectl-rexec", "-it", "web"},
			TTY: true, Stdin: true, Protocol: "v5.channel.k8s.io (websocket)", ClientHost: "laptop", ClientUser: "al",
			Version: "v0.1.0", Start: time.Date(2026, 11, 27, 6, 15, 0, 123456789, time.UTC), AuditID: "0b6c",
		},
	}
	var out syncBuffer
	w := NewWriter(&out, Options{})
	if err := w.Begin(h); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(End{Reason: ReasonInterrupted, Message: "signal"}); err != nil {
		t.Fatal(err)
	}
	got, evs, tr := mustReadAll(t, out.Bytes())
	if long := strings.Repeat("é", maxMessage); clip(long, maxMessage) != long[:maxMessage]+"…" || clip("ok", 5) != "ok" {
		t.Error("clip does not cut long messages at a character boundary")
	}
	if !reflect.DeepEqual(got, h) {
		t.Errorf("header\n%+v\n%+v\nwant\n%+v\n%+v", got, got.Rexec, h, h.Rexec)
	}
	if len(evs) != 0 || tr.Reason != "interrupted" || tr.Message != "signal" || tr.ExitCode != nil {
		t.Errorf("events %v trailer %+v", evs, tr)
	}
	// The header line is what its hash in the trailer says.
	var line map[string]any
	first, _, _ := bytes.Cut(decompress(t, out.Bytes()), []byte("\n"))
	if err := json.Unmarshal(first, &line); err != nil || line["version"] != 3.0 {
		t.Errorf("header line %s: %v", first, err)
	}
	rexec := line["rexec"].(map[string]any)
	for _, k := range []string{"format_version", "session_id", "user", "argv", "tty", "stdin", "protocol", "client_host", "client_user", "rexec_version", "start", "pod_uid", "audit_id"} {
		if _, ok := rexec[k]; !ok {
			t.Errorf("header rexec object has no %q: %s", k, first)
		}
	}
}

// The decompressed bytes are plain asciicast v3 for any zstd tool.
func TestPlainZstdCompatibility(t *testing.T) {
	data := record(t, Options{FrameBytes: 2048}, exited(0), func(w *Writer) {
		rng := mrand.New(mrand.NewPCG(5, 5))
		for _, o := range randomOps(rng, 200) {
			apply(t, w, o)
		}
	})
	text := decompress(t, data)
	lines := strings.Split(strings.TrimSuffix(string(text), "\n"), "\n")
	var h map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &h); err != nil || h["version"] != 3.0 {
		t.Fatalf("line 1 %q: %v", lines[0], err)
	}
	for i, l := range lines[1:] {
		var ev []any
		if err := json.Unmarshal([]byte(l), &ev); err != nil || len(ev) != 3 {
			t.Fatalf("line %d %q is not a 3-element array: %v", i+2, l, err)
		}
		if _, ok := ev[0].(float64); !ok {
			t.Fatalf("line %d: interval %v", i+2, ev[0])
		}
	}
	if ix, err := Scan(bytes.NewReader(data), int64(len(data))); err != nil || len(ix.Frames) < 3 {
		t.Fatalf("want several frames: %v", err)
	}

	path := filepath.Join(t.TempDir(), "rec.cast.zst")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	zstdCLI := lookPath(t, "zstd")
	if zstdCLI != "" {
		out, err := execOutput(zstdCLI, "-dc", path)
		if err != nil {
			t.Fatalf("zstd -dc: %v", err)
		}
		if !bytes.Equal(out, text) {
			t.Errorf("zstd -dc gives %d bytes, the Go decoder %d", len(out), len(text))
		}
	}
	// Python's json module reads every line too (it is stricter about
	// nothing we produce, but it is what asciinema 2 uses).
	if py := lookPathOptional("python3"); py != "" {
		script := "import json,sys\nfor l in sys.stdin: json.loads(l)\nprint('ok')"
		out, err := execInput(text, py, "-c", script)
		if err != nil || strings.TrimSpace(string(out)) != "ok" {
			t.Errorf("python3 json: %v %s", err, out)
		}
	}
}

// The interval rule: each interval is rounded against the sum printed so
// far, so the printed sum never drifts from the clock.
func TestNoDrift(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	clock := newFakeClock()
	start := clock.Now()
	var lastAbs time.Duration
	data := record(t, Options{Now: clock.Now}, End{}, func(w *Writer) {
		for k := 1; k <= n; k++ {
			lastAbs = time.Duration(int64(k) * 1_000_000 / 3) // k/3 ms exactly, truncated to ns
			clock.mu.Lock()
			clock.t = start.Add(lastAbs)
			clock.mu.Unlock()
			if err := w.Resize(80, 24); err != nil {
				t.Fatal(err)
			}
		}
	})
	text := decompress(t, data)
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Scan() // header
	var sum int64
	lines := 0
	for sc.Scan() {
		l := sc.Bytes()
		num := l[1:bytes.IndexByte(l, ',')]
		us, ok := parseMicros(num)
		if dot := bytes.IndexByte(num, '.'); !ok || (dot >= 0 && len(num)-dot-1 > 6) {
			t.Fatalf("interval %q is not seconds with at most 6 decimals", num)
		}
		sum += us
		lines++
	}
	if lines != n {
		t.Fatalf("%d lines, want %d", lines, n)
	}
	if diff := sum*1000 - int64(lastAbs); diff > 1000 || diff < -1000 {
		t.Errorf("printed intervals sum to %dµs, the last event was at %v: drift %dns", sum, lastAbs, diff)
	}
}

// A later-queued event stamped earlier (two stream goroutines racing) gets
// interval 0: times never go back.
func TestClockGoingBackIsClamped(t *testing.T) {
	clock := newFakeClock()
	data := record(t, Options{Now: clock.Now}, End{}, func(w *Writer) {
		clock.Add(time.Second)
		apply(t, w, op{code: 'o', data: []byte("a")})
		clock.Add(-time.Millisecond)
		apply(t, w, op{code: 'e', data: []byte("b")})
		clock.Add(2 * time.Millisecond)
		apply(t, w, op{code: 'o', data: []byte("c")})
	})
	lines := eventLines(t, data)
	if lines[0][0] != 1.0 || lines[1][0] != 0.0 || lines[2][0] != 0.001 {
		t.Errorf("intervals %v %v %v, want 1 0 0.001", lines[0][0], lines[1][0], lines[2][0])
	}
}

func TestFrameRolloverAtFrameBytes(t *testing.T) {
	clock := newFakeClock()
	const frameBytes = 4096
	data := record(t, Options{Now: clock.Now, FrameBytes: frameBytes}, exited(0), func(w *Writer) {
		for i := 0; i < 400; i++ {
			clock.Add(37 * time.Millisecond)
			apply(t, w, op{code: 'o', data: []byte(fmt.Sprintf("line %d: %s\n", i, strings.Repeat("x", i%90)))})
		}
	})
	ix, err := Scan(bytes.NewReader(data), int64(len(data)))
	if err != nil || ix.Trailer == nil || ix.Abrupt {
		t.Fatalf("scan: %v %+v", err, ix)
	}
	if len(ix.Frames) < 6 {
		t.Fatalf("%d frames for ~20 KiB of events with FrameBytes %d", len(ix.Frames), frameBytes)
	}
	checkIndex(t, data, ix)
	text := decompress(t, data)
	for i, f := range ix.Frames {
		cp := f.Checkpoint
		if i > 0 && i < len(ix.Frames)-1 && (cp.TextSize < frameBytes || cp.TextSize > frameBytes+200) {
			t.Errorf("frame %d holds %d bytes; frames close at the first line boundary past %d", i, cp.TextSize, frameBytes)
		}
		// Frames break at line boundaries only.
		chunk := text[cp.TextOffset : cp.TextOffset+cp.TextSize]
		if len(chunk) == 0 || chunk[len(chunk)-1] != '\n' || bytes.Count(chunk, []byte("\n")) != int(cp.Events)+b2i(i == 0) {
			t.Errorf("frame %d text does not hold %d whole lines", i, cp.Events)
		}
	}
	checkSeek(t, data, ix)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkIndex asserts that checkpoints point at real frames and that the
// chain recomputes, both with VerifyChain and by hand from the definition.
func checkIndex(t *testing.T, data []byte, ix *Index) {
	t.Helper()
	h := chainStart()
	if want := "kubectl-rexec recording chain v1"; h != sha256Sum([]byte(want)) {
		t.Fatal("H_0 is not SHA-256 of the chain seed")
	}
	var sumEvents int64
	for i, f := range ix.Frames {
		cp := f.Checkpoint
		if cp == nil || cp.Seq != i || cp.Offset != f.Offset || cp.Size != f.Size {
			t.Fatalf("frame %d: checkpoint %+v, frame %+v", i, cp, f)
		}
		frame := data[cp.Offset : cp.Offset+cp.Size]
		if !bytes.HasPrefix(frame, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
			t.Fatalf("frame %d: offset %d is not a zstd frame", i, cp.Offset)
		}
		// The checkpoint frame follows immediately.
		next := data[cp.Offset+cp.Size:]
		if !bytes.HasPrefix(next, []byte{0x5e, 0x2a, 0x4d, 0x18}) {
			t.Fatalf("frame %d is not followed by a checkpoint", i)
		}
		h = sha256Sum(append(h[:], frame...))
		if got := fmt.Sprintf("%x", h); got != cp.Chain {
			t.Fatalf("frame %d chain %s, recomputed %s", i, cp.Chain, got)
		}
		sumEvents += cp.Events
	}
	if ix.Trailer.Chain != fmt.Sprintf("%x", h) || ix.Trailer.Frames != len(ix.Frames) || ix.Trailer.Events != sumEvents {
		t.Fatalf("trailer %+v does not match the checkpoints", ix.Trailer)
	}
	if err := ix.VerifyChain(bytes.NewReader(data)); err != nil {
		t.Fatalf("VerifyChain: %v", err)
	}
}

// checkSeek asserts that reading from frame i gives the same events, with
// the same absolute times, as a full read from the start of frame i.
func checkSeek(t *testing.T, data []byte, ix *Index) {
	t.Helper()
	_, all, _ := mustReadAll(t, data)
	var before int64
	for i, f := range ix.Frames {
		r, err := NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.SeekFrame(i); err != nil {
			t.Fatalf("SeekFrame(%d): %v", i, err)
		}
		var got []Event
		for {
			ev, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("after SeekFrame(%d): %v", i, err)
			}
			got = append(got, ev)
		}
		if want := all[before:]; !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("SeekFrame(%d): %d events, want %d", i, len(got), len(want))
		}
		if r.Trailer() == nil {
			t.Fatalf("SeekFrame(%d): no trailer at the end", i)
		}
		before += f.Checkpoint.Events
		r.Close()
	}
	if err := (&Reader{idx: ix}).SeekFrame(len(ix.Frames)); err == nil {
		t.Error("SeekFrame past the end succeeded")
	}
}

func TestFrameRolloverAtFrameSpan(t *testing.T) {
	clock := newFakeClock()
	var out syncBuffer
	w := NewWriter(&out, Options{Now: clock.Now, FrameSpan: 10 * time.Second, FlushEvery: 5 * time.Millisecond})
	if err := w.Begin(testHeader()); err != nil {
		t.Fatal(err)
	}
	// Events 3 s apart: a frame closes when the next event is 10 s or
	// more after the frame's first one.
	for i := 0; i < 10; i++ {
		apply(t, w, op{code: 'o', data: []byte(fmt.Sprintf("tick %d\n", i))})
		clock.Add(3 * time.Second)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := w.Stats().Frames; got != 3 { // header, events 0-3, events 4-7; 8-9 still open
		t.Fatalf("%d frames closed, want 3", got)
	}
	// An idle session: the open frame closes on the clock alone.
	clock.Add(time.Minute)
	deadline := time.Now().Add(10 * time.Second)
	for w.Stats().Frames != 4 {
		if time.Now().After(deadline) {
			t.Fatalf("the idle frame was not closed: %d frames", w.Stats().Frames)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := w.Close(exited(0)); err != nil {
		t.Fatal(err)
	}
	data := out.Bytes()
	ix, err := Scan(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	checkIndex(t, data, ix)
	var spans []string
	for _, f := range ix.Frames[1:] {
		cp := f.Checkpoint
		spans = append(spans, fmt.Sprintf("%d@%v-%v", cp.Events, cp.TimeStart.Duration(), cp.TimeEnd.Duration()))
	}
	// Frame 1 starts at 0 (the first event), frame 2 after event 3 (9 s).
	if want := []string{"4@0s-9s", "4@9s-21s", "2@21s-27s", "1@27s-1m30s"}; !reflect.DeepEqual(spans, want) {
		t.Errorf("frames %v, want %v", spans, want)
	}
	checkSeek(t, data, ix)
}

// Pending data reaches the file within FlushEvery without Close: a torn
// file then holds it.
func TestPeriodicFlush(t *testing.T) {
	var out syncBuffer
	w := NewWriter(&out, Options{FlushEvery: 10 * time.Millisecond})
	if err := w.Begin(testHeader()); err != nil {
		t.Fatal(err)
	}
	defer w.Close(End{})
	apply(t, w, op{code: 'o', data: []byte("hello\n")})
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, evs, _, err := readAll(t, out.Bytes())
		if len(evs) == 1 && string(evs[0].Data) == "hello\n" {
			if !errors.Is(err, ErrAbrupt) {
				t.Fatalf("an unclosed recording read with %v, want ErrAbrupt", err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the event was never flushed: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// failingWriter accepts limit bytes, then fails every write.
type failingWriter struct {
	syncBuffer
	limit int
}

var errDiskFull = errors.New("no space left on device")

func (f *failingWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	room := f.limit - len(f.b)
	f.mu.Unlock()
	if room < len(p) {
		if room > 0 {
			f.syncBuffer.Write(p[:room])
		}
		return max(room, 0), errDiskFull
	}
	return f.syncBuffer.Write(p)
}

func TestWriteErrorStopsRecording(t *testing.T) {
	out := &failingWriter{limit: 3000}
	w := NewWriter(out, Options{FrameBytes: 1024})
	if err := w.Begin(testHeader()); err != nil {
		t.Fatal(err)
	}
	var accepted []byte
	for i := 0; w.Err() == nil; i++ {
		if i > 100000 {
			t.Fatal("the write error never surfaced")
		}
		p := []byte(fmt.Sprintf("event %d %x\n", i, mrand.Uint64()))
		if err := w.Stdout(p); err != nil {
			break
		}
		accepted = append(accepted, p...)
		if i%10 == 0 {
			_ = w.Flush()
		}
	}
	if !errors.Is(w.Err(), errDiskFull) || !strings.Contains(w.Err().Error(), "write recording") {
		t.Fatalf("Err() = %v, want the disk error with context", w.Err())
	}
	// The hot path now fails at once, even with its room used up and
	// nothing left to write it.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 100; i++ {
			if err := w.Stdout([]byte("more")); !errors.Is(err, errDiskFull) {
				t.Errorf("Stdout after the failure: %v", err)
				return
			}
			if err := w.Resize(1, 1); !errors.Is(err, errDiskFull) {
				t.Errorf("Resize after the failure: %v", err)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the hot path blocked after a write error")
	}
	if err := w.Close(exited(0)); !errors.Is(err, errDiskFull) {
		t.Fatalf("Close = %v, want the disk error", err)
	}
	// What reached the disk is still a readable, abrupt recording, and a
	// prefix of what was accepted.
	_, evs, _, err := readAll(t, out.Bytes())
	if !errors.Is(err, ErrAbrupt) {
		t.Fatalf("read: %v, want ErrAbrupt", err)
	}
	got := streamsOf(evs)['o']
	if len(got) == 0 || !bytes.HasPrefix(accepted, got) {
		t.Fatalf("read back %d bytes, not a non-empty prefix of the %d accepted", len(got), len(accepted))
	}
}

// stuckDisk takes limit bytes, then blocks the write that would pass it
// until release. Released, it takes everything, or, when full, fills up
// to limit and fails that write and every later one with errDiskFull.
type stuckDisk struct {
	syncBuffer
	limit int
	stuck chan struct{} // closed when a write first blocks
	gate  chan struct{}
	full  bool
	once  sync.Once
}

func newStuckDisk(limit int, full bool) *stuckDisk {
	return &stuckDisk{limit: limit, full: full, stuck: make(chan struct{}), gate: make(chan struct{})}
}

func (d *stuckDisk) isStuck() bool {
	select {
	case <-d.stuck:
		return true
	default:
		return false
	}
}

func (d *stuckDisk) Write(p []byte) (int, error) {
	d.mu.Lock()
	room := d.limit - len(d.b)
	d.mu.Unlock()
	if len(p) <= room {
		return d.syncBuffer.Write(p)
	}
	d.once.Do(func() { close(d.stuck) })
	<-d.gate
	if !d.full {
		return d.syncBuffer.Write(p)
	}
	if room > 0 {
		d.syncBuffer.Write(p[:room])
	}
	return max(room, 0), errDiskFull
}

// stuckSession records 4 MiB of terminal text in 32 KiB writes, as a bulk
// stream does, onto a disk that gets stuck after 256 KiB. Once a hot-path
// call waits for the stuck disk it returns the writer, the disk, the
// stdout bytes accepted so far (what the tee has shown the user) and a
// channel that delivers the total accepted when the stream ends (all of
// it, or up to the first error).
func stuckSession(t *testing.T, full bool) (*Writer, *stuckDisk, int64, chan int64) {
	t.Helper()
	disk := newStuckDisk(256<<10, full)
	waiting := make(chan struct{}, 1)
	w := NewWriter(disk, Options{onStall: func() {
		if disk.isStuck() {
			select {
			case waiting <- struct{}{}:
			default:
			}
		}
	}})
	if err := w.Begin(testHeader()); err != nil {
		t.Fatal(err)
	}
	text := terminalText(4 << 20)
	var accepted atomic.Int64
	done := make(chan int64, 1)
	go func() {
		for off := 0; off < len(text); off += 32 << 10 {
			if err := w.Stdout(text[off : off+32<<10]); err != nil {
				break
			}
			accepted.Add(32 << 10)
		}
		done <- accepted.Load()
	}()
	select {
	case <-disk.stuck:
	case n := <-done:
		held := len(recorded(t, disk.Bytes()))
		close(disk.gate)
		t.Fatalf("the hot path accepted all %d bytes while the file held %d of them: %d ahead, the limit is %d", n, held, n-int64(held), 256<<10)
	}
	// The stream may have started waiting before the disk got stuck; a
	// second caller, on stdin, checks for room after it: either it waits,
	// or the stream gets room and waits again, and the disk moves no more.
	go func() { _ = w.Stdin(bytes.Repeat([]byte("k"), 32<<10)) }()
	select {
	case <-waiting:
	case n := <-done:
		close(disk.gate)
		t.Fatalf("the hot path accepted all %d bytes while the disk was stuck", n)
	}
	return w, disk, w.Stats().Bytes.O, done
}

// recorded is the stdout a recording's bytes hold, cut off or not.
func recorded(t *testing.T, data []byte) []byte {
	t.Helper()
	_, evs, _, err := readAll(t, data)
	if err != nil && !errors.Is(err, ErrAbrupt) {
		t.Fatalf("read: %v", err)
	}
	return streamsOf(evs)['o']
}

// The hot path gets at most maxUnwritten bytes ahead of the file, and
// loses nothing once the disk moves again.
func TestBackpressureNeverDrops(t *testing.T) {
	w, disk, shown, done := stuckSession(t, false)
	ahead := shown - int64(len(recorded(t, disk.Bytes())))
	t.Logf("accepted %d bytes, %d of them ahead of a stuck disk (limit %d)", shown, ahead, maxUnwritten)
	if ahead > maxUnwritten || ahead <= 0 {
		t.Errorf("the hot path got %d bytes ahead of the file, want 1..%d", ahead, maxUnwritten)
	}
	close(disk.gate)
	if n := <-done; n != 4<<20 {
		t.Fatalf("accepted %d bytes of %d once the disk moved", n, 4<<20)
	}
	if err := w.Close(exited(0)); err != nil {
		t.Fatal(err)
	}
	if got := recorded(t, disk.Bytes()); !bytes.Equal(got, terminalText(4<<20)) {
		t.Errorf("read back %d bytes, not the 4 MiB written", len(got))
	}
}

// A disk that fills up loses at most maxUnwritten bytes of what the
// session showed (issue 17: 77,829 of 2,072,576 bytes were shown and never
// recorded; a queue of 128 writes could hold 4 MiB). The recording that
// remains is a readable prefix of what was shown.
func TestFullDiskLosesAtMostMaxUnwritten(t *testing.T) {
	w, disk, _, done := stuckSession(t, true)
	close(disk.gate)
	shown := <-done // what the tee let through to the user
	if err := w.Close(exited(0)); !errors.Is(err, errDiskFull) {
		t.Fatalf("Close = %v, want the disk error", err)
	}
	got := recorded(t, disk.Bytes())
	if text := terminalText(4 << 20); !bytes.Equal(got, text[:len(got)]) {
		t.Fatal("what the file holds is not a prefix of what was shown")
	}
	lost := shown - int64(len(got))
	t.Logf("shown %d bytes, recorded %d, lost %d (limit %d)", shown, len(got), lost, maxUnwritten)
	if lost > maxUnwritten || lost < 0 || len(got) == 0 {
		t.Errorf("%d bytes shown were never recorded (%d were), want at most %d", lost, len(got), maxUnwritten)
	}
}

// Close from another goroutine (a signal handler) while streams write:
// every write that returned nil is in the recording, later ones fail with
// ErrClosed, nothing panics or hangs.
func TestCloseConcurrentWithHotPath(t *testing.T) {
	for round := 0; round < 20; round++ {
		var out syncBuffer
		w := NewWriter(&out, Options{})
		if err := w.Begin(testHeader()); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var accepted [3]atomic.Int64
		for s, call := range []func([]byte) error{w.Stdout, w.Stderr, w.Stdin} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := []byte("0123456789€")
				for {
					err := call(p)
					if errors.Is(err, ErrClosed) {
						return
					}
					if err != nil {
						t.Errorf("stream %d: %v", s, err)
						return
					}
					accepted[s].Add(int64(len(p)))
				}
			}()
		}
		time.Sleep(time.Duration(round) * time.Millisecond / 4)
		var closeErrs [2]error
		var cwg sync.WaitGroup
		for i := range closeErrs {
			cwg.Add(1)
			go func() { defer cwg.Done(); closeErrs[i] = w.Close(exited(0)) }()
		}
		cwg.Wait()
		wg.Wait()
		if closeErrs[0] != nil || closeErrs[1] != nil {
			t.Fatalf("Close: %v %v", closeErrs[0], closeErrs[1])
		}
		if err := w.Stdout([]byte("late")); !errors.Is(err, ErrClosed) {
			t.Fatalf("Stdout after Close: %v", err)
		}
		_, _, tr := mustReadAll(t, out.Bytes())
		if tr.Bytes.O != accepted[0].Load() || tr.Bytes.E != accepted[1].Load() || tr.Bytes.I != accepted[2].Load() {
			t.Fatalf("recorded %+v, accepted %d %d %d", tr.Bytes, accepted[0].Load(), accepted[1].Load(), accepted[2].Load())
		}
		if st := w.Stats(); st.Bytes != tr.Bytes || st.Events != tr.Events || st.Frames != tr.Frames {
			t.Fatalf("Stats %+v, trailer %+v", st, tr)
		}
	}
}

func TestBeginRules(t *testing.T) {
	w := NewWriter(io.Discard, Options{})
	if err := w.Stdout([]byte("x")); !errors.Is(err, ErrNotBegun) {
		t.Errorf("Stdout before Begin: %v", err)
	}
	if err := w.Resize(1, 1); !errors.Is(err, ErrNotBegun) {
		t.Errorf("Resize before Begin: %v", err)
	}
	if err := w.Begin(Header{Version: 2}); err == nil {
		t.Error("Begin accepted an asciicast v2 header")
	}
	w2 := NewWriter(io.Discard, Options{})
	if err := w2.Begin(testHeader()); err != nil {
		t.Fatal(err)
	}
	if err := w2.Begin(testHeader()); err == nil {
		t.Error("a second Begin succeeded")
	}
	if err := w2.Stdout(nil); err != nil {
		t.Errorf("empty write: %v", err)
	}
	if err := w2.Close(End{}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(End{}); !errors.Is(err, ErrNotBegun) {
		t.Errorf("Close without Begin: %v", err)
	}
}

func TestCreatePermissions(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "a", "b", "rec.cast.zst")
	w, err := Create(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if w.Path() != path {
		t.Errorf("Path() = %q", w.Path())
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("Create wrote before Begin: %v %v", fi.Size(), err)
	}
	if err := w.Begin(testHeader()); err != nil {
		t.Fatal(err)
	}
	apply(t, w, op{code: 'o', data: []byte("hi\n")})
	if err := w.Close(exited(0)); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(root, "a"), filepath.Join(root, "a", "b")} {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, want 0700 (%v)", d, fi.Mode().Perm(), err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v, want 0600 (%v)", fi.Mode().Perm(), err)
	}
	before, _ := os.ReadFile(path)
	if _, err := Create(path, Options{}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create over an existing recording: %v, want ErrExist", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the existing recording was changed")
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if ev, err := r.Next(); err != nil || string(ev.Data) != "hi\n" {
		t.Errorf("Next: %v %v", ev, err)
	}
}

func TestOpenRejectsOtherFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	enc, _ := zstd.NewWriter(nil)
	defer enc.Close()
	for name, data := range map[string][]byte{
		"plain.cast":   []byte(`{"version":3,"term":{"cols":80,"rows":24}}` + "\n"),
		"v2.cast.zst":  enc.EncodeAll([]byte(`{"version":2,"width":80,"height":24}`+"\n[0.5,\"o\",\"x\"]\n"), nil),
		"text.zst":     enc.EncodeAll([]byte("hello world\n"), nil),
		"short":        []byte("ab"),
		"binary.zst":   enc.EncodeAll(bytes.Repeat([]byte{0}, 3<<20), nil),
		"notjson.zst":  enc.EncodeAll([]byte("{not json\n"), nil),
		"noframes.zst": appendSkippable(nil, 0x184D2A50, []byte("x")),
	} {
		p := write(name, data)
		_, err := Open(p)
		if !errors.Is(err, ErrNotRecording) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want ErrNotRecording naming the file", name, err)
		}
	}
	if _, err := Open(write("empty", nil)); !errors.Is(err, ErrAbrupt) {
		t.Errorf("empty file: %v, want ErrAbrupt", err)
	}
	if _, err := Open(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Open(dir); !errors.Is(err, ErrNotRecording) {
		t.Errorf("directory: %v", err)
	}
}

// A recording from a newer, incompatible version is refused, not misread.
func TestNewerFormatVersionIsRefused(t *testing.T) {
	h := testHeader()
	h.Rexec.FormatVersion = FormatVersion + 1
	var out syncBuffer
	w := NewWriter(&out, Options{})
	if err := w.Begin(h); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(exited(0)); err != nil {
		t.Fatal(err)
	}
	_, _, _, err := readAll(t, out.Bytes())
	if !errors.Is(err, ErrUnsupportedVersion) || !strings.Contains(err.Error(), fmt.Sprintf("format_version %d", FormatVersion+1)) {
		t.Errorf("read: %v, want ErrUnsupportedVersion", err)
	}
}

// A zstd-compressed asciicast v3 file from elsewhere (one frame, no
// checkpoints, no rexec object) reads to a clean end.
func TestReadPlainAsciicast(t *testing.T) {
	enc, _ := zstd.NewWriter(nil)
	defer enc.Close()
	cast := "{\"version\": 3, \"term\": {\"cols\": 80, \"rows\": 24}}\n[0.5, \"o\", \"hi\\r\\n\"]\n[1e-1, \"i\", \"x\"]\n[0.25, \"zz\", \"ignored\"]\n[0.1, \"x\", \"0\"]\n"
	data := enc.EncodeAll([]byte(cast), nil)
	h, evs, tr, err := readAll(t, data)
	if err != nil || tr != nil || h.Rexec != nil || h.Term.Cols != 80 {
		t.Fatalf("read: %v %v %+v", err, tr, h)
	}
	want := []Event{
		{Time: 500 * time.Millisecond, Code: 'o', Data: []byte("hi\r\n")},
		{Time: 600 * time.Millisecond, Code: 'i', Data: []byte("x")},
		{Time: 950 * time.Millisecond, Code: 'x', Data: []byte("0")},
	}
	if !reflect.DeepEqual(evs, want) {
		t.Errorf("events %v, want %v", evs, want)
	}
}
