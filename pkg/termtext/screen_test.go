package termtext

import (
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/vt"
)

// vtRows is what a full terminal emulator shows: the reference Screen is
// checked against.
func vtRows(cols, rows int, in []byte) []string {
	e := vt.NewEmulator(cols, rows)
	defer e.Close()
	go func() {
		buf := make([]byte, 256)
		for {
			if _, err := e.Read(buf); err != nil {
				return
			}
		}
	}()
	_, _ = e.Write(in)
	out := make([]string, rows)
	for y := range rows {
		var b strings.Builder
		for x := range cols {
			c := e.CellAt(x, y)
			switch {
			case c == nil || c.Content == "":
				b.WriteByte(' ')
			default:
				b.WriteString(c.Content)
			}
		}
		out[y] = strings.TrimRight(b.String(), " ")
	}
	return out
}

func equalRows(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

func screenRows(cols, rows int, in []byte, split bool) []string {
	s := NewScreen(cols, rows)
	if split {
		for i := range in {
			s.Write(in[i : i+1])
		}
	} else {
		s.Write(in)
	}
	out := make([]string, rows)
	for y := range rows {
		out[y] = s.Row(y)
	}
	return out
}

// TestScreenMatchesAnEmulator feeds the same random mix of text, cursor
// addressing, erasing, scrolling and editing sequences to Screen and to a
// full emulator: every row must read the same.
func TestScreenMatchesAnEmulator(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	alphabet := []string{
		"a", "bc", "hello world ", "é", "\r", "\n", "\r\n", "\b", "\t", "\x1b[H", "\x1b[5;10H", "\x1b[24;1H", "\x1b[1;80H",
		"\x1b[3A", "\x1b[2B", "\x1b[4C", "\x1b[6D", "\x1b[2E", "\x1b[F", "\x1b[12G", "\x1b[7d", "\x1b[J", "\x1b[2J",
		"\x1b[K", "\x1b[1K", "\x1b[2K", "\x1b[3X", "\x1b[2P", "\x1b[3@", "\x1b[2S", "\x1b[T",
		"\x1b[5;15r", "\x1b[r", "\x1bM", "\x1bD", "\x1b7", "\x1b8", "\x1b[1;31m", "\x1b[0m",
		"\x1b]0;title\x07", "\x1b[?25l", "\x1b[?25h", strings.Repeat("x", 85), "\x1b(B", "\x1b=",
	}
	// Known differences: the emulator confines ICH and DCH to the scroll
	// region (xterm, like Screen, does not) and has neither CSI u nor ESC E. So either a
	// region or in-line editing, not both, in one case.
	noRegion := slices.DeleteFunc(slices.Clone(alphabet), func(s string) bool { return strings.HasSuffix(s, "r") && strings.HasPrefix(s, "\x1b[") })
	noEdit := slices.DeleteFunc(slices.Clone(alphabet), func(s string) bool {
		return s == "\x1b[2P" || s == "\x1b[3@"
	})
	for n := range 400 {
		alphabet := noRegion
		if n%2 == 1 {
			alphabet = noEdit
		}
		var toks []string
		for range rng.IntN(120) {
			toks = append(toks, alphabet[rng.IntN(len(alphabet))])
		}
		in := []byte(strings.Join(toks, ""))
		want := vtRows(80, 24, in)
		if os.Getenv("MINIMIZE") != "" && !equalRows(screenRows(80, 24, in, false), want) {
			for changed := true; changed; {
				changed = false
				for i := 0; i < len(toks); i++ {
					try := append(append([]string(nil), toks[:i]...), toks[i+1:]...)
					b := []byte(strings.Join(try, ""))
					if !equalRows(screenRows(80, 24, b, false), vtRows(80, 24, b)) {
						toks, changed = try, true
						i--
					}
				}
			}
			b := []byte(strings.Join(toks, ""))
			t.Fatalf("minimal %q:\n%q\n%q", b, screenRows(80, 24, b, false), vtRows(80, 24, b))
		}
		for _, split := range []bool{false, true} {
			got := screenRows(80, 24, in, split)
			for y := range want {
				if got[y] != want[y] {
					t.Fatalf("case %d (split %v) %q:\nrow %d is %q, the emulator shows %q", n, split, in, y, got[y], want[y])
				}
			}
		}
	}
}

func TestScreenInsertDeleteLines(t *testing.T) {
	s := NewScreen(10, 6)
	s.Write([]byte("r0\r\nr1\r\nr2\r\nr3\r\nr4\r\nr5"))
	s.Write([]byte("\x1b[2;5r\x1b[3;4H\x1b[L")) // region rows 2-5; insert at row 3
	s.Write([]byte("in"))                       // IL went back to column 1
	s.Write([]byte("\x1b[2;1H\x1b[2M"))         // delete rows 2 and 3
	var rows []string
	for y := range 6 {
		rows = append(rows, s.Row(y))
	}
	if got := strings.Join(rows, "|"); got != "r0|r2|r3|||r5" {
		t.Errorf("rows %q", got)
	}
}

func TestScreenChangedRows(t *testing.T) {
	s := NewScreen(20, 5)
	s.Write([]byte("\x1b[2;3Hab\x1b[4;1Hcd"))
	var got []string
	s.Changed(func(y int, text string) { got = append(got, strings.TrimSpace(text)) })
	if strings.Join(got, "|") != "ab|cd" {
		t.Errorf("changed rows: %q", got)
	}
	got = nil
	s.Changed(func(y int, text string) { got = append(got, text) })
	if len(got) != 0 {
		t.Errorf("rows reported twice: %q", got)
	}
	// A hostile size is bounded.
	big := NewScreen(1<<30, 1<<30)
	if c, r := big.Size(); c > maxScreenCols || r > maxScreenRows {
		t.Errorf("screen of %dx%d", c, r)
	}
	big.Write([]byte("\x1b[999999;999999H\x1b[99999L\x1b[99999@x"))
}

func TestLinesCharacterTimesAndAltCallback(t *testing.T) {
	var got []Line
	var alts []string
	l := &Lines{Times: true, Emit: func(x Line) {
		x.Times = append([]time.Duration(nil), x.Times...)
		got = append(got, x)
	}}
	l.Alt = func(on bool, at time.Duration) {
		alts = append(alts, map[bool]string{true: "on", false: "off"}[on]+"@"+at.String())
	}
	l.Write(time.Second, []byte("$ "))
	l.Write(2*time.Second, []byte("echo"))
	l.Write(3*time.Second, []byte("\x1b[3D\x1b[1P"))
	l.Write(4*time.Second, []byte("\x1b[1@X\r\n"))
	l.Write(5*time.Second, []byte("\x1b[?1049hvi\x1b[?1049l"))
	if len(got) != 2 || got[0].Text != "$ eXho" || got[1].Text != "vi" {
		t.Fatalf("lines: %+v", got)
	}
	want := []time.Duration{time.Second, time.Second, 2 * time.Second, 4 * time.Second, 2 * time.Second, 2 * time.Second}
	for i, w := range want {
		if got[0].Times[i] != w {
			t.Errorf("times %v, want %v", got[0].Times, want)
			break
		}
	}
	if strings.Join(alts, " ") != "on@5s off@5s" {
		t.Errorf("alt callbacks: %q", alts)
	}
}
