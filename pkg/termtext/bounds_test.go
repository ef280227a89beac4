package termtext

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"
)

// liveHeap is the heap in use after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestLinesMemoryIsBounded feeds output that built ever longer lines
// (grep and export txt held them whole: 5.4 GB for a 7 KB recording of
// ESC[1000C, 3.5 GB for a 256 MiB line) and checks that the memory in use
// stays put while the text still comes out.
func TestLinesMemoryIsBounded(t *testing.T) {
	cases := []struct {
		name  string
		chunk []byte
		n     int
	}{
		// 32 million columns of cursor movement, a character after each.
		{"cursor forward", bytes.Repeat([]byte("\x1b[1000Cx"), 1000), 32},
		// The same with absolute columns and tabs.
		{"columns and tabs", bytes.Repeat([]byte("\x1b[999Gx\x1b[1;999Hy\t\t\t\t\t\t\t\t\tz"), 1000), 32},
		// One line of 16 MiB, no newline.
		{"one long line", bytes.Repeat([]byte("A"), 64<<10), 256},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var runes int
			l := &Lines{Emit: func(x Line) { runes += len([]rune(x.Text)) }}
			base := liveHeap()
			var peak uint64
			for i := range c.n {
				l.Write(time.Duration(i), c.chunk)
				if i%8 == 7 {
					peak = max(peak, liveHeap()-min(base, liveHeap()))
				}
			}
			l.Flush()
			if peak > 8<<20 {
				t.Fatalf("the heap grew by %d MiB feeding %d KiB", peak>>20, (c.n*len(c.chunk))>>10)
			}
			if c.name == "one long line" && runes != c.n*len(c.chunk) {
				t.Fatalf("%d characters came out of %d", runes, c.n*len(c.chunk))
			}
			if max := perByte*c.n*len(c.chunk) + maxCredit; runes > max {
				t.Fatalf("%d characters came out of %d bytes", runes, c.n*len(c.chunk))
			}
		})
	}
}

// TestLinesWorkIsBounded edits a long line over and over: each edit moves
// the whole line, so without a bound the work is quadratic.
func TestLinesWorkIsBounded(t *testing.T) {
	long := strings.Repeat("x", MaxLine-10)
	for _, edit := range []string{"\x1b[P", "\x1b[@", "\x1b[1K", "\x1b[999X", "\r\x1b[P", "\rx\x1b[999C\b"} {
		l := &Lines{}
		l.Write(0, []byte(long+"\r"))
		in := len(long) + 1
		chunk := []byte(strings.Repeat(edit, 1000))
		for range 100 {
			l.Write(0, chunk)
			in += len(chunk)
		}
		if max := int64(perByte*in + maxCredit); l.work > max {
			t.Errorf("%q: %d units of work for %d bytes (at most %d)", edit, l.work, in, max)
		}
	}
}

func TestInputBounded(t *testing.T) {
	in := &Input{}
	long := strings.Repeat("y", 2*MaxLine)
	in.Write(0, []byte(long))
	if len(in.line) > MaxLine {
		t.Fatalf("typed line of %d characters kept", len(in.line))
	}
	edits := []byte(strings.Repeat("\x01z\x1b[3~\x7f\x1bb\x1bf\x05\x17", 10000))
	n := len(long)
	for range 20 {
		in.Write(0, edits)
		n += len(edits)
	}
	if max := int64(perByte*n + maxCredit); in.work > max {
		t.Fatalf("%d units of work for %d bytes", in.work, n)
	}
}

// TestInputDropsC1 checks that grep --input never shows a C1 control that
// was typed (VTE acts on them).
func TestInputDropsC1(t *testing.T) {
	got := typed("ls \u009b6n\u009d52;c;x\u009c\u0085-l\x1b\x05\r")
	if len(got) != 1 || got[0] != "ls 52;c;x-l" {
		t.Fatalf("got %q", got)
	}
}
