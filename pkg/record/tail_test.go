package record

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"
	"testing"
	"time"
)

// countingReaderAt counts reads, the cost of opening a remote recording.
type countingReaderAt struct {
	r     *bytes.Reader
	reads atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.reads.Add(1)
	return c.r.ReadAt(p, off)
}

func manyFrames(t *testing.T) []byte {
	return record(t, Options{FrameBytes: 4 << 10}, exited(0), func(w *Writer) {
		for i := range 400 {
			_ = w.Stdout(bytes.Repeat([]byte{'a' + byte(i%26)}, 700))
		}
	})
}

// TestReadIndexMatchesScan: the index at the end gives the layout Scan
// finds by walking the whole file, in at most two reads.
func TestReadIndexMatchesScan(t *testing.T) {
	data := manyFrames(t)
	want, err := Scan(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Frames) < 50 {
		t.Fatalf("only %d frames", len(want.Frames))
	}
	ra := &countingReaderAt{r: bytes.NewReader(data)}
	got, err := ReadIndex(ra, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if got.Markers == nil || len(got.Markers) != 0 {
		t.Errorf("markers %v, want an empty list", got.Markers)
	}
	got.Markers = nil // Scan does not read events
	if !got.FromIndex {
		t.Error("ReadIndex's layout does not say it came from the index")
	}
	if err := CheckIndex(bytes.NewReader(data), got); err != nil {
		t.Errorf("CheckIndex of an intact recording: %v", err)
	}
	got.FromIndex = false
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadIndex differs from Scan:\n got %+v\nwant %+v", got, want)
	}
	if n := ra.reads.Load(); n > 2 {
		t.Errorf("ReadIndex made %d reads, want at most 2", n)
	}
	// The indexed reader returns the same events.
	rd, err := NewIndexedReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	_, evs, _ := mustReadAll(t, data)
	n := 0
	for {
		ev, err := rd.Next()
		if err != nil {
			break
		}
		if !reflect.DeepEqual(ev, evs[n]) {
			t.Fatalf("event %d: %+v, want %+v", n, ev, evs[n])
		}
		n++
	}
	if n != len(evs) {
		t.Errorf("%d events, want %d", n, len(evs))
	}
}

// TestReadIndexRefusesWhatItCannotTrust: a cut-off recording, a damaged
// index, or a trailer pointing elsewhere give ErrNoIndex, and the indexed
// reader then walks the file as NewReader does.
func TestReadIndexRefusesWhatItCannotTrust(t *testing.T) {
	data := manyFrames(t)
	ix, _ := Scan(bytes.NewReader(data), int64(len(data)))
	iOff := *ix.Trailer.IndexOffset
	cases := map[string][]byte{
		"cut off":          data[:len(data)-10],
		"no trailer":       data[:ix.TrailerOffset],
		"index damaged":    flipByte(data, iOff+40),
		"index magic gone": flipByte(data, iOff),
	}
	for name, d := range cases {
		if _, err := ReadIndex(bytes.NewReader(d), int64(len(d))); !errors.Is(err, ErrNoIndex) {
			t.Errorf("%s: %v, want ErrNoIndex", name, err)
		}
	}
	rd, err := NewIndexedReader(bytes.NewReader(cases["no trailer"]), int64(len(cases["no trailer"])))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if !rd.Index().Abrupt {
		t.Error("a recording without trailer read through the index path is not abrupt")
	}
}

// TestIndexLimit: the writer leaves the index out when it would
// be too large, and the recording still reads.
func TestIndexLimit(t *testing.T) {
	w := &Writer{}
	for range 200000 {
		w.index.add([]byte(`{"seq":1,"offset":1,"size":1,"text_offset":1,"text_size":1,"time_start":0,"time_end":0,"events":1,"chain":"00"}`))
	}
	if len(w.index.b) > maxIndexPayload+200 {
		t.Errorf("index grew to %d bytes past its limit %d", len(w.index.b), maxIndexPayload)
	}
	if _, ok := w.writeIndex(); ok {
		t.Error("an index past its limit was written")
	}
}

func flipByte(b []byte, off int64) []byte {
	c := bytes.Clone(b)
	c[off] ^= 0x55
	return c
}

// TestIndexMarkers: the index lists every marker with the time and label
// its m event has, so commands are found without reading the events.
func TestIndexMarkers(t *testing.T) {
	c := newFakeClock()
	data := record(t, Options{FrameBytes: 2 << 10, Now: c.Now}, exited(0), func(w *Writer) {
		for i := range 50 {
			c.Add(1234567 * time.Microsecond)
			_ = w.Marker(fmt.Sprintf("cmd %d \"quoted\" ✓ \x01", i))
			_ = w.Stdout(bytes.Repeat([]byte("out "), 200))
		}
	})
	ix, err := ReadIndex(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	_, evs, _ := mustReadAll(t, data)
	var want []Marker
	for _, ev := range evs {
		if ev.Code == 'm' {
			want = append(want, Marker{Time: ev.Time, Label: string(ev.Data)})
		}
	}
	if len(want) != 50 || !reflect.DeepEqual(ix.Markers, want) {
		t.Errorf("index markers %v, want %v", ix.Markers, want)
	}
}
