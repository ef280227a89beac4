package replay

import (
	"bytes"
	"io"
	"strconv"
	"strings"

	"github.com/charmbracelet/x/vt"
)

// Screen is a terminal emulator in memory: output written to it builds the
// screen a terminal would show, which can then be drawn on the viewer's
// terminal in one go (after a seek) or read as text (export). What it is
// fed goes through a Sanitizer first, so that it sees what the viewer's
// terminal would see (and never a query to answer), and the work it is
// given is counted (Work; see screenWork).
type Screen struct {
	emu        *vt.Emulator
	cols, rows int
	san        Sanitizer
	buf        []byte
	work       int64
}

// MaxCols and MaxRows bound the screen the emulator keeps: memory and the
// work of a sequence grow with it (two million cells of 2000x1000 made one
// ESC[L cost 12 ms). A larger terminal, which no screen shows, is rebuilt
// at this size.
const (
	MaxCols = 500
	MaxRows = 200
)

// NewScreen returns an empty cols x rows screen (see MaxCols). Close it
// when done.
func NewScreen(cols, rows int) *Screen {
	cols, rows = clampSize(cols, rows)
	e := vt.NewEmulator(cols, rows)
	// The main screen's scrollback is not drawn; keeping it only costs.
	e.SetScrollbackSize(1)
	// The emulator would answer queries on its input pipe, which blocks
	// until read: drain it (the Sanitizer lets no query through anyway).
	go func() { _, _ = io.Copy(io.Discard, e) }()
	return &Screen{emu: e, cols: cols, rows: rows}
}

// clampSize makes a terminal size one the emulator takes: a missing size
// is 80x24, a larger one than MaxCols x MaxRows is cut to it.
func clampSize(cols, rows int) (int, int) {
	if cols <= 0 {
		cols = 80
	}
	if rows <= 0 {
		rows = 24
	}
	return min(cols, MaxCols), min(rows, MaxRows)
}

// Write feeds recorded output to the screen.
func (s *Screen) Write(p []byte) (int, error) {
	s.buf = s.san.Filter(s.buf[:0], p)
	s.feed(s.buf)
	return len(p), nil
}

// feed gives sanitized output to the emulator, and counts its work.
func (s *Screen) feed(p []byte) {
	s.work += weigh(p, s.cols, s.rows, nil)
	_, _ = s.emu.Write(p)
}

// Work is the emulator work done so far, in the units of screenWork.
func (s *Screen) Work() int64 { return s.work }

// Reset empties the screen and makes it cols x rows, as NewScreen would,
// keeping the emulator (which holds a 4 MiB parser buffer: the player
// resets one screen at every seek rather than making another). Its
// Sanitizer and work count start afresh.
func (s *Screen) Reset(cols, rows int) {
	// CAN ends any sequence in progress; then the main screen, and RIS.
	_, _ = s.emu.Write([]byte("\x18\x1b[?1049l\x1bc"))
	s.san, s.work = Sanitizer{}, 0
	s.Resize(cols, rows)
}

// Resize changes the screen's size (see MaxCols).
func (s *Screen) Resize(cols, rows int) {
	cols, rows = clampSize(cols, rows)
	if cols != s.cols || rows != s.rows {
		s.work += resizeWork(s.cols, s.rows, cols, rows)
		s.cols, s.rows = cols, rows
		s.emu.Resize(cols, rows)
	}
}

// Size returns the screen's size.
func (s *Screen) Size() (cols, rows int) { return s.cols, s.rows }

// Close releases the emulator.
func (s *Screen) Close() { _ = s.emu.Close() }

