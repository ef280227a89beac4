package termtext

import (
	"time"
	"unicode/utf8"
)

// Input reconstructs the lines a user typed from the keystrokes sent to a
// terminal program (a shell's line editor, as readline or zle apply them):
// printable characters insert at the cursor; Backspace (DEL or ^H) deletes
// before it, ^U deletes to the line start, ^W the word before it, ^K to the
// end; ^A/^E, Home/End and the arrow keys move; ^C abandons the line;
// bracketed paste is taken as typed. Enter (CR or LF) ends the line.
//
// Keys whose effect depends on the program's state (Tab completion, history
// recall with Up/Down, ^R search) make the line Uncertain: the text
// reconstructed from the keys alone may not be what the program ran.
type Input struct {
	// Enter receives every line ended by Enter; Time is when its first key
	// was pressed, End when Enter was, and Uncertain is set as described
	// above.
	Enter func(l Line, uncertain bool)

	line      []rune
	cur       int
	start     time.Duration
	started   bool
	uncertain bool
	st        int
	seq       []byte
	utf       []byte
	lastCR    bool
	now       time.Duration
	budget
}

// MarkUncertain makes the current line Uncertain: keys were typed on it
// that are not known (the recorder kept only their count).
func (in *Input) MarkUncertain() {
	in.mark()
	in.uncertain = true
}

// Pending tells whether keys have been typed on the current line.
func (in *Input) Pending() bool { return in.started }

// Current returns the line typed so far.
func (in *Input) Current() string { return string(in.line) }

// Write feeds keystroke bytes sent at session time t.
func (in *Input) Write(t time.Duration, p []byte) {
	in.now = t
	in.earn(len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch in.st {
		case stGround:
			in.ground(c)
		case stEsc:
			in.st = stGround
			switch c {
			case '[':
				in.st, in.seq = stCSI, in.seq[:0]
			case 'O':
				in.st = stSS3
			case 'b', 'f', 'B', 'F': // Alt-b, Alt-f: word motion
				in.wordMove(c == 'f' || c == 'F')
			case 0x7f, 0x08: // Alt-Backspace
				in.killWord()
			case '.', '_', '#', 'r', 'y':
				in.uncertain = true
			}
		case stSS3:
			in.st = stGround
			in.key(c, nil)
		case stCSI:
			switch {
			case c >= 0x40 && c <= 0x7e:
				in.st = stGround
				in.key(c, in.seq)
			case len(in.seq) < maxSeq:
				in.seq = append(in.seq, c)
			}
		}
	}
}

func (in *Input) ground(c byte) {
	cr := c == '\r'
	defer func() { in.lastCR = cr }()
	switch {
	case c == '\r' || c == '\n':
		if c == '\n' && in.lastCR {
			return // CR LF is one Enter
		}
		in.enter()
	case c == 0x1b:
		in.st = stEsc
	case c == 0x7f || c == 0x08:
		if in.cur > 0 && in.spend(len(in.line)-in.cur) {
			in.line = append(in.line[:in.cur-1], in.line[in.cur:]...)
			in.cur--
		}
	case c == 0x15: // ^U
		if in.spend(len(in.line) - in.cur) {
			in.line = append(in.line[:0], in.line[in.cur:]...)
			in.cur = 0
		}
	case c == 0x17: // ^W
		in.killWord()
	case c == 0x0b: // ^K
		in.line = in.line[:in.cur]
	case c == 0x01: // ^A
		in.cur = 0
	case c == 0x05: // ^E
		in.cur = len(in.line)
	case c == 0x02: // ^B
		in.cur = max(0, in.cur-1)
	case c == 0x06: // ^F
		in.cur = min(len(in.line), in.cur+1)
	case c == 0x04: // ^D deletes under the cursor
		in.deleteAtCursor()
	case c == 0x03 || c == 0x07: // ^C, ^G: the line is abandoned
		in.reset()
	case c == '\t' || c == 0x12 || c == 0x10 || c == 0x0e || c == 0x19 || c == 0x14:
		// Tab completion, ^R search, ^P/^N history, ^Y yank, ^T transpose.
		in.mark()
		in.uncertain = true
	case c < 0x20:
		// Other controls do nothing to the line.
	case c < 0x80:
		in.insert(rune(c))
	default:
		if utf8.RuneStart(c) {
			in.utf = in.utf[:0]
		}
		in.utf = append(in.utf, c)
		if utf8.FullRune(in.utf) {
			r, _ := utf8.DecodeRune(in.utf)
			in.utf = in.utf[:0]
			in.rune(r)
		}
	}
}

