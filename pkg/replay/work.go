package replay

import "unicode/utf8"

// The emulator that rebuilds a screen does work that depends on what it is
// fed, not only on how much: one ESC[65535b prints 65,535 characters, one
// ESC[L on a 2000x1000 screen moves two million cells. A recording is
// untrusted, so the work of every rebuilt screen is estimated before it is
// done and bounded (screenWork): output is weighed in units of about one
// cell touched (20 to 30 ns in charmbracelet/x/vt here), sequence by
// sequence, with the screen size in force, and what does not fit is left
// out from the start of the window (see screenAt). The weights are upper
// bounds of what the emulator does for each sequence, measured with
// BenchmarkScreenWork; the screen size is bounded too (MaxCols, MaxRows).

// screenWork is the emulator work one rebuilt screen may take, about one
// second here. The output of an ordinary session in the 256 KiB window
// weighs far less (a shell's `cat` on 80x24: about 20 million).
var screenWork int64 = 1 << 25

// Weights, in units.
const (
	wByte  = 1  // every byte parsed
	wChar  = 12 // a character printed (plus a row's share of a scroll)
	wCtl   = 4  // BS, CR, BEL, SO, SI
	wSeq   = 16 // a sequence that moves the cursor or sets attributes
	maxRep = 65535
)

// weigh returns the work of feeding p, sanitized output (see Sanitizer),
// to a cols x rows emulator, and calls cut, when not nil, after each
// sequence or character with its end in p and the work up to there.
func weigh(p []byte, cols, rows int, cut func(end int, w int64)) int64 {
	cells := int64(cols) * int64(rows)
	char := int64(wChar + rows) // a scroll (cells) every cols characters
	var w int64
	for i := 0; i < len(p); {
		c := p[i]
		n := 1
		switch {
		case c == '\n' || c == '\v' || c == '\f':
			w += cells // at the bottom, the screen scrolls
		case c == '\t':
			w += int64(cols)
		case c < 0x20 && c != 0x1b:
			w += wCtl
		case c == 0x1b:
			var sw int64
			n, sw = weighEsc(p[i:], cols, rows, char)
			w += sw
		case c < utf8.RuneSelf:
			w += char
		default:
			_, n = utf8.DecodeRune(p[i:])
			w += char
		}
		w += int64(n) * wByte
		i += n
		if cut != nil {
			cut(i, w)
		}
	}
	return w
}

// weighEsc weighs the escape sequence at the start of p: its length and
// its work.
func weighEsc(p []byte, cols, rows int, char int64) (int, int64) {
	cells := int64(cols) * int64(rows)
	if len(p) < 2 {
		return len(p), wSeq
	}
	switch p[1] {
	case '[':
		return weighCSI(p, cols, cells, char)
	case ']':
		// A title or hyperlink: its length is its cost.
		for i := 2; i < len(p); i++ {
			switch {
			case p[i] == 0x07:
				return i + 1, wSeq
			case p[i] == 0x1b && i+1 < len(p) && p[i+1] == '\\':
				return i + 2, wSeq
			}
		}
		return len(p), wSeq
	case 'c': // reset: new buffers
		return 2, 6 * cells
	case 'D', 'E', 'M': // index, next line, reverse index: may scroll
		return 2, cells
	case '#':
		if len(p) > 2 && p[2] == '8' { // fill the screen
			return 3, 2 * cells
		}
		return min(3, len(p)), int64(cols)
	}
	// Other ESC sequences: the final byte is the first in 0x30-0x7e.
	for i := 1; i < len(p); i++ {
		if p[i] >= 0x30 && p[i] <= 0x7e {
			return i + 1, wSeq
		}
	}
	return len(p), wSeq
}

// weighCSI weighs the CSI sequence at the start of p.
func weighCSI(p []byte, cols int, cells, char int64) (int, int64) {
	end := 2
	for end < len(p) && (p[end] < 0x40 || p[end] > 0x7e) {
		end++
	}
	if end == len(p) {
		return len(p), wSeq
	}
	body, final := p[2:end], p[end]
	n := int64(firstParam(body))
	w := int64(wSeq + len(body))
	switch final {
	case 'b': // repeat the last character (twice a printed one's work, measured)
		w += min(max(n, 1), maxRep) * 2 * char
	case 'I', 'Z': // tab forward, back: n steps
		w += min(max(n, 1), maxRep) + int64(cols)
	case 'L', 'M': // insert, delete lines: the region moves
		w += 3 * cells
	case 'S', 'T': // scroll
		w += 4 * cells
	case 'J':
		w += 2 * cells
	case 'K', 'X', '@', 'P':
		w += 2 * int64(cols)
	case 'h', 'l':
		if alternateScreen(body) {
			w += 2 * cells
		}
	case 'p': // soft reset
		w += int64(cols)
	}
	return end + 1, w
}

// firstParam reads a CSI sequence's first parameter, 0 when missing.
func firstParam(body []byte) int {
	n := 0
	for _, c := range body {
		if c < '0' || c > '9' {
			if c == '?' || c == '>' || c == '<' || c == '=' {
				continue
			}
			break
		}
		n = min(n*10+int(c-'0'), 1<<20)
	}
	return n
}

// alternateScreen tells whether mode parameters switch the alternate
// screen or reverse video (which touch every cell).
func alternateScreen(body []byte) bool {
	n, has := 0, false
	for i := 0; i <= len(body); i++ {
		if i < len(body) && body[i] >= '0' && body[i] <= '9' {
			n, has = min(n*10+int(body[i]-'0'), 1<<20), true
			continue
		}
		if has {
			switch n {
			case 47, 1047, 1049, 5, 3:
				return true
			}
		}
		n, has = 0, false
	}
	return false
}

// resizeWork is the work of resizing a screen: new buffers, the old
// content copied.
func resizeWork(cols, rows, newCols, newRows int) int64 {
	return 4 * max(int64(cols)*int64(rows), int64(newCols)*int64(newRows))
}

// cutFor returns where in p (sanitized output) to start so that what
// follows weighs no more than budget on a cols x rows screen: the end of
// a sequence or character, or len(p) when nothing fits.
func cutFor(p []byte, cols, rows int, budget int64) int {
	total := weigh(p, cols, rows, nil)
	if total <= budget {
		return 0
	}
	at := len(p)
	weigh(p, cols, rows, func(end int, w int64) {
		if at == len(p) && total-w <= budget {
			at = end
		}
	})
	return at
}