// Text returns the screen as plain text: one line per row, trailing spaces
// and trailing empty rows removed.
func (s *Screen) Text() string {
	lines := strings.Split(s.emu.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n")
}

// Cursor returns the cursor's position (0-based) and whether it is shown.
func (s *Screen) Cursor() (x, y int, visible bool) {
	p := s.emu.CursorPosition()
	return p.X, p.Y, !s.emu.CursorHidden()
}

// rowText returns row y's text, one string per column (a wide
// character's second column is empty), for search highlighting.
func (s *Screen) rowText(y int, cols []string) []string {
	cols = cols[:0]
	for x := 0; x < s.cols; x++ {
		c := s.emu.CellAt(x, y)
		switch {
		case c == nil:
			cols = append(cols, " ")
		case c.Width == 0 && c.Content == "":
			cols = append(cols, "") // the right half of a wide character
		case c.Content == "":
			cols = append(cols, " ")
		default:
			cols = append(cols, c.Content)
		}
	}
	return cols
}

// appendRow appends w columns of row y from column x0 as the viewer's
// terminal draws them: text with its colours and attributes (SGR only),
// nothing else. Columns for which mark is true are shown highlighted. A
// wide character cut by either edge is shown as a space; a cell holding
// anything but printable text (it cannot, but the recording is untrusted)
// shows as '?'.
func (s *Screen) appendRow(dst []byte, y, x0, w int, mark func(x int) bool) []byte {
	const hl = "\x1b[0;30;43m" // black on yellow: a search hit
	var style string
	dst = append(dst, "\x1b[m"...)
	end := min(s.cols, x0+w)
	for x := x0; x < end; x++ {
		c := s.emu.CellAt(x, y)
		text, st := " ", ""
		if c != nil {
			if c.Width == 0 && c.Content == "" {
				if x == x0 {
					text = " " // the right half of a wide character cut by the left edge
				} else {
					continue
				}
			} else if c.Width > 1 && x+c.Width > end {
				text = " "
			} else if c.Content != "" {
				text = cellText(c.Content)
			}
			if !c.Style.IsZero() {
				st = c.Style.String()
			}
		}
		if mark != nil && mark(x) {
			st = hl
		}
		if st != style {
			dst = append(dst, "\x1b[m"...)
			dst = append(dst, st...)
			style = st
		}
		dst = append(dst, text...)
	}
	if style != "" {
		dst = append(dst, "\x1b[m"...)
	}
	return dst
}

// cellText replaces anything in a cell that is not printable text.
func cellText(s string) string {
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return "?"
		}
	}
	return s
}

// AltScreen tells whether the alternate screen is active.
func (s *Screen) AltScreen() bool { return s.emu.IsAltScreen() }

// Draw appends what redraws the screen on a real terminal: every row at
// its place with its colors, the cursor where it was. It draws on the
// terminal's current screen even when the recording was on the alternate
// one, so that the screen stays in view after play (and the viewer's
// terminal is never left on the alternate screen). rows, when greater
// than 0, limits the drawing to the viewer's height (the top rows are
// kept). It is made of what the Sanitizer lets through, and checked by one
// on the way out.
func (s *Screen) Draw(dst []byte, maxRows int) []byte {
	var san Sanitizer
	return san.Filter(dst, s.draw(nil, maxRows))
}

func (s *Screen) draw(dst []byte, maxRows int) []byte {
	dst = append(dst, "\x1b[?25l\x1b[m\x1b[H\x1b[2J"...)
	lines := strings.Split(s.emu.Render(), "\n")
	for y, l := range lines {
		if maxRows > 0 && y >= maxRows {
			break
		}
		if strings.TrimSpace(l) == "" {
			continue
		}
		dst = appendCUP(dst, y, 0)
		dst = append(dst, l...)
		dst = append(dst, "\x1b[m"...)
	}
	p := s.emu.CursorPosition()
	dst = appendCUP(dst, p.Y, p.X)
	if !s.emu.CursorHidden() {
		dst = append(dst, "\x1b[?25h"...)
	}
	return dst
}

// appendCUP moves the cursor to row y, column x (0-based).
func appendCUP(dst []byte, y, x int) []byte {
	dst = append(dst, "\x1b["...)
	dst = strconv.AppendInt(dst, int64(y+1), 10)
	dst = append(dst, ';')
	dst = strconv.AppendInt(dst, int64(x+1), 10)
	return append(dst, 'H')
}

// clearsScreen tells whether output p clears the whole screen, so that
// what came before it does not matter to what the screen shows after.
func clearsScreen(p []byte) bool {
	return bytes.Contains(p, []byte("\x1b[2J")) || bytes.Contains(p, []byte("\x1bc")) ||
		bytes.Contains(p, []byte("\x1b[H\x1b[J")) || bytes.Contains(p, []byte("\x1b[3J"))
}

// altScreenSwitch reports the alternate screen state p leaves, if p
// switches it: +1 on, -1 off, 0 untouched.
func altScreenSwitch(p []byte) int {
	on, off := -1, -1
	for _, m := range []string{"1049", "1047", "47"} {
		if i := bytes.LastIndex(p, []byte("\x1b[?"+m+"h")); i > on {
			on = i
		}
		if i := bytes.LastIndex(p, []byte("\x1b[?"+m+"l")); i > off {
			off = i
		}
	}
	switch {
	case on < 0 && off < 0:
		return 0
	case on > off:
		return 1
	}
	return -1
}
