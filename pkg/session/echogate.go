package session

import (
	"bytes"
	"sync"
	"time"
	"unicode/utf8"
)

// echoGate keeps typed secrets out of the recording. In an interactive TTY
// session it decides, for each piece of typed input, whether the remote
// terminal echoed it: input that came back in the output is recorded as it
// was typed; input that did not (a password at a prompt that turned echo
// off: read -s, sudo, ssh, passwd) is recorded as its length only.
//
// Deciding takes until the echo arrives, so the gate holds every event of
// the session (input, output, resizes) in order while a piece of input is
// undecided, and hands them to the recording with their own times once it
// is decided: the recording keeps the order and timing, the viewer's screen
// is never delayed (only what is recorded waits, at most Window plus the
// round trip, and MaxHeld bytes of output).
//
// The rule, made to fail safe (when in doubt, redact):
//
//   - Only printable characters need an echo. Control keys (Enter, Tab,
//     ^C, Backspace) and key sequences (arrows) are recorded as typed.
//   - A typed character counts as echoed when the output shows it at once:
//     it is the first printable character of an output write (escape
//     sequences skipped), or it continues, character for character, an
//     echo that began so. A character that the output does not show that
//     way within the window is redacted.
//   - Once Enter has been typed after characters still waiting for their
//     echo, those characters (up to the Enter) count as echoed only if the
//     output shows all of them in a row and then a new line: a prompt or a
//     message printed after a password was entered is never mistaken for
//     its echo.
//   - Input typed while the output's current line reads like a password
//     prompt is redacted whatever comes back.
//
// Keys sent to full-screen programs that do not echo them (vi commands,
// less, top) are redacted too, and so can be keys typed within the window
// after one of them; fast typing of a line over a slow link can be
// redacted when the shell redraws the line instead of echoing it. Output
// that coincidentally starts with the very character just typed at a
// silent prompt (another process writing to the terminal) is the case the
// rule cannot tell from an echo; the password prompt check covers the
// common prompts.
type echoGate struct {
	mu  sync.Mutex
	out gateOut
	now func() time.Time
	// window is how long a typed character may wait for its echo; it grows
	// with the echo delays seen (4 times the slowest recent one, up to
	// maxWindow).
	window  time.Duration
	slowest time.Duration
	maxHeld int

	q     []*gateItem
	held  int
	scan  escScanner
	armed bool // the next printable output character may be an echo
	await bool // a line typed ahead was echoed whole; its new line is due
	tail  []byte
	timer *time.Timer
	err   error
}

// gateOut receives the session's events in order, with their times.
type gateOut interface {
	input(t time.Time, p []byte) error
	redacted(t time.Time, n int) error
	output(t time.Time, p []byte) error
	resize(t time.Time, cols, rows int) error
}

const (
	minWindow = time.Second
	maxWindow = 5 * time.Second
	// maxHeld bounds the output held behind undecided input: past it the
	// undecided input is redacted and everything is recorded at once.
	maxHeld = 4 << 20
	// maxTail bounds the output line kept for the password prompt check.
	maxTail = 512
)

type gateKind uint8

const (
	gInput gateKind = iota
	gOutput
	gResize
)

type gateItem struct {
	kind       gateKind
	t          time.Time
	data       []byte
	cols, rows int

	need     []rune // printable characters that must come back
	matched  int
	enter    bool // the input ends with Enter
	decided  bool
	redact   bool
	deadline time.Time
}

func newEchoGate(out gateOut, now func() time.Time) *echoGate {
	if now == nil {
		now = time.Now
	}
	return &echoGate{out: out, now: now, window: minWindow, maxHeld: maxHeld}
}

