package replay

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// Sanitizer filters a recorded output stream on its way to the viewer's
// terminal: a recording is untrusted input to whoever plays it. It passes
// what is on a list of things that act only on the screen and drops
// everything else, so that a sequence nobody thought of is dropped, not
// passed. What passes:
//
//   - Text: printable ASCII and valid UTF-8 but the C1 controls (U+0080 to
//     U+009F); a byte that is not UTF-8 becomes U+FFFD, which is what a
//     UTF-8 terminal shows for it.
//   - The controls BEL, BS, HT, LF, VT, FF, CR, SO and SI.
//   - ESC 7 and 8 (save and restore the cursor), D, E, M (index, next
//     line, reverse index), H (tab set), c (reset), 6 and 9 (back and
//     forward index), N, O, n, o (single and locking shifts); character
//     set designations (ESC ( ) * + - . / with a final); ESC # 3, 4, 5, 6
//     and 8 (line size, alignment test).
//   - CSI sequences with no prefix and no intermediate that move the
//     cursor (A B C D E F G H I Z a d e f ` j k), erase (J K X), insert and
//     delete (@ P L M), scroll (S, and T with at most one parameter),
//     repeat (b), set colors and attributes (m), set the scroll region (r),
//     save and restore the cursor (s, and u without parameters), clear tabs
//     (g); selective erase (? J, ? K); the cursor style (SP q), character
//     protection (" q) and soft reset (! p).
//   - Modes that only change how the screen is drawn, in SM/RM (4: insert)
//     and DECSET/DECRST (5 reverse video, 6 origin, 7 autowrap, 12 cursor
//     blink, 25 cursor visible, 45 reverse wrap, 47, 1047, 1048 and 1049
//     alternate screen and saved cursor, 69 left and right margins, 2026
//     synchronized output). Other modes in the same sequence are removed.
//   - OSC 0, 1 and 2 (window and icon titles) and 8 (hyperlinks) whose text
//     is printable, up to 8 KiB.
//
// So what is dropped includes every query and report the terminal would
// answer on the viewer's input (DA, DSR, CPR, DECRQM, DECRQSS, DECRQPSR,
// XTVERSION, XTREPORTSGR, window reports, ENQ, DECID...), DCS, SOS, PM and
// APC strings, every other OSC (52 clipboard, colors, notifications,
// working directory), C1 controls in any form, modes that change what the
// viewer's keyboard or mouse sends (mouse and focus reporting, bracketed
// paste, cursor-key and keypad application modes, LNM, KAM, SRM, the
// kitty keyboard protocol, modifyOtherKeys), window operations and the
// 132-column mode (they resize the window), the printer, keyboard LEDs,
// saving and restoring modes, and leaving UTF-8 (ESC %).
//
// The output is always whole sequences and whole characters: a sequence
// or character cut by the end of one call is held until the next, so the
// terminal's parser is back in its ground state after every call, whatever
// the recording holds. Memory is bounded: a sequence longer than it may be
// is dropped as it streams. The zero value is ready to use. The filter
// assumes a UTF-8 terminal.
type Sanitizer struct {
	st      int
	seq     []byte // the ESC or CSI sequence or OSC being collected, ESC included
	drop    bool   // what is being collected is dropped whatever it turns out to be
	utf     [utf8.UTFMax]byte
	nutf    int  // bytes of a UTF-8 character being collected (ground state)
	c2      bool // the previous byte of a string was 0xC2 (a C1 ST may follow)
	dropped int
}

const (
	sGround = iota
	sEsc
	sEscInt
	sCSI
	sOSC
	sOSCEsc
	sStr
	sStrEsc
)

const (
	// maxKept bounds an OSC that is kept: a longer title or hyperlink is
	// dropped.
	maxKept = 8192
	// maxCSI bounds a CSI or ESC sequence; no sequence that is let through
	// is near it.
	maxCSI = 256
)

// Dropped counts the sequences and controls removed so far.
func (s *Sanitizer) Dropped() int { return s.dropped }

