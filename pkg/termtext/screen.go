package termtext

import (
	"unicode/utf8"
)

// Screen is the text of a full-screen program's screen (vi, less, top):
// a grid of characters that cursor addressing, erasing, scrolling and
// inserting act on, without colours or attributes. Where Lines loses text
// that a program writes piecemeal at positions it chooses, Screen keeps
// each row as the terminal showed it. It is cheap (a rune per cell) so
// that search can run it over every full-screen period of a recording.
//
// Every character counts one column; wide characters are rare in what is
// searched and would only shift a row's later columns by one.
type Screen struct {
	cols, rows int
	cells      [][]rune
	dirty      []bool
	x, y       int
	top, bot   int // scroll region, inclusive
	wrapNext   bool
	savedX     int
	savedY     int
	st         int
	seq        []byte
	utf        []byte
}

// Bounds on a screen's size: a recording may claim anything.
const (
	maxScreenCols = 2000
	maxScreenRows = 1000
)

// NewScreen returns an empty screen of cols x rows.
func NewScreen(cols, rows int) *Screen {
	s := &Screen{}
	s.Resize(cols, rows)
	return s
}

// Resize changes the screen's size, keeping what fits.
func (s *Screen) Resize(cols, rows int) {
	cols, rows = max(1, min(cols, maxScreenCols)), max(1, min(rows, maxScreenRows))
	if cols == s.cols && rows == s.rows {
		return
	}
	cells := make([][]rune, rows)
	for y := range cells {
		cells[y] = blankRow(cols)
		if y < len(s.cells) {
			copy(cells[y], s.cells[y])
		}
	}
	s.cells, s.cols, s.rows = cells, cols, rows
	s.dirty = make([]bool, rows)
	s.top, s.bot = 0, rows-1
	s.x, s.y = min(s.x, cols-1), min(s.y, rows-1)
	s.wrapNext = false
}

func blankRow(n int) []rune {
	r := make([]rune, n)
	for i := range r {
		r[i] = ' '
	}
	return r
}

// Size returns the screen's size.
func (s *Screen) Size() (cols, rows int) { return s.cols, s.rows }

// Row returns row y's text, trailing spaces removed.
func (s *Screen) Row(y int) string { return trimRight(s.cells[y]) }

// Changed calls fn for every row changed since the last call, top to
// bottom, with its text.
func (s *Screen) Changed(fn func(y int, text string)) {
	for y, d := range s.dirty {
		if d {
			s.dirty[y] = false
			fn(y, s.Row(y))
		}
	}
}

// Write feeds output bytes.
func (s *Screen) Write(p []byte) {
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch s.st {
		case stGround:
			s.ground(c)
		case stEsc:
			s.esc(c)
		case stEscInt:
			if c >= 0x30 && c <= 0x7e {
				s.st = stGround
			} else if c < 0x20 {
				s.st = stGround
				s.ground(c)
			}
		case stSS3:
			s.st = stGround
		case stCSI:
			switch {
			case c >= 0x40 && c <= 0x7e:
				s.st = stGround
				s.csi(c)
			case c >= 0x20 && c <= 0x3f:
				if len(s.seq) < maxSeq {
					s.seq = append(s.seq, c)
				}
			case c == 0x1b:
				s.st = stEsc
			case c == 0x18 || c == 0x1a:
				s.st = stGround
			default:
				s.control(c)
			}
		case stOSC, stStr:
			switch c {
			case 0x07:
				if s.st == stOSC {
					s.st = stGround
				}
			case 0x1b:
				s.st++ // stOSCEsc, stStrEsc
			case 0x18, 0x1a:
				s.st = stGround
			}
		case stOSCEsc, stStrEsc:
			s.st = stGround
			if c != '\\' {
				s.esc(c)
			}
		}
	}
}