// Input takes what the user typed.
func (g *echoGate) Input(p []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return g.err
	}
	t := g.now()
	secret := passwordPrompt.Match(visibleText(g.tail))
	for len(p) > 0 {
		n := lineEnd(p)
		it := &gateItem{kind: gInput, t: t, data: append([]byte(nil), p[:n]...)}
		it.need, it.enter = keysToEcho(it.data)
		switch {
		case len(it.need) == 0:
			it.decided = true
		case secret:
			it.decided, it.redact = true, true
		default:
			it.deadline = t.Add(g.window)
		}
		g.q = append(g.q, it)
		p = p[n:]
	}
	g.schedule()
	return g.release()
}

// Output takes what the remote terminal wrote.
func (g *echoGate) Output(p []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return g.err
	}
	t := g.now()
	g.keepTail(p)
	if g.undecided() {
		g.match(p, t)
	} else {
		g.scan.skip(p)
	}
	if len(g.q) == 0 {
		return g.fail(g.out.output(t, p))
	}
	g.q = append(g.q, &gateItem{kind: gOutput, t: t, data: append([]byte(nil), p...), decided: true})
	g.held += len(p)
	if g.held > g.maxHeld {
		g.decideAll()
	}
	return g.release()
}

// Resize takes a new terminal size.
func (g *echoGate) Resize(cols, rows int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return g.err
	}
	t := g.now()
	if len(g.q) == 0 {
		return g.fail(g.out.resize(t, cols, rows))
	}
	g.q = append(g.q, &gateItem{kind: gResize, t: t, cols: cols, rows: rows, decided: true})
	return nil
}

// Close decides what is still waiting (no echo can come any more: it is
// redacted) and hands everything over.
func (g *echoGate) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.timer != nil {
		g.timer.Stop()
	}
	g.decideAll()
	if err := g.release(); err != nil {
		return err
	}
	return g.err
}

func (g *echoGate) fail(err error) error {
	if err != nil && g.err == nil {
		g.err = err
	}
	return err
}

// release hands over the decided events at the head of the queue.
func (g *echoGate) release() error {
	for len(g.q) > 0 && g.q[0].decided {
		it := g.q[0]
		g.q[0] = nil
		g.q = g.q[1:]
		var err error
		switch {
		case it.kind == gOutput:
			g.held -= len(it.data)
			err = g.out.output(it.t, it.data)
		case it.kind == gResize:
			err = g.out.resize(it.t, it.cols, it.rows)
		case it.redact:
			err = g.out.redacted(it.t, len(it.data))
		default:
			err = g.out.input(it.t, it.data)
		}
		if err != nil {
			return g.fail(err)
		}
	}
	if len(g.q) == 0 {
		g.q = nil
	}
	return nil
}

func (g *echoGate) undecided() bool {
	for _, it := range g.q {
		if !it.decided {
			return true
		}
	}
	return false
}

// head is the first input still waiting for its echo, and the Enter typed
// after it (the item ending with Enter, or -1), by index in the queue.
func (g *echoGate) head() (int, int) {
	h := -1
	for i, it := range g.q {
		if it.kind != gInput {
			continue
		}
		if h < 0 && !it.decided {
			h = i
		}
		if h >= 0 && it.enter {
			return h, i
		}
	}
	return h, -1
}

// match reads an output write for the echo of what waits.
func (g *echoGate) match(p []byte, t time.Time) {
	g.armed = true
	g.scan.each(p, func(r rune, ctl bool) {
		h, enter := g.head()
		if h < 0 {
			g.armed = false
			return
		}
		if ctl {
			if r != '\r' && r != '\n' {
				return // BS, BEL...: they move, they show nothing
			}
			switch {
			case g.await:
				g.decideLine(h, enter, false, t)
			case enter >= 0:
				g.decideLine(h, enter, true, t)
			}
			g.armed = false
			return
		}
		if !g.armed || g.await {
			if enter >= 0 {
				g.decideLine(h, enter, true, t)
			}
			g.armed = false
			return
		}
		it := g.next(h, enter)
		if it == nil || it.need[it.matched] != r {
			if enter >= 0 {
				g.decideLine(h, enter, true, t)
			}
			g.armed = false
			return
		}
		it.matched++
		if it.matched < len(it.need) {
			return
		}
		if enter < 0 {
			g.echoed(it, t)
		} else if g.next(h, enter) == nil {
			g.await = true // the whole line came back: its new line must follow
		}
	})
}

