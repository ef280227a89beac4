// Package termtext turns terminal byte streams into text people search and
// read: the lines a program's output showed (escape sequences removed,
// carriage returns and backspaces applied) and the lines a user typed
// (line editing keys applied). It is a line model, not a screen emulator:
// cheap enough to run on every byte of a recording or a live session, and
// bounded in memory and work whatever the bytes hold (see MaxLine). The
// text it gives holds no control character.
package termtext

import (
	"slices"
	"time"
	"unicode/utf8"
)

// Line is one line of text and the session time its first character was
// written.
type Line struct {
	Time time.Duration
	Text string
	// End is when the line was ended (by Enter, for typed lines).
	End time.Duration
	// Times, when Lines.Times is set, holds when each character (rune) of
	// Text was last written: a search hit appeared at the latest time
	// among its characters. It is valid only during the Emit call.
	Times []time.Duration
}

// parser states, shared by Lines and Input.
const (
	stGround = iota
	stEsc    // after ESC
	stEscInt // ESC + intermediate bytes, waiting for the final byte
	stCSI    // ESC [ (or 0x9B) parameters
	stOSC    // ESC ] ... until BEL or ST
	stOSCEsc // ESC inside an OSC: ST is ESC \
	stStr    // DCS, SOS, PM, APC: until ST
	stStrEsc // ESC inside such a string
	stSS3    // ESC O: one more byte (keypad and function keys)
)

// maxSeq bounds an escape sequence's collected parameters or string; the
// rest of a longer one is dropped (it is still skipped, not shown).
const maxSeq = 4096

// Lines reconstructs the lines a terminal showed from output bytes: escape
// sequences are removed, CR moves back to the line start so that what
// follows overwrites, backspace moves left, erase-line truncates, and
// cursor movement to another row ends the line. Feed it the stream in
// order; it calls Emit for every finished line.
type Lines struct {
	// Emit receives each finished line (trailing spaces removed). Empty
	// lines are emitted too.
	Emit func(Line)
	// OSC, when set, receives the payload of every OSC sequence (the bytes
	// between ESC ] and the terminator), e.g. "133;C" or "0;title".
	OSC func(payload []byte, t time.Duration)
	// Alt, when set, is called when the output switches to the alternate
	// screen (on) or back, with the time of the write that did it.
	Alt func(on bool, t time.Duration)
	// Times makes every emitted Line carry its characters' times.
	Times bool

	line    []rune
	times   []time.Duration // with Times: when each rune of line was written
	cur     int             // column, 0 to MaxLine
	start   time.Duration
	started bool
	st      int
	seq     []byte
	utf     []byte
	alt     bool
	now     time.Duration
	budget
}

// AltScreen tells whether the output has switched to the alternate screen
// (a full-screen program such as vim, less or top is running).
func (l *Lines) AltScreen() bool { return l.alt }

// Current returns the line being built, as it stands.
func (l *Lines) Current() string { return trimRight(l.line) }

// Cursor returns the cursor's column in the line being built.
func (l *Lines) Cursor() int { return l.cur }