// Filter appends to dst what of p may reach the viewer's terminal.
func (s *Sanitizer) Filter(dst, p []byte) []byte {
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch s.st {
		case sGround:
			if s.nutf == 0 && isText(c) {
				// A run of printable ASCII and harmless controls: most
				// of any output.
				j := i + 1
				for j < len(p) && isText(p[j]) {
					j++
				}
				dst = append(dst, p[i:j]...)
				i = j - 1
				continue
			}
			var again bool
			dst, again = s.ground(dst, c)
			if again {
				i--
			}
		case sEsc, sEscInt, sCSI:
			var again bool
			switch s.st {
			case sEsc:
				dst, again = s.esc(dst, c)
			case sEscInt:
				dst, again = s.escInt(dst, c)
			default:
				dst, again = s.csiByte(dst, c)
			}
			if again {
				i--
			}
		case sOSC:
			dst = s.oscByte(dst, c)
		case sOSCEsc:
			if c == '\\' {
				s.st = sGround
				dst = s.osc(dst, []byte{0x1b, '\\'})
			} else {
				// An OSC cut short by another sequence: drop it, and
				// read c as the byte after that ESC.
				s.dropped++
				s.st, s.seq = sEsc, append(s.seq[:0], 0x1b)
				i--
			}
		case sStr:
			s.strByte(c)
		case sStrEsc:
			switch c {
			case '\\':
				s.st = sGround
			case 0x1b:
			default:
				s.st = sStr
				s.strByte(c)
			}
		}
	}
	return dst
}

// isText reports the bytes that pass as they are in the ground state:
// printable ASCII and the controls that only move the cursor or ring.
func isText(c byte) bool {
	return (c >= 0x20 && c < 0x7f) || (c >= 0x07 && c <= 0x0f)
}

// ground handles a byte of the ground state that is not plain text.
// again is true when c must be read again (it ended an invalid UTF-8
// sequence without belonging to it).
func (s *Sanitizer) ground(dst []byte, c byte) ([]byte, bool) {
	if s.nutf > 0 {
		return s.utf8Byte(dst, c)
	}
	switch {
	case c == 0x1b:
		s.st, s.seq = sEsc, append(s.seq[:0], c)
	case c < 0x80:
		// NUL, DEL and the controls that are not plain text (ENQ makes
		// the terminal answer; CAN and SUB print a character on some).
		if c != 0 && c != 0x7f {
			s.dropped++
		}
	default:
		return s.utf8Byte(dst, c)
	}
	return dst, false
}

// utf8Byte collects a UTF-8 character.
func (s *Sanitizer) utf8Byte(dst []byte, c byte) ([]byte, bool) {
	s.utf[s.nutf] = c
	b := s.utf[:s.nutf+1]
	if !utf8.FullRune(b) {
		s.nutf++ // a valid start: wait for the rest
		return dst, false
	}
	r, n := utf8.DecodeRune(b)
	s.nutf = 0
	if r == utf8.RuneError && n == 1 {
		dst = append(dst, "\uFFFD"...)
		// A character cut short: c starts afresh.
		return dst, len(b) > 1
	}
	if r >= 0x80 && r < 0xa0 {
		s.c1(r)
		return dst, false
	}
	return append(dst, b...), false
}

// c1 drops a C1 control, and the sequence it introduces.
func (s *Sanitizer) c1(r rune) {
	s.dropped++
	switch r {
	case 0x9b: // CSI
		s.st, s.seq, s.drop = sCSI, append(s.seq[:0], 0x1b, '['), true
	case 0x9d: // OSC
		s.st, s.seq, s.drop, s.c2 = sOSC, append(s.seq[:0], 0x1b, ']'), true, false
	case 0x90, 0x98, 0x9e, 0x9f: // DCS, SOS, PM, APC
		s.st, s.c2 = sStr, false
	}
}

// control handles a C0 control met inside a sequence: the terminal
// executes it there. Those that pass in text pass.
func (s *Sanitizer) control(dst []byte, c byte) []byte {
	if isText(c) {
		return append(dst, c)
	}
	if c != 0 {
		s.dropped++
	}
	return dst
}

// escFinals are the ESC sequences without intermediate that pass.
const escFinals = "78DEHMc69NOno"

// esc handles the byte after ESC; again is true when c must be read again
// in the ground state.
func (s *Sanitizer) esc(dst []byte, c byte) ([]byte, bool) {
	switch {
	case c == '[':
		s.st, s.drop = sCSI, false
		s.seq = append(s.seq, c)
	case c == ']':
		s.st, s.drop, s.c2 = sOSC, false, false
		s.seq = append(s.seq, c)
	case c == 'P' || c == 'X' || c == '^' || c == '_':
		s.st, s.c2 = sStr, false
		s.dropped++
	case c >= 0x20 && c <= 0x2f:
		s.st = sEscInt
		s.seq = append(s.seq, c)
	case c >= 0x30 && c <= 0x7e:
		s.st = sGround
		if bytes.IndexByte([]byte(escFinals), c) >= 0 {
			return append(dst, 0x1b, c), false
		}
		s.dropped++
	case c == 0x1b:
	case c == 0x18 || c == 0x1a:
		s.st = sGround
	case c == 0x7f:
	case c < 0x20:
		return s.control(dst, c), false
	default: // a byte of UTF-8: the sequence is void, the character text
		s.st = sGround
		s.dropped++
		return dst, true
	}
	return dst, false
}

