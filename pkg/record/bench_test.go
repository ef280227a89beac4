package record

import (
	"bytes"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"path/filepath"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"
)

// terminalText returns n bytes of what a terminal typically shows: log
// lines with ANSI colours, timestamps, ids, a little non-ASCII, CRLF line
// ends. It is deterministic, and varied enough that zstd has to work
// (nothing repeats within a frame), unlike a repeated sample.
func terminalText(n int) []byte {
	rng := mrand.New(mrand.NewPCG(1, 2))
	words := []string{"request", "completed", "GET", "POST", "/api/v1/namespaces/default/pods", "pod",
		"default", "status", "latency", "user", "alice", "error:", "connection", "reset", "by", "peer",
		"retrying", "in", "cache", "miss", "for", "key", "handler", "started", "kube-system", "coredns",
		"node", "ready", "✓", "→", "µs", "watch", "closed", "reconcile", "deployment", "replicas"}
	levels := []string{"\x1b[32mINFO\x1b[0m ", "\x1b[33mWARN\x1b[0m ", "\x1b[1;31mERROR\x1b[0m", "\x1b[36mDEBUG\x1b[0m"}
	var b bytes.Buffer
	ts := time.Date(2026, 11, 27, 6, 15, 0, 0, time.UTC)
	for b.Len() < n {
		ts = ts.Add(time.Duration(rng.IntN(50000)) * time.Microsecond)
		fmt.Fprintf(&b, "\x1b[90m%s\x1b[0m %s ", ts.Format("2006-01-02T15:04:05.000000Z"), levels[rng.IntN(len(levels))])
		for k := 5 + rng.IntN(10); k > 0; k-- {
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "id=%08x dur=%dms\r\n", rng.Uint32(), rng.IntN(2000))
	}
	return b.Bytes()[:n]
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

// countingDiscard is io.Discard that counts, for the compression ratio.
type countingDiscard struct{ n int64 }

func (c *countingDiscard) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// cpuTime is the process's user and system CPU time so far: what the
// recorder costs whatever else the machine is doing, where wall time on a
// loaded machine measures the load.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchWrites measures the recorder end to end: hot path, hand-off,
// encoding, compression into a discarding writer, and Close. Besides
// wall-clock MB/s it reports cpu-s/GiB, the process's CPU time per GiB
// recorded, which a loaded machine disturbs far less.
func benchWrites(b *testing.B, src []byte, size int, opts Options) {
	benchWritesTo(b, NewWriter(&countingDiscard{}, opts), src, size)
}

// benchWritesFile is benchWrites into a real file (Create), with its
// writeback and page-cache behaviour.
func benchWritesFile(b *testing.B, src []byte, size int, opts Options) {
	w, err := Create(filepath.Join(b.TempDir(), "bench.cast.zst"), opts)
	if err != nil {
		b.Fatal(err)
	}
	benchWritesTo(b, w, src, size)
}

func benchWritesTo(b *testing.B, w *Writer, src []byte, size int) {
	if err := w.Begin(Header{Term: Term{Cols: 80, Rows: 24}, Rexec: &Meta{SessionID: "bench"}}); err != nil {
		b.Fatal(err)
	}
	off := 0
	write := func() {
		if off+size > len(src) {
			off = 0
		}
		if err := w.Stdout(src[off : off+size]); err != nil {
			b.Fatal(err)
		}
		off += size
	}
	// Warm up: fill the buffer free lists and let the encoder allocate its
	// tables, so that allocs/op shows the steady state.
	for i := 0; i < 2*1024+16; i++ {
		write()
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	warm, warmOut := w.Stats().Events, w.sink.n
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		write()
	}
	if err := w.Close(End{Reason: ReasonExited}); err != nil {
		b.Fatal(err)
	}
	cpu := cpuTime() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(w.Stats().Events-warm)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.N)*float64(size)/float64(w.sink.n-warmOut), "ratio")
	b.ReportMetric(cpu.Seconds()/(float64(b.N)*float64(size)/(1<<30)), "cpu-s/GiB")
}

// BenchmarkWriterText is the recorder as sessions use it: it compresses
// while it keeps up and stores frames (writer_store.go) while the stream
// queue up behind the compressor, as they do here, where writes come as
// fast as the writer takes them.
func BenchmarkWriterText(b *testing.B) {
	benchWrites(b, terminalText(8<<20), 32<<10, Options{})
}

// BenchmarkWriterTextCompressed compresses every frame, however far behind
// the writer falls: the cost of compression alone (compare
// BenchmarkZstdBaselineText).
func BenchmarkWriterTextCompressed(b *testing.B) {
	benchWrites(b, terminalText(8<<20), 32<<10, Options{NoStore: true})
}

// BenchmarkWriterTextStored stores every frame: the ceiling of the stored
// path (escaping, hashing, writing).
func BenchmarkWriterTextStored(b *testing.B) {
	benchWrites(b, terminalText(8<<20), 32<<10, Options{forceRaw: true})
}

// BenchmarkWriterZeros is head -c 1G /dev/zero: NULs go as base64, not as
// six-byte JSON escapes.
func BenchmarkWriterZeros(b *testing.B) {
	benchWrites(b, make([]byte, 8<<20), 32<<10, Options{})
}

func BenchmarkWriterRandom(b *testing.B) {
	benchWrites(b, randomBytes(8<<20), 32<<10, Options{})
}

// The File variants write a real file, as sessions do: writeback and the
// page cache are part of the cost.
func BenchmarkWriterTextFile(b *testing.B) {
	benchWritesFile(b, terminalText(8<<20), 32<<10, Options{})
}

func BenchmarkWriterZerosFile(b *testing.B) {
	benchWritesFile(b, make([]byte, 8<<20), 32<<10, Options{})
}

func BenchmarkWriterRandomFile(b *testing.B) {
	benchWritesFile(b, randomBytes(8<<20), 32<<10, Options{})
}

func BenchmarkTeeSmall(b *testing.B) {
	benchWrites(b, terminalText(1<<20), 1, Options{})
}

// BenchmarkZstdBaselineText is the ceiling for BenchmarkWriterText on the
// machine at hand: the zstd encoder alone, at the level the Writer uses, on
// the same text already escaped, one frame per MiB. Everything the recorder
// adds shows as the difference.
func BenchmarkZstdBaselineText(b *testing.B) {
	text := appendEscaped(nil, terminalText(8<<20))
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(Options{}.withDefaults().Level),
		zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(windowSize))
	if err != nil {
		b.Fatal(err)
	}
	const frame = 1 << 20
	var out []byte
	b.SetBytes(frame)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		off := (i * frame) % (len(text) - frame)
		out = enc.EncodeAll(text[off:off+frame], out[:0])
	}
	b.ReportMetric(float64(frame)/float64(len(out)), "ratio")
}

// BenchmarkAppendText is the text escaper alone, on 32 KiB writes of
// terminal text: about half of BenchmarkWriterTextStored's time, the
// SHA-256 chain most of the rest.
func BenchmarkAppendText(b *testing.B) {
	text := terminalText(8 << 20)
	const chunk = 32 << 10
	// Writes that end at character boundaries, as the writer hands them
	// over (it carries a cut character to the next write).
	var writes [][]byte
	for off := 0; off+chunk+4 <= len(text); {
		end := off + chunk
		for !utf8.RuneStart(text[end]) {
			end++
		}
		writes = append(writes, text[off:end])
		off = end
	}
	var dst []byte
	b.SetBytes(chunk)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var v textVerdict
		if dst, v = appendText(dst[:0], writes[i%len(writes)]); v != isText {
			b.Fatal("terminal text refused")
		}
	}
}
