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

// Key is a command key of the interactive player.
type Key int

// The keys the interactive player knows.
const (
	KeyNone Key = iota
	KeyPause
	KeyStep
	KeyForward      // +5s
	KeyBack         // -5s
	KeyForwardLong  // +1m
	KeyBackLong     // -1m
	KeyNextCommand  // ]
	KeyPrevCommand  // [
	KeyFaster       // +
	KeySlower       // -
	KeyToggleStatus // s
	KeyQuit
)

// ParseKeys reads the command keys in bytes read from a terminal: arrows
// in normal and application mode, with Shift (CSI 1;2 C/D).
func ParseKeys(b []byte) []Key {
	var ks []Key
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == 0x1b && i+1 < len(b) && (b[i+1] == '[' || b[i+1] == 'O') {
			// Find the final byte.
			j := i + 2
			for j < len(b) && b[j] >= 0x20 && b[j] <= 0x3f {
				j++
			}
			if j >= len(b) {
				break
			}
			params, final := string(b[i+2:j]), b[j]
			shift := strings.HasSuffix(params, ";2")
			switch {
			case final == 'C' && shift:
				ks = append(ks, KeyForwardLong)
			case final == 'D' && shift:
				ks = append(ks, KeyBackLong)
			case final == 'C':
				ks = append(ks, KeyForward)
			case final == 'D':
				ks = append(ks, KeyBack)
			}
			i = j
			continue
		}
		switch c {
		case ' ':
			ks = append(ks, KeyPause)
		case '.':
			ks = append(ks, KeyStep)
		case ']':
			ks = append(ks, KeyNextCommand)
		case '[':
			ks = append(ks, KeyPrevCommand)
		case '+', '=':
			ks = append(ks, KeyFaster)
		case '-', '_':
			ks = append(ks, KeySlower)
		case 's', 'h':
			ks = append(ks, KeyToggleStatus)
		case 'q', 'Q', 0x03, 0x04:
			ks = append(ks, KeyQuit)
		}
	}
	return ks
}

// InteractiveOptions configures the interactive player beyond Options.
type InteractiveOptions struct {
	// Keys delivers the viewer's keys; the player stops when it closes.
	Keys <-chan Key
	// Size returns the viewer's terminal size (for the status bar).
	Size func() (cols, rows int)
	// Markers returns the recording's commands known so far, for ] and [
	// (they may be loading while play starts).
	Markers func() []time.Duration
	// Total is the recording's duration, for the status bar.
	Total time.Duration
	// HideStatus starts with the status bar hidden.
	HideStatus bool
}

// Speeds are the steps + and - move through.
var Speeds = []float64{0.25, 0.5, 1, 2, 4, 8, 16, 32, 64}

// Interactive plays r on a terminal under the viewer's control: pause,
// step, seek (the screen is rebuilt as it was through the emulator),
// jump between commands, change speed, quit. It returns when the viewer
// quits or ctx ends; at the end of the recording it waits, paused, for
// a seek or quit.
func Interactive(ctx context.Context, r Seekable, o Options, opts InteractiveOptions) (Result, error) {
	if o.Speed <= 0 {
		o.Speed = 1
	}
	o.Terminal = true
	ip := &interactive{p: newPlayer(r, o), sk: r, io: opts, status: !opts.HideStatus}
	ip.p.reset = true
	defer ip.close()
	return ip.run(ctx)
}

type interactive struct {
	p        *player
	sk       Seekable
	io       InteractiveOptions
	pos      time.Duration // session time shown
	wall     time.Time     // when pos was shown (playing)
	paused   bool
	ended    bool
	status   bool
	lastBar  time.Time
	endErr   error
	dirtyBar bool
}

