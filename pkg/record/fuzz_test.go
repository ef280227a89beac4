package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// FuzzReader: no input makes the reader panic, hang or return an event
// with a code outside the documented set. Seeds: testdata/fuzz/FuzzReader
// and the ones added here.
func FuzzReader(f *testing.F) {
	good := record(f, Options{FrameBytes: 256}, exited(1), func(w *Writer) {
		for _, s := range []string{"hello\n", "\x1b[31mred\x1b[0m", "a\xffb", "€"} {
			_ = w.Stdout([]byte(s))
			_ = w.Stdin([]byte(s))
		}
		_ = w.Resize(100, 30)
		_ = w.Marker("m")
	})
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(good[:len(good)-10])
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd})
	f.Add([]byte("not a recording"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ra := bytes.NewReader(data)
		if ix, err := Scan(ra, int64(len(data))); err == nil && ix != nil {
			_ = ix.VerifyChain(ra)
		}
		r, err := NewReader(ra, int64(len(data)))
		if err != nil {
			if !errors.Is(err, ErrNotRecording) && !errors.Is(err, ErrAbrupt) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedVersion) {
				t.Fatalf("NewReader: unclassified error %v", err)
			}
			return
		}
		defer r.Close()
		read := func() {
			for i := 0; ; i++ {
				ev, err := r.Next()
				if err != nil {
					if !errors.Is(err, io.EOF) && !errors.Is(err, ErrAbrupt) && !errors.Is(err, ErrCorrupt) {
						t.Fatalf("Next: unclassified error %v", err)
					}
					return
				}
				if !strings.ContainsRune("oeirxm", rune(ev.Code)) || ev.Time < 0 {
					t.Fatalf("event %c at %v", ev.Code, ev.Time)
				}
				if i > 1<<22 {
					t.Fatal("more events than the input can hold")
				}
			}
		}
		read()
		if n := len(r.Index().Frames); n > 1 {
			if r.SeekFrame(n-1) == nil {
				read()
			}
		}
	})
}

// FuzzEventRoundTrip: any bytes, cut anywhere into two writes, read back
// exactly, in lines that encoding/json accepts.
func FuzzEventRoundTrip(f *testing.F) {
	f.Add([]byte("hello, world\n"), uint(5))
	f.Add([]byte("€✓😀"), uint(2))
	f.Add([]byte{0xff, 'a', 0xe2, 0x82, 0xac, 0xc3}, uint(3))
	f.Add([]byte("\x1b[0m\"\\\x7f\x00"), uint(1))
	f.Fuzz(func(t *testing.T, p []byte, cut uint) {
		if len(p) > 1<<20 {
			return
		}
		k := 0
		if len(p) > 0 {
			k = int(cut % uint(len(p)+1))
		}
		clock := newFakeClock()
		data := record(t, Options{Now: clock.Now}, exited(0), func(w *Writer) {
			_ = w.Stdout(p[:k])
			clock.Add(time.Millisecond)
			_ = w.Stdout(p[k:])
			_ = w.Stderr(p)
			_ = w.Marker(string(p))
		})
		_, evs, tr, err := readAll(t, data)
		if err != nil || tr == nil {
			t.Fatalf("read: %v", err)
		}
		got := streamsOf(evs)
		if !bytes.Equal(got['o'], p) || !bytes.Equal(got['e'], p) {
			t.Fatalf("read back %q and %q, wrote %q", got['o'], got['e'], p)
		}
		if m := got['m']; string(m) != strings.ToValidUTF8(string(p), "\uFFFD") {
			t.Fatalf("marker %q", m)
		}
		text := decompress(t, data)
		for _, line := range bytes.Split(bytes.TrimSuffix(text, []byte("\n")), []byte("\n"))[1:] {
			var ev []any
			if err := json.Unmarshal(line, &ev); err != nil || len(ev) != 3 {
				t.Fatalf("line %q: %v", line, err)
			}
		}
	})
}

// FuzzIndexedReader: the index at a recording's end is trusted for the
// layout by remote readers, so no index, however made up, may make the
// indexed reader panic, hang or return an unclassified error.
func FuzzIndexedReader(f *testing.F) {
	good := record(f, Options{FrameBytes: 256}, exited(0), func(w *Writer) {
		for _, s := range []string{"hello\n", "\x1b[31mred\x1b[0m", "a\xffb", "€", "more output\r\n"} {
			_ = w.Stdout([]byte(s))
			_ = w.Stderr([]byte(s))
		}
	})
	f.Add(good)
	f.Add(good[:len(good)-1])
	for _, off := range []int{len(good) - 40, len(good) - 200, len(good) - 400} {
		if off > 0 {
			b := bytes.Clone(good)
			b[off] ^= 0x11
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ra := bytes.NewReader(data)
		if ix, err := ReadIndex(ra, int64(len(data))); err == nil {
			for _, fr := range ix.Frames {
				if fr.Offset < 0 || fr.Size <= 0 || fr.Offset+fr.Size > int64(len(data)) {
					t.Fatalf("index frame %+v outside a %d-byte file", fr, len(data))
				}
			}
		}
		r, err := NewIndexedReader(ra, int64(len(data)))
		if err != nil {
			if !errors.Is(err, ErrNotRecording) && !errors.Is(err, ErrAbrupt) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedVersion) {
				t.Fatalf("NewIndexedReader: unclassified error %v", err)
			}
			return
		}
		defer r.Close()
		for i := 0; ; i++ {
			if _, err := r.Next(); err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, ErrAbrupt) && !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Next: unclassified error %v", err)
				}
				return
			}
			if i > 1<<22 {
				t.Fatal("more events than the input can hold")
			}
		}
	})
}

// FuzzAppendText holds the block escaper to the byte-at-a-time reference
// on any input.
func FuzzAppendText(f *testing.F) {
	f.Add([]byte("\x1b[32mINFO\x1b[0m naïve → ✓\r\n"))
	f.Add(terminalText(300))
	f.Add(append(make([]byte, 130), "😀\"\\"...))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkAppendText(t, b)
	})
}
