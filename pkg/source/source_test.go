package source

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/kubectl-rexec/kubectl-rexec/internal/tests3"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/storage"
)

// bigRecording writes a recording of n MiB of random output (about 1.33 n
// MiB as base64) in 1 MiB frames.
func bigRecording(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "big.cast.zst")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := record.NewWriter(f, record.Options{})
	if err := w.Begin(record.Header{Term: record.Term{Cols: 80, Rows: 24}, Rexec: &record.Meta{SessionID: "big"}}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 32<<10)
	for i := range n * 32 {
		if i%32 == 0 {
			if err := w.Marker(fmt.Sprintf("command %d", i/32)); err != nil {
				t.Fatal(err)
			}
		}
		rand.Read(buf)
		if err := w.Stdout(buf); err != nil {
			t.Fatal(err)
		}
	}
	code := 0
	if err := w.Close(record.End{Reason: record.ReasonExited, ExitCode: &code}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRemoteSeekFetchesLittle: opening a recording in S3 and seeking to
// its middle fetches the index and one frame, not the object.
func TestRemoteSeekFetchesLittle(t *testing.T) {
	srv := tests3.Start(t)
	srv.SetEnv(t)
	srv.CreateBucket(t, "recs", false)
	Configure(storage.Settings{PathStyle: true})
	ctx := context.Background()
	st, err := Store(ctx)
	if err != nil {
		t.Fatal(err)
	}
	path := bigRecording(t, 48)
	u := storage.URL{Bucket: "recs", Key: "a/big.cast.zst"}
	if _, err := st.Put(ctx, storage.PutInput{URL: u, Path: path}); err != nil {
		t.Fatal(err)
	}

	local, err := record.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	obj, err := st.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	remote, err := record.NewIndexedReader(obj, obj.Size())
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	if ri, li := remote.Index(), local.Index(); !reflect.DeepEqual(ri.Frames, li.Frames) || !reflect.DeepEqual(ri.Trailer, li.Trailer) {
		t.Fatal("the remote index differs from the local scan")
	}
	mid := len(local.Index().Frames) / 2
	for _, r := range []*record.Reader{local, remote} {
		if err := r.SeekFrame(mid); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 8 {
		a, errA := local.Next()
		b, errB := remote.Next()
		if errA != nil || errB != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("event %d after the seek: %v %v", i, errA, errB)
		}
	}
	frame := local.Index().Frames[mid].Size
	t.Logf("object %d bytes, %d frames; open + seek to frame %d + 8 events: %d GETs, %d bytes fetched (frame %d bytes)",
		obj.Size(), len(local.Index().Frames), mid, obj.Requests(), obj.Fetched(), frame)
	if obj.Fetched() > obj.Size()/8 || obj.Fetched() > 4*frame+(8<<20) {
		t.Errorf("fetched %d of %d bytes to seek", obj.Fetched(), obj.Size())
	}

	// Through the package's own Open, as the commands use it.
	r, err := Open(u.String())
	if err != nil {
		t.Fatal(err)
	}
	if r.Header().Rexec.SessionID != "big" || r.Index().Trailer == nil {
		t.Errorf("Open(%s): header %+v trailer %v", u, r.Header().Rexec, r.Index().Trailer)
	}
	r.Close()

	// The commands come from the index: listing them reads little more.
	before := obj.Fetched()
	obj2, err := st.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	ir, err := record.NewIndexedReader(obj2, obj2.Size())
	if err != nil {
		t.Fatal(err)
	}
	defer ir.Close()
	if ms := ir.Index().Markers; len(ms) != 48 || ms[47].Label != "command 47" {
		t.Errorf("index markers: %d, last %+v", len(ms), ms[len(ms)-1])
	}
	t.Logf("open for a summary (ls, info, the commands): %d GETs, %d bytes fetched", obj2.Requests(), obj2.Fetched())
	if obj2.Fetched() > 512<<10 {
		t.Errorf("fetched %d bytes for the commands (first open fetched %d)", obj2.Fetched(), before)
	}
}