// Write feeds output bytes written at session time t.
func (l *Lines) Write(t time.Duration, p []byte) {
	l.now = t
	l.earn(len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch l.st {
		case stGround:
			if c >= 0x20 && c < 0x7f && len(l.utf) == 0 {
				// A run of printable ASCII, most of any output.
				j := i + 1
				for j < len(p) && p[j] >= 0x20 && p[j] < 0x7f {
					j++
				}
				l.putASCII(p[i:j])
				i = j - 1
				continue
			}
			l.ground(c)
		case stEsc:
			l.esc(c)
		case stEscInt:
			if c >= 0x30 && c <= 0x7e {
				l.st = stGround
			} else if c < 0x20 || c > 0x7e {
				l.st = stGround
				l.ground(c)
			}
		case stSS3:
			l.st = stGround
		case stCSI:
			switch {
			case c >= 0x40 && c <= 0x7e:
				l.st = stGround
				l.csi(c)
			case c >= 0x20 && c <= 0x3f:
				if len(l.seq) < maxSeq {
					l.seq = append(l.seq, c)
				}
			case c == 0x1b:
				l.st = stEsc
			case c == 0x18 || c == 0x1a:
				l.st = stGround
			default:
				l.control(c) // C0 controls act even inside a CSI sequence
			}
		case stOSC:
			switch c {
			case 0x07:
				l.st = stGround
				l.osc()
			case 0x1b:
				l.st = stOSCEsc
			case 0x18, 0x1a:
				l.st = stGround
			default:
				if len(l.seq) < maxSeq {
					l.seq = append(l.seq, c)
				}
			}
		case stOSCEsc:
			l.st = stGround
			l.osc()
			if c != '\\' {
				l.esc(c) // an ESC that starts something else ends the OSC
			}
		case stStr:
			if c == 0x1b {
				l.st = stStrEsc
			} else if c == 0x18 || c == 0x1a {
				l.st = stGround
			}
		case stStrEsc:
			if c == '\\' {
				l.st = stGround
			} else if c != 0x1b {
				l.st = stStr
			}
		}
	}
}

func (l *Lines) ground(c byte) {
	if c < 0x20 || c == 0x7f {
		l.flushUTF()
		l.control(c)
		return
	}
	if c < 0x80 {
		l.flushUTF()
		l.put(rune(c))
		return
	}
	// UTF-8, possibly split across writes.
	if utf8.RuneStart(c) {
		l.flushUTF()
	}
	l.utf = append(l.utf, c)
	if utf8.FullRune(l.utf) {
		r, _ := utf8.DecodeRune(l.utf)
		l.utf = l.utf[:0]
		if r >= 0x80 && r < 0xa0 {
			l.c1(r)
			return
		}
		l.put(r)
	} else if len(l.utf) >= utf8.UTFMax {
		l.flushUTF()
	}
}

// flushUTF shows an incomplete UTF-8 sequence as U+FFFD.
func (l *Lines) flushUTF() {
	if len(l.utf) > 0 {
		l.utf = l.utf[:0]
		l.put(utf8.RuneError)
	}
}

// c1 handles 8-bit C1 controls sent as UTF-8 (U+0080..U+009F).
func (l *Lines) c1(r rune) {
	switch r {
	case 0x9b:
		l.st, l.seq = stCSI, l.seq[:0]
	case 0x9d:
		l.st, l.seq = stOSC, l.seq[:0]
	case 0x90, 0x98, 0x9e, 0x9f:
		l.st = stStr
	case 0x85:
		l.newline()
	}
}

func (l *Lines) control(c byte) {
	switch c {
	case '\n', '\v', '\f':
		l.newline()
	case '\r':
		l.cur = 0
	case '\b':
		if l.cur > 0 {
			l.cur--
		}
	case '\t':
		l.moveTo(l.cur + 8 - l.cur%8)
	case 0x1b:
		l.st = stEsc
	}
}

func (l *Lines) esc(c byte) {
	l.st = stGround
	switch {
	case c == '[':
		l.st, l.seq = stCSI, l.seq[:0]
	case c == ']':
		l.st, l.seq = stOSC, l.seq[:0]
	case c == 'P' || c == 'X' || c == '^' || c == '_':
		l.st = stStr
	case c == 'O':
		l.st = stSS3
	case c >= 0x20 && c <= 0x2f:
		l.st = stEscInt
	case c == 'E':
		l.newline()
	case c == 'c': // full reset
		l.breakLine()
		l.setAlt(false)
	case c == 0x1b:
		l.st = stEsc
	}
}