// escInt handles a byte after ESC and an intermediate.
func (s *Sanitizer) escInt(dst []byte, c byte) ([]byte, bool) {
	switch {
	case c >= 0x20 && c <= 0x2f:
		if len(s.seq) < 4 {
			s.seq = append(s.seq, c)
		} else {
			s.drop = true
		}
	case c >= 0x30 && c <= 0x7e:
		s.st = sGround
		s.seq = append(s.seq, c)
		drop := s.drop
		s.drop = false
		if !drop && escAllowed(s.seq) {
			return append(dst, s.seq...), false
		}
		s.dropped++
	case c == 0x1b:
		s.dropped++
		s.st, s.seq, s.drop = sEsc, append(s.seq[:0], c), false
	case c == 0x18 || c == 0x1a:
		s.st, s.drop = sGround, false
		s.dropped++
	case c == 0x7f:
	case c < 0x20:
		return s.control(dst, c), false
	default:
		s.st, s.drop = sGround, false
		s.dropped++
		return dst, true
	}
	return dst, false
}

// escAllowed tells whether ESC, intermediates and final (seq) pass:
// character set designations and the line size sequences.
func escAllowed(seq []byte) bool {
	inter, final := seq[1:len(seq)-1], seq[len(seq)-1]
	switch inter[0] {
	case '(', ')', '*', '+', '-', '.', '/':
		// A 94- or 96-character set, some named with a second byte
		// ("%5", "\"?").
		return len(inter) == 1 || (len(inter) == 2 && (inter[1] == '%' || inter[1] == '"' || inter[1] == '&'))
	case '#':
		return len(inter) == 1 && (final >= '3' && final <= '6' || final == '8')
	}
	return false
}

// csiByte handles a byte of a CSI sequence.
func (s *Sanitizer) csiByte(dst []byte, c byte) ([]byte, bool) {
	switch {
	case c >= 0x40 && c <= 0x7e:
		s.st = sGround
		s.seq = append(s.seq, c)
		return s.csi(dst), false
	case c >= 0x20 && c <= 0x3f:
		if len(s.seq) < maxCSI {
			s.seq = append(s.seq, c)
		} else {
			s.drop = true
		}
	case c == 0x1b:
		s.dropped++ // an unfinished CSI: drop it, start over
		s.st, s.seq, s.drop = sEsc, append(s.seq[:0], c), false
	case c == 0x18 || c == 0x1a: // CAN, SUB cancel
		s.st, s.drop = sGround, false
		s.dropped++
	case c == 0x7f: // ignored inside a sequence
	case c < 0x20:
		return s.control(dst, c), false
	default:
		// UTF-8 inside a CSI: the sequence is void; the character is text.
		s.st, s.drop = sGround, false
		s.dropped++
		return dst, true
	}
	return dst, false
}

// csi passes the complete CSI sequence in s.seq if it is on the list.
func (s *Sanitizer) csi(dst []byte) []byte {
	seq := s.seq
	if s.drop {
		s.drop = false
		s.dropped++
		return dst
	}
	final := seq[len(seq)-1]
	body := seq[2 : len(seq)-1]
	var prefix byte
	if len(body) > 0 && body[0] >= 0x3c && body[0] <= 0x3f {
		prefix, body = body[0], body[1:]
	}
	k := len(body)
	for k > 0 && body[k-1] >= 0x20 && body[k-1] <= 0x2f {
		k--
	}
	params, inter := body[:k], body[k:]
	for _, b := range params {
		if (b < '0' || b > '9') && b != ';' && b != ':' {
			s.dropped++ // a private byte past the first, or an intermediate before a parameter
			return dst
		}
	}
	switch {
	case prefix == 0 && len(inter) == 0:
		switch final {
		case 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'Z', 'a', 'd', 'e', 'f', '`', 'j', 'k',
			'J', 'K', 'X', '@', 'P', 'L', 'M', 'S', 'b', 'm', 'r', 's', 'g':
			return append(dst, seq...)
		case 'T': // with five parameters it starts mouse highlight tracking
			if bytes.Count(params, []byte{';'}) == 0 {
				return append(dst, seq...)
			}
		case 'u': // restore the cursor; with parameters, keyboard protocols
			if len(params) == 0 {
				return append(dst, seq...)
			}
		case 'h', 'l':
			return s.modes(dst, "\x1b[", params, final, ansiModes)
		}
	case prefix == '?' && len(inter) == 0:
		switch final {
		case 'J', 'K':
			return append(dst, seq...)
		case 'h', 'l':
			return s.modes(dst, "\x1b[?", params, final, decModes)
		}
	case prefix == 0 && len(inter) == 1:
		// The cursor style, character protection, soft reset.
		if i := inter[0]; (i == ' ' || i == '"') && final == 'q' || i == '!' && final == 'p' {
			return append(dst, seq...)
		}
	}
	s.dropped++
	return dst
}

