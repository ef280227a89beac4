package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// Marker is one of the recording's commands, for ] [ and the status bar.
type Marker struct {
	Time  time.Duration
	Label string
}

// Clock is where the interactive player takes the time from; tests give
// it one they move by hand.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// InteractiveOptions configures the interactive player beyond Options.
type InteractiveOptions struct {
	// Keys delivers the viewer's keys; the player stops when it closes.
	Keys <-chan Key
	// Size returns the viewer's terminal size.
	Size func() (cols, rows int)
	// Markers returns the recording's commands known so far (they may be
	// loading while play starts).
	Markers func() []Marker
	// Total is the recording's duration. The player also learns it from
	// the events it plays.
	Total time.Duration
	// Start is when the session began, for the wall-clock time (UTC) in
	// the status bar; zero leaves it out.
	Start time.Time
	// HideStatus starts with the status bar hidden.
	HideStatus bool
	// ExitAtEnd quits at the end of the recording instead of waiting,
	// paused, for a seek or q.
	ExitAtEnd bool
	// Search, when set, runs a search of the whole recording for the /
	// key: it calls hit with the session time of every hit (when it
	// appeared), in any order, until hit returns false or ctx ends.
	Search func(ctx context.Context, re *regexp.Regexp, hit func(time.Duration) bool) error
	// Clock is the time source; nil is the real one.
	Clock Clock
}

// Speeds are the steps + and - move through.
var Speeds = []float64{0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256}

// Interactive plays r on the viewer's terminal under their keys: pause,
// step, seek (the screen is rebuilt as it was through the emulator), jump
// between commands and search hits, go to a time, change speed, quit. The
// playhead is a clock: it runs through pauses in the session at the chosen
// speed, and idle gaps longer than Options.IdleTimeLimit are cut short
// (the status bar says so). What the terminal shows is drawn from the
// emulator (see view), never the recording's bytes. It returns when the
// viewer quits or ctx ends; at the end of the recording it waits, paused,
// unless ExitAtEnd.
func Interactive(ctx context.Context, r Seekable, o Options, opts InteractiveOptions) (Result, error) {
	if o.Speed <= 0 {
		o.Speed = 1
	}
	o.Terminal = true
	ip := &interactive{
		o: o, io: opts, sk: r, src: &source{r: r}, clk: opts.Clock,
		speed: o.Speed, status: !opts.HideStatus, total: opts.Total,
		scr: NewScreen(r.Header().Term.Cols, r.Header().Term.Rows),
	}
	if ip.clk == nil {
		ip.clk = realClock{}
	}
	// Cut off or still being written, the index knows only up to its last
	// checkpoint, which a short session does not have: Length reads on.
	if d, err := Length(r); err == nil {
		ip.total = max(ip.total, d)
	}
	defer ip.close()
	return ip.run(ctx)
}

type interactive struct {
	o      Options
	io     InteractiveOptions
	sk     Seekable
	src    *source
	clk    Clock
	v      view
	layout layout
	scr    *Screen

	// The playhead: at wall it was at base; it runs at speed unless
	// paused.
	base   time.Duration
	wall   time.Time
	speed  float64
	paused bool
	// lastEv is the time of the last event shown, or of the seek: idle
	// gaps are measured from it.
	lastEv time.Duration
	ended  bool
	endErr error
	total  time.Duration

	status   bool
	help     bool
	prompt   *prompt
	notice   string
	noticeAt time.Time
	typed    []rune // the last keys typed in the session (ShowInput)
	search   *search
	dirty    bool
	drawnBar string
	lastDraw time.Time // real time: throttling is the terminal's business
	res      Result
	closed   bool
}

// prompt is a line being typed in the status bar: a time to go to, or a
// search.
type prompt struct {
	label string // "go to: " or "/"
	text  []rune
}

const (
	frameInterval = time.Second / 30 // at most this often a redraw
	noticeFor     = 3 * time.Second
	batchBudget   = 50 * time.Millisecond // of work between two looks at the keys
)

