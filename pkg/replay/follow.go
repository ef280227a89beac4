package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// FollowOptions tunes Follow.
type FollowOptions struct {
	// Poll is how often the file is checked for growth; default 250ms.
	// (The recorder writes what it has about once a second.)
	Poll time.Duration
	// Waiting, when set, is called once each time play catches up with
	// the recording and starts waiting for more.
	Waiting func()
}

// tracker remembers where in the session the reader is, so that a newly
// opened reader over the grown file can continue from the same event.
type tracker struct {
	r     *record.Reader
	last  time.Duration // time of the last event read
	nSame int           // events read with that time
}

func (t *tracker) Next() (record.Event, error) {
	ev, err := t.r.Next()
	if err == nil {
		if ev.Time == t.last {
			t.nSame++
		} else {
			t.last, t.nSame = ev.Time, 1
		}
	}
	return ev, err
}

func (t *tracker) Trailer() *record.Trailer { return t.r.Trailer() }
func (t *tracker) Header() record.Header    { return t.r.Header() }
func (t *tracker) Index() *record.Index     { return t.r.Index() }
func (t *tracker) SeekFrame(i int) error    { return t.r.SeekFrame(i) }

// reopen opens the file again and positions the new reader right after the
// last event read.
func (t *tracker) reopen(path string) error {
	nr, err := record.Open(path)
	if err != nil {
		return err
	}
	starts, seekable := frameStarts(nr.Index())
	k := 0
	for i := 1; i < len(starts); i++ {
		if seekable[i] && starts[i] < t.last {
			k = i
		}
	}
	if err := nr.SeekFrame(k); err != nil {
		nr.Close()
		return err
	}
	skip := t.nSame
	for skip > 0 {
		ev, err := nr.Next()
		if err != nil {
			// Fewer events than before: the file is not the one we read.
			nr.Close()
			if errors.Is(err, record.ErrAbrupt) || errors.Is(err, io.EOF) {
				return fmt.Errorf("%s no longer holds the events already played", path)
			}
			return err
		}
		if ev.Time < t.last {
			continue
		}
		if ev.Time == t.last && skip > 1 {
			skip--
			continue
		}
		if ev.Time == t.last && skip == 1 {
			skip = 0
			continue
		}
		// Past the last event without meeting it: the last one was at
		// t.last with nothing before; this one is new.
		nr.Close()
		return fmt.Errorf("%s changed under the player", path)
	}
	t.r.Close()
	t.r = nr
	return nil
}

// Follow plays the recording at path while it is being written, like
// tail -f: from o.From (End: the current end, with the screen as it is
// now), then every new event as the recorder writes it, until the
// recording is closed (its trailer is written) or ctx is done.
func Follow(ctx context.Context, path string, o Options, fo FollowOptions) (Result, error) {
	if o.Speed <= 0 {
		o.Speed = 1
	}
	if fo.Poll <= 0 {
		fo.Poll = 250 * time.Millisecond
	}
	var r *record.Reader
	for {
		var err error
		r, err = record.Open(path)
		if err == nil {
			break
		}
		if !errors.Is(err, record.ErrAbrupt) {
			return Result{}, err
		}
		// Not even a header yet: the session is starting.
		if err := sleep(ctx, fo.Poll); err != nil {
			return Result{}, err
		}
	}
	t := &tracker{r: r, last: -1}
	defer func() { t.r.Close() }()
	p := newPlayer(t, o)
	if err := p.start(); err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, record.ErrAbrupt) {
		return p.res, err // (past the end so far is where following waits)
	}
	p.clock.last = max(0, o.From)
	if o.From == End {
		if pe := p.src.pending; pe != nil {
			p.clock.last = pe.Time
		} else {
			p.clock.last = max(0, t.last)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return p.res, err
	}
	size := fi.Size()
	for {
		ev, err := p.src.Next()
		if err == nil {
			if o.To > 0 && ev.Time > o.To {
				return p.finish(nil)
			}
			if err := p.clock.wait(ctx, ev.Time); err != nil {
				p.restore()
				return p.res, err
			}
			if err := p.play(ev); err != nil {
				return p.res, err
			}
			continue
		}
		if !errors.Is(err, record.ErrAbrupt) {
			return p.finish(err) // the end (trailer), or damage
		}
		// Caught up: wait for the recorder to write more.
		if fo.Waiting != nil {
			fo.Waiting()
		}
		for {
			if err := sleep(ctx, fo.Poll); err != nil {
				p.restore()
				return p.res, err
			}
			fi, err := os.Stat(path)
			if err != nil {
				return p.res, err
			}
			if fi.Size() < size {
				return p.res, fmt.Errorf("%s shrank from %d to %d bytes while being followed", path, size, fi.Size())
			}
			if fi.Size() > size {
				size = fi.Size()
				break
			}
		}
		if err := t.reopen(path); err != nil {
			return p.res, err
		}
		// New events play as they come, not on the old schedule.
		p.clock.resync(p.clock.last)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