func (s *Screen) ground(c byte) {
	if c < 0x20 || c == 0x7f {
		s.utf = s.utf[:0]
		s.control(c)
		return
	}
	if c < 0x80 {
		s.utf = s.utf[:0]
		s.put(rune(c))
		return
	}
	if utf8.RuneStart(c) {
		s.utf = s.utf[:0]
	}
	s.utf = append(s.utf, c)
	if !utf8.FullRune(s.utf) {
		if len(s.utf) >= utf8.UTFMax {
			s.utf = s.utf[:0]
			s.put(utf8.RuneError)
		}
		return
	}
	r, _ := utf8.DecodeRune(s.utf)
	s.utf = s.utf[:0]
	switch {
	case r == 0x9b:
		s.st, s.seq = stCSI, s.seq[:0]
	case r == 0x9d:
		s.st = stOSC
	case r == 0x90 || r == 0x98 || r == 0x9e || r == 0x9f:
		s.st = stStr
	case r >= 0x80 && r < 0xa0:
	default:
		s.put(r)
	}
}

func (s *Screen) control(c byte) {
	switch c {
	case '\n', '\v', '\f':
		s.lineFeed()
	case '\r':
		s.x, s.wrapNext = 0, false
	case '\b':
		if s.x > 0 {
			s.x--
		}
		s.wrapNext = false
	case '\t':
		s.x = min(s.cols-1, (s.x/8+1)*8)
	case 0x1b:
		s.st = stEsc
	}
}

func (s *Screen) esc(c byte) {
	s.st = stGround
	switch {
	case c == '[':
		s.st, s.seq = stCSI, s.seq[:0]
	case c == ']':
		s.st = stOSC
	case c == 'P' || c == 'X' || c == '^' || c == '_':
		s.st = stStr
	case c == 'O':
		s.st = stSS3
	case c >= 0x20 && c <= 0x2f:
		s.st = stEscInt
	case c == 'D':
		s.lineFeed()
	case c == 'E':
		s.x = 0
		s.lineFeed()
	case c == 'M':
		s.reverseIndex()
	case c == '7':
		s.savedX, s.savedY = s.x, s.y
	case c == '8':
		s.x, s.y, s.wrapNext = s.savedX, s.savedY, false
	case c == 'c':
		s.erase(0, 0, s.rows-1, s.cols-1)
		s.x, s.y, s.top, s.bot, s.wrapNext = 0, 0, 0, s.rows-1, false
	case c == 0x1b:
		s.st = stEsc
	}
}

func (s *Screen) put(r rune) {
	if s.wrapNext {
		s.x = 0
		s.lineFeed()
	}
	s.cells[s.y][s.x] = r
	s.dirty[s.y] = true
	if s.x == s.cols-1 {
		s.wrapNext = true
	} else {
		s.x++
	}
}

func (s *Screen) lineFeed() {
	s.wrapNext = false
	if s.y == s.bot {
		s.scrollUp(s.top, s.bot, 1)
		return
	}
	if s.y < s.rows-1 {
		s.y++
	}
}

func (s *Screen) reverseIndex() {
	s.wrapNext = false
	if s.y == s.top {
		s.scrollDown(s.top, s.bot, 1)
		return
	}
	if s.y > 0 {
		s.y--
	}
}

// scrollUp moves rows top..bot up by n: n blank rows come in at the bottom.
func (s *Screen) scrollUp(top, bot, n int) {
	n = min(n, bot-top+1)
	if n <= 0 {
		return
	}
	gone := append([][]rune(nil), s.cells[top:top+n]...)
	copy(s.cells[top:], s.cells[top+n:bot+1])
	for i, row := range gone {
		for x := range row {
			row[x] = ' '
		}
		s.cells[bot-n+1+i] = row
	}
	s.touch(top, bot)
}

// scrollDown moves rows top..bot down by n: blank rows come in at the top.
func (s *Screen) scrollDown(top, bot, n int) {
	n = min(n, bot-top+1)
	if n <= 0 {
		return
	}
	gone := append([][]rune(nil), s.cells[bot-n+1:bot+1]...)
	copy(s.cells[top+n:bot+1], s.cells[top:bot+1-n])
	for i, row := range gone {
		for x := range row {
			row[x] = ' '
		}
		s.cells[top+i] = row
	}
	s.touch(top, bot)
}

