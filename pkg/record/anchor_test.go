package record

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

// witnessLog records what the Writer tells its Witness, and when.
type witnessLog struct {
	mu    sync.Mutex
	out   *syncBuffer
	cps   []Checkpoint
	sizes []int // file size when each checkpoint was reported
	close *Trailer
}

func (w *witnessLog) Checkpoint(cp Checkpoint) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cps = append(w.cps, cp)
	w.sizes = append(w.sizes, len(w.out.Bytes()))
}

func (w *witnessLog) Close(t *Trailer) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := *t
	w.close = &c
	t.Anchors = &Anchors{Sent: len(w.cps) + 1}
}

// TestWitnessHook: the Writer tells its Witness every checkpoint once it
// is in the file, and the trailer before writing it; what the Witness puts
// in the trailer's Anchors is written, and the anchors name what the file
// holds.
func TestWitnessHook(t *testing.T) {
	out := &syncBuffer{}
	wl := &witnessLog{out: out}
	w := NewWriter(out, Options{FrameBytes: 100, Witness: wl})
	if err := w.Begin(Header{Version: 3, Rexec: &Meta{SessionID: "s"}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if err := w.Stdout([]byte(strings.Repeat("x", 40) + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(End{Reason: ReasonInterrupted}); err != nil {
		t.Fatal(err)
	}
	data := out.Bytes()
	ix, err := Scan(bytes.NewReader(data), int64(len(data)))
	if err != nil || ix.Trailer == nil {
		t.Fatal(err)
	}
	cps := ix.Checkpoints()
	if len(wl.cps) != len(cps) || len(cps) < 5 {
		t.Fatalf("%d checkpoints told, %d in the file", len(wl.cps), len(cps))
	}
	for i, cp := range cps {
		if wl.cps[i] != cp {
			t.Errorf("checkpoint %d told %+v, file %+v", i, wl.cps[i], cp)
		}
		if end := cp.Offset + cp.Size; int64(wl.sizes[i]) <= end {
			t.Errorf("checkpoint %d told when the file had %d bytes, before it", i, wl.sizes[i])
		}
	}
	if wl.close == nil || TrailerDigest(wl.close) != TrailerDigest(ix.Trailer) {
		t.Errorf("the trailer told differs from the one written")
	}
	if ix.Trailer.Anchors == nil || ix.Trailer.Anchors.Sent != len(cps)+1 {
		t.Errorf("anchors in the trailer: %+v", ix.Trailer.Anchors)
	}
	// The anchors parse back.
	s, seq, v, ok := ParseAnchor(CheckpointAnchor("5f0c2a9e-8d1b-4c3e-9a57-0b6c1d2e3f40", 12, cps[1].Chain))
	if !ok || s != "5f0c2a9e-8d1b-4c3e-9a57-0b6c1d2e3f40" || seq != 12 || v != cps[1].Chain {
		t.Errorf("ParseAnchor: %q %d %q %v", s, seq, v, ok)
	}
	if s, seq, v, ok := ParseAnchor(EndAnchor("x-y", ix.Trailer)); !ok || s != "x-y" || seq != AnchorEndSeq || v != TrailerDigest(ix.Trailer) {
		t.Errorf("ParseAnchor(end): %q %d %q %v", s, seq, v, ok)
	}
	for _, bad := range []string{"", "rexec-", "rexec-s-1-abc", "rexec-s-01-" + cps[1].Chain, "other-s-1-" + cps[1].Chain} {
		if _, _, _, ok := ParseAnchor(bad); ok {
			t.Errorf("%q parsed as an anchor", bad)
		}
	}
}
