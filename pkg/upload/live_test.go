package upload

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testrec"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/storage"
)

// segmentsConcat returns the concatenation of target's live segments in
// the store and their number, checking that they are numbered from 0
// without a gap.
func segmentsConcat(t *testing.T, store *storage.Store, target storage.URL) ([]byte, int) {
	t.Helper()
	keys := listKeys(t, store, storage.URL{Bucket: target.Bucket, Key: target.Key + storage.LiveSuffix})
	var b bytes.Buffer
	for i, k := range keys {
		u := storage.URL{Bucket: target.Bucket, Key: k}
		if want := SegmentURL(target, i); u != want {
			t.Fatalf("segment %d is %s, want %s", i, u, want)
		}
		b.Write(get(t, store, u))
	}
	return b.Bytes(), len(keys)
}

// liveSession records a real session into path with the record package's
// own writer. It writes random output, flushed to the file, until the file
// holds at least before bytes; then it calls during, while the file stands
// still, so that during can wait for the live upload to reach a known
// state; then it writes as much again and closes the recording.
func liveSession(t *testing.T, path string, before int64, during func()) {
	t.Helper()
	w, err := record.Create(path, record.Options{FlushEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h := testrec.Header("bob", "prod", "kube-system", "coredns-0", "coredns", time.Now(), "sh")
	if err := w.Begin(h); err != nil {
		t.Fatal(err)
	}
	var i int
	writeUntil := func(size int64) {
		for fileSize(t, path) < size {
			for range 32 {
				// Random text, so that compression does not shrink it to nothing.
				if err := w.Stdout(fmt.Appendf(nil, "%08d %s\r\n", i, rand.Text()+rand.Text()+rand.Text())); err != nil {
					t.Fatal(err)
				}
				i++
			}
			// Flush returns once the bytes are in the file: the size
			// checked next is what the live upload can see.
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	writeUntil(before)
	during()
	writeUntil(fileSize(t, path) + before)
	if err := w.Close(record.End{Reason: record.ReasonExited, ExitCode: testrec.Code(0)}); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// waitLive polls l's counters until ok holds, failing after a minute with
// what was awaited: the live upload runs on its own ticker, and a loaded
// machine may take many of its turns to get there.
func waitLive(t *testing.T, l *Live, what string, ok func(LiveStats) bool) LiveStats {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		s := l.Stats()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s; stats %+v", what, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLive: segments appear while the recording is written, their
// concatenation is always a prefix of the file and, after Stop, the whole
// file; the final upload then removes them.
func TestLive(t *testing.T) {
	_, store := startS3(t)
	dir := t.TempDir()
	ctx := context.Background()
	path := filepath.Join(dir, "live.cast.zst")
	target := storage.URL{Bucket: bucket, Key: "rexec/live/session.cast.zst"}
	l := StartLive(store, path, target, LiveOptions{Interval: 200 * time.Millisecond, Metadata: map[string]string{"session-id": "s1"}})

	var midSegments int
	liveSession(t, path, 32<<10, func() {
		// The recording is open and its file stands still: the next
		// interval's segment brings the store up to the whole file.
		file := fileBytes(t, path)
		waitLive(t, l, fmt.Sprintf("segments holding all %d bytes written so far", len(file)), func(s LiveStats) bool {
			return s.Bytes >= int64(len(file))
		})
		got, n := segmentsConcat(t, store, target)
		midSegments = n
		if n == 0 {
			t.Errorf("no segments while the session runs (stats %+v)", l.Stats())
		}
		if !bytes.HasPrefix(file, got) {
			t.Errorf("segments (%d bytes) are not a prefix of the file (%d bytes)", len(got), len(file))
		}
		// The store's live reader reads them as one recording.
		obj, err := store.Open(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		defer obj.Close()
		if !obj.IsLive() || obj.Size() < int64(len(got)) {
			t.Errorf("live object: live %v size %d, want at least %d", obj.IsLive(), obj.Size(), len(got))
		}
		r, err := record.NewReader(obj, obj.Size())
		if err != nil {
			t.Fatalf("reading the live segments as a recording: %v", err)
		}
		var events int
		for {
			_, err := r.Next()
			if err != nil {
				if !errors.Is(err, record.ErrAbrupt) {
					t.Errorf("live recording ends with %v, want ErrAbrupt", err)
				}
				break
			}
			events++
		}
		t.Logf("mid-session: %d segments, %d bytes, %d events readable", n, len(got), events)
	})
	stats, err := l.Stop(ctx)
	if err != nil {
		t.Fatalf("Stop: %v", err)
	}
	want := fileBytes(t, path)
	got, n := segmentsConcat(t, store, target)
	t.Logf("after Stop: %+v; file %d bytes", stats, len(want))
	if !bytes.Equal(got, want) {
		t.Fatalf("segments hold %d bytes, the file %d (equal prefix: %v)", len(got), len(want), bytes.HasPrefix(want, got))
	}
	if n <= midSegments || stats.Segments != n || stats.Bytes != int64(len(want)) || stats.Failures != 0 {
		t.Errorf("stats %+v, %d segments in the store (%d mid-session)", stats, n, midSegments)
	}
	segs := l.Segments()
	if len(segs) != n || segs[0].Offset != 0 || segs[len(segs)-1].Offset+segs[len(segs)-1].Size != int64(len(want)) {
		t.Errorf("segments %+v", segs)
	}
	info, err := store.Stat(ctx, segs[0].URL(target))
	if err != nil || info.Metadata["session-id"] != "s1" || info.Metadata[MetaLiveOffset] != "0" {
		t.Errorf("segment metadata %v, %v", info.Metadata, err)
	}

	// The final upload confirms the whole object, then deletes the segments.
	sp := &Spool{Dir: filepath.Join(dir, "spool")}
	e := Entry{Recording: path, Target: target.String(), Live: segs}
	res, err := sp.Upload(ctx, store, e)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(get(t, store, target), want) || res.Size != int64(len(want)) {
		t.Errorf("final object differs from the file")
	}
	if _, n := segmentsConcat(t, store, target); n != 0 {
		t.Errorf("%d segments left after the final upload", n)
	}
}

// TestLiveThreshold: with a long interval, segments still go up as soon as
// Threshold bytes are new, none larger.
func TestLiveThreshold(t *testing.T) {
	_, store := startS3(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "big.cast.zst")
	target := storage.URL{Bucket: bucket, Key: "rexec/big.cast.zst"}
	const threshold = 16 << 10
	l := StartLive(store, path, target, LiveOptions{Interval: time.Hour, Threshold: threshold, Poll: 20 * time.Millisecond})
	var mid LiveStats
	var midSize int64
	liveSession(t, path, 3*threshold, func() {
		// The interval is an hour away: only the threshold can send
		// segments up while the session runs, one per whole threshold.
		midSize = fileSize(t, path)
		mid = waitLive(t, l, fmt.Sprintf("%d segments of a %d-byte file with a %d-byte threshold", midSize/threshold, midSize, threshold), func(s LiveStats) bool {
			return s.Segments >= int(midSize/threshold)
		})
	})
	// Stop sends the rest as one last segment only when it is at most a
	// threshold; the rest of the session was written at once, so let the
	// live upload work through its whole thresholds first.
	size := fileSize(t, path)
	waitLive(t, l, fmt.Sprintf("segments up to the last %d bytes of %d", threshold, size), func(s LiveStats) bool {
		return size-s.Bytes < threshold
	})
	stats, err := l.Stop(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := fileBytes(t, path)
	got, _ := segmentsConcat(t, store, target)
	t.Logf("mid-session %+v (file %d bytes); after Stop %+v; file %d bytes", mid, midSize, stats, len(want))
	if mid.Segments < 2 {
		t.Errorf("only %d segments mid-session with a %d-byte threshold", mid.Segments, threshold)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("segments differ from the file")
	}
	for _, s := range l.Segments() {
		if s.Size > threshold {
			t.Errorf("segment %d is %d bytes", s.Seq, s.Size)
		}
	}
}

// TestLiveOutage: with the store down, live upload counts failures and
// never touches the session or the file; it catches up after a restart,
// still as a gapless prefix. Under retention the segments stay after the
// final upload.
func TestLiveOutage(t *testing.T) {
	srv, store := startS3(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "outage.cast.zst")
	target := storage.URL{Bucket: lockedBucket, Key: "rexec/outage.cast.zst"}
	l := StartLive(store, path, target, LiveOptions{Interval: 100 * time.Millisecond, RetentionMode: "GOVERNANCE", RetentionDays: 1})
	srv.Stop()
	var down LiveStats
	liveSession(t, path, 16<<10, func() {
		// The SDK retries a failed request a few times before giving up.
		down = waitLive(t, l, "a failed segment upload while the store is down", func(s LiveStats) bool { return s.Failures > 0 })
		srv.Restart(t)
	})
	stats, err := l.Stop(context.Background())
	t.Logf("while down %+v; after Stop %+v, %v", down, stats, err)
	if down.Failures == 0 || down.Segments != 0 || !strings.Contains(down.LastError, "cannot reach") {
		t.Errorf("stats while down: %+v", down)
	}
	if err != nil {
		t.Fatalf("Stop: %v", err)
	}
	want := fileBytes(t, path)
	got, n := segmentsConcat(t, store, target)
	if !bytes.Equal(got, want) {
		t.Fatalf("segments (%d bytes) differ from the file (%d bytes)", len(got), len(want))
	}
	info, err := store.Stat(context.Background(), SegmentURL(target, 0))
	if err != nil || info.Retention == nil || info.Retention.Mode != "GOVERNANCE" {
		t.Errorf("segment retention %+v, %v", info.Retention, err)
	}
	sp := &Spool{Dir: filepath.Join(dir, "spool")}
	e := Entry{Recording: path, Target: target.String(), Live: l.Segments(), RetentionMode: "GOVERNANCE", RetentionDays: 1}
	if _, err := sp.Upload(context.Background(), store, e); err != nil {
		t.Fatal(err)
	}
	if _, n2 := segmentsConcat(t, store, target); n2 != n {
		t.Errorf("%d of %d segments left under retention", n2, n)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("local file: %v", err)
	}
}
