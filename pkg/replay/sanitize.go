package replay

import (
	"bytes"
	"strconv"
)

// Sanitizer removes from a recorded output stream the escape sequences that
// act outside the screen or make the viewer's terminal answer into its
// input: a recording is untrusted input to whoever plays it. What is
// dropped:
//
//   - OSC sequences other than window titles (0, 1, 2) and hyperlinks (8):
//     OSC 52 writes the clipboard, 4/10/11/12 query or change colors, 7 and
//     133 report paths and prompts, 9 and 777 raise notifications.
//   - DCS (DECRQSS, XTGETTCAP, sixel...), SOS, PM and APC strings.
//   - Queries the terminal answers on stdin: DA (CSI c), DSR and CPR
//     (CSI n), DECRQM (CSI $ p), window reports and operations (CSI t),
//     XTVERSION (CSI > q), DECREQTPARM (CSI x), DECRQCRA (CSI * y),
//     XTSMGRAPHICS (CSI ? S), keyboard protocol queries and settings
//     (CSI u with a prefix, CSI > m), ENQ (0x05) and DECID (ESC Z).
//   - Private modes that make the terminal send events to stdin: mouse
//     tracking (9, 1000-1006, 1015, 1016), focus events (1004), bracketed
//     paste (2004); other modes in the same sequence are kept.
//
// Everything that draws (text, colors, cursor movement, erasing, scrolling,
// the alternate screen) passes unchanged. Sequences split across writes are
// handled; the zero value is ready to use.
type Sanitizer struct {
	st      int
	seq     []byte // the sequence being collected, ESC included
	drop    bool   // the string being read is dropped whatever it turns out to be
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

// maxKept bounds an OSC or CSI sequence that is kept; a longer one is
// dropped (a hyperlink or title longer than this is not worth the risk).
const maxKept = 8192

// Dropped counts the sequences removed so far.
func (s *Sanitizer) Dropped() int { return s.dropped }

// Filter appends to dst what of p may reach the viewer's terminal.
func (s *Sanitizer) Filter(dst, p []byte) []byte {
	start := 0 // start of a run of ground-state bytes to copy
	flush := func(i int) {
		if s.st == sGround && i > start {
			dst = append(dst, p[start:i]...)
		}
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch s.st {
		case sGround:
			switch c {
			case 0x1b:
				flush(i)
				s.st, s.seq = sEsc, append(s.seq[:0], c)
			case 0x05: // ENQ: the terminal answers with its answerback
				flush(i)
				s.dropped++
				start = i + 1
				continue
			}
			if s.st != sGround {
				start = i + 1
			}
		case sEsc:
			s.seq = append(s.seq, c)
			switch {
			case c == '[':
				s.st = sCSI
			case c == ']':
				s.st, s.drop = sOSC, false
			case c == 'P' || c == 'X' || c == '^' || c == '_':
				s.st = sStr
				s.dropped++
			case c == 'Z': // DECID
				s.st = sGround
				s.dropped++
			case c >= 0x20 && c <= 0x2f:
				s.st = sEscInt
			case c == 0x1b:
				s.seq = append(s.seq[:0], c)
			case c < 0x20:
				// A control inside ESC: xterm executes it; keep both.
				dst = appendControl(dst, c)
				s.seq = s.seq[:len(s.seq)-1]
			default:
				s.st = sGround
				dst = append(dst, s.seq...)
			}
			if s.st == sGround {
				start = i + 1
			}
		case sEscInt:
			s.seq = append(s.seq, c)
			if c >= 0x30 && c <= 0x7e {
				s.st = sGround
				dst = append(dst, s.seq...)
				start = i + 1
			} else if c < 0x20 || len(s.seq) > 16 {
				s.st = sGround
				s.dropped++
				start = i + 1
			}
		case sCSI:
			switch {
			case c >= 0x40 && c <= 0x7e:
				s.seq = append(s.seq, c)
				s.st = sGround
				dst = s.csi(dst)
				start = i + 1
			case c == 0x1b:
				s.dropped++ // an unfinished CSI: drop it, start over
				s.st, s.seq = sEsc, append(s.seq[:0], c)
			case c == 0x18 || c == 0x1a: // CAN, SUB cancel
				s.st = sGround
				start = i + 1
			case c < 0x20:
				dst = appendControl(dst, c) // executed inside the sequence
			default:
				if len(s.seq) < 256 {
					s.seq = append(s.seq, c)
				} else {
					s.drop = true
				}
			}
		case sOSC:
			switch c {
			case 0x07:
				s.st = sGround
				dst = s.osc(dst, []byte{0x07})
				start = i + 1
			case 0x1b:
				s.st = sOSCEsc
			case 0x18, 0x1a:
				s.st = sGround
				s.dropped++
				start = i + 1
			default:
				if len(s.seq) < maxKept {
					s.seq = append(s.seq, c)
				} else {
					s.drop = true
				}
			}
		case sOSCEsc:
			s.st = sGround
			start = i + 1
			if c == '\\' {
				dst = s.osc(dst, []byte{0x1b, '\\'})
			} else {
				s.dropped++ // an OSC cut short by another sequence
				s.st, s.seq = sEsc, append(s.seq[:0], 0x1b)
				i-- // read c again as the byte after ESC
			}
		case sStr:
			if c == 0x1b {
				s.st = sStrEsc
			} else if c == 0x18 || c == 0x1a {
				s.st = sGround
				start = i + 1
			}
		case sStrEsc:
			switch c {
			case '\\':
				s.st = sGround
				start = i + 1
			case 0x1b:
			default:
				s.st = sStr
			}
		}
	}
	flush(len(p))
	return dst
}

// appendControl keeps a C0 control met inside a sequence, but ENQ.
func appendControl(dst []byte, c byte) []byte {
	if c == 0x05 {
		return dst
	}
	return append(dst, c)
}

// osc keeps titles and hyperlinks.
func (s *Sanitizer) osc(dst, term []byte) []byte {
	body := s.seq[2:]
	num := body
	if i := bytes.IndexByte(body, ';'); i >= 0 {
		num = body[:i]
	}
	if !s.drop {
		switch string(num) {
		case "0", "1", "2", "8":
			dst = append(dst, s.seq...)
			return append(dst, term...)
		}
	}
	s.dropped++
	return dst
}

// csi keeps a complete CSI sequence (in s.seq) unless it is a query or
// turns on input reporting.
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
		prefix = body[0]
	}
	inter := bytes.ContainsAny(body, " !\"#$%&'()*+,-./")
	drop := false
	switch final {
	case 'c', 'n', 't', 'x':
		drop = true
	case 'p':
		drop = bytes.IndexByte(body, '$') >= 0
	case 'q':
		drop = prefix == '>'
	case 'u':
		drop = prefix != 0
	case 'm':
		drop = prefix == '>' || prefix == '?'
	case 'y':
		drop = bytes.IndexByte(body, '*') >= 0
	case 'S':
		drop = prefix == '?'
	case 'h', 'l':
		if prefix == '?' && !inter {
			return s.modes(dst, body[1:], final)
		}
	}
	if drop {
		s.dropped++
		return dst
	}
	return append(dst, seq...)
}

// inputModes are the private modes that make the terminal report events on
// stdin.
var inputModes = map[int]bool{9: true, 1000: true, 1001: true, 1002: true, 1003: true, 1004: true, 1005: true, 1006: true, 1015: true, 1016: true, 2004: true}

// modes rewrites a DECSET/DECRST without the input-reporting modes.
func (s *Sanitizer) modes(dst, params []byte, final byte) []byte {
	var keep []string
	removed := false
	for _, p := range bytes.Split(params, []byte{';'}) {
		n, err := strconv.Atoi(string(p))
		if err == nil && inputModes[n] {
			removed = true
			continue
		}
		keep = append(keep, string(p))
	}
	if removed {
		s.dropped++
	}
	if len(keep) == 0 {
		return dst
	}
	dst = append(dst, "\x1b[?"...)
	for i, k := range keep {
		if i > 0 {
			dst = append(dst, ';')
		}
		dst = append(dst, k...)
	}
	return append(dst, final)
}
