package replay

import (
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testrec"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// hostile is a recording of output made to cost a terminal emulator as
// much as possible, on a cols x rows terminal.
func hostile(t *testing.T, cols, rows int, out string) *record.Reader {
	t.Helper()
	h := testrec.Header("mallory", "prod", "default", "web", "main", t0, "sh")
	h.Term.Cols, h.Term.Rows = cols, rows
	var steps []testrec.Step
	for i := 0; i < len(out); i += 64 << 10 {
		steps = append(steps, testrec.O(time.Second+time.Duration(i>>16)*time.Millisecond, out[i:min(len(out), i+64<<10)]))
	}
	data, err := testrec.Bytes(testrec.Session{Header: h, Steps: steps, Exit: testrec.Code(0)})
	if err != nil {
		t.Fatal(err)
	}
	return openBytes(t, data)
}

// TestSeekWorkIsBounded rebuilds the final screen of recordings whose
// every sequence costs the emulator as much as it can: 2.3 KB of
// "A ESC[65535b" repeated 26,000 times took 352 s for replay --from end,
// 1,000 ESC[1000L on a 2000x1000 terminal 12 s. The work is now counted
// and bounded, and the screen still shows what the output drew.
func TestSeekWorkIsBounded(t *testing.T) {
	cases := []struct {
		name       string
		cols, rows int
		out        string
		want       string // a line the final screen shows
	}{
		{"repeat", 80, 24, strings.Repeat("A\x1b[65535b", 26000), strings.Repeat("A", 80)},
		{"insert lines", 2000, 1000, "top\r\n" + strings.Repeat("\x1b[1000L", 1000) + "\x1b[Hend", "end"},
		{"scroll", 500, 200, strings.Repeat("\x1b[65535S\x1b[65535T", 10000) + "\x1b[Hend", "end"},
		{"clear", 500, 200, strings.Repeat("\x1b[2J\x1b#8\x1bc", 20000) + "\x1b[Hend", "end"},
		{"newlines", 500, 200, strings.Repeat("\x1b[200B\n\n\n\n\n\n\n\n\n\n", 20000) + "end", "end"},
		{"tabs", 80, 24, strings.Repeat("\x1b[65535I\x1b[65535Z", 20000) + "\r\nend", "end"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := hostile(t, c.cols, c.rows, c.out)
			scr, _, err := screenAt(&source{r: r}, r, End, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer scr.Close()
			if w := scr.Work(); w > screenWork {
				t.Errorf("%d units of emulator work, the budget is %d", w, screenWork)
			}
			if cols, rows := scr.Size(); cols > MaxCols || rows > MaxRows {
				t.Errorf("screen %dx%d", cols, rows)
			}
			if !strings.Contains(scr.Text(), c.want) {
				t.Errorf("the screen does not show %q:\n%s", c.want, scr.Text())
			}
		})
	}
}

func TestScreenSizeIsClamped(t *testing.T) {
	for _, c := range [][4]int{{2000, 1000, MaxCols, MaxRows}, {0, -1, 80, 24}, {120, 40, 120, 40}, {1 << 30, 10, MaxCols, 10}} {
		scr := NewScreen(c[0], c[1])
		if cols, rows := scr.Size(); cols != c[2] || rows != c[3] {
			t.Errorf("NewScreen(%d, %d) is %dx%d, want %dx%d", c[0], c[1], cols, rows, c[2], c[3])
		}
		scr.Resize(c[0]+1, c[1]+1)
		if cols, rows := scr.Size(); cols > MaxCols || rows > MaxRows || cols <= 0 || rows <= 0 {
			t.Errorf("resized to %dx%d", cols, rows)
		}
		scr.Close()
	}
}

// BenchmarkScreenWork rebuilds the final screen of the hostile recordings
// and of an ordinary one, and reports the time per unit of counted work:
// the weights are right when it is about the same for all (20 to 30 ns
// here), and the worst case is then screenWork units of it.
func BenchmarkScreenWork(b *testing.B) {
	cases := []struct {
		name       string
		cols, rows int
		out        string
	}{
		{"shell-80x24", 80, 24, strings.Repeat("\x1b[32mfile\x1b[m  some output of a command here\r\n", 6000)},
		{"shell-200x50", 200, 50, strings.Repeat("\x1b[32mfile\x1b[m  some output of a command here\r\n", 6000)},
		{"repeat", 80, 24, strings.Repeat("A\x1b[65535b", 26000)},
		{"insert-lines", 2000, 1000, strings.Repeat("\x1b[1000L", 1000)},
		{"scroll", 500, 200, strings.Repeat("\x1b[65535S\x1b[65535T", 10000)},
		{"clear", 500, 200, strings.Repeat("\x1b[2J\x1b#8\x1bc", 20000)},
		{"newlines", 500, 200, strings.Repeat("\n", 200000)},
		{"text-500x200", 500, 200, strings.Repeat("x", 250000)},
		{"tabs", 80, 24, strings.Repeat("\x1b[65535I\x1b[65535Z", 20000)},
		{"alt-screen", 500, 200, strings.Repeat("\x1b[?1049h\x1b[?1049l", 10000)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			t := &testing.T{}
			r := hostile(t, c.cols, c.rows, c.out)
			var work int64
			for b.Loop() {
				scr, _, err := screenAt(&source{r: r}, r, End, 0, nil)
				if err != nil {
					b.Fatal(err)
				}
				work = scr.Work()
				scr.Close()
			}
			b.ReportMetric(float64(work), "units")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(work), "ns/unit")
		})
	}
}

