// Package replay owns playing a recording back: it reads events from a
// record.Reader and writes stdout and stderr bytes with the session's own
// timing, scaled and with long pauses capped on request. It knows nothing of
// Kubernetes or of how recordings are made.
package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// Options says how to play.
type Options struct {
	Speed         float64       // 1 is real time; 2 twice as fast
	IdleTimeLimit time.Duration // cap on any pause; 0 means no cap
	NoWait        bool          // write everything at once
	Out, ErrOut   io.Writer     // stdout events to Out, stderr events to ErrOut

	// sleepUntil waits until the given play offset; tests replace it.
	sleepUntil func(ctx context.Context, start time.Time, offset time.Duration) error
}

// Result tells what was played.
type Result struct {
	Events   int
	Duration time.Duration // session time of the last event played
	Abrupt   error         // non-nil when the recording ended without its trailer
	Trailer  *record.Trailer
}

// Events is what Play reads from; *record.Reader satisfies it.
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
	var res Result
	clock := newClock(o)
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			res.Trailer = r.Trailer()
			return res, nil
		}
		if errors.Is(err, record.ErrAbrupt) {
			res.Abrupt = err
			return res, nil
		}
		if err != nil {
			return res, err
		}
		if err := clock.wait(ctx, ev.Time); err != nil {
			return res, err
		}
		res.Events++
		res.Duration = ev.Time
		if err := write(o, ev); err != nil {
			return res, err
		}
	}
}

func write(o Options, ev record.Event) error {
	var w io.Writer
	switch ev.Code {
	case 'o':
		w = o.Out
	case 'e':
		w = o.ErrOut
	default:
		return nil // input is echoed by the terminal in stdout; the rest is not screen output
	}
	if w == nil {
		return nil
	}
	if _, err := w.Write(ev.Data); err != nil {
		return fmt.Errorf("write replay output: %w", err)
	}
	return nil
}

// clock maps session time to wall time. It waits for absolute targets, not
// for each gap, so that sleep overshoot never accumulates into drift.
type clock struct {
	o        Options
	start    time.Time
	last     time.Duration // session time of the previous event
	playTime time.Duration // scaled, capped play time of the previous event
}

func newClock(o Options) *clock { return &clock{o: o, start: time.Now()} }

func (c *clock) wait(ctx context.Context, at time.Duration) error {
	gap := at - c.last
	if gap < 0 {
		gap = 0
	}
	c.last = at
	if c.o.IdleTimeLimit > 0 && gap > c.o.IdleTimeLimit {
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