func (ip *interactive) close() {
	if ip.closed {
		return
	}
	ip.closed = true
	if ip.search != nil {
		ip.search.cancel()
	}
	ip.v.teardown()
	ip.flush()
	ip.scr.Close()
}

func (ip *interactive) flush() {
	if len(ip.v.out) > 0 && ip.o.Out != nil {
		_, _ = ip.o.Out.Write(ip.v.out)
	}
	ip.v.out = ip.v.out[:0]
}

func (ip *interactive) size() (int, int) {
	if ip.io.Size != nil {
		if c, r := ip.io.Size(); c > 0 && r > 0 {
			return c, r
		}
	}
	return 80, 24
}

func (ip *interactive) run(ctx context.Context) (Result, error) {
	now := ip.clk.Now()
	start := max(0, ip.o.From)
	if ip.o.From == End {
		start = -1
	}
	if err := ip.seek(start, now); err != nil {
		return ip.res, err
	}
	for {
		now = ip.clk.Now()
		if err := ip.advance(now); err != nil {
			return ip.res, err
		}
		if ip.ended && ip.io.ExitAtEnd {
			return ip.finish(now)
		}
		ip.render(now, false)
		var hits <-chan struct{}
		if ip.search != nil {
			hits = ip.search.wake
		}
		timer := ip.clk.After(ip.nextWake(now))
		var redraw <-chan time.Time
		if ip.dirty {
			// A redraw held back to keep to 30 a second: real time, the
			// terminal's.
			redraw = time.After(frameInterval - time.Since(ip.lastDraw))
		}
		select {
		case <-ctx.Done():
			return ip.res, ctx.Err()
		case <-redraw:
		case <-timer:
		case <-hits:
			ip.searchProgress(ip.clk.Now())
		case k, ok := <-ip.io.Keys:
			if !ok {
				return ip.finish(ip.clk.Now())
			}
			quit, err := ip.key(k, ip.clk.Now())
			if err != nil {
				return ip.res, err
			}
			if quit {
				return ip.finish(ip.clk.Now())
			}
			ip.render(ip.clk.Now(), true)
		}
	}
}

func (ip *interactive) finish(now time.Time) (Result, error) {
	ip.res.Duration = ip.head(now)
	if errors.Is(ip.endErr, record.ErrAbrupt) {
		ip.res.Abrupt = ip.endErr
	}
	if errors.Is(ip.endErr, io.EOF) {
		ip.res.Trailer = ip.src.r.Trailer()
	}
	return ip.res, nil
}

// head is the playhead at now.
func (ip *interactive) head(now time.Time) time.Duration {
	if ip.paused {
		return ip.base
	}
	return ip.base + time.Duration(float64(now.Sub(ip.wall))*ip.speed)
}

// endTime is where the recording ends, as far as is known.
func (ip *interactive) endTime() time.Duration {
	if ip.o.To > 0 {
		return ip.o.To
	}
	return max(ip.total, ip.lastEv)
}

// setHead moves the playhead to t now, keeping it running or paused.
func (ip *interactive) setHead(t time.Duration, now time.Time) {
	ip.base, ip.wall = t, now
}

// next returns the next event without taking it; ok is false at the end
// of the recording (or of --to).
func (ip *interactive) next() (ev record.Event, ok bool, err error) {
	if ip.ended {
		return ev, false, nil
	}
	ev, err = ip.src.Next()
	if err != nil {
		if !errors.Is(err, io.EOF) && !errors.Is(err, record.ErrAbrupt) {
			return ev, false, err
		}
		ip.endErr = err
		return ev, false, nil
	}
	ip.src.unread(ev)
	if ip.o.To > 0 && ev.Time > ip.o.To {
		return ev, false, nil
	}
	return ev, true, nil
}

