package replay

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// view draws the interactive player on the viewer's terminal. The session
// is never written to the terminal as recorded: the emulator's screen is,
// row by row, text and colours only, next to a status bar on a row of its
// own. So the bar never scrolls with the session nor covers it, a screen
// larger than the terminal is cropped around the cursor (and the bar says
// so), a screen that shrank leaves nothing behind, and no mode the
// recording sets (alternate screen, cursor keys, mouse...) ever reaches the
// viewer's terminal: quitting restores exactly what the player set up.
type view struct {
	out        []byte
	cols, rows int      // the viewer's terminal
	drawn      []string // what each row of the terminal shows
	ox, oy     int      // the screen's column and row at the terminal's top left
	started    bool
	colsBuf    []string
}

// Setup and Teardown sequences. The player keeps the viewer's screen as it
// was by working on the alternate screen; on the way out it also resets
// every mode a replay could have changed, whoever changed it.
const (
	viewSetup    = "\x1b[?1049h\x1b[?25l\x1b[?7l\x1b[H\x1b[2J"
	viewTeardown = "\x1b[m\x1b[r\x1b[?7h\x1b[?1l\x1b>\x1b[4l\x1b[?6l" +
		"\x1b[?9l\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1005l\x1b[?1006l\x1b[?1015l\x1b[?1016l" +
		"\x1b[?1004l\x1b[?2004l\x1b[?25h\x1b[?1049l"
)

// frame is what one drawing shows.
type frame struct {
	scr     *Screen
	bar     string   // the status bar's text, "" for none
	overlay []string // lines drawn over the screen's top left (help)
	hits    *regexp.Regexp
	prompt  bool // the cursor goes to the end of the bar
}

// layout is how the screen fits the terminal.
type layout struct {
	area       int // terminal rows for the screen
	shownCols  int
	shownRows  int
	cropped    bool
	sCols, sRs int
}

// resize tells the view the terminal's size; everything is redrawn.
func (v *view) resize(cols, rows int) {
	if cols != v.cols || rows != v.rows {
		v.cols, v.rows = max(cols, 1), max(rows, 1)
		v.drawn = nil
	}
}

// fit decides which part of the screen shows: all of it when it fits,
// else a window that keeps the cursor in view, at the bottom rows unless
// the cursor is above them (a shell's latest lines are at the bottom).
func (v *view) fit(scr *Screen, bar bool) layout {
	sc, sr := scr.Size()
	area := v.rows
	if bar {
		area = max(1, v.rows-1)
	}
	l := layout{area: area, shownCols: min(sc, v.cols), shownRows: min(sr, area), sCols: sc, sRs: sr}
	l.cropped = sc > v.cols || sr > area
	cx, cy, _ := scr.Cursor()
	// Rows: keep the previous offset while the cursor stays in view.
	v.oy = clampOffset(v.oy, cy, sr, l.shownRows, true)
	v.ox = clampOffset(v.ox, cx, sc, l.shownCols, false)
	return l
}

// clampOffset moves an offset so that pos is within [off, off+n) of size
// total; preferEnd starts from the end (rows) rather than the start.
func clampOffset(off, pos, total, n int, preferEnd bool) int {
	if n >= total {
		return 0
	}
	if preferEnd && (off == 0 || off > total-n) {
		off = total - n
	}
	if pos < off {
		off = pos
	}
	if pos >= off+n {
		off = pos - n + 1
	}
	return max(0, min(off, total-n))
}

