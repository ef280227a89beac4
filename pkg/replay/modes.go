package replay

// modeTracker follows the terminal modes the played output turns on, so
// that the end of play (or an interrupt) turns off whatever is still on:
// a session cut off, or quit, inside a full-screen program must not leave
// the viewer's terminal on the alternate screen, with application cursor
// keys, a scroll region or a hidden cursor. It reads the bytes as they go
// to the terminal; sequences split across writes are followed.
type modeTracker struct {
	st     int
	params []byte
	on     map[string]bool
}

// The modes followed, by how they are set: "?N" for DEC private mode N,
// "N" for ANSI mode N, "r" a scroll region, "=" the application keypad.
var modeResets = []struct{ mode, reset string }{
	{"?1", "\x1b[?1l"}, // application cursor keys
	{"=", "\x1b>"},     // application keypad
	{"4", "\x1b[4l"},   // insert mode
	{"?6", "\x1b[?6l"}, // origin mode
	{"?7", "\x1b[?7h"}, // autowrap off (tracked as "?7" = off)
	{"?9", "\x1b[?9l"}, // mouse
	{"?1000", "\x1b[?1000l"},
	{"?1002", "\x1b[?1002l"},
	{"?1003", "\x1b[?1003l"},
	{"?1005", "\x1b[?1005l"},
	{"?1006", "\x1b[?1006l"},
	{"?1015", "\x1b[?1015l"},
	{"?1016", "\x1b[?1016l"},
	{"?1004", "\x1b[?1004l"},  // focus events
	{"?2004", "\x1b[?2004l"},  // bracketed paste
	{"?25", "\x1b[?25h"},      // cursor hidden (tracked as "?25" = hidden)
	{"r", "\x1b7\x1b[r\x1b8"}, // scroll region (DECSTBM homes the cursor: keep it)
	{"?1049", "\x1b[?1049l"},  // alternate screen, last: it restores the cursor
	{"?1047", "\x1b[?1047l"},
	{"?47", "\x1b[?47l"},
}

const (
	mGround = iota
	mEsc
	mCSI
)

func (m *modeTracker) set(mode string, on bool) {
	if m.on == nil {
		m.on = map[string]bool{}
	}
	switch mode {
	case "?7", "?25": // on by default: tracked when turned off
		on = !on
	}
	m.on[mode] = on
}

// scan follows the modes p sets.
func (m *modeTracker) scan(p []byte) {
	for _, c := range p {
		switch m.st {
		case mGround:
			if c == 0x1b {
				m.st = mEsc
			}
		case mEsc:
			m.st = mGround
			switch c {
			case '[':
				m.st, m.params = mCSI, m.params[:0]
			case '=':
				m.set("=", true)
			case '>':
				m.set("=", false)
			case 'c': // full reset: everything back to its default
				m.on = nil
			case 0x1b:
				m.st = mEsc
			}
		case mCSI:
			switch {
			case c >= 0x30 && c <= 0x3f:
				if len(m.params) < 64 {
					m.params = append(m.params, c)
				}
			case c >= 0x20 && c <= 0x2f: // intermediates: CSI ! p, CSI $ p...
				if len(m.params) < 64 {
					m.params = append(m.params, c)
				}
			case c >= 0x40 && c <= 0x7e:
				m.st = mGround
				m.csi(c)
			case c == 0x1b:
				m.st = mEsc
			default:
				m.st = mGround
			}
		}
	}
}

func (m *modeTracker) csi(final byte) {
	ps := string(m.params)
	if ps == "!" && final == 'p' { // soft reset
		m.on = nil
		return
	}
	for _, c := range m.params {
		if c < 0x30 {
			return // another sequence with intermediates: no mode of ours
		}
	}
	switch final {
	case 'h', 'l':
		prefix := ""
		if len(ps) > 0 && ps[0] == '?' {
			prefix, ps = "?", ps[1:]
		}
		start := 0
		for i := 0; i <= len(ps); i++ {
			if i == len(ps) || ps[i] == ';' {
				if i > start {
					m.set(prefix+ps[start:i], final == 'h')
				}
				start = i + 1
			}
		}
	case 'r':
		if ps == "" || ps[0] != '?' {
			m.set("r", ps != "")
		}
	}
}

// restore appends what turns off every mode still on, then resets the
// character attributes and shows the cursor.
func (m *modeTracker) restore(dst []byte) []byte {
	for _, r := range modeResets {
		if m.on[r.mode] {
			dst = append(dst, r.reset...)
		}
	}
	return append(dst, "\x1b[m\x1b[?25h"...)
}
