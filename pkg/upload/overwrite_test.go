package upload

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/storage"
)

// foreignStore puts someone else's object at the key right before each
// Put: the key is free when the spool looks (Stat), taken when it writes,
// so only the conditional write can keep the object.
type foreignStore struct {
	*storage.Store
	puts int
}

func (f *foreignStore) Put(ctx context.Context, in storage.PutInput) (storage.PutResult, error) {
	f.puts++
	if _, err := f.Store.PutBytes(ctx, in.URL, []byte("someone else's object"), nil, nil); err != nil && !errors.Is(err, storage.ErrExists) {
		return storage.PutResult{}, err
	}
	return f.Store.Put(ctx, in)
}

// TestSpoolNeverOverwrites: an object already at the upload's key, there
// before the upload or put there during it, is never replaced; the entry
// is dropped with a clear error (so the spool does not retry it forever)
// and the local recording stays.
func TestSpoolNeverOverwrites(t *testing.T) {
	_, store := startS3(t)
	ctx := context.Background()
	for _, bkt := range []string{bucket, lockedBucket} {
		for _, during := range []bool{false, true} {
			dir := t.TempDir()
			sp := &Spool{Dir: filepath.Join(dir, "spool")}
			path, h := recording(t, dir, 3000)
			e := entryFor(path, h, bkt)
			e.RemoveLocal = true
			u, _ := storage.ParseURL(e.Target)
			var putter Putter = store
			fs := &foreignStore{Store: store}
			if during {
				putter = fs
			} else if _, err := store.PutBytes(ctx, u, []byte("someone else's object"), nil, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := sp.Enqueue(e); err != nil {
				t.Fatal(err)
			}
			rep := sp.Drain(ctx, putter, time.Now(), true)
			t.Logf("%s, taken during the upload %v: %s", bkt, during, rep)
			if rep.Count(Dropped) != 1 || !strings.Contains(rep.Results[0].Err, "already holds another object") ||
				!strings.Contains(rep.Results[0].Err, path) {
				t.Errorf("%s, during %v: %s", bkt, during, rep)
			}
			if got := get(t, store, u); !bytes.Equal(got, []byte("someone else's object")) {
				t.Errorf("%s, during %v: the object was replaced", bkt, during)
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s, during %v: the local recording is gone: %v", bkt, during, err)
			}
			if p := mustPending(t, sp); len(p) != 0 {
				t.Errorf("%s, during %v: still queued: %+v", bkt, during, p)
			}
			if rep := sp.Drain(ctx, putter, time.Now().Add(time.Hour), true); len(rep.Results) != 0 {
				t.Errorf("%s, during %v: drained again: %s", bkt, during, rep)
			}
			if during && fs.puts != 1 {
				t.Errorf("%s: %d puts, want 1", bkt, fs.puts)
			}
		}
	}
}

// lostAnswerStore stores the first segment but reports a failure, as when
// the answer to a PUT is lost: the next attempt finds the key taken.
type lostAnswerStore struct {
	*storage.Store
	lost atomic.Bool
}

func (s *lostAnswerStore) PutBytes(ctx context.Context, u storage.URL, data []byte, meta map[string]string, r *storage.Retention) (storage.PutResult, error) {
	res, err := s.Store.PutBytes(ctx, u, data, meta, r)
	if err == nil && s.lost.CompareAndSwap(false, true) {
		return storage.PutResult{}, errors.New("the answer was lost")
	}
	return res, err
}

// TestLiveSegmentStoredTwice: a live segment whose first upload went
// through unacknowledged is taken as it is by the next attempt, which the
// store refuses (the key is taken): the segments still add up to the file.
func TestLiveSegmentStoredTwice(t *testing.T) {
	_, store := startS3(t)
	path := filepath.Join(t.TempDir(), "live.cast.zst")
	target := storage.URL{Bucket: bucket, Key: "rexec/lost/session.cast.zst"}
	ls := &lostAnswerStore{Store: store}
	l := StartLive(ls, path, target, LiveOptions{Interval: 100 * time.Millisecond})
	liveSession(t, path, 16<<10, func() {
		// The first segment's answer is lost before the session goes on.
		for deadline := time.Now().Add(time.Minute); !ls.lost.Load(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no segment was stored within a minute; stats %+v", l.Stats())
			}
		}
	})
	stats, err := l.Stop(context.Background())
	if err != nil || !ls.lost.Load() {
		t.Fatalf("Stop: %v (lost %v), %+v", err, ls.lost.Load(), stats)
	}
	got, n := segmentsConcat(t, store, target)
	if want := fileBytes(t, path); !bytes.Equal(got, want) {
		t.Errorf("%d segments hold %d bytes, the file %d", n, len(got), len(want))
	}
	t.Logf("%d segments, %d failures (%s)", n, stats.Failures, stats.LastError)
}