func (ip *interactive) close() {
	w := ip.p.o.Out
	_, rows := ip.size()
	// Leave the status row clean and the cursor below everything.
	_, _ = fmt.Fprintf(w, "\x1b7\x1b[%d;1H\x1b[m\x1b[2K\x1b8\x1b[m\x1b[?25h", rows)
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
	start := max(0, ip.p.o.From)
	if ip.p.o.From == End {
		start = ip.io.Total
	}
	if err := ip.seek(start); err != nil {
		return ip.p.res, err
	}
	for {
		var next *record.Event
		if !ip.ended {
			ev, err := ip.p.src.Next()
			switch {
			case err == nil:
				next = &ev
			default:
				ip.ended, ip.endErr = true, err
				if !errors.Is(err, io.EOF) && !errors.Is(err, record.ErrAbrupt) {
					return ip.p.res, err
				}
				ip.paused = true
				ip.dirtyBar = true
			}
		}
		if next != nil && ip.p.o.To > 0 && next.Time > ip.p.o.To {
			ip.p.src.unread(*next)
			next = nil
			ip.ended, ip.paused, ip.dirtyBar = true, true, true
		}
		var timer <-chan time.Time
		var tm *time.Timer
		if next != nil && !ip.paused {
			d := time.Until(ip.deadline(next.Time))
			if d <= 0 {
				ip.show(*next)
				continue
			}
			tm = time.NewTimer(min(d, 250*time.Millisecond))
			timer = tm.C
		} else {
			tm = time.NewTimer(250 * time.Millisecond)
			timer = tm.C
		}
		ip.bar(false)
		select {
		case <-ctx.Done():
			tm.Stop()
			return ip.p.res, ctx.Err()
		case <-timer:
			if next != nil {
				ip.p.src.unread(*next)
			}
		case k, ok := <-ip.io.Keys:
			tm.Stop()
			if next != nil {
				ip.p.src.unread(*next)
			}
			if !ok || k == KeyQuit {
				return ip.finish()
			}
			if err := ip.key(k); err != nil {
				return ip.p.res, err
			}
		}
	}
}

func (ip *interactive) finish() (Result, error) {
	ip.p.res.Dropped = ip.p.dropped()
	if errors.Is(ip.endErr, record.ErrAbrupt) {
		ip.p.res.Abrupt = ip.endErr
	}
	if errors.Is(ip.endErr, io.EOF) {
		ip.p.res.Trailer = ip.p.src.r.Trailer()
	}
	return ip.p.res, nil
}

// deadline is the wall time event time t is due.
func (ip *interactive) deadline(t time.Duration) time.Time {
	gap := max(0, t-ip.pos)
	if l := ip.p.o.IdleTimeLimit; l > 0 && gap > l {
		gap = l
	}
	return ip.wall.Add(time.Duration(float64(gap) / ip.p.o.Speed))
}

// show plays one event and moves the position to it.
func (ip *interactive) show(ev record.Event) {
	if !ip.paused {
		ip.wall = ip.deadline(ev.Time)
		if late := time.Since(ip.wall); late > time.Second {
			ip.wall = time.Now() // a slow terminal: do not rush to catch up
		}
	}
	ip.pos = max(ip.pos, ev.Time)
	_ = ip.p.play(ev)
	if ev.Code == 'o' || ev.Code == 'e' {
		ip.dirtyBar = true
	}
}

func (ip *interactive) key(k Key) error {
	ip.dirtyBar = true
	switch k {
	case KeyPause:
		if ip.ended && ip.paused {
			return nil
		}
		ip.paused = !ip.paused
		ip.wall = time.Now()
	case KeyStep:
		ip.paused = true
		if ip.ended {
			return nil
		}
		ev, err := ip.p.src.Next()
		if err != nil {
			ip.ended, ip.endErr = true, err
			return nil
		}
		ip.show(ev)
	case KeyForward, KeyBack, KeyForwardLong, KeyBackLong:
		d := map[Key]time.Duration{KeyForward: 5 * time.Second, KeyBack: -5 * time.Second, KeyForwardLong: time.Minute, KeyBackLong: -time.Minute}[k]
		return ip.seek(max(0, ip.pos+d))
	case KeyNextCommand:
		for _, m := range ip.markers() {
			if m > ip.pos {
				return ip.seek(m)
			}
		}
	case KeyPrevCommand:
		// The command before the one playing: a marker at least a second
		// back, so that [ during a command goes to its start first.
		target := time.Duration(-1)
		for _, m := range ip.markers() {
			if m < ip.pos-time.Second {
				target = m
			}
		}
		if target >= 0 {
			return ip.seek(target)
		}
		return ip.seek(0)
	case KeyFaster:
		for _, sp := range Speeds {
			if sp > ip.p.o.Speed {
				ip.p.o.Speed = sp
				break
			}
		}
		ip.wall = time.Now()
	case KeySlower:
		for i := len(Speeds) - 1; i >= 0; i-- {
			if Speeds[i] < ip.p.o.Speed {
				ip.p.o.Speed = Speeds[i]
				break
			}
		}
		ip.wall = time.Now()
	case KeyToggleStatus:
		ip.status = !ip.status
		if !ip.status {
			return ip.seek(ip.pos) // redraw the row the bar covered
		}
	}
	return nil
}

