package record

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// flushPoint is what a killed recorder must have left readable: the file
// length after an explicit Flush and the events written by then.
type flushPoint struct {
	size, events int
}

// crashRecording writes a session over simulated time with a flush after
// every batch, so that many points of the file are known-durable.
func crashRecording(t *testing.T) ([]byte, []flushPoint) {
	t.Helper()
	clock := newFakeClock()
	var out syncBuffer
	// FlushEvery is long: only the explicit Flush calls flush, so the
	// points below are exact.
	w := NewWriter(&out, Options{Now: clock.Now, FrameBytes: 512, FlushEvery: time.Hour})
	if err := w.Begin(testHeader()); err != nil {
		t.Fatal(err)
	}
	var points []flushPoint
	n := 0
	for batch := 0; batch < 30; batch++ {
		for k := 0; k <= batch%4; k++ {
			clock.Add(time.Duration(100+batch*7) * time.Millisecond)
			apply(t, w, op{code: 'o', data: fmt.Appendf(nil, "batch %d line %d %s€\n", batch, k, strings.Repeat("=", batch))})
			n++
		}
		if batch%3 == 2 {
			apply(t, w, op{code: 'r', a: 100 + batch, b: 30})
			n++
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		points = append(points, flushPoint{len(out.Bytes()), n})
	}
	clock.Add(time.Second)
	if err := w.Close(exited(0)); err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), points
}

// A recording cut at any byte (a SIGKILL, a power cut) reads back every
// event flushed before the cut, then ErrAbrupt with the time of the last
// one: never a panic, a hang, or a wrong event.
func TestTruncatedAtEveryOffset(t *testing.T) {
	data, points := crashRecording(t)
	_, full, _ := mustReadAll(t, data)
	ix, err := Scan(bytes.NewReader(data), int64(len(data)))
	if err != nil || len(ix.Frames) < 5 {
		t.Fatalf("scan: %v, %d frames", err, len(ix.Frames))
	}
	lastFrame := ix.Frames[len(ix.Frames)-1].Offset
	var cuts []int64
	for c := int64(0); c < lastFrame; c += 3 { // arbitrary points before
		cuts = append(cuts, c)
	}
	for c := lastFrame; c < int64(len(data)); c++ { // every byte of the last frame, its checkpoint and the trailer
		cuts = append(cuts, c)
	}
	for _, c := range cuts {
		_, evs, tr, err := readAll(t, data[:c])
		if !errors.Is(err, ErrAbrupt) || tr != nil {
			t.Fatalf("cut at %d of %d: err %v trailer %v, want ErrAbrupt", c, len(data), err, tr)
		}
		if len(evs) > 0 && !reflect.DeepEqual(evs, full[:len(evs)]) {
			t.Fatalf("cut at %d: the %d events read are not the recording's first ones", c, len(evs))
		}
		durable := 0
		for _, p := range points {
			if int64(p.size) <= c {
				durable = p.events
			}
		}
		if len(evs) < durable {
			t.Fatalf("cut at %d: %d events read, %d were flushed before the cut", c, len(evs), durable)
		}
		var ae *AbruptError
		if !errors.As(err, &ae) {
			t.Fatalf("cut at %d: %T is not an *AbruptError", c, err)
		}
		var at time.Duration
		if len(evs) > 0 {
			at = evs[len(evs)-1].Time
		}
		if ae.At != at || !strings.Contains(err.Error(), "ended abruptly at "+formatAt(at)) {
			t.Fatalf("cut at %d: %q, want the time of the last event %v", c, err, at)
		}
	}
	if _, evs, tr, err := readAll(t, data); err != nil || tr == nil || len(evs) != len(full) {
		t.Fatalf("the whole file: %v", err)
	}
}

