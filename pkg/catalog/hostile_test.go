package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testrec"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// Recordings made to cost their reader as much as possible (issue 17):
// each verifies OK or is a plain asciicast file, and is small on disk.

// liveHeap is the heap in use after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func totalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// pieces records s as output events of at most 64 KiB.
func pieces(s string) []testrec.Step {
	var st []testrec.Step
	for i := 0; i < len(s); i += 64 << 10 {
		st = append(st, testrec.O(time.Second+time.Duration(i>>16)*time.Millisecond, s[i:min(len(s), i+64<<10)]))
	}
	return st
}

// heapWatch samples the live heap every so often while a reader works.
type heapWatch struct {
	base, peak uint64
	n          int
}

func newHeapWatch() *heapWatch { return &heapWatch{base: liveHeap()} }

func (h *heapWatch) sample() {
	h.n++
	if h.n%4 == 1 {
		if l := liveHeap(); l > h.base {
			h.peak = max(h.peak, l-h.base)
		}
	}
}

func (h *heapWatch) Write(p []byte) (int, error) { h.sample(); return len(p), nil }

// TestGrepAndExportTextBoundedMemory: grep and export --format txt on a
// session that moved the cursor by millions of columns (5.4 GB before,
// for 2.1 MB of ESC[1000C), and on one 16 MiB line without a newline
// (3.5 GB for 256 MiB before).
func TestGrepAndExportTextBoundedMemory(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"cursor": write(t, dir, "cursor"+Suffix, session("m", "d", "p", t0, testrec.Code(0),
			pieces(strings.Repeat("\x1b[1000Cx", 40000)+"\r\n")...)),
		"line": write(t, dir, "line"+Suffix, session("m", "d", "p", t0, testrec.Code(0),
			pieces(strings.Repeat("A", 16<<20))...)),
	}
	for name, p := range files {
		h := newHeapWatch()
		err := Grep(p, regexp.MustCompile(`x|A`), GrepOptions{}, func(Match) error { h.sample(); return nil })
		if err != nil || h.n == 0 {
			t.Fatalf("%s: grep: %v, %d matches", name, err, h.n)
		}
		if h.peak > 16<<20 {
			t.Errorf("%s: grep held %d MiB", name, h.peak>>20)
		}
		h = newHeapWatch()
		if err := Export(p, h, FormatText, ExportOptions{}); err != nil {
			t.Fatalf("%s: export: %v", name, err)
		}
		if h.peak > 16<<20 {
			t.Errorf("%s: export --format txt held %d MiB", name, h.peak>>20)
		}
	}
}

// plainCast writes a plain asciicast v3 file compressed as one zstd frame:
// the header line, then body repeated n times.
func plainCast(t *testing.T, path, body string, n int) {
	t.Helper()
	var buf bytes.Buffer
	enc, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithWindowSize(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(enc, "{\"version\":3,\"term\":{\"cols\":80,\"rows\":24}}\n")
	b := []byte(body)
	for range n {
		if _, err := enc.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestExportV3LongLineIsLinear: one event line of 6 MiB used to be copied
// again on every 256 KiB read (a 34 KB file never finished).
func TestExportV3LongLineIsLinear(t *testing.T) {
	p := filepath.Join(t.TempDir(), "long"+Suffix)
	const n = 6 << 20
	plainCast(t, p, "", 0)
	var buf bytes.Buffer
	enc, _ := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	fmt.Fprintf(enc, "{\"version\":3,\"term\":{\"cols\":80,\"rows\":24}}\n[0.5, \"o\", \"%s\"]\n", strings.Repeat("A", n))
	enc.Close()
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var out countWriter
	a0 := totalAlloc()
	if err := Export(p, &out, FormatV3, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if out.n < n {
		t.Fatalf("exported %d bytes", out.n)
	}
	// Linear: the line is held while it is incomplete, not copied again
	// per read (that allocated 348 MiB for this line). The zstd decoders'
	// windows are the rest.
	if a := totalAlloc() - a0; a > 3*n+32<<20 {
		t.Errorf("exporting a %d MiB line allocated %d MiB", n>>20, a>>20)
	}
}

// TestExportV3RefusesOverlongLine: a line longer than any reader takes is
// an error, found in bounded memory.
func TestExportV3RefusesOverlongLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "overlong"+Suffix)
	plainCast(t, p, "[0.5, \"o\", \""+strings.Repeat("A", 1<<20), 64)
	h := newHeapWatch()
	err := Export(p, h, FormatV3, ExportOptions{})
	if err == nil || !errors.Is(err, record.ErrCorrupt) || !strings.Contains(err.Error(), "MiB") {
		t.Fatalf("got %v, want a corrupt line error", err)
	}
	if h.peak > 32<<20 {
		t.Errorf("held %d MiB", h.peak>>20)
	}
}

type countWriter struct{ n int }

func (c *countWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

// TestSummaryOfBigLastFrameIsBounded: ls of a recording without trailer
// decoded its whole last frame, here 128 MiB of text (a 98 KB file took
// 13.9 s for ls); the summary now reads a bounded part of it and says so.
func TestSummaryOfBigLastFrameIsBounded(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bomb"+Suffix)
	line := "[0.000001,\"o\",\"x\"]\n"
	plainCast(t, p, strings.Repeat(line, (1<<20)/len(line)), 128)
	a0 := totalAlloc()
	e := Summarize(p)
	a := totalAlloc() - a0
	if e.Header == nil {
		t.Fatalf("no header: %+v", e)
	}
	if a > 32<<20 {
		t.Errorf("summarizing allocated %d MiB", a>>20)
	}
	if !strings.Contains(e.Problem, "not read to its end") {
		t.Errorf("problem %q does not say the summary stopped", e.Problem)
	}
	// info still reads everything.
	info, err := Inspect(p)
	if err != nil || info.Events["o"] != int64(128*((1<<20)/len(line))) {
		t.Errorf("info: %d events, %v", info.Events["o"], err)
	}
}
