package replay

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testrec"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// The 1 GiB benchmarks are opt-in: REXEC_BENCH_1G=1 (or a path in
// REXEC_BENCH_1G_FILE) writes, once, a recording of about 1 GiB of stream
// bytes under $TMPDIR/rexec-bench and reuses it afterwards. See
// test/bench/replay-bench.sh and docs/BENCHMARKS.md.

// big1GPath returns the cached 1 GiB recording, writing it when missing.
func big1GPath(tb testing.TB) string {
	tb.Helper()
	if os.Getenv("REXEC_BENCH_1G") == "" && os.Getenv("REXEC_BENCH_1G_FILE") == "" {
		tb.Skip("set REXEC_BENCH_1G=1 to write/use the 1 GiB recording")
	}
	path := os.Getenv("REXEC_BENCH_1G_FILE")
	if path == "" {
		path = filepath.Join(os.TempDir(), "rexec-bench", "1g.cast.zst")
	}
	if _, err := os.Stat(path); err == nil {
		return path
	}
	mib := 1024
	if s := os.Getenv("REXEC_BENCH_1G_MIB"); s != "" {
		mib, _ = strconv.Atoi(s)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		tb.Fatal(err)
	}
	tmp := path + ".tmp"
	_ = os.Remove(tmp) // left by an interrupted run; Create will not overwrite
	if err := WriteBigRecording(tmp, int64(mib)<<20); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatal(err)
	}
	return path
}

// WriteBigRecording writes, with the real recorder and a fake clock, about
// size bytes of terminal-like stdout: coloured log lines, 48 per write, one
// write every 20 ms of session time, a prompt redraw and a marker every
// 1,000 writes.
func WriteBigRecording(path string, size int64) error {
	start := time.Date(2026, 11, 27, 6, 15, 0, 0, time.UTC)
	var now atomic.Int64
	now.Store(start.UnixNano())
	w, err := record.Create(path, record.Options{
		Now:        func() time.Time { return time.Unix(0, now.Load()).UTC() },
		FlushEvery: time.Hour,
	})
	if err != nil {
		return err
	}
	if err := w.Begin(testrec.Header("alice", "prod", "default", "big", "app", start, "sh", "-c", "tail -f /var/log/app.log")); err != nil {
		return err
	}
	levels := []string{"\x1b[32mINFO\x1b[0m ", "\x1b[33mWARN\x1b[0m ", "\x1b[31mERROR\x1b[0m", "\x1b[36mDEBUG\x1b[0m"}
	var written int64
	buf := make([]byte, 0, 8192)
	line := 0
	for ev := 0; written < size; ev++ {
		at := start.Add(time.Duration(ev) * 20 * time.Millisecond)
		now.Store(at.UnixNano())
		if ev%1000 == 0 {
			if err := w.Marker(fmt.Sprintf("tail %d", ev/1000)); err != nil {
				return err
			}
			buf = append(buf[:0], "\x1b[2J\x1b[H\x1b[1;34mbig$\x1b[0m tail -f /var/log/app.log\r\n"...)
		} else {
			buf = buf[:0]
		}
		for i := 0; i < 48; i++ {
			line++
			buf = fmt.Appendf(buf, "%s \x1b[2m%s\x1b[0m worker-%02d request id=%08x path=/api/v1/items/%d status=%d took=%dms\r\n",
				at.Add(time.Duration(i)*time.Microsecond).Format("15:04:05.000000"), levels[line%7%4], line%17, line*2654435761&0xffffffff, line%100000, 200+line%5*100, line%997)
		}
		if err := w.Stdout(buf); err != nil {
			return err
		}
		written += int64(len(buf))
	}
	now.Add(int64(time.Second))
	return w.Close(record.End{Reason: record.ReasonExited, ExitCode: testrec.Code(0)})
}

// BenchmarkWriteBig1G only (a benchmark so that plain go test never runs it) writes (or finds) the cached recording and logs its
// size; the shell script times the binary against it.
func BenchmarkWriteBig1G(t *testing.B) {
	path := big1GPath(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := record.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	t.Logf("%s: %d bytes on disk, %d frames, %v", path, fi.Size(), len(r.Index().Frames), Duration(r.Index()))
}

// BenchmarkSeek1G: open the 1 GiB recording and rebuild the screen at 10%,
// 50% and 90% of its duration (in-process, no terminal).
func BenchmarkSeek1G(b *testing.B) {
	path := big1GPath(b)
	r, err := record.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	total := Duration(r.Index())
	r.Close()
	for _, pct := range []int{10, 50, 90} {
		b.Run(fmt.Sprintf("at%d%%", pct), func(b *testing.B) {
			for b.Loop() {
				r, err := record.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				src := &source{r: r}
				scr, _, err := screenAt(src, r, total*time.Duration(pct)/100, 0, nil)
				if err != nil {
					b.Fatal(err)
				}
				scr.Close()
				r.Close()
			}
		})
	}
}