func (ip *interactive) markers() []time.Duration {
	if ip.io.Markers == nil {
		return nil
	}
	return ip.io.Markers()
}

// seek redraws the screen as it was at t and continues from there.
func (ip *interactive) seek(t time.Duration) error {
	if ip.io.Total > 0 && t > ip.io.Total {
		t = ip.io.Total
	}
	scr, err := screenAt(ip.p.src, ip.sk, t, ip.p.o.ScreenWindow)
	if err != nil {
		return err
	}
	draw := scr.Draw(nil, 0)
	scr.Close()
	if err := ip.p.write(ip.p.o.Out, nil, draw); err != nil {
		return err
	}
	ip.pos, ip.wall = t, time.Now()
	ip.ended, ip.endErr = false, nil
	ip.p.resetFilters()
	ip.dirtyBar = true
	ip.bar(true)
	return nil
}

// bar draws the status bar on the viewer's last row, at most 10 times a
// second unless forced.
func (ip *interactive) bar(force bool) {
	if !ip.status || (!ip.dirtyBar && !force) {
		return
	}
	if !force && time.Since(ip.lastBar) < 100*time.Millisecond && !ip.paused {
		return
	}
	ip.lastBar, ip.dirtyBar = time.Now(), false
	cols, rows := ip.size()
	state := "▶"
	switch {
	case ip.ended:
		state = "■ end"
	case ip.paused:
		state = "❚❚ paused"
	}
	cmd := ""
	if ms := ip.markers(); len(ms) > 0 {
		n, cur := len(ms), 0
		for i, m := range ms {
			if m <= ip.pos {
				cur = i + 1
			}
		}
		cmd = fmt.Sprintf("  cmd %d/%d", cur, n)
	}
	text := fmt.Sprintf(" %s  %s / %s  %gx%s  │ space pause  . step  ←→ 5s  ⇧←→ 1m  [] cmd  +- speed  s bar  q quit ",
		state, clockTime(ip.pos), clockTime(ip.io.Total), ip.p.o.Speed, cmd)
	r := []rune(text)
	if len(r) > cols {
		r = r[:cols]
	}
	_, _ = fmt.Fprintf(ip.p.o.Out, "\x1b7\x1b[%d;1H\x1b[m\x1b[7m%s\x1b[K\x1b[m\x1b8", rows, string(r))
}

// clockTime prints a session time as h:mm:ss or m:ss.
func clockTime(d time.Duration) string {
	s := int(d / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// ReadKeys reads keys from r (the viewer's terminal) until it fails.
func ReadKeys(r io.Reader) <-chan Key {
	ch := make(chan Key, 16)
	go func() {
		defer close(ch)
		buf := make([]byte, 256)
		for {
			n, err := r.Read(buf)
			for _, k := range ParseKeys(buf[:n]) {
				ch <- k
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// KeyMode puts the terminal fd in single-key mode (no echo, no line
// buffering, output processing kept) and returns the restore function.
func KeyMode(fd int) (func(), error) { return keyMode(fd) }

// Duration is the recording's length as far as its index tells without
// decoding: the trailer's duration, or the end of the last checkpointed
// frame for a recording still being written or cut off.
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
