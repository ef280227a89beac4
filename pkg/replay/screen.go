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

// AltScreen tells whether the alternate screen is active.
func (s *Screen) AltScreen() bool { return s.emu.IsAltScreen() }

// Draw appends what redraws the screen on a real terminal: the alternate
// screen switched as the recording had it, every row at its place with its
// colors, the cursor where it was. rows, when greater than 0, limits the
// drawing to the viewer's height (the top rows are kept). It is made of
// what the Sanitizer lets through, and checked by one on the way out.
func (s *Screen) Draw(dst []byte, maxRows int) []byte {
	var san Sanitizer
	return san.Filter(dst, s.draw(nil, maxRows))
}

func (s *Screen) draw(dst []byte, maxRows int) []byte {
	dst = append(dst, "\x1b[?25l"...)
	if s.emu.IsAltScreen() {
		dst = append(dst, "\x1b[?1049h"...)
	} else {
		dst = append(dst, "\x1b[?1049l"...)
	}
	dst = append(dst, "\x1b[m\x1b[H\x1b[2J"...)
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