// csi acts on the few sequences that change a line's text.
func (l *Lines) csi(final byte) {
	private := len(l.seq) > 0 && (l.seq[0] == '?' || l.seq[0] == '>' || l.seq[0] == '<' || l.seq[0] == '=')
	if private {
		if final == 'h' || final == 'l' {
			var buf [8]int
			for _, p := range params(l.seq[1:], buf[:0]) {
				if p == 1049 || p == 1047 || p == 47 {
					l.breakLine()
					l.setAlt(final == 'h')
				}
			}
		}
		return
	}
	if final == 'm' {
		return // SGR: colours and attributes, nothing that moves text
	}
	var buf [8]int
	ps := params(l.seq, buf[:0])
	n := 1
	if len(ps) > 0 && ps[0] > 0 {
		n = ps[0]
	}
	switch final {
	case 'C', 'a': // cursor forward
		l.moveTo(l.cur + n)
	case 'D': // cursor back
		l.cur = max(0, l.cur-n)
	case 'G', '`': // column
		l.moveTo(n - 1)
	case 'K': // erase in line
		mode := 0
		if len(ps) > 0 {
			mode = ps[0]
		}
		switch mode {
		case 0:
			if l.cur < len(l.line) {
				l.line = l.line[:l.cur]
				l.cutTimes(l.cur)
			}
		case 1:
			if k := min(l.cur, len(l.line)); l.spend(k) {
				fill(l.line[:k])
			}
		case 2:
			l.line = l.line[:0]
			l.cutTimes(0)
		}
	case 'X': // erase characters
		if l.cur < len(l.line) {
			end := min(len(l.line), l.cur+n)
			if l.spend(end - l.cur) {
				fill(l.line[l.cur:end])
			}
		}
	case 'P': // delete characters
		if l.cur < len(l.line) {
			end := min(len(l.line), l.cur+n)
			if l.spend(len(l.line) - l.cur) {
				l.line = append(l.line[:l.cur], l.line[end:]...)
				if l.Times && len(l.times) >= end {
					l.times = append(l.times[:l.cur], l.times[end:]...)
				}
			} else {
				l.line = l.line[:l.cur] // what was to move left is lost
				l.cutTimes(l.cur)
			}
		}
	case '@': // insert blanks; what is pushed past the end is lost
		if l.cur < len(l.line) {
			k := min(n, MaxLine-l.cur)
			if l.spend(len(l.line) - l.cur + k) {
				keep := min(len(l.line), MaxLine-k)
				l.line = append(l.line[:keep], make([]rune, k)...)
				copy(l.line[l.cur+k:], l.line[l.cur:keep])
				fill(l.line[l.cur : l.cur+k])
				if l.Times {
					l.stamp(0, 0)
					copy(l.times[l.cur+k:], l.times[l.cur:keep])
					l.stamp(l.cur, l.cur+k)
				}
			}
		}
	case 'A', 'B', 'E', 'F', 'H', 'f', 'd', 'J':
		// Another row (or the screen cleared): this line is done.
		l.breakLine()
		if final == 'H' || final == 'f' {
			if len(ps) > 1 && ps[1] > 1 {
				l.moveTo(ps[1] - 1)
			}
		}
	}
}

func (l *Lines) setAlt(on bool) {
	if on != l.alt && l.Alt != nil {
		l.Alt(on, l.now)
	}
	l.alt = on
}

func (l *Lines) osc() {
	if l.OSC != nil {
		l.OSC(l.seq, l.now)
	}
}

// params appends the CSI numeric parameters in b to ps; missing ones are 0.
func params(b []byte, ps []int) []int {
	cur, has := 0, false
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			if cur < 1<<20 {
				cur = cur*10 + int(c-'0')
			}
			has = true
		case c == ';' || c == ':':
			ps = append(ps, cur)
			cur, has = 0, false
		}
	}
	if has || len(ps) > 0 {
		ps = append(ps, cur)
	}
	return ps
}

func (l *Lines) mark() {
	if !l.started {
		l.started, l.start = true, l.now
	}
}

