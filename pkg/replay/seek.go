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

// ScreenAt rebuilds the screen as it was at session time t (the end, for
// t < 0 or past it) and leaves r positioned at the first event after t,
// which Next returns. cols and rows are the recording's initial size. The
// output run through the emulator is the last window bytes before t, and
// of those no more than screenWork weighs (see weigh): what does not fit
// is left out from the start, which for any ordinary session is output
// scrolled away long before.
func screenAt(s *source, sk Seekable, t time.Duration, window int) (*Screen, error) {
	if window <= 0 {
		window = ScreenWindow
	}
	h := sk.Header()
	end := t < 0
	k := frameFor(sk.Index(), func() time.Duration {
		if end {
			return 1<<63 - 1
		}
		return t
	}(), 4*int64(window))
	if err := sk.SeekFrame(k); err != nil {
		return nil, err
	}
	s.pending = nil
	var (
		items      []windowItem
		size       int
		work       int64
		cols, rows = clampSize(h.Term.Cols, h.Term.Rows)
		alt        bool
		lastErr    error
		altSeen    bool
		san        Sanitizer
	)
	drop := func() {
		size -= len(items[0].data) + itemOverhead
		work -= items[0].work
		items = items[1:]
	}
	for {
		ev, err := s.r.Next()
		if err != nil {
			lastErr = err
			break
		}
		if !end && ev.Time > t {
			s.pending = &ev
			break
		}
		switch ev.Code {
		case 'r':
			if c, r, ok := parseSize(ev.Data); ok {
				c, r = clampSize(c, r)
				it := windowItem{code: 'r', data: ev.Data, cols: cols, rows: rows, alt: alt, work: resizeWork(cols, rows, c, r)}
				items, work = append(items, it), work+it.work
				size += len(ev.Data) + itemOverhead
				cols, rows = c, r
			}
		case 'o':
			data := san.Filter(nil, ev.Data)
			sw := altScreenSwitch(data)
			if !alt && sw == 0 && clearsScreen(data) {
				// Everything before the clear is gone from the main screen.
				items, size, work = items[:0], 0, 0
			}
			w := weigh(data, cols, rows, nil)
			if n := len(items); n > 0 && items[n-1].code == 'o' && items[n-1].cols == cols && items[n-1].rows == rows &&
				items[n-1].alt == alt && len(items[n-1].data) < itemBytes {
				// Small writes (a byte each, at worst) share an item: the
				// window's memory is its bytes, not a struct per write.
				items[n-1].data = append(items[n-1].data, data...)
				items[n-1].work += w
			} else {
				items = append(items, windowItem{code: 'o', data: data, cols: cols, rows: rows, alt: alt, work: w})
				size += itemOverhead
			}
			size, work = size+len(data), work+w
			switch sw {
			case 1:
				alt, altSeen = true, true
			case -1:
				if !altSeen && k > 0 {
					// Leaving it first: it was on before decoding started.
					for i := range items {
						items[i].alt = true
					}
				}
				alt, altSeen = false, true
			}
		}
		for len(items) > 1 && (size-len(items[0].data)-itemOverhead >= window || work-items[0].work > screenWork) {
			drop()
		}
	}
	if lastErr != nil && !errors.Is(lastErr, io.EOF) && !errors.Is(lastErr, record.ErrAbrupt) {
		return nil, lastErr
	}
	scr := NewScreen(h.Term.Cols, h.Term.Rows)
	if len(items) > 0 {
		scr.Resize(items[0].cols, items[0].rows)
		if items[0].alt {
			scr.feed([]byte("\x1b[?1049h"))
		}
		if first := &items[0]; first.code == 'o' && (size > window || work > screenWork) {
			// Only the end of a huge write: what fits in the window and
			// the work left, from the start of a row.
			cut := 0
			if keep := window - (size - len(first.data) - itemOverhead); keep < len(first.data) {
				cut = len(first.data) - max(keep, 0)
			}
			cut += cutFor(first.data[cut:], first.cols, first.rows, screenWork-(work-first.work))
			if i := bytes.IndexByte(first.data[cut:], '\n'); i >= 0 {
				cut += i + 1
			}
			first.data = first.data[cut:]
		}
	}
	for _, it := range items {
		if it.code == 'r' {
			if c, r, ok := parseSize(it.data); ok {
				scr.Resize(c, r)
			}
			continue
		}
		scr.feed(it.data)
	}
	scr.Resize(cols, rows)
	// At the end, the reader repeats its last error (io.EOF, ErrAbrupt) to
	// the player's next call.
	return scr, nil
}

func parseSize(b []byte) (int, int, bool) {
	var c, r int
	if _, err := fmt.Sscanf(string(b), "%dx%d", &c, &r); err != nil || c <= 0 || r <= 0 {
		return 0, 0, false
	}
	return c, r, true
}
