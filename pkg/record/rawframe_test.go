package record

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestRawFramesAreStandardZstd checks the frames stored when the writer is
// behind: the reader, a plain zstd decoder and the zstd CLI all read them,
// and a torn raw frame still gives every flushed event.
func TestRawFramesAreStandardZstd(t *testing.T) {
	text := bytes.Repeat([]byte("ls -la \x1b[32mgreen\x1b[0m é\n"), 20000) // > 3 blocks of 128 KiB
	var w *Writer
	data := record(t, Options{forceRaw: true, FrameBytes: 256 << 10}, exited(0), func(wr *Writer) {
		w = wr
		for i := 0; i < len(text); i += 7000 {
			end := min(i+7000, len(text))
			if err := wr.Stdout(text[i:end]); err != nil {
				t.Fatal(err)
			}
		}
		_ = wr.Stderr([]byte{0xff, 0x00})
	})
	if st := w.Stats(); st.RawFrames < 2 {
		t.Fatalf("want several raw frames, stats %+v", st)
	}
	_, evs, _ := mustReadAll(t, data)
	s := streamsOf(evs)
	if !bytes.Equal(s['o'], text) || !bytes.Equal(s['e'], []byte{0xff, 0x00}) {
		t.Fatalf("raw frames lost bytes: stdout %d/%d", len(s['o']), len(text))
	}
	dec, _ := zstd.NewReader(nil)
	plain, err := dec.DecodeAll(data, nil)
	if err != nil {
		t.Fatalf("plain zstd decoder: %v", err)
	}
	if zcli := lookPath(t, "zstd"); zcli != "" {
		out, err := execInput(data, zcli, "-dc")
		if err != nil || !bytes.Equal(out, plain) {
			t.Fatalf("zstd -dc: %v (%d vs %d bytes)", err, len(out), len(plain))
		}
	}
	ix, err := Scan(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.VerifyChain(bytes.NewReader(data)); err != nil {
		t.Fatalf("chain over raw frames: %v", err)
	}
	// Tear the last data frame at many points: never corrupt, always abrupt
	// with a prefix of the events.
	last := ix.Frames[len(ix.Frames)-1]
	for cut := last.Offset + 1; cut < last.Offset+last.Size; cut += 997 {
		_, got, tr, err := readAll(t, data[:cut])
		if !errors.Is(err, ErrAbrupt) || tr != nil {
			t.Fatalf("cut at %d: err %v", cut, err)
		}
		if len(got) > len(evs) {
			t.Fatalf("cut at %d: more events than written", cut)
		}
	}
}

// TestControlHeavyTextGoesBinary: a stream of NULs is stored as base64 (a
// third larger) instead of JSON escapes (six times larger), losslessly.
func TestControlHeavyTextGoesBinary(t *testing.T) {
	zeros := make([]byte, 4096)
	colour := bytes.Repeat([]byte("\x1b[31mred\x1b[0m plain text\r\n"), 100)
	data := record(t, Options{}, exited(0), func(w *Writer) {
		_ = w.Stdout(zeros)
		_ = w.Stdout(colour)
		_ = w.Stdin([]byte{0x03}) // a lone Ctrl-C stays text
	})
	dec, _ := zstd.NewReader(nil)
	plain, err := dec.DecodeAll(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(plain, []byte(`\u0000\u0000`)) || !bytes.Contains(plain, []byte(`"O","AAAA`)) {
		t.Errorf("NULs were not stored as base64")
	}
	if !bytes.Contains(plain, []byte(`"o","\u001b[31mred`)) || !bytes.Contains(plain, []byte(`"i","\u0003"`)) {
		t.Errorf("terminal text or a keystroke did not stay text")
	}
	_, evs, _ := mustReadAll(t, data)
	s := streamsOf(evs)
	if !bytes.Equal(s['o'], append(append([]byte{}, zeros...), colour...)) {
		t.Errorf("stdout not exact")
	}
}

// TestKeystrokeBacklogStaysCompressed: a queue full of tiny writes is no
// reason to store frames (it is a few KiB of text), however far behind the
// writer is.
func TestKeystrokeBacklogStaysCompressed(t *testing.T) {
	var out countingDiscard
	w := NewWriter(&out, Options{})
	if err := w.Begin(Header{Term: Term{Cols: 80, Rows: 24}, Rexec: &Meta{SessionID: "keys"}}); err != nil {
		t.Fatal(err)
	}
	text := terminalText(1 << 20)
	for i := range 300000 {
		if err := w.Stdout(text[i%len(text) : i%len(text)+1]); err != nil {
			t.Fatal(err)
		}
	}
	code := 0
	if err := w.Close(End{Reason: ReasonExited, ExitCode: &code}); err != nil {
		t.Fatal(err)
	}
	if st := w.Stats(); st.RawFrames != 0 || st.Frames < 3 {
		t.Errorf("%d of %d frames stored for a backlog of one-byte writes", st.RawFrames, st.Frames)
	}
}

// slowFile is a file that cannot keep up with the compressor: each write
// costs compressing 16 bytes of text per byte taken, four times the work of
// compressing the text those bytes stand for (terminal text compresses
// about 4:1), and at least 64 KiB of it (a write has a cost of its own, as
// on a disk). The cost is the same kind of work as the compressor's, so a
// loaded machine slows both alike: a fixed rate (a sleep) stayed fixed
// while load slowed the compressor below it, and the file then looked fast.
type slowFile struct {
	enc  *zstd.Encoder
	text []byte
	buf  []byte
	n    int64
}

func newSlowFile(t *testing.T, text []byte) *slowFile {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(windowSize))
	if err != nil {
		t.Fatal(err)
	}
	return &slowFile{enc: enc, text: text}
}

func (f *slowFile) Write(p []byte) (int, error) {
	for work := max(16*len(p), 64<<10); work > 0; work -= 1 << 20 {
		f.buf = f.enc.EncodeAll(f.text[:min(work, 1<<20)], f.buf[:0])
	}
	f.n += int64(len(p))
	return len(p), nil
}

// TestStoreOnlyWhenCompressionLimits: text written faster than it can be
// compressed gets stored frames when the file takes bytes fast, and stays
// compressed when the file is what cannot keep up: storing would write
// four times the bytes to the slow disk and slow the stream further.
func TestStoreOnlyWhenCompressionLimits(t *testing.T) {
	text := terminalText(16 << 20)
	run := func(out io.Writer) Stats {
		w := NewWriter(out, Options{})
		if err := w.Begin(Header{Term: Term{Cols: 80, Rows: 24}, Rexec: &Meta{SessionID: "rate"}}); err != nil {
			t.Fatal(err)
		}
		for off := 0; off < len(text); off += 32 << 10 {
			if err := w.Stdout(text[off : off+32<<10]); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(End{Reason: ReasonExited}); err != nil {
			t.Fatal(err)
		}
		return w.Stats()
	}
	st := run(&countingDiscard{})
	t.Logf("fast file: %d of %d frames stored", st.RawFrames, st.Frames)
	if st.RawFrames < st.Frames/2 {
		t.Errorf("fast file: %d of %d frames stored, want most", st.RawFrames, st.Frames)
	}
	slow := newSlowFile(t, text)
	st = run(slow)
	t.Logf("slow file: %d of %d frames stored, %d bytes written", st.RawFrames, st.Frames, slow.n)
	if st.RawFrames > 1 {
		t.Errorf("slow file: %d of %d frames stored (%d bytes written), want them compressed", st.RawFrames, st.Frames, slow.n)
	}
}