// A damaged byte in the middle is reported as corruption of its frame,
// whatever the byte was (frame header, block header, compressed data,
// checksum), because the layout and the hash chain both pin it down.
func TestCorruptionNamesTheFrame(t *testing.T) {
	clock := newFakeClock()
	data := record(t, Options{Now: clock.Now, FrameBytes: 2048}, exited(0), func(w *Writer) {
		for i := 0; i < 100; i++ {
			clock.Add(time.Millisecond)
			apply(t, w, op{code: 'o', data: fmt.Appendf(nil, "line %d: \x1b[32mok\x1b[0m %s\n", i, strings.Repeat("ab", i%20))})
		}
		// Plenty of incompressible data after the damaged frame, as in
		// any real recording, so a misread block length cannot pass for
		// the end of the file.
		p := make([]byte, 200<<10)
		_, _ = rand.Read(p)
		apply(t, w, op{code: 'o', data: p})
	})
	ix, err := Scan(bytes.NewReader(data), int64(len(data)))
	if err != nil || len(ix.Frames) < 6 {
		t.Fatalf("scan: %v, %d frames", err, len(ix.Frames))
	}
	const target = 2
	f := ix.Frames[target]
	step := int64(1)
	if testing.Short() {
		step = 5
	}
	bad := bytes.Clone(data)
	for off := f.Offset; off < f.Offset+f.Size; off += step {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad[off] ^= mask
			_, _, tr, err := readAll(t, bad)
			bad[off] ^= mask
			if !errors.Is(err, ErrCorrupt) || tr != nil || !strings.Contains(err.Error(), fmt.Sprintf("frame %d ", target)) {
				t.Fatalf("byte %d of frame %d (offset %d) ^%#x: %v, want ErrCorrupt naming frame %d", off-f.Offset, target, off, mask, err, target)
			}
		}
	}
	// Damage in the last frame may also look like a cut; it never reads
	// as a good recording.
	last := ix.Frames[len(ix.Frames)-1]
	for off := last.Offset; off < last.Offset+last.Size; off += 7 * step {
		bad[off] ^= 0x20
		_, _, _, err := readAll(t, bad)
		bad[off] ^= 0x20
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrAbrupt) {
			t.Fatalf("offset %d in the last frame: %v, want ErrCorrupt or ErrAbrupt", off, err)
		}
	}
	// The checkpoint and trailer payloads are not under the chain (a
	// later signature will cover the trailer): damage there may go
	// unnoticed when it keeps the JSON equivalent, but it never changes
	// an event.
	_, want, _ := mustReadAll(t, data)
	for off := last.Offset + last.Size; off < int64(len(data)); off++ {
		bad[off] ^= 0x20
		_, evs, _, err := readAll(t, bad)
		bad[off] ^= 0x20
		if err == nil && !reflect.DeepEqual(evs, want) {
			t.Fatalf("offset %d after the last frame: the events changed", off)
		}
	}
	// Damage in the header frame is never read as a good recording either.
	first := ix.Frames[0]
	for off := first.Offset; off < first.Offset+first.Size; off += step {
		bad[off] ^= 0x04
		_, _, _, err := readAll(t, bad)
		bad[off] ^= 0x04
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotRecording) {
			t.Fatalf("offset %d of the header frame: %v", off, err)
		}
	}
}

// VerifyChain catches a frame replaced by another valid zstd frame, which
// decompresses fine.
func TestVerifyChainCatchesSwappedFrame(t *testing.T) {
	mk := func(s string) []byte {
		clock := newFakeClock()
		return record(t, Options{Now: clock.Now}, exited(0), func(w *Writer) {
			clock.Add(time.Second)
			apply(t, w, op{code: 'o', data: []byte(s)})
		})
	}
	// Same length, same times: zstd stores both frames raw, same size.
	a, b := mk("rm -rf /tmp/x\n"), mk("ls -la /tmp/x\n")
	ia, _ := Scan(bytes.NewReader(a), int64(len(a)))
	ib, _ := Scan(bytes.NewReader(b), int64(len(b)))
	fa, fb := ia.Frames[1], ib.Frames[1]
	if fa.Size != fb.Size {
		t.Fatalf("frames differ in size (%d, %d); the swap needs equal sizes", fa.Size, fb.Size)
	}
	forged := bytes.Clone(a)
	copy(forged[fa.Offset:], b[fb.Offset:fb.Offset+fb.Size])
	ix, err := Scan(bytes.NewReader(forged), int64(len(forged)))
	if err != nil {
		t.Fatalf("the forged layout is valid, Scan says %v", err)
	}
	if err := ix.VerifyChain(bytes.NewReader(forged)); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "frame 1 ") {
		t.Errorf("VerifyChain: %v, want ErrCorrupt for frame 1", err)
	}
	if _, _, _, err := readAll(t, forged); !errors.Is(err, ErrCorrupt) {
		t.Errorf("read: %v, want ErrCorrupt", err)
	}
}
