package upload

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/storage"
)

// benchSession records b.N writes of 32 KiB of random output (the hardest
// case: nothing compresses, every byte goes to the file and, with live on,
// to the store) into a file, as a bulk session does, and reports the
// recorder's throughput. Compare BenchmarkSessionLive with
// BenchmarkSessionLocal for the cost of live upload.
func benchSession(b *testing.B, live bool) {
	_, store := startS3(b)
	path := filepath.Join(b.TempDir(), "bench.cast.zst")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 32<<10)
	rand.Read(chunk)
	w := record.NewWriter(f, record.Options{})
	if err := w.Begin(record.Header{Term: record.Term{Cols: 80, Rows: 24}, Rexec: &record.Meta{SessionID: "bench"}}); err != nil {
		b.Fatal(err)
	}
	var l *Live
	if live {
		l = StartLive(store, path, storage.URL{Bucket: bucket, Key: "bench/live.cast.zst"}, LiveOptions{})
	}
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	for range b.N {
		if err := w.Stdout(chunk); err != nil {
			b.Fatal(err)
		}
	}
	code := 0
	if err := w.Close(record.End{Reason: record.ReasonExited, ExitCode: &code}); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if l != nil {
		st, err := l.Stop(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(st.Segments), "segments")
		b.ReportMetric(float64(st.Failures), "failures")
	}
}

func BenchmarkSessionLocal(b *testing.B) { benchSession(b, false) }
func BenchmarkSessionLive(b *testing.B)  { benchSession(b, true) }