// next is the first input from h (to enter, if there is one) with
// characters still to match.
func (g *echoGate) next(h, enter int) *gateItem {
	last := len(g.q) - 1
	if enter >= 0 {
		last = enter
	}
	for i := h; i <= last; i++ {
		it := g.q[i]
		if it.kind == gInput && !it.decided && it.matched < len(it.need) {
			return it
		}
	}
	return nil
}

func (g *echoGate) echoed(it *gateItem, t time.Time) {
	it.decided = true
	if d := t.Sub(it.t); d > g.slowest {
		g.slowest = d
	}
	g.window = min(max(minWindow, 4*g.slowest), maxWindow)
}

// decideLine settles the input from h through the Enter at enter: echoed
// (every character came back in a row, then a new line) or redacted.
func (g *echoGate) decideLine(h, enter int, redact bool, t time.Time) {
	g.await = false
	for i := h; i <= enter; i++ {
		it := g.q[i]
		if it.kind != gInput || it.decided {
			continue
		}
		if redact && len(it.need) > 0 {
			it.decided, it.redact = true, true
		} else {
			g.echoed(it, t)
		}
	}
}

// decideAll redacts every input still waiting.
func (g *echoGate) decideAll() {
	g.await = false
	for _, it := range g.q {
		if !it.decided {
			it.decided, it.redact = true, true
		}
	}
}

// schedule arms the timer for the earliest deadline.
func (g *echoGate) schedule() {
	var first time.Time
	for _, it := range g.q {
		if !it.decided && (first.IsZero() || it.deadline.Before(first)) {
			first = it.deadline
		}
	}
	if first.IsZero() {
		return
	}
	d := max(first.Sub(g.now()), time.Millisecond)
	if g.timer == nil {
		g.timer = time.AfterFunc(d, g.expire)
	} else {
		g.timer.Reset(d)
	}
}

// expire redacts what waited past its deadline.
func (g *echoGate) expire() {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	for {
		h, enter := g.head()
		if h < 0 || g.q[h].deadline.After(now) {
			break
		}
		if enter >= 0 {
			g.decideLine(h, enter, true, now)
		} else {
			g.q[h].decided, g.q[h].redact = true, true
		}
	}
	g.schedule()
	_ = g.release() // an error is returned to the next Input or Output
}

// keepTail keeps the output's current line, for the password prompt check.
func (g *echoGate) keepTail(p []byte) {
	if i := bytes.LastIndexAny(p, "\r\n"); i >= 0 {
		g.tail = append(g.tail[:0], p[i+1:]...)
	} else {
		g.tail = append(g.tail, p...)
	}
	if len(g.tail) > maxTail {
		g.tail = append(g.tail[:0], g.tail[len(g.tail)-maxTail:]...)
	}
}

// visibleText is p without escape sequences and control characters.
func visibleText(p []byte) []byte {
	var s escScanner
	out := make([]byte, 0, len(p))
	s.each(p, func(r rune, ctl bool) {
		if !ctl {
			out = utf8.AppendRune(out, r)
		}
	})
	return out
}

// lineEnd is the length of p's first piece: up to and including the first
// Enter (CR, LF or CR LF), or all of p.
func lineEnd(p []byte) int {
	i := bytes.IndexAny(p, "\r\n")
	if i < 0 {
		return len(p)
	}
	if p[i] == '\r' && i+1 < len(p) && p[i+1] == '\n' {
		return i + 2
	}
	return i + 1
}