// advance shows every event due by now. Idle gaps longer than the limit
// are cut short once the playhead has waited the limit. A burst of output
// larger than the screen window is not fed through the emulator byte by
// byte: the screen is rebuilt from its last window, as a seek does.
func (ip *interactive) advance(now time.Time) error {
	if ip.paused || ip.ended {
		return nil
	}
	budget := time.Now().Add(batchBudget)
	b := batch{ip: ip}
	defer b.apply()
	for {
		head := ip.head(now)
		ev, ok, err := ip.next()
		if err != nil {
			return err
		}
		if !ok {
			if end := ip.endTime(); head >= end {
				ip.ended, ip.paused, ip.base, ip.dirty = true, true, end, true
				ip.total = max(ip.total, end)
			}
			return nil
		}
		if ev.Time > head {
			if gap := ev.Time - ip.lastEv; ip.o.IdleTimeLimit > 0 && gap > ip.o.IdleTimeLimit && head >= ip.lastEv+ip.o.IdleTimeLimit {
				ip.res.IdleCut++
				ip.res.IdleLongest = max(ip.res.IdleLongest, gap)
				ip.setNotice(fmt.Sprintf("⏩ %s idle, cut to %s", shortDuration(gap), shortDuration(ip.o.IdleTimeLimit)), now)
				ip.setHead(ev.Time, now)
				continue
			}
			return nil
		}
		_, _ = ip.src.Next()
		b.add(ev)
		if time.Now().After(budget) {
			return nil // draw, read the keys, and come back for the rest
		}
	}
}

// batch collects the events advance shows, to apply them in one go.
type batch struct {
	ip    *interactive
	evs   []record.Event
	size  int
	win   *window
	dirty bool
}

func (b *batch) add(ev record.Event) {
	ip := b.ip
	ip.lastEv = max(ip.lastEv, ev.Time)
	ip.total = max(ip.total, ev.Time)
	ip.res.Events++
	switch ev.Code {
	case 'i':
		if ip.o.ShowInput {
			keys := Visible(ev.Data)
			if ev.Redacted > 0 {
				keys = strings.Repeat("•", min(ev.Redacted, 40)) // typed, not kept (an H event)
			}
			ip.typed = append(ip.typed, []rune(keys)...)
			if n := len(ip.typed); n > 40 {
				ip.typed = ip.typed[n-40:]
			}
			ip.dirty = true
		}
		return
	case 'r':
		if c, r, ok := parseSize(ev.Data); ok {
			ip.res.MaxCols, ip.res.MaxRows = max(ip.res.MaxCols, c), max(ip.res.MaxRows, r)
		}
	case 'o':
	case 'e':
		// A terminal session has no stderr; a session without one shows
		// its stderr where the terminal would have.
		ev.Code = 'o'
	default:
		return
	}
	b.dirty = true
	limit := ip.o.ScreenWindow
	if limit <= 0 {
		limit = ScreenWindow
	}
	b.size += len(ev.Data)
	if b.win == nil && b.size <= 2*limit {
		b.evs = append(b.evs, ev)
		return
	}
	if b.win == nil {
		cols, rows := ip.scr.Size()
		b.win = newWindow(limit, cols, rows, ip.scr.AltScreen(), true)
		for _, e := range b.evs {
			b.win.add(e)
		}
		b.evs = nil
	}
	b.win.add(ev)
}

func (b *batch) apply() {
	ip := b.ip
	if !b.dirty {
		return
	}
	ip.dirty = true
	if b.win != nil {
		cols, rows := ip.scr.Size()
		b.win.build(cols, rows, ip.scr)
		return
	}
	for _, ev := range b.evs {
		if ev.Code == 'r' {
			if c, r, ok := parseSize(ev.Data); ok {
				ip.scr.Resize(c, r)
			}
			continue
		}
		_, _ = ip.scr.Write(ev.Data)
	}
}