// draw appends to v.out what brings the terminal to show f laid out as l
// (from fit).
func (v *view) draw(f frame, l layout) {
	if !v.started {
		v.out = append(v.out, viewSetup...)
		v.started = true
		v.drawn = nil
	}
	if len(v.drawn) != v.rows {
		v.drawn = make([]string, v.rows)
		v.out = append(v.out, "\x1b[m\x1b[H\x1b[2J"...)
	}
	var row []byte
	for y := 0; y < v.rows; y++ {
		row = row[:0]
		switch {
		case f.bar != "" && y == v.rows-1:
			row = appendBar(row, f.bar, v.cols)
		case y < l.shownRows:
			row = v.sessionRow(row, f, y, l)
		}
		if y < len(f.overlay) && f.overlay[y] != "" && (f.bar == "" || y < v.rows-1) {
			row = appendOverlay(row[:0], f.overlay[y], v.cols)
		}
		if string(row) == v.drawn[y] {
			continue
		}
		v.drawn[y] = string(row)
		// Erase first: an erase after a row as wide as the terminal
		// would take its last character (the cursor stays on it).
		v.out = appendCUP(v.out, y, 0)
		v.out = append(v.out, "\x1b[m\x1b[2K"...)
		v.out = append(v.out, row...)
	}
	// The cursor: at the end of a prompt, else where the session has it.
	cx, cy, visible := f.scr.Cursor()
	switch {
	case f.prompt && f.bar != "":
		v.out = appendCUP(v.out, v.rows-1, min(v.cols-1, utf8.RuneCountInString(f.bar)))
		v.out = append(v.out, "\x1b[?25h"...)
	case visible && len(f.overlay) == 0 && cy-v.oy >= 0 && cy-v.oy < l.shownRows && cx-v.ox >= 0 && cx-v.ox < v.cols:
		v.out = appendCUP(v.out, cy-v.oy, min(cx-v.ox, l.shownCols-1))
		v.out = append(v.out, "\x1b[?25h"...)
	default:
		v.out = append(v.out, "\x1b[?25l"...)
	}
}

func (v *view) sessionRow(dst []byte, f frame, y int, l layout) []byte {
	sy := y + v.oy
	var mark func(x int) bool
	if f.hits != nil {
		v.colsBuf = f.scr.rowText(sy, v.colsBuf)
		mark = hitMarks(v.colsBuf, f.hits)
	}
	return f.scr.appendRow(dst, sy, v.ox, l.shownCols, mark)
}

// hitMarks tells which columns of a row are part of a search hit.
func hitMarks(cols []string, re *regexp.Regexp) func(x int) bool {
	var b strings.Builder
	starts := make([]int, len(cols)+1)
	for i, c := range cols {
		starts[i] = b.Len()
		b.WriteString(c)
	}
	starts[len(cols)] = b.Len()
	locs := re.FindAllStringIndex(b.String(), -1)
	if len(locs) == 0 {
		return nil
	}
	return func(x int) bool {
		if x >= len(cols) {
			return false
		}
		for _, loc := range locs {
			if starts[x] < loc[1] && starts[x+1] > loc[0] {
				return true
			}
		}
		return false
	}
}

// appendBar draws the status bar: reverse video across the whole row.
func appendBar(dst []byte, text string, cols int) []byte {
	dst = append(dst, "\x1b[0;7m"...)
	r := []rune(text)
	if len(r) > cols {
		r = append(r[:max(0, cols-1)], '…')
	}
	dst = append(dst, string(r)...)
	for i := len(r); i < cols; i++ {
		dst = append(dst, ' ')
	}
	return append(dst, "\x1b[m"...)
}

// appendOverlay draws a line of the help box.
func appendOverlay(dst []byte, text string, cols int) []byte {
	r := []rune(text)
	if len(r) > cols {
		r = r[:cols]
	}
	dst = append(dst, "\x1b[0;1;44;37m"...)
	dst = append(dst, string(r)...)
	return append(dst, "\x1b[m"...)
}

// teardown appends what restores the viewer's terminal.
func (v *view) teardown() {
	if v.started {
		v.out = append(v.out, viewTeardown...)
		v.started = false
	}
}

// cropNote says which part of a screen larger than the terminal shows, at
// length and in short.
func (v *view) cropNote(l layout) (string, string) {
	if !l.cropped {
		return "", ""
	}
	var parts []string
	if l.sRs > l.area {
		parts = append(parts, "rows "+strconv.Itoa(v.oy+1)+"-"+strconv.Itoa(v.oy+l.shownRows))
	}
	if l.sCols > v.cols {
		parts = append(parts, "cols "+strconv.Itoa(v.ox+1)+"-"+strconv.Itoa(v.ox+l.shownCols))
	}
	short := "⚠ " + strings.Join(parts, ", ") + " of " + strconv.Itoa(l.sCols) + "x" + strconv.Itoa(l.sRs)
	return short + ": enlarge the window", short
}
