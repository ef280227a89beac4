// Package replay owns playing a recording back: it reads events from a
// record.Reader and writes stdout and stderr bytes with the session's own
// timing, scaled and with long pauses capped on request; it starts anywhere
// (rebuilding the screen as it was there through an in-memory terminal
// emulator), follows a recording that is still being written, and filters
// what could act outside the viewer's screen. It knows nothing of
// Kubernetes or of how recordings are made.
package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// End, as Options.From, starts at the end of the recording: the final
// screen is drawn and nothing is played.
const End time.Duration = -1

// Options says how to play.
type Options struct {
	Speed float64 // 1 is real time; 2 twice as fast
	// IdleTimeLimit caps every pause in the session (the player waits at
	// most this long between two events); 0 keeps the pauses as recorded.
	// The command's default is DefaultIdleTimeLimit.
	IdleTimeLimit time.Duration
	NoWait        bool      // write everything at once
	Out, ErrOut   io.Writer // stdout events to Out, stderr events to ErrOut

	// From starts playing at this session time (End: at the end). With
	// Terminal set the screen is first redrawn as it was then; otherwise
	// output simply starts with the first event at or after From.
	From time.Duration
	// To stops after the last event at or before this session time; 0
	// plays to the end.
	To time.Duration
	// Raw writes the recorded stdout bytes as they are, and RawErr the
	// stderr bytes. By default a Sanitizer removes what would act outside
	// the screen (see Sanitizer), from each stream: stdout and stderr may
	// go to different places, only one of them a terminal.
	Raw, RawErr bool
	// ShowInput overlays what was typed (the stdin events) at the top
	// right of the screen; by default it is not shown, since the terminal
	// echo is already in the output.
	ShowInput bool
	// Terminal says Out is the viewer's terminal: seeking redraws the
	// screen, and the end of play restores the terminal's modes.
	Terminal bool
	// ScreenWindow overrides the package's ScreenWindow (tests).
	ScreenWindow int

	// sleepUntil waits until the given play offset; tests replace it.
	sleepUntil func(ctx context.Context, start time.Time, offset time.Duration) error
}

// Result tells what was played.
type Result struct {
	Events   int
	Duration time.Duration // session time of the last event played
	Abrupt   error         // non-nil when the recording ended without its trailer
	Trailer  *record.Trailer
	Dropped  int // escape sequences the sanitizer removed
	// MaxCols and MaxRows are the largest terminal size among the resizes
	// played.
	MaxCols, MaxRows int
	// IdleCut counts the pauses longer than Options.IdleTimeLimit that
	// were cut short; IdleLongest is the longest of them as recorded.
	IdleCut     int
	IdleLongest time.Duration
}

// DefaultIdleTimeLimit is how long the player waits at most between two
// events unless told otherwise: a session left idle for hours (or days)
// plays on after this, and the player says it cut the pause.
const DefaultIdleTimeLimit = 10 * time.Second

// PastEndError is returned when playing should start after the last
// event.
type PastEndError struct {
	From, Length time.Duration
}

func (e *PastEndError) Error() string {
	return fmt.Sprintf("--from %s is past the end of the recording, which is %s long; --from end shows its last screen",
		shortDuration(e.From), e.Length.Round(time.Millisecond))
}

// Events is what Play reads from; *record.Reader satisfies it (and
// Seekable, which From needs to skip ahead without decoding).
type Events interface {
	Next() (record.Event, error)
	Trailer() *record.Trailer
}

// Play writes the recording's output events with their timing until the end,
// ctx is cancelled, or the recording turns out to be corrupt. A recording
// that ends abruptly plays to its last complete event and reports that in
// Result.Abrupt rather than as an error: everything it holds was shown.
func Play(ctx context.Context, r Events, o Options) (Result, error) {
	if o.Speed <= 0 {
		o.Speed = 1
	}
	p := newPlayer(r, o)
	if err := p.start(); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, record.ErrAbrupt) {
			// Nothing at or after From: say so rather than "EOF".
			p.restore()
			return p.res, &PastEndError{From: o.From, Length: p.src.last}
		}
		return p.res, err
	}
	if o.From == End {
		return p.finish(p.endErr())
	}
	return p.run(ctx)
}