// seek redraws the screen as it was at t (t < 0 or past the end: at the
// end) and continues from there, playing or paused as before.
func (ip *interactive) seek(t time.Duration, now time.Time) error {
	target := max(0, t)
	if t < 0 || (ip.total > 0 && t >= ip.total) || (ip.o.To > 0 && t >= ip.o.To) {
		target = -1
		if ip.o.To > 0 {
			target = ip.o.To
		}
	}
	_, last, err := screenAt(ip.src, ip.sk, target, ip.o.ScreenWindow, ip.scr)
	if err != nil {
		return err
	}
	ip.total = max(ip.total, last)
	if target < 0 {
		target = max(ip.total, last)
	}
	ip.setHead(target, now)
	ip.lastEv = target
	ip.ended, ip.endErr = false, nil
	if _, ok, err := ip.next(); err == nil && !ok && target >= ip.endTime() {
		ip.ended, ip.paused = true, true
	}
	ip.dirty = true
	return nil
}

// step shows the next event alone and pauses there.
func (ip *interactive) step(now time.Time) error {
	ip.base, ip.paused = ip.head(now), true
	ev, ok, err := ip.next()
	if err != nil || !ok {
		return err
	}
	_, _ = ip.src.Next()
	b := batch{ip: ip}
	b.add(ev)
	b.apply()
	ip.base = max(ip.base, ev.Time)
	return nil
}

func (ip *interactive) setNotice(s string, now time.Time) {
	ip.notice, ip.noticeAt, ip.dirty = s, now, true
}

// key acts on one key; quit says the viewer asked to leave.
func (ip *interactive) key(k Key, now time.Time) (quit bool, err error) {
	ip.dirty = true
	if ip.prompt != nil {
		return false, ip.promptKey(k, now)
	}
	if ip.help {
		ip.help = false
		if k != 'q' && k != 'Q' && k != KeyInterrupt {
			return false, nil
		}
	}
	head := ip.head(now)
	switch k {
	case ' ':
		if ip.ended {
			return false, nil
		}
		if ip.paused {
			ip.wall, ip.paused = now, false
		} else {
			ip.base, ip.paused = head, true
		}
	case '.':
		return false, ip.step(now)
	case KeyRight, 'l':
		return false, ip.seek(head+5*time.Second, now)
	case KeyLeft, 'h':
		return false, ip.seek(head-5*time.Second, now)
	case KeyShiftRight, KeyUp, KeyPgDn:
		return false, ip.seek(head+time.Minute, now)
	case KeyShiftLeft, KeyDown, KeyPgUp:
		return false, ip.seek(head-time.Minute, now)
	case KeyHome, '0':
		return false, ip.seek(0, now)
	case KeyEnd, 'G', '$':
		return false, ip.seek(-1, now)
	case 'g', ':':
		ip.prompt = &prompt{label: "go to (90s, 1:02:03, end): "}
	case '/':
		if ip.io.Search == nil {
			ip.setNotice("search is not available for this recording", now)
			return false, nil
		}
		ip.prompt = &prompt{label: "/"}
	case 'n':
		ip.jumpHit(1, now)
	case 'N':
		ip.jumpHit(-1, now)
	case ']':
		for _, m := range ip.markers() {
			if m.Time > head {
				return false, ip.seek(m.Time, now)
			}
		}
		ip.setNotice("no command after this", now)
	case '[':
		// The command before the one playing: a marker at least a second
		// back, so that [ during a command goes to its start first.
		target := time.Duration(0)
		for _, m := range ip.markers() {
			if m.Time < head-time.Second {
				target = m.Time
			}
		}
		return false, ip.seek(target, now)
	case '+', '=':
		ip.setSpeed(faster(ip.speed), now)
	case '-', '_':
		ip.setSpeed(slower(ip.speed), now)
	case 's':
		ip.status = !ip.status
	case '?':
		ip.help = true
	case 'q', 'Q', KeyInterrupt, KeyEOF:
		return true, nil
	}
	return false, nil
}

func (ip *interactive) setSpeed(sp float64, now time.Time) {
	ip.base, ip.wall, ip.speed = ip.head(now), now, sp
}

func faster(sp float64) float64 {
	for _, s := range Speeds {
		if s > sp {
			return s
		}
	}
	return sp
}