// ansiModes and decModes are the modes that only change how the screen is
// drawn (SM/RM and DECSET/DECRST).
var (
	ansiModes = map[int]bool{4: true}
	decModes  = map[int]bool{5: true, 6: true, 7: true, 12: true, 25: true, 45: true, 47: true, 69: true,
		1047: true, 1048: true, 1049: true, 2026: true}
)

// modes passes a mode set or reset with only the allowed modes in it.
func (s *Sanitizer) modes(dst []byte, intro string, params []byte, final byte, allowed map[int]bool) []byte {
	start := len(dst)
	dst = append(dst, intro...)
	kept, removed := 0, false
	for last := false; !last; {
		p := params
		if i := bytes.IndexByte(params, ';'); i >= 0 {
			p, params = params[:i], params[i+1:]
		} else {
			last = true
		}
		n, ok := atoi(p)
		if !ok || !allowed[n] {
			removed = true
			continue
		}
		if kept > 0 {
			dst = append(dst, ';')
		}
		dst = strconv.AppendInt(dst, int64(n), 10)
		kept++
	}
	if removed {
		s.dropped++
	}
	if kept == 0 {
		return dst[:start]
	}
	return append(dst, final)
}

// atoi reads a mode number: 1 to 5 digits.
func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 5 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// oscByte handles a byte of an OSC string.
func (s *Sanitizer) oscByte(dst []byte, c byte) []byte {
	switch {
	case c == 0x07:
		s.st = sGround
		return s.osc(dst, []byte{0x07})
	case c == 0x1b:
		s.st = sOSCEsc
	case c == 0x18 || c == 0x1a:
		s.st, s.drop = sGround, false
		s.dropped++
	case c == 0x9c && s.c2:
		// C1 ST (U+009C): VTE ends the string here. Whatever was kept of
		// it ends with a C2 byte, and a title with a C1 control in it
		// is dropped.
		s.st, s.drop, s.c2 = sGround, false, false
		s.dropped++
	default:
		s.c2 = c == 0xc2
		if c < 0x20 || c == 0x7f {
			s.drop = true // a title or link is printable
		}
		if len(s.seq) < maxKept {
			s.seq = append(s.seq, c)
		} else {
			s.drop = true
		}
	}
	return dst
}

// osc passes titles and hyperlinks whose text is printable.
func (s *Sanitizer) osc(dst, term []byte) []byte {
	drop := s.drop
	s.drop, s.c2 = false, false
	body := s.seq[2:]
	num := body
	if i := bytes.IndexByte(body, ';'); i >= 0 {
		num = body[:i]
	}
	if !drop && printable(body) {
		switch string(num) {
		case "0", "1", "2", "8":
			dst = append(dst, s.seq...)
			return append(dst, term...)
		}
	}
	s.dropped++
	return dst
}

// printable tells whether b is valid UTF-8 without any control.
func printable(b []byte) bool {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if (r == utf8.RuneError && n == 1) || r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return false
		}
		b = b[n:]
	}
	return true
}

// strByte skips a byte of a DCS, SOS, PM or APC string, which is dropped
// whole: it ends at ST (ESC \ or U+009C), or CAN or SUB.
func (s *Sanitizer) strByte(c byte) {
	switch {
	case c == 0x1b:
		s.st = sStrEsc
	case c == 0x18 || c == 0x1a:
		s.st = sGround
	case c == 0x9c && s.c2:
		s.st = sGround
	}
	s.c2 = c == 0xc2
}