// player is one playing session.
type player struct {
	o        Options
	src      *source
	clock    *clock
	out, err *Sanitizer
	buf      []byte
	res      Result
	reset    bool // the viewer's terminal needs its modes restored
	modes    modeTracker
}

func newPlayer(r Events, o Options) *player {
	p := &player{o: o, src: &source{r: r}, clock: newClock(o)}
	if !o.Raw {
		p.out = &Sanitizer{}
	}
	if !o.RawErr {
		p.err = &Sanitizer{}
	}
	return p
}

// start moves to From: through the emulator when drawing on a terminal,
// else by skipping.
func (p *player) start() error {
	if p.o.From == 0 {
		return nil
	}
	sk, ok := p.src.r.(Seekable)
	if !ok {
		return p.skipTo(p.o.From)
	}
	if !p.o.Terminal && p.o.From != End {
		return seekStart(p.src, sk, p.o.From)
	}
	scr, last, err := screenAt(p.src, sk, p.o.From, p.o.ScreenWindow, nil)
	if err != nil {
		return err
	}
	defer scr.Close()
	if p.o.From != End && last < p.o.From && p.src.pending == nil {
		p.src.last = last
		return io.EOF // nothing at or after From
	}
	if !p.o.Terminal {
		// Not a terminal: the final screen as text.
		if text := scr.Text(); text != "" {
			return p.write(p.o.Out, p.out, []byte(text+"\n"))
		}
		return nil
	}
	p.reset = true
	return p.write(p.o.Out, nil, scr.Draw(nil, 0))
}

// skipTo reads past the events before t (a reader that cannot seek).
func (p *player) skipTo(t time.Duration) error {
	for {
		ev, err := p.src.Next()
		if err != nil {
			if t == End && (errors.Is(err, io.EOF) || errors.Is(err, record.ErrAbrupt)) {
				return nil // Next repeats it
			}
			return err
		}
		if t != End && ev.Time >= t {
			p.src.unread(ev)
			return nil
		}
		p.src.last = ev.Time
	}
}

func (p *player) endErr() error {
	_, err := p.src.Next()
	if err == nil {
		return nil
	}
	return err
}

func (p *player) run(ctx context.Context) (Result, error) {
	p.clock.last = max(0, p.o.From)
	for {
		ev, err := p.src.Next()
		if err != nil {
			return p.finish(err)
		}
		if p.o.To > 0 && ev.Time > p.o.To {
			return p.finish(nil)
		}
		if err := p.clock.wait(ctx, ev.Time); err != nil {
			p.restore()
			return p.res, err
		}
		if err := p.play(ev); err != nil {
			return p.res, err
		}
	}
}

// finish ends play on the reader's last answer.
func (p *player) finish(err error) (Result, error) {
	p.restore()
	p.res.Dropped = p.dropped()
	p.res.IdleCut, p.res.IdleLongest = p.clock.cut, p.clock.longest
	switch {
	case err == nil:
		return p.res, nil
	case errors.Is(err, io.EOF):
		p.res.Trailer = p.src.r.Trailer()
		return p.res, nil
	case errors.Is(err, record.ErrAbrupt):
		p.res.Abrupt = err
		return p.res, nil
	}
	return p.res, err
}

func (p *player) dropped() int {
	n := 0
	for _, s := range []*Sanitizer{p.out, p.err} {
		if s != nil {
			n += s.Dropped()
		}
	}
	return n
}

// resetFilters starts the sanitizers afresh, keeping their counts: a seek
// may have cut a sequence in two.
func (p *player) resetFilters() {
	for _, s := range []*Sanitizer{p.out, p.err} {
		if s != nil {
			*s = Sanitizer{dropped: s.dropped}
		}
	}
}

// restore puts the viewer's terminal back in order: whatever mode the
// played output left on (a session cut off inside a full-screen program,
// or quit there) is turned off.
func (p *player) restore() {
	if p.o.Terminal && p.o.Out != nil {
		_, _ = p.o.Out.Write(p.modes.restore(nil))
		p.modes = modeTracker{}
	}
}