func slower(sp float64) float64 {
	for i := len(Speeds) - 1; i >= 0; i-- {
		if Speeds[i] < sp {
			return Speeds[i]
		}
	}
	return sp
}

func (ip *interactive) markers() []Marker {
	if ip.io.Markers == nil {
		return nil
	}
	return ip.io.Markers()
}

// promptKey edits the prompt line; Enter acts on it, Escape drops it.
func (ip *interactive) promptKey(k Key, now time.Time) error {
	p := ip.prompt
	switch k {
	case KeyEscape, KeyInterrupt, KeyEOF:
		ip.prompt = nil
	case KeyBackspace:
		if len(p.text) == 0 {
			ip.prompt = nil
		} else {
			p.text = p.text[:len(p.text)-1]
		}
	case KeyEnter:
		ip.prompt = nil
		text := strings.TrimSpace(string(p.text))
		if text == "" {
			return nil
		}
		if p.label == "/" {
			ip.startSearch(text, now)
			return nil
		}
		t, err := ParseOffset(text)
		if err != nil {
			ip.setNotice(err.Error(), now)
			return nil
		}
		return ip.seek(t, now)
	default:
		if k < KeyUp && unicode.IsPrint(rune(k)) && len(p.text) < 200 {
			p.text = append(p.text, rune(k))
		}
	}
	return nil
}

// search is a search of the recording running in the background.
type search struct {
	re     *regexp.Regexp
	cancel context.CancelFunc
	wake   chan struct{}

	mu   sync.Mutex
	hits []time.Duration // sorted
	done bool
	err  error

	// A jump waiting for a hit: dir +1 (after from) or -1 (before it).
	dir  int
	from time.Duration
}

func (ip *interactive) startSearch(pattern string, now time.Time) {
	if !hasUpper(pattern) {
		pattern = "(?i)" + pattern // like less -i: lower case matches any case
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		ip.setNotice("bad pattern: "+err.Error(), now)
		return
	}
	if ip.search != nil {
		ip.search.cancel()
	}
	ip.notice = ""
	ctx, cancel := context.WithCancel(context.Background())
	s := &search{re: re, cancel: cancel, wake: make(chan struct{}, 1)}
	ip.search = s
	go func() {
		err := ip.io.Search(ctx, re, func(t time.Duration) bool {
			s.mu.Lock()
			i := sort.Search(len(s.hits), func(i int) bool { return s.hits[i] >= t })
			if i == len(s.hits) || s.hits[i] != t {
				s.hits = append(s.hits, 0)
				copy(s.hits[i+1:], s.hits[i:])
				s.hits[i] = t
			}
			s.mu.Unlock()
			s.signal()
			return ctx.Err() == nil
		})
		s.mu.Lock()
		s.done, s.err = true, err
		s.mu.Unlock()
		s.signal()
	}()
	ip.jumpHit(1, now)
}

func (s *search) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func hasUpper(s string) bool {
	for _, r := range s {
		if unicode.IsUpper(r) {
			return true
		}
	}
	return false
}

// jumpHit goes to the next (dir 1) or previous (-1) hit, now or when the
// search finds it.
func (ip *interactive) jumpHit(dir int, now time.Time) {
	s := ip.search
	if s == nil {
		ip.setNotice("no search yet: / searches", now)
		return
	}
	s.mu.Lock()
	s.dir, s.from = dir, ip.head(now)
	s.mu.Unlock()
	ip.searchProgress(now)
}