// keysToEcho lists the printable characters typed in p, which a terminal
// that echoes shows back, leaving out control keys and key sequences (ESC
// [ ... final, ESC O x, ESC x); and whether p ends with Enter.
func keysToEcho(p []byte) ([]rune, bool) {
	var need []rune
	for i := 0; i < len(p); {
		c := p[i]
		switch {
		case c == 0x1b:
			i = skipKeySequence(p, i)
			continue
		case c < 0x20 || c == 0x7f:
			i++
			continue
		}
		r, n := utf8.DecodeRune(p[i:])
		if r != utf8.RuneError || n > 1 {
			need = append(need, r)
		} else {
			need = append(need, rune(c)) // a stray byte: it must come back too
		}
		i += n
	}
	enter := len(p) > 0 && (p[len(p)-1] == '\r' || p[len(p)-1] == '\n')
	return need, enter
}

func skipKeySequence(p []byte, i int) int {
	i++ // ESC
	if i >= len(p) {
		return i
	}
	switch p[i] {
	case '[':
		for i++; i < len(p); i++ {
			if p[i] >= 0x40 && p[i] <= 0x7e {
				return i + 1
			}
		}
		return i
	case 'O':
		return min(i+2, len(p))
	}
	return i + 1 // Alt-x
}

// escScanner walks terminal output across writes, giving each printable
// character and each control character, and skipping escape sequences
// (CSI, OSC and the other strings, two-byte escapes).
type escScanner struct {
	st   uint8
	utf  [4]byte
	nutf int
}

const (
	scGround uint8 = iota
	scEsc
	scCSI
	scStr    // OSC, DCS, APC, PM, SOS: until BEL or ST
	scStrEsc // ESC inside a string: ST if \ follows
)

// skip runs p through the scanner without reporting anything: only the
// state at its end matters, so a write in the ground state is scanned from
// its last ESC only.
func (s *escScanner) skip(p []byte) {
	if s.st == scGround && s.nutf == 0 {
		i := bytes.LastIndexByte(p, 0x1b)
		if i < 0 {
			s.carryUTF(p)
			return
		}
		p = p[i:]
	}
	s.each(p, func(rune, bool) {})
}

// carryUTF keeps a character cut at the end of p for the next write.
func (s *escScanner) carryUTF(p []byte) {
	for n := 1; n <= 3 && n <= len(p); n++ {
		c := p[len(p)-n]
		if c < 0x80 {
			return
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(p[len(p)-n:]) {
				s.nutf = copy(s.utf[:], p[len(p)-n:])
			}
			return
		}
	}
}

func (s *escScanner) each(p []byte, f func(r rune, ctl bool)) {
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch s.st {
		case scEsc:
			switch c {
			case '[':
				s.st = scCSI
			case ']', 'P', '_', '^', 'X':
				s.st = scStr
			default:
				if c >= 0x20 && c <= 0x2f {
					continue // intermediate bytes: ESC ( B and the like
				}
				s.st = scGround
			}
			continue
		case scCSI:
			if c >= 0x40 && c <= 0x7e {
				s.st = scGround
			}
			continue
		case scStr:
			if c == 0x07 {
				s.st = scGround
			} else if c == 0x1b {
				s.st = scStrEsc
			}
			continue
		case scStrEsc:
			if c == '\\' {
				s.st = scGround
			} else {
				s.st = scStr
			}
			continue
		}
		switch {
		case c == 0x1b:
			s.nutf = 0
			s.st = scEsc
		case c < 0x20 || c == 0x7f:
			s.nutf = 0
			f(rune(c), true)
		case c < 0x80 && s.nutf == 0:
			f(rune(c), false)
		default:
			if utf8.RuneStart(c) {
				s.nutf = 0
			}
			if s.nutf < len(s.utf) {
				s.utf[s.nutf] = c
				s.nutf++
			}
			if utf8.FullRune(s.utf[:s.nutf]) {
				r, _ := utf8.DecodeRune(s.utf[:s.nutf])
				s.nutf = 0
				f(r, false)
			}
		}
	}
}