// play writes one event.
func (p *player) play(ev record.Event) error {
	p.res.Events++
	p.res.Duration = ev.Time
	switch ev.Code {
	case 'o':
		return p.write(p.o.Out, p.out, ev.Data)
	case 'e':
		return p.write(p.o.ErrOut, p.err, ev.Data)
	case 'i':
		if p.o.ShowInput && p.o.Out != nil {
			data := ev.Data
			if ev.Redacted > 0 {
				// Typed, not kept (an H event): one dot per byte.
				data = []byte(strings.Repeat("•", min(ev.Redacted, 64)))
			}
			return p.write(p.o.Out, nil, inputOverlay(data))
		}
	case 'r':
		if c, r, ok := parseSize(ev.Data); ok {
			p.res.MaxCols, p.res.MaxRows = max(p.res.MaxCols, c), max(p.res.MaxRows, r)
		}
	}
	// Resizes, markers and the exit status are not screen output.
	return nil
}

func (p *player) write(w io.Writer, s *Sanitizer, data []byte) error {
	if w == nil {
		return nil
	}
	if s != nil {
		p.buf = s.Filter(p.buf[:0], data)
		data = p.buf
	}
	if len(data) == 0 {
		return nil
	}
	if p.o.Terminal && w == p.o.Out {
		p.modes.scan(data)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("write replay output: %w", err)
	}
	return nil
}

// inputOverlay shows typed keys at the top right of the screen in reverse
// video, control keys in caret notation, and puts the cursor back.
func inputOverlay(data []byte) []byte {
	vis := Visible(data)
	out := []byte("\x1b7\x1b[1;1H\x1b[999C")
	if n := len([]rune(vis)); n > 1 {
		out = fmt.Appendf(out, "\x1b[%dD", n-1)
	}
	out = append(out, "\x1b[7m"...)
	out = append(out, vis...)
	return append(out, "\x1b[m\x1b8"...)
}

// Visible renders keystrokes readably: control characters in caret
// notation (^C), Enter as ⏎, ESC as ^[, invalid UTF-8 as U+FFFD.
func Visible(data []byte) string {
	var b []rune
	for _, r := range string(data) {
		switch {
		case r == '\r' || r == '\n':
			b = append(b, '⏎')
		case r < 0x20:
			b = append(b, '^', r+'@')
		case r == 0x7f:
			b = append(b, '^', '?')
		case r >= 0x80 && r < 0xa0:
			b = append(b, '?')
		default:
			b = append(b, r)
		}
	}
	return string(b)
}

// clock maps session time to wall time. It waits for absolute targets, not
// for each gap, so that sleep overshoot never accumulates into drift.
type clock struct {
	o        Options
	start    time.Time
	last     time.Duration // session time of the previous event
	playTime time.Duration // scaled, capped play time of the previous event
	cut      int           // pauses cut to the idle time limit
	longest  time.Duration // the longest of them
}

func newClock(o Options) *clock { return &clock{o: o, start: time.Now()} }

// resync makes session time at play now: after a pause, a seek, or waiting
// for a followed recording to grow.
func (c *clock) resync(at time.Duration) {
	c.last = at
	c.start = time.Now().Add(-c.playTime)
}

func (c *clock) wait(ctx context.Context, at time.Duration) error {
	gap := at - c.last
	if gap < 0 {
		gap = 0
	}
	c.last = at
	if c.o.IdleTimeLimit > 0 && gap > c.o.IdleTimeLimit {
		c.cut++
		c.longest = max(c.longest, gap)
		gap = c.o.IdleTimeLimit
	}
	c.playTime += time.Duration(float64(gap) / c.o.Speed)
	if c.o.NoWait {
		return ctx.Err()
	}
	if c.o.sleepUntil != nil {
		return c.o.sleepUntil(ctx, c.start, c.playTime)
	}
	d := time.Until(c.start.Add(c.playTime))
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
