package replay

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// Seekable is a recording the player can jump around in: *record.Reader.
type Seekable interface {
	Events
	Header() record.Header
	Index() *record.Index
	SeekFrame(i int) error
}

// ScreenWindow is how much output before a seek target is run through the
// emulator to rebuild the screen. Output from before the last full-screen
// clear within it is skipped, and so is anything older than the window:
// a screen whose rows were all written longer ago than that (a terminal
// idle at a prompt since, with nothing clearing it) may miss rows.
const ScreenWindow = 256 << 10

// source wraps the reader with one event of push-back, so that seeking can
// read the first event past its target and leave it for the player.
type source struct {
	r       Events
	pending *record.Event
	// played counts the events returned, for resuming after a reopen.
	played int64
	// last is the time of the last event read while seeking.
	last time.Duration
}

func (s *source) Next() (record.Event, error) {
	if s.pending != nil {
		ev := *s.pending
		s.pending = nil
		s.played++
		return ev, nil
	}
	ev, err := s.r.Next()
	if err == nil {
		s.played++
	}
	return ev, err
}

func (s *source) unread(ev record.Event) {
	s.pending = &ev
	s.played--
}

// frameStarts returns each data frame's start time, and whether one can
// seek to it (the frame before it has a checkpoint).
func frameStarts(ix *record.Index) (starts []time.Duration, seekable []bool) {
	starts = make([]time.Duration, len(ix.Frames))
	seekable = make([]bool, len(ix.Frames))
	seekable[0] = true
	for i := 1; i < len(ix.Frames); i++ {
		if cp := ix.Frames[i-1].Checkpoint; cp != nil {
			starts[i] = cp.TimeEnd.Duration()
			seekable[i] = true
		} else {
			starts[i] = starts[i-1]
		}
	}
	return starts, seekable
}

// frameFor picks the frame to start decoding at for time t, going back
// until about budget bytes of text lie between its start and t's frame.
func frameFor(ix *record.Index, t time.Duration, budget int64) int {
	starts, seekable := frameStarts(ix)
	k := 0
	for i := 1; i < len(starts); i++ {
		// Strictly before t: events at exactly a frame's start time may
		// end the frame before it.
		if seekable[i] && starts[i] < t {
			k = i
		}
	}
	var text int64
	for k > 1 && text < budget {
		cp := ix.Frames[k-1].Checkpoint
		if cp == nil || !seekable[k-1] {
			break
		}
		text += cp.TextSize
		k--
	}
	if k == 1 {
		k = 0 // the header frame: start over (cheap) rather than miss nothing
	}
	return k
}

// seekStart positions r at the first event at or after t, using the
// checkpoints to skip the frames before it without decompressing them.
func seekStart(s *source, sk Seekable, t time.Duration) error {
	k := frameFor(sk.Index(), t, 0)
	if err := sk.SeekFrame(k); err != nil {
		return err
	}
	s.pending = nil
	for {
		ev, err := s.r.Next()
		if err != nil {
			return err
		}
		if ev.Time >= t {
			s.pending = &ev
			return nil
		}
		s.last = ev.Time
	}
}

// windowItem is an output or resize event kept to rebuild a screen:
// output as the Sanitizer leaves it, with its emulator work.
type windowItem struct {
	code       byte
	data       []byte
	cols, rows int // size in force before the item
	alt        bool
	work       int64
}

const (
	// itemBytes is how much output small writes gather in one item.
	itemBytes = 4 << 10
	// itemOverhead is what an item costs besides its bytes, counted in
	// the window's size.
	itemOverhead = 128
)

// window keeps the output and resizes that decide what a screen shows: at
// most about limit bytes of output, from the last full-screen clear on,
// and of those no more than screenWork weighs (see weigh). What does not
// fit is left out from the start, which for any ordinary session is output
// scrolled away long before. Output is kept as the Sanitizer leaves it.
type window struct {
	limit      int
	items      []windowItem
	size       int
	work       int64
	cols, rows int  // the size in force after the items (clamped)
	alt        bool // the alternate screen is on after the items
	// altKnown says whether alt was known when the window began: a seek
	// that starts decoding mid-recording learns it only from the first
	// switch it meets.
	altKnown bool
	altSeen  bool
	san      Sanitizer
}

func newWindow(limit, cols, rows int, alt, altKnown bool) *window {
	if limit <= 0 {
		limit = ScreenWindow
	}
	cols, rows = clampSize(cols, rows)
	return &window{limit: limit, cols: cols, rows: rows, alt: alt, altKnown: altKnown}
}

func (w *window) add(ev record.Event) {
	switch ev.Code {
	case 'r':
		if c, r, ok := parseSize(ev.Data); ok {
			c, r = clampSize(c, r)
			it := windowItem{code: 'r', data: ev.Data, cols: w.cols, rows: w.rows, alt: w.alt, work: resizeWork(w.cols, w.rows, c, r)}
			w.items, w.work = append(w.items, it), w.work+it.work
			w.size += len(ev.Data) + itemOverhead
			w.cols, w.rows = c, r
		}
	case 'o':
		w.addOutput(w.san.Filter(nil, ev.Data))
	}
	for len(w.items) > 1 && (w.size-len(w.items[0].data)-itemOverhead >= w.limit || w.work-w.items[0].work > screenWork) {
		w.size -= len(w.items[0].data) + itemOverhead
		w.work -= w.items[0].work
		w.items = w.items[1:]
	}
}