// memRec is a recording in memory, one frame, for fuzzing the seek path.
type memRec struct {
	h   record.Header
	evs []record.Event
	i   int
}

func (m *memRec) Next() (record.Event, error) {
	if m.i >= len(m.evs) {
		return record.Event{}, io.EOF
	}
	m.i++
	return m.evs[m.i-1], nil
}
func (m *memRec) Trailer() *record.Trailer { return nil }
func (m *memRec) Header() record.Header    { return m.h }
func (m *memRec) Index() *record.Index {
	return &record.Index{Frames: []record.Frame{{Complete: true}}}
}
func (m *memRec) SeekFrame(int) error { m.i = 0; return nil }

// FuzzScreen rebuilds screens from fuzzed output (repeated, to reach the
// bounds), terminal sizes and resizes, and asserts the budgets: the
// emulator work counted stays within screenWork, the screen within
// MaxCols x MaxRows, the memory held within 48 MiB, and what Draw sends to
// the viewer is on the Sanitizer's list.
func FuzzScreen(f *testing.F) {
	f.Add([]byte("A\x1b[65535b"), uint16(80), uint16(24), uint16(200), []byte("80x24"))
	f.Add([]byte("\x1b[1000L\x1b[65535S\n\x1bc\x1b#8"), uint16(2000), uint16(1000), uint16(500), []byte("3000x3000"))
	f.Add([]byte("\x1b]8;;http://x\x1b\\l\x1b]8;;\x1b\\\x1b[38:2::1:2:3m\u009b6n\x1b[?1049h\xff"), uint16(0), uint16(0), uint16(3), []byte("0x0"))
	saved := screenWork
	f.Cleanup(func() { screenWork = saved })
	screenWork = 1 << 21 // a smaller budget: the same bound, faster runs
	f.Fuzz(func(t *testing.T, out []byte, cols, rows, reps uint16, resize []byte) {
		reps = reps%1024 + 1
		m := &memRec{h: record.Header{Version: 3, Term: record.Term{Cols: int(cols), Rows: int(rows)}}}
		for i := range int(reps) {
			m.evs = append(m.evs, record.Event{Time: time.Duration(i), Code: 'o', Data: out})
			if i%256 == 0 {
				m.evs = append(m.evs, record.Event{Time: time.Duration(i), Code: 'r', Data: resize})
			}
		}
		base := liveHeapBytes()
		scr, _, err := screenAt(&source{r: m}, m, End, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer scr.Close()
		slack := 3 * resizeWork(MaxCols, MaxRows, MaxCols, MaxRows)
		if w := scr.Work(); w > screenWork+slack {
			t.Fatalf("%d units of work, budget %d", w, screenWork)
		}
		if c, r := scr.Size(); c > MaxCols || r > MaxRows || c <= 0 || r <= 0 {
			t.Fatalf("screen %dx%d", c, r)
		}
		if held := liveHeapBytes() - min(base, liveHeapBytes()); held > 48<<20 {
			t.Fatalf("the screen holds %d MiB", held>>20)
		}
		draw := scr.Draw(nil, 0)
		checkSafe(t, out, draw)
	})
}

func liveHeapBytes() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// sampling is a memRec that samples the live heap as it is read.
type sampling struct {
	memRec
	base, peak uint64
}

func (s *sampling) Next() (record.Event, error) {
	if s.i%50000 == 0 {
		if l := liveHeapBytes(); l > s.base {
			s.peak = max(s.peak, l-s.base)
		}
	}
	return s.memRec.Next()
}

// TestSeekManySmallWritesBoundedMemory: a write of one byte each, millions
// of them (a small file decompresses to that), and resizes: the window
// held a struct and a buffer per write, 136 MiB for replay --from end.
func TestSeekManySmallWritesBoundedMemory(t *testing.T) {
	s := &sampling{memRec: memRec{h: record.Header{Version: 3, Term: record.Term{Cols: 80, Rows: 24}}}}
	for i := range 1 << 20 {
		ev := record.Event{Time: time.Duration(i), Code: 'o', Data: []byte("x")}
		if i%1000 == 0 {
			ev.Code, ev.Data = 'r', []byte("80x24")
		}
		s.evs = append(s.evs, ev)
	}
	s.base = liveHeapBytes()
	scr, _, err := screenAt(&source{r: s}, s, End, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer scr.Close()
	if s.peak > 4<<20 {
		t.Errorf("the window held %d MiB", s.peak>>20)
	}
	if !strings.Contains(scr.Text(), "xxxxxxxx") {
		t.Errorf("screen:\n%s", scr.Text())
	}
}
