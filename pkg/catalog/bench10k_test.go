package catalog

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testrec"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// The 10,000-recording benchmark is opt-in: REXEC_BENCH_10K=1 writes, once,
// 10,000 small recordings with the real recorder into
// $TMPDIR/rexec-bench/ls10k (or REXEC_BENCH_10K_DIR) and reuses them.

const bench10kCount = 10000

func ls10kDir(tb testing.TB) string {
	tb.Helper()
	if os.Getenv("REXEC_BENCH_10K") == "" && os.Getenv("REXEC_BENCH_10K_DIR") == "" {
		tb.Skip("set REXEC_BENCH_10K=1 to write/use 10,000 recordings")
	}
	dir := os.Getenv("REXEC_BENCH_10K_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "rexec-bench", "ls10k")
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*"+Suffix)); len(files) >= bench10kCount {
		return dir
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	base := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	users := []string{"alice", "bob", "carol", "dave"}
	for i := 0; i < bench10kCount; i++ {
		start := base.Add(time.Duration(i) * 7 * time.Minute)
		pod := fmt.Sprintf("web-%d", i%50)
		name := fmt.Sprintf("%s_prod_default_%s_%08x%s", start.Format("20060102T150405Z"), pod, i, Suffix)
		if err := writeSmall(filepath.Join(dir, name), start, users[i%len(users)], pod, i); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// writeSmall records a short interactive session (a few commands, ~4 KiB
// of output) with a fake clock.
func writeSmall(path string, start time.Time, user, pod string, i int) error {
	var now atomic.Int64
	now.Store(start.UnixNano())
	at := func(d time.Duration) { now.Store(start.Add(d).UnixNano()) }
	_ = os.Remove(path) // left by an interrupted run; Create will not overwrite
	w, err := record.Create(path, record.Options{
		Now:        func() time.Time { return time.Unix(0, now.Load()).UTC() },
		FlushEvery: time.Hour,
	})
	if err != nil {
		return err
	}
	h := testrec.Header(user, "prod", "default", pod, "app", start, "sh")
	h.Rexec.SessionID = fmt.Sprintf("%08x-0000-4000-8000-%012x", start.Unix()&0xffffffff, i)
	if err := w.Begin(h); err != nil {
		return err
	}
	t := time.Duration(0)
	for c := 0; c < 5; c++ {
		t += 2 * time.Second
		at(t)
		_ = w.Stdin([]byte("ls -l /var/log\r"))
		_ = w.Marker("ls -l /var/log")
		for l := 0; l < 10; l++ {
			t += 10 * time.Millisecond
			at(t)
			_ = w.Stdout(fmt.Appendf(nil, "\x1b[34m-rw-r--r--\x1b[0m 1 root root %6d Nov 27 06:%02d app-%d.log\r\n", i*7+l, l, l))
		}
		_ = w.Stdout([]byte("\x1b[1;32m$\x1b[0m "))
	}
	at(t + time.Second)
	return w.Close(record.End{Reason: record.ReasonExited, ExitCode: testrec.Code(i % 3)})
}

// BenchmarkWrite10k only (a benchmark so that plain go test never runs it) writes (or finds) the 10,000 recordings.
func BenchmarkWrite10k(t *testing.B) {
	dir := ls10kDir(t)
	files, err := Files([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d recordings", dir, len(files))
}

// BenchmarkList10k lists the 10,000 recordings (what `ls DIR` does before
// printing): find the files, summarize each from its header and trailer.
func BenchmarkList10k(b *testing.B) {
	dir := ls10kDir(b)
	for b.Loop() {
		files, err := Files([]string{dir})
		if err != nil {
			b.Fatal(err)
		}
		if n := len(List(files)); n < bench10kCount {
			b.Fatalf("%d entries", n)
		}
	}
}