// vertical clamps a relative move to row y: inside the scroll region the
// cursor stops at its margins, outside it at the screen's edges.
func (s *Screen) vertical(y int) int {
	if s.y >= s.top && s.y <= s.bot {
		return max(s.top, min(y, s.bot))
	}
	return max(0, min(y, s.rows-1))
}

func (s *Screen) touch(top, bot int) {
	for y := top; y <= bot; y++ {
		s.dirty[y] = true
	}
}

// erase blanks from (y0, x0) to (y1, x1) inclusive, in reading order.
func (s *Screen) erase(y0, x0, y1, x1 int) {
	for y := y0; y <= y1; y++ {
		from, to := 0, s.cols-1
		if y == y0 {
			from = x0
		}
		if y == y1 {
			to = x1
		}
		for x := from; x <= to && x < s.cols; x++ {
			s.cells[y][x] = ' '
		}
		s.dirty[y] = true
	}
}

func (s *Screen) csi(final byte) {
	if len(s.seq) > 0 && s.seq[0] >= '<' && s.seq[0] <= '?' {
		return // private modes: the owner tracks the alternate screen
	}
	var buf [8]int
	ps := params(s.seq, buf[:0])
	arg := func(i, dflt int) int {
		if i < len(ps) && ps[i] > 0 {
			return ps[i]
		}
		return dflt
	}
	n := arg(0, 1)
	s.wrapNext = false
	switch final {
	case 'A':
		s.y = s.vertical(s.y - n)
	case 'B', 'e':
		s.y = s.vertical(s.y + n)
	case 'C', 'a':
		s.x = min(s.x+n, s.cols-1)
	case 'D':
		s.x = max(s.x-n, 0)
	case 'E':
		s.x, s.y = 0, s.vertical(s.y+n)
	case 'F':
		s.x, s.y = 0, s.vertical(s.y-n)
	case 'G', '`':
		s.x = min(n, s.cols) - 1
	case 'd':
		s.y = min(n, s.rows) - 1
	case 'H', 'f':
		s.y, s.x = min(n, s.rows)-1, min(arg(1, 1), s.cols)-1
	case 'J':
		switch arg(0, 0) {
		case 0:
			s.erase(s.y, s.x, s.rows-1, s.cols-1)
		case 1:
			s.erase(0, 0, s.y, s.x)
		case 2:
			s.erase(0, 0, s.rows-1, s.cols-1)
		}
		// 3 erases the scrollback only, which is not kept.
	case 'K':
		switch arg(0, 0) {
		case 0:
			s.erase(s.y, s.x, s.y, s.cols-1)
		case 1:
			s.erase(s.y, 0, s.y, s.x)
		case 2:
			s.erase(s.y, 0, s.y, s.cols-1)
		}
	case 'X':
		s.erase(s.y, s.x, s.y, min(s.x+n, s.cols)-1)
	case 'P':
		row := s.cells[s.y]
		n = min(n, s.cols-s.x)
		copy(row[s.x:], row[s.x+n:])
		for x := s.cols - n; x < s.cols; x++ {
			row[x] = ' '
		}
		s.dirty[s.y] = true
	case '@':
		row := s.cells[s.y]
		n = min(n, s.cols-s.x)
		copy(row[s.x+n:], row[s.x:s.cols-n])
		for x := s.x; x < s.x+n; x++ {
			row[x] = ' '
		}
		s.dirty[s.y] = true
	case 'L': // insert lines; like xterm, back to the line's start
		if s.y >= s.top && s.y <= s.bot {
			s.scrollDown(s.y, s.bot, n)
			s.x = 0
		}
	case 'M':
		if s.y >= s.top && s.y <= s.bot {
			s.scrollUp(s.y, s.bot, n)
			s.x = 0
		}
	case 'S':
		s.scrollUp(s.top, s.bot, n)
	case 'T':
		s.scrollDown(s.top, s.bot, n)
	case 'r':
		top, bot := arg(0, 1)-1, min(arg(1, s.rows), s.rows)-1
		if top < bot {
			s.top, s.bot = top, bot
			s.x, s.y = 0, 0
		}
	case 's':
		s.savedX, s.savedY = s.x, s.y
	case 'u':
		s.x, s.y = s.savedX, s.savedY
	}
}