// searchProgress completes a waiting jump if the hits found so far allow.
func (ip *interactive) searchProgress(now time.Time) {
	s := ip.search
	if s == nil {
		return
	}
	s.mu.Lock()
	dir, from, done, serr := s.dir, s.from, s.done, s.err
	var target time.Duration = -1
	wrapped := false
	switch {
	case dir > 0:
		i := sort.Search(len(s.hits), func(i int) bool { return s.hits[i] > from })
		if i < len(s.hits) {
			target = s.hits[i]
		} else if done && len(s.hits) > 0 {
			target, wrapped = s.hits[0], true
		}
	case dir < 0 && done:
		i := sort.Search(len(s.hits), func(i int) bool { return s.hits[i] >= from })
		if i > 0 {
			target = s.hits[i-1]
		} else if len(s.hits) > 0 {
			target, wrapped = s.hits[len(s.hits)-1], true
		}
	}
	n := len(s.hits)
	if target >= 0 || (dir != 0 && done) {
		s.dir = 0
	}
	s.mu.Unlock()
	ip.dirty = true
	switch {
	case target >= 0:
		if wrapped {
			ip.setNotice("search wrapped", now)
		}
		ip.paused = true
		if err := ip.seek(target, now); err != nil {
			ip.setNotice(err.Error(), now)
		}
	case dir != 0 && done && serr != nil && !errors.Is(serr, context.Canceled):
		ip.setNotice("search: "+serr.Error(), now)
	case dir != 0 && done && n == 0:
		ip.setNotice("not found: "+strings.TrimPrefix(s.re.String(), "(?i)"), now)
	}
}

func (s *search) state() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !s.done:
		return fmt.Sprintf("searching… %d hits", len(s.hits))
	case s.dir != 0:
		return "searching…"
	}
	return fmt.Sprintf("%d hits", len(s.hits))
}

// nextWake is how long the loop may sleep: until the next event is due,
// an idle gap is to be cut, the clock in the bar changes, a notice ends or
// a throttled redraw is allowed.
func (ip *interactive) nextWake(now time.Time) time.Duration {
	d := time.Second
	if !ip.paused && !ip.ended {
		d = 250 * time.Millisecond // the clock
		if ev, ok, _ := ip.next(); ok {
			due := ev.Time
			if l := ip.o.IdleTimeLimit; l > 0 && ev.Time-ip.lastEv > l {
				due = min(due, ip.lastEv+l)
			}
			d = min(d, time.Duration(float64(due-ip.head(now))/ip.speed))
		}
	}
	if ip.notice != "" {
		d = min(d, noticeFor-now.Sub(ip.noticeAt))
	}
	return max(d, 0)
}

// render draws what changed, at most 30 times a second unless forced.
func (ip *interactive) render(now time.Time, force bool) {
	if ip.notice != "" && now.Sub(ip.noticeAt) >= noticeFor {
		ip.notice, ip.dirty = "", true
	}
	ip.v.resize(ip.size())
	withBar := ip.status || ip.prompt != nil
	ip.layout = ip.v.fit(ip.scr, withBar)
	bar := ""
	if withBar {
		bar = ip.bar(now)
	}
	if bar != ip.drawnBar {
		ip.dirty = true
	}
	if !ip.dirty || (!force && time.Since(ip.lastDraw) < frameInterval) {
		return
	}
	f := frame{scr: ip.scr, bar: bar, prompt: ip.prompt != nil}
	if ip.search != nil {
		f.hits = ip.search.re
	}
	if ip.help {
		f.overlay = helpLines
	}
	ip.v.draw(f, ip.layout)
	ip.flush()
	ip.drawnBar, ip.dirty, ip.lastDraw = bar, false, time.Now()
}

var helpLines = []string{
	" kubectl rexec replay: keys                       ",
	"  space       pause / play                        ",
	"  .           one event at a time (pauses)        ",
	"  ← →         back / forward 5s (Shift ↑ ↓: 1 min) ",
	"  Home End    start / end                         ",
	"  g           go to a time: 90s, 1:02:03, end     ",
	"  [ ]         previous / next command             ",
	"  /  n  N     search; next / previous hit         ",
	"  + -         speed                               ",
	"  s           status bar on / off                 ",
	"  q           quit            (any key: close)    ",
}

