package session

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// fakeAudit stands for the API server: it keeps the Audit-IDs it was sent,
// and can hold requests until released, or fail them.
type fakeAudit struct {
	mu      sync.Mutex
	ids     []string
	hold    chan struct{} // nil: answer at once
	started chan string
	fail    bool
}

func (f *fakeAudit) send(ctx context.Context, id string) error {
	if f.started != nil {
		f.started <- id
	}
	if f.hold != nil {
		select {
		case <-f.hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errors.New("unreachable")
	}
	f.ids = append(f.ids, id)
	return nil
}

func (f *fakeAudit) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.ids...)
}

func cp(seq int) record.Checkpoint {
	return record.Checkpoint{Seq: seq, Chain: strings.Repeat(string(rune('a'+seq)), 64)}
}

// TestAnchorsCoalesceAndClose: checkpoints that come while an anchor is in
// flight collapse into the newest; the close is anchored last, with the
// trailer's digest, and the trailer counts what was sent and skipped.
func TestAnchorsCoalesceAndClose(t *testing.T) {
	f := &fakeAudit{hold: make(chan struct{}), started: make(chan string, 10)}
	a := newAnchorer("s-1", f.send)
	a.gap = 0
	a.Checkpoint(cp(0))
	if id := <-f.started; id != record.CheckpointAnchor("s-1", 0, cp(0).Chain) {
		t.Fatalf("first anchor %q", id)
	}
	// Checkpoint must not wait for the request in flight.
	done := make(chan struct{})
	go func() {
		for i := 1; i <= 4; i++ {
			a.Checkpoint(cp(i))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Checkpoint blocked on the request in flight")
	}
	close(f.hold) // answer everything from now on
	if id := <-f.started; id != record.CheckpointAnchor("s-1", 4, cp(4).Chain) {
		t.Fatalf("after the burst: %q, want checkpoint 4's", id)
	}
	tr := &record.Trailer{Frames: 5, Chain: cp(4).Chain, Reason: "exited"}
	a.Close(tr)
	ids := f.got()
	if len(ids) != 3 || ids[2] != record.EndAnchor("s-1", tr) {
		t.Fatalf("sent %q", ids)
	}
	if tr.Anchors == nil || *tr.Anchors != (record.Anchors{Sent: 3, Skipped: 3}) {
		t.Errorf("counts %+v", tr.Anchors)
	}
	a.Checkpoint(cp(5)) // after the close: nothing
	if a.stop() != *tr.Anchors {
		t.Error("counted after the close")
	}
}

// TestAnchorsNeverHoldTheClose: an API server that never answers costs the
// close anchorCloseWait at most, and the anchors count as failed.
func TestAnchorsNeverHoldTheClose(t *testing.T) {
	f := &fakeAudit{hold: make(chan struct{}), started: make(chan string, 2)}
	defer close(f.hold)
	a := newAnchorer("s-2", f.send)
	a.Checkpoint(cp(0))
	<-f.started // in flight, and never answered
	tr := &record.Trailer{Frames: 1, Chain: cp(0).Chain}
	start := time.Now()
	a.Close(tr)
	if d := time.Since(start); d > anchorCloseWait+5*time.Second {
		t.Errorf("Close took %v", d)
	}
	if tr.Anchors == nil || tr.Anchors.Sent != 0 || tr.Anchors.Failed != 2 {
		t.Errorf("counts %+v", tr.Anchors)
	}
}