func (w *window) addOutput(data []byte) {
	sw := altScreenSwitch(data)
	if !w.alt && sw == 0 && clearsScreen(data) {
		// Everything before the clear is gone from the main screen.
		w.items, w.size, w.work = w.items[:0], 0, 0
	}
	wk := weigh(data, w.cols, w.rows, nil)
	if n := len(w.items); n > 0 && w.items[n-1].code == 'o' && w.items[n-1].cols == w.cols && w.items[n-1].rows == w.rows &&
		w.items[n-1].alt == w.alt && len(w.items[n-1].data) < itemBytes {
		// Small writes (a byte each, at worst) share an item: the
		// window's memory is its bytes, not a struct per write.
		w.items[n-1].data = append(w.items[n-1].data, data...)
		w.items[n-1].work += wk
	} else {
		w.items = append(w.items, windowItem{code: 'o', data: data, cols: w.cols, rows: w.rows, alt: w.alt, work: wk})
		w.size += itemOverhead
	}
	w.size, w.work = w.size+len(data), w.work+wk
	switch sw {
	case 1:
		w.alt, w.altSeen = true, true
	case -1:
		if !w.altSeen && !w.altKnown {
			// Leaving it first: it was on before decoding started.
			for i := range w.items {
				w.items[i].alt = true
			}
		}
		w.alt, w.altSeen = false, true
	}
}

// build makes scr (a new screen when nil) show what the window's output
// leaves, and returns it.
func (w *window) build(cols, rows int, scr *Screen) *Screen {
	if scr == nil {
		scr = NewScreen(cols, rows)
	} else {
		scr.Reset(cols, rows)
	}
	if len(w.items) > 0 {
		scr.Resize(w.items[0].cols, w.items[0].rows)
		if w.items[0].alt {
			scr.feed([]byte("\x1b[?1049h"))
		}
		if first := &w.items[0]; first.code == 'o' && (w.size > w.limit || w.work > screenWork) {
			// Only the end of a huge write: what fits in the window and
			// the work left, from the start of a row.
			cut := 0
			if keep := w.limit - (w.size - len(first.data) - itemOverhead); keep < len(first.data) {
				cut = len(first.data) - max(keep, 0)
			}
			cut += cutFor(first.data[cut:], first.cols, first.rows, screenWork-(w.work-first.work))
			if i := bytes.IndexByte(first.data[cut:], '\n'); i >= 0 {
				cut += i + 1
			}
			first.data = first.data[cut:]
		}
	}
	w.applyTo(scr)
	scr.Resize(w.cols, w.rows)
	return scr
}

// applyTo writes the window's items onto scr.
func (w *window) applyTo(scr *Screen) {
	for _, it := range w.items {
		if it.code == 'r' {
			if c, r, ok := parseSize(it.data); ok {
				scr.Resize(c, r)
			}
			continue
		}
		scr.feed(it.data)
	}
}

// ScreenAt rebuilds the screen as it was at session time t (the end, for
// t < 0 or past it), in scr when not nil, and leaves r positioned at the
// first event after t, which Next returns. It also returns the time of the
// last event at or before t.
func screenAt(s *source, sk Seekable, t time.Duration, limit int, scr *Screen) (*Screen, time.Duration, error) {
	h := sk.Header()
	end := t < 0
	target := t
	if end {
		target = 1<<63 - 1
	}
	if limit <= 0 {
		limit = ScreenWindow
	}
	k := frameFor(sk.Index(), target, 4*int64(limit))
	if err := sk.SeekFrame(k); err != nil {
		return nil, 0, err
	}
	s.pending = nil
	w := newWindow(limit, h.Term.Cols, h.Term.Rows, false, k == 0)
	var (
		lastErr error
		last    time.Duration
	)
	for {
		ev, err := s.r.Next()
		if err != nil {
			lastErr = err
			break
		}
		if ev.Time > target {
			s.pending = &ev
			break
		}
		last = ev.Time
		w.add(ev)
	}
	if lastErr != nil && !errors.Is(lastErr, io.EOF) && !errors.Is(lastErr, record.ErrAbrupt) {
		return nil, 0, lastErr
	}
	// At the end, the reader repeats its last error (io.EOF, ErrAbrupt) to
	// the player's next call.
	return w.build(h.Term.Cols, h.Term.Rows, scr), last, nil
}

func parseSize(b []byte) (int, int, bool) {
	var c, r int
	if _, err := fmt.Sscanf(string(b), "%dx%d", &c, &r); err != nil || c <= 0 || r <= 0 {
		return 0, 0, false
	}
	return c, r, true
}
