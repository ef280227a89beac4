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
// terminal in one go (after a seek) or read as text (export).
type Screen struct {
	emu        *vt.Emulator
	cols, rows int
}

// NewScreen returns an empty cols x rows screen. Close it when done.
func NewScreen(cols, rows int) *Screen {
	cols, rows = clampSize(cols, rows)
	e := vt.NewEmulator(cols, rows)
	// The main screen's scrollback is not drawn; keeping it only costs.
	e.SetScrollbackSize(1)
	// The emulator answers queries (DA, DSR...) on its input pipe, which
	// blocks until read: drain it.
	go func() { _, _ = io.Copy(io.Discard, e) }()
	return &Screen{emu: e, cols: cols, rows: rows}
}

func clampSize(cols, rows int) (int, int) {
	if cols <= 0 || cols > 2000 {
		cols = 80
	}
	if rows <= 0 || rows > 1000 {
		rows = 24
	}
	return cols, rows
}

// Write feeds output to the screen.
func (s *Screen) Write(p []byte) (int, error) {
	return s.emu.Write(p)
}

// Resize changes the screen's size.
func (s *Screen) Resize(cols, rows int) {
	cols, rows = clampSize(cols, rows)
	if cols != s.cols || rows != s.rows {
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
// drawing to the viewer's height (the top rows are kept).
func (s *Screen) Draw(dst []byte, maxRows int) []byte {
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