func (l *Lines) put(r rune) {
	l.mark()
	if l.cur >= MaxLine {
		l.wrap()
	}
	if l.cur < len(l.line) {
		l.line[l.cur] = r
	} else {
		l.pad()
		l.line = append(l.line, r)
	}
	if l.Times {
		l.stamp(l.cur, l.cur+1)
	}
	l.cur++
}

// stamp records that the runes from i to j were written now.
// The times follow the line's length first: a cut the line had (bounds,
// erasing) is theirs too, and runes added without a time get now.
func (l *Lines) stamp(i, j int) {
	if len(l.times) > len(l.line) {
		l.times = l.times[:len(l.line)]
	}
	for len(l.times) < len(l.line) {
		l.times = append(l.times, l.now)
	}
	for k := i; k < j && k < len(l.times); k++ {
		l.times[k] = l.now
	}
}

// cutTimes keeps the times of the first n runes.
func (l *Lines) cutTimes(n int) {
	if l.Times && len(l.times) > n {
		l.times = l.times[:n]
	}
}

// putASCII is put for a run of printable ASCII.
func (l *Lines) putASCII(b []byte) {
	l.mark()
	for len(b) > 0 {
		if l.cur >= MaxLine {
			l.wrap()
		}
		l.pad()
		from := l.cur
		k := 0
		for ; k < len(b) && l.cur < len(l.line); k++ { // overwriting
			l.line[l.cur] = rune(b[k])
			l.cur++
		}
		b = b[k:]
		if n := min(len(b), MaxLine-l.cur); n > 0 {
			l.line = slices.Grow(l.line, n)
			for _, c := range b[:n] {
				l.line = append(l.line, rune(c))
			}
			l.cur = len(l.line)
			b = b[n:]
		}
		if l.Times {
			l.stamp(from, l.cur)
		}
	}
}

// pad fills the line with spaces up to the cursor, as far as the credit
// goes: the cursor is moved back to where the padding stops.
func (l *Lines) pad() {
	if n := l.cur - len(l.line); n > 0 {
		n = l.take(n)
		for range n {
			l.line = append(l.line, ' ')
		}
		l.cur = len(l.line)
	}
}

// wrap goes on to the next line, as a terminal does at its right margin.
func (l *Lines) wrap() {
	l.emit()
	l.mark()
}

// moveTo moves the cursor to column col, at most MaxLine: moving past the
// end of the text starts the line.
func (l *Lines) moveTo(col int) {
	col = min(max(col, 0), MaxLine)
	if col > l.cur && col > len(l.line) {
		l.mark()
	}
	l.cur = col
}

// fill blanks rs.
func fill(rs []rune) {
	for i := range rs {
		rs[i] = ' '
	}
}

func (l *Lines) newline() {
	l.mark()
	l.emit()
}

// breakLine ends a line that has text, without emitting an empty one.
func (l *Lines) breakLine() {
	if hasText(l.line) {
		l.emit()
	} else {
		l.reset()
	}
}

func hasText(rs []rune) bool {
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i] != ' ' {
			return true
		}
	}
	return false
}

func (l *Lines) emit() {
	if l.Emit != nil {
		ln := Line{Time: l.start, Text: trimRight(l.line)}
		if l.Times {
			l.stamp(0, 0) // spaces the cursor moved over have no time yet
			ln.Times = l.times[:utf8.RuneCountInString(ln.Text)]
		}
		l.Emit(ln)
	}
	l.reset()
}

func (l *Lines) reset() {
	l.line, l.times, l.cur, l.started = l.line[:0], l.times[:0], 0, false
}

// Flush emits the line being built, if it holds text.
func (l *Lines) Flush() {
	l.flushUTF()
	if hasText(l.line) {
		l.emit()
	}
}

func trimRight(rs []rune) string {
	n := len(rs)
	for n > 0 && rs[n-1] == ' ' {
		n--
	}
	return string(rs[:n])
}