// bar is the status bar's text.
func (ip *interactive) bar(now time.Time) string {
	if p := ip.prompt; p != nil {
		return p.label + string(p.text)
	}
	head := ip.head(now)
	total := max(ip.total, head)
	state := "▶"
	switch {
	case ip.ended:
		state = "■ end"
	case ip.paused:
		state = "❚❚ paused"
	}
	parts := []barPart{
		{text: " " + state, prio: 9},
		{text: clockTime(head) + " / " + clockTime(total), prio: 9},
		{text: fmt.Sprintf("%gx", ip.speed), prio: 8},
	}
	if !ip.io.Start.IsZero() {
		at := ip.io.Start.Add(head).UTC()
		parts = append(parts, barPart{text: at.Format("2006-01-02 15:04:05 UTC"), short: at.Format("15:04:05Z"), prio: 5})
	}
	if ms := ip.markers(); len(ms) > 0 {
		cur := 0
		for i, m := range ms {
			if m.Time <= head {
				cur = i + 1
			}
		}
		cmd := fmt.Sprintf("cmd %d/%d", cur, len(ms))
		p := barPart{text: cmd, short: cmd, prio: 6}
		if cur > 0 {
			p.text = cmd + " " + ellipsize(Visible([]byte(ms[cur-1].Label)), 40)
		}
		parts = append(parts, p)
	}
	if ip.o.ShowInput && len(ip.typed) > 0 {
		parts = append(parts, barPart{text: "⌨ " + string(ip.typed), prio: 3})
	}
	if note, short := ip.v.cropNote(ip.layout); note != "" {
		parts = append(parts, barPart{text: note, short: short, prio: 7})
	}
	if ip.search != nil {
		parts = append(parts, barPart{text: "/" + strings.TrimPrefix(ip.search.re.String(), "(?i)") + " " + ip.search.state(), prio: 4})
	}
	if ip.notice != "" {
		parts = append(parts, barPart{text: ip.notice, prio: 8})
	}
	parts = append(parts, barPart{text: "? help", prio: 2})
	cols, _ := ip.size()
	return fitBar(parts, cols)
}

type barPart struct {
	text, short string
	prio        int
}

// fitBar joins the parts, shortening or leaving out the least important
// until the line fits.
func fitBar(parts []barPart, cols int) string {
	join := func() string {
		var s []string
		for _, p := range parts {
			if p.text != "" {
				s = append(s, p.text)
			}
		}
		return strings.Join(s, "  ")
	}
	for prio := 0; prio <= 9; prio++ {
		if len([]rune(join())) <= cols {
			break
		}
		for i := range parts {
			if parts[i].prio == prio {
				parts[i].text, parts[i].short = parts[i].short, ""
			}
		}
	}
	return join()
}

func ellipsize(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// clockTime prints a session time as h:mm:ss or m:ss.
func clockTime(d time.Duration) string {
	s := int(d / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// shortDuration prints a duration briefly: "79s", "2m05s", "30d".
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%gs", d.Truncate(100*time.Millisecond).Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}

// Length is the recording's length: the trailer's duration, or for a
// recording without one (cut off, or still being written) the time of its
// last event, which it finds by decoding what follows the last checkpoint
// (all of a short recording, which has none). It leaves r anywhere: seek
// before reading on.
func Length(r Seekable) (time.Duration, error) {
	ix := r.Index()
	if ix.Trailer != nil {
		return ix.Trailer.Duration.Duration(), nil
	}
	starts, seekable := frameStarts(ix)
	k := 0
	for i := range starts {
		if seekable[i] {
			k = i
		}
	}
	d := Duration(ix)
	if err := r.SeekFrame(k); err != nil {
		return d, err
	}
	for {
		ev, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, record.ErrAbrupt) {
				return d, nil
			}
			return d, err
		}
		d = max(d, ev.Time)
	}
}

// Duration is the recording's length as far as its index tells without
// decoding: the trailer's duration, or the end of the last checkpointed
// frame for a recording still being written or cut off (see Length).
func Duration(ix *record.Index) time.Duration {
	if ix.Trailer != nil {
		return ix.Trailer.Duration.Duration()
	}
	var d time.Duration
	for _, f := range ix.Frames {
		if f.Checkpoint != nil {
			d = f.Checkpoint.TimeEnd.Duration()
		}
	}
	return d
}