// rune handles a character typed as UTF-8. A C1 control is not text: the
// 8-bit CSI and SS3 start keys as ESC [ and ESC O do, the others do
// nothing (a terminal would act on them if they were shown).
func (in *Input) rune(r rune) {
	switch {
	case r == 0x9b:
		in.st, in.seq = stCSI, in.seq[:0]
	case r == 0x8f:
		in.st = stSS3
	case r >= 0x80 && r < 0xa0:
	default:
		in.insert(r)
	}
}

// key handles CSI and SS3 keys: arrows, Home/End, Delete, bracketed paste.
func (in *Input) key(final byte, seq []byte) {
	switch final {
	case 'D':
		in.cur = max(0, in.cur-1)
	case 'C':
		in.cur = min(len(in.line), in.cur+1)
	case 'H':
		in.cur = 0
	case 'F':
		in.cur = len(in.line)
	case 'A', 'B': // history
		in.mark()
		in.uncertain = true
	case '~':
		switch string(seq) {
		case "3": // Delete
			in.deleteAtCursor()
		case "1", "7":
			in.cur = 0
		case "4", "8":
			in.cur = len(in.line)
		}
		// "200~" and "201~" start and end a bracketed paste: the text in
		// between is typed as it is.
	}
}

// insert types r at the cursor. A line that is MaxLine long takes no
// more, and no more than the credit pays for moving.
func (in *Input) insert(r rune) {
	in.mark()
	if len(in.line) >= MaxLine || !in.spend(len(in.line)-in.cur) {
		return
	}
	in.line = append(in.line, 0)
	copy(in.line[in.cur+1:], in.line[in.cur:])
	in.line[in.cur] = r
	in.cur++
}

func (in *Input) deleteAtCursor() {
	if in.cur < len(in.line) && in.spend(len(in.line)-in.cur) {
		in.line = append(in.line[:in.cur], in.line[in.cur+1:]...)
	}
}

func (in *Input) killWord() {
	if !in.spend(len(in.line)) {
		return
	}
	i := in.cur
	for i > 0 && in.line[i-1] == ' ' {
		i--
	}
	for i > 0 && in.line[i-1] != ' ' {
		i--
	}
	in.line = append(in.line[:i], in.line[in.cur:]...)
	in.cur = i
}

func (in *Input) wordMove(forward bool) {
	if !in.spend(len(in.line)) {
		return
	}
	if forward {
		for in.cur < len(in.line) && in.line[in.cur] == ' ' {
			in.cur++
		}
		for in.cur < len(in.line) && in.line[in.cur] != ' ' {
			in.cur++
		}
		return
	}
	for in.cur > 0 && in.line[in.cur-1] == ' ' {
		in.cur--
	}
	for in.cur > 0 && in.line[in.cur-1] != ' ' {
		in.cur--
	}
}

func (in *Input) mark() {
	if !in.started {
		in.started, in.start = true, in.now
	}
}

func (in *Input) enter() {
	if in.Enter != nil {
		start := in.start
		if !in.started {
			start = in.now
		}
		in.Enter(Line{Time: start, Text: string(in.line), End: in.now}, in.uncertain)
	}
	in.reset()
}

// Reset forgets the line typed so far: the keys went to a program that
// is not the line editor (a full-screen program).
func (in *Input) Reset() {
	in.reset()
	in.st = stGround
}

func (in *Input) reset() {
	in.line, in.cur, in.started, in.uncertain = in.line[:0], 0, false, false
}

// Flush ends a line that was typed without Enter, as if Enter came.
func (in *Input) Flush() {
	if in.started && len(in.line) > 0 {
		in.enter()
	}
}
