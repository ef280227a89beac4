package replay

import (
	"context"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testrec"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

func TestParseKeys(t *testing.T) {
	got := ParseKeys([]byte(" .\x1b[C\x1b[D\x1b[1;2C\x1b[1;2D\x1bOC\x1b[H\x1b[4~][+-sq\x03x\r\x7f\x1b"))
	want := []Key{' ', '.', KeyRight, KeyLeft, KeyShiftRight, KeyShiftLeft, KeyRight, KeyHome, KeyEnd, ']', '[', '+', '-', 's', 'q', KeyInterrupt, 'x', KeyEnter, KeyBackspace, KeyEscape}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// fakeClock is a Clock that moves only when the test says.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{c.now.Add(d), ch})
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// terminal is the viewer's terminal: an emulator fed what the player
// writes.
type terminal struct {
	mu         sync.Mutex
	scr        *Screen
	cols, rows int
	raw        []byte
}

func newTerminal(cols, rows int) *terminal {
	return &terminal{scr: NewScreen(cols, rows), cols: cols, rows: rows}
}

func (t *terminal) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.raw = append(t.raw, p...)
	return t.scr.Write(p)
}

// lines returns every row of the terminal, trailing spaces removed.
func (t *terminal) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	var cols []string
	for y := range t.rows {
		cols = t.scr.rowText(y, cols)
		out = append(out, strings.TrimRight(strings.Join(cols, ""), " "))
	}
	return out
}

func (t *terminal) output() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.raw...)
}

// harness runs the interactive player on a fake clock and terminal.
type harness struct {
	t    *testing.T
	clk  *fakeClock
	term *terminal
	keys chan Key
	done chan error
	res  Result
}

func startPlayer(t *testing.T, data []byte, cols, rows int, o Options, io InteractiveOptions) *harness {
	t.Helper()
	h := &harness{t: t, clk: newFakeClock(), term: newTerminal(cols, rows), keys: make(chan Key), done: make(chan error, 1)}
	r := openBytes(t, data)
	o.Out = h.term
	io.Keys, io.Clock = h.keys, h.clk
	io.Size = func() (int, int) { return cols, rows }
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		res, err := Interactive(ctx, r, o, io)
		h.res = res
		h.done <- err
	}()
	return h
}

// waitFor waits until the terminal shows what cond wants.
func (h *harness) waitFor(what string, cond func(lines []string) bool) []string {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ls := h.term.lines()
		if cond(ls) {
			return ls
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s; the terminal shows:\n%s", what, strings.Join(ls, "\n"))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (h *harness) waitBar(what string, cond func(bar string) bool) []string {
	h.t.Helper()
	return h.waitFor(what, func(ls []string) bool { return cond(ls[len(ls)-1]) })
}

func (h *harness) key(ks ...Key) {
	for _, k := range ks {
		h.keys <- k
	}
}

func (h *harness) quit() Result {
	h.t.Helper()
	h.keys <- 'q'
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		h.t.Fatal("q did not quit")
	}
	return h.res
}

func has(s string) func(string) bool { return func(b string) bool { return strings.Contains(b, s) } }

func recBytes(t *testing.T, s testrec.Session) []byte {
	t.Helper()
	data, err := testrec.Bytes(s)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// commandSession has 10 commands, one every 30s, each printing 25 lines.
func commandSession() (testrec.Session, []Marker) {
	var steps []testrec.Step
	var marks []Marker
	steps = append(steps, testrec.R(0, "80x24"), testrec.O(100*time.Millisecond, "$ "))
	for c := range 10 {
		at := time.Duration(c)*30*time.Second + time.Second
		cmd := fmt.Sprintf("step-%02d", c)
		steps = append(steps, testrec.I(at, cmd+"\r"), testrec.O(at+time.Millisecond, cmd+"\r\n"), testrec.M(at+2*time.Millisecond, cmd))
		marks = append(marks, Marker{Time: at + 2*time.Millisecond, Label: cmd})
		for l := range 25 {
			steps = append(steps, testrec.O(at+time.Duration(l+1)*time.Second, fmt.Sprintf("cmd %02d output line %02d\r\n", c, l)))
		}
		steps = append(steps, testrec.O(at+26*time.Second, "$ "))
	}
	return testrec.Session{
		Header:  testrec.Header("carol", "prod", "default", "long", "main", t0, "bash"),
		Steps:   steps,
		Exit:    testrec.Code(0),
		Options: record.Options{FrameBytes: 1000},
	}, marks
}

// TestInteractiveKeys drives the player with keys and checks the screen
// the viewer's terminal shows after each.
func TestInteractiveKeys(t *testing.T) {
	s, marks := commandSession()
	data := recBytes(t, s)
	h := startPlayer(t, data, 80, 25, Options{}, InteractiveOptions{
		Markers: func() []Marker { return marks },
		Total:   Duration(openBytes(t, data).Index()),
		Start:   t0,
	})
	h.waitBar("the status bar", has("0:00 / 4:57"))
	h.key(' ')
	h.waitBar("pause", has("paused"))
	h.key(']', ']', ']')
	ls := h.waitBar("command 3", has("cmd 3/10 step-02"))
	got := strings.Join(ls, "\n")
	if !strings.Contains(got, "cmd 01 output line 24\n$ step-02") || strings.Contains(got, "cmd 02 output") || !strings.Contains(got, "1:01 / 4:57") {
		t.Errorf("after ] ] ]:\n%s", got)
	}
	// The wall clock: the session started at 06:15:00 UTC.
	if !strings.Contains(ls[24], "2026-11-27 06:16:01 UTC") {
		t.Errorf("no UTC wall-clock time in the bar: %q", ls[24])
	}
	h.key(KeyLeft)
	ls = h.waitBar("seek back", has("0:56 / 4:57"))
	got = strings.Join(ls, "\n")
	if !strings.Contains(got, "cmd 01 output line 23\ncmd 01 output line 24") || strings.Contains(got, "step-02") {
		t.Errorf("after ← (seek back 5s):\n%s", got)
	}
	h.key('.')
	ls = h.waitBar("a step", has("0:57 / 4:57"))
	if !strings.Contains(strings.Join(ls, "\n"), "cmd 01 output line 24\n$") {
		t.Errorf("after . (step):\n%s", strings.Join(ls, "\n"))
	}
	h.key(KeyShiftRight)
	ls = h.waitBar("seek 1m", has("1:57 / 4:57"))
	got = strings.Join(ls, "\n")
	if !strings.Contains(got, "cmd 03 output line 24\n$") || strings.Contains(got, "step-04") {
		t.Errorf("after ⇧→ (seek 1m):\n%s", got)
	}
	h.key('[')
	h.waitBar("previous command", has("cmd 4/10 step-03"))
	h.key('[')
	h.waitBar("previous command", has("cmd 3/10 step-02"))
	h.key(KeyEnd)
	ls = h.waitBar("the end", has("■ end  4:57 / 4:57"))
	if !strings.Contains(ls[23], "$") {
		t.Errorf("End does not show the last screen:\n%s", strings.Join(ls, "\n"))
	}
	h.key(KeyHome)
	ls = h.waitBar("the start", has("0:00 / 4:57"))
	if strings.Contains(strings.Join(ls, "\n"), "step") {
		t.Errorf("Home does not show the first screen:\n%s", strings.Join(ls, "\n"))
	}
	h.key('g', '2', ':', '0', '2', KeyEnter)
	ls = h.waitBar("go to 2:02", has("2:02 / 4:57"))
	if !strings.Contains(strings.Join(ls, "\n"), "$ step-04\ncmd 04 output line 00") {
		t.Errorf("g 2:02 shows:\n%s", strings.Join(ls, "\n"))
	}
	h.key('+', '+')
	h.waitBar("4x", has("4x"))
	h.key('?')
	h.waitFor("the help", func(ls []string) bool { return strings.Contains(strings.Join(ls, "\n"), "go to a time") })
	h.key('x')
	h.waitFor("the help to close", func(ls []string) bool { return !strings.Contains(strings.Join(ls, "\n"), "go to a time") })
	h.quit()
}

// A session killed within its first minutes has no checkpoint: its length
// comes from its events (item 1 of issue 15: it showed 0:00 / 0:00).
func TestInteractiveLengthOfAKilledSession(t *testing.T) {
	data := recBytes(t, testrec.Session{
		Header: testrec.Header("carol", "prod", "default", "p", "main", t0, "bash"),
		Steps:  []testrec.Step{testrec.R(0, "80x24"), testrec.O(time.Second, "$ "), testrec.O(11*time.Second, "top\r\n")},
	})
	r := openBytes(t, data)
	if d, err := Length(r); err != nil || d != 11*time.Second {
		t.Errorf("Length = %v, %v; want 11s", d, err)
	}
	h := startPlayer(t, data, 80, 25, Options{}, InteractiveOptions{Total: Duration(r.Index())})
	h.waitBar("the length", has("0:00 / 0:11"))
	h.quit()
}

// The status bar has a row of its own: it never scrolls with the session,
// leaves no copies behind and never covers the session's last row.
func TestInteractiveStatusBarHasItsOwnRow(t *testing.T) {
	steps := []testrec.Step{testrec.R(0, "80x24")}
	for i := range 60 {
		steps = append(steps, testrec.O(time.Duration(i+1)*100*time.Millisecond, fmt.Sprintf("line %02d\r\n", i)))
	}
	steps = append(steps, testrec.O(7*time.Second, "$ vi\r\n\x1b[?1049h\x1b[H\x1b[2J~\r\n~\x1b[24;1H-- INSERT --\x1b[1;1H"))
	data := recBytes(t, testrec.Session{Header: testrec.Header("carol", "prod", "default", "p", "main", t0, "bash"), Steps: steps, Exit: testrec.Code(0)})
	h := startPlayer(t, data, 80, 25, Options{}, InteractiveOptions{})
	h.waitBar("the bar", has("0:00"))
	for range 12 {
		h.clk.Advance(500 * time.Millisecond)
		h.waitBar("the clock", has(clockTime(h.clk.Now().Sub(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)))))
		ls := h.term.lines()
		for y, l := range ls[:24] {
			if strings.Contains(l, "/ 0:07") || strings.Contains(l, "? help") {
				t.Fatalf("row %d holds a copy of the bar:\n%s", y+1, strings.Join(ls, "\n"))
			}
		}
	}
	h.clk.Advance(time.Second)
	ls := h.waitFor("vi", func(ls []string) bool { return ls[23] == "-- INSERT --" })
	if !strings.Contains(ls[24], "0:07 / 0:07") || ls[22] != "" || ls[0] != "~" {
		t.Errorf("with vi on screen:\n%s", strings.Join(ls, "\n"))
	}
	if want, _ := truth(t, data, time.Hour); want != strings.TrimRight(strings.Join(ls[:24], "\n"), "\n") {
		t.Errorf("the terminal shows\n%s\nwant\n%s", strings.Join(ls[:24], "\n"), want)
	}
	h.quit()
}

// gapSession prints at 1s, then nothing for 79s.
func gapSession() testrec.Session {
	return testrec.Session{
		Header: testrec.Header("carol", "prod", "default", "p", "main", t0, "bash"),
		Steps: []testrec.Step{
			testrec.R(0, "80x24"), testrec.O(time.Second, "before the gap\r\n"),
			testrec.O(80*time.Second, "after the gap\r\n"), testrec.O(81*time.Second, "$ "),
		},
		Exit: testrec.Code(0),
	}
}

// The playhead is a clock: it runs through a pause in the session, → in a
// gap moves forward from where the clock is, and a speed change or a
// pause does not make the player wait out the whole gap again.
func TestInteractivePlayheadIsAClock(t *testing.T) {
	data := recBytes(t, gapSession())
	h := startPlayer(t, data, 80, 25, Options{}, InteractiveOptions{})
	h.waitBar("the start", has("0:00 / 1:21"))
	h.clk.Advance(1500 * time.Millisecond)
	h.waitFor("the first line", func(ls []string) bool { return ls[0] == "before the gap" })
	h.clk.Advance(10 * time.Second)
	h.waitBar("the clock running in the gap", has("0:11 / 1:21"))
	h.key(KeyRight)
	h.waitBar("→ from the clock", has("0:16 / 1:21"))
	// Pause for a long while, then resume: only what was left waits.
	h.key(' ')
	h.waitBar("paused", has("paused"))
	h.clk.Advance(time.Hour)
	h.key(' ')
	h.waitBar("playing", func(b string) bool { return !strings.Contains(b, "paused") && strings.Contains(b, "0:16") })
	h.clk.Advance(24 * time.Second)
	h.waitBar("0:40", has("0:40 / 1:21"))
	// Twice as fast: the remaining 40s take 20s.
	h.key('+')
	h.waitBar("2x", has("2x"))
	h.clk.Advance(19 * time.Second)
	ls := h.waitBar("1:18", has("1:18 / 1:21"))
	if strings.Contains(strings.Join(ls, "\n"), "after the gap") {
		t.Fatalf("the output at 1:20 shows at 1:18:\n%s", strings.Join(ls, "\n"))
	}
	h.clk.Advance(1100 * time.Millisecond)
	h.waitFor("the output after the gap", func(ls []string) bool { return ls[1] == "after the gap" })
	h.quit()
}

// Long pauses are cut to the idle time limit, and the bar says so.
func TestInteractiveIdleLimit(t *testing.T) {
	s := gapSession()
	s.Steps = append(s.Steps, testrec.O(30*24*time.Hour, "a month later\r\n"))
	data := recBytes(t, s)
	h := startPlayer(t, data, 80, 25, Options{IdleTimeLimit: DefaultIdleTimeLimit}, InteractiveOptions{})
	h.waitBar("the start", has("0:00 / 720:00:00"))
	h.clk.Advance(1100 * time.Millisecond)
	h.waitFor("the first line", func(ls []string) bool { return ls[0] == "before the gap" })
	h.clk.Advance(DefaultIdleTimeLimit)
	h.waitBar("the gap cut", has("1m19s idle, cut to 10s"))
	h.waitFor("the output after the gap", func(ls []string) bool { return ls[1] == "after the gap" })
	h.clk.Advance(time.Second)
	h.clk.Advance(DefaultIdleTimeLimit)
	h.waitBar("the month cut", has("29d idle, cut to 10s"))
	h.waitFor("a month later", func(ls []string) bool { return ls[2] == "$ a month later" })
	res := h.quit()
	if res.IdleCut != 2 || res.IdleLongest < 29*24*time.Hour {
		t.Errorf("result: %+v", res)
	}
}

// After the recording shrank from 130x40 to 80x24, the terminal shows the
// screen at its new size: nothing of the larger screen stays behind, and
// the later output shows (item 4 of issue 15).
func TestInteractiveAfterTheRecordingShrank(t *testing.T) {
	data := recBytes(t, shrinkSession())
	h := startPlayer(t, data, 130, 43, Options{From: 5 * time.Second}, InteractiveOptions{})
	h.waitFor("top at 130x40", func(ls []string) bool { return strings.HasPrefix(ls[39], "top tick 3 row 39") })
	check := func(at time.Duration) {
		t.Helper()
		want, _ := truth(t, data, at)
		wantRows := strings.Split(want, "\n")
		ls := h.waitBar(fmt.Sprintf("%v", at), has(clockTime(at)+" / 0:43"))
		for y := range 42 {
			w := ""
			if y < len(wantRows) {
				w = wantRows[y]
			}
			if ls[y] != w {
				t.Fatalf("at %v row %d shows %q, want %q; the terminal:\n%s", at, y+1, ls[y], w, strings.Join(ls, "\n"))
			}
		}
	}
	h.clk.Advance(4 * time.Second) // 0:09: top at 80x24
	check(9 * time.Second)
	h.key(KeyLeft) // 0:04: back at 130x40
	check(4 * time.Second)
	h.key(KeyShiftRight) // 1:04 is past the end: the end
	h.waitBar("the end", has("■ end"))
	check(43 * time.Second)
	h.key('g', '2', '0', KeyEnter)
	check(20 * time.Second)
	h.quit()
}

// A terminal smaller than the recording shows the part of the screen
// around the cursor, and the bar says which.
func TestInteractiveCropsToASmallTerminal(t *testing.T) {
	s, _ := commandSession()
	data := recBytes(t, s)
	h := startPlayer(t, data, 60, 15, Options{From: 40 * time.Second}, InteractiveOptions{})
	ls := h.waitBar("the crop note", has("rows 11-24, cols 1-60 of 80x24"))
	want, _ := truth(t, data, 40*time.Second)
	wantRows := append(strings.Split(want, "\n"), make([]string, 24)...)
	for y := range 14 {
		w := wantRows[10+y]
		if len(w) > 60 {
			w = strings.TrimRight(w[:60], " ")
		}
		if ls[y] != w {
			t.Fatalf("row %d shows %q, want %q:\n%s", y+1, ls[y], w, strings.Join(ls, "\n"))
		}
	}
	h.quit()
}

// Quitting, even inside a full-screen program, leaves the terminal as it
// was: no mode the recording set reaches it, and the player's own are
// undone (item 5 of issue 15).
func TestInteractiveQuitRestoresTheTerminal(t *testing.T) {
	data := recBytes(t, testrec.Session{
		Header: testrec.Header("carol", "prod", "default", "p", "main", t0, "bash"),
		Steps: []testrec.Step{
			testrec.R(0, "80x24"),
			testrec.O(time.Second, "$ vi\r\n\x1b[?1049h\x1b[?1h\x1b=\x1b[?25l\x1b[?1000h\x1b[?2004h\x1b[2;20r\x1b[?7l\x1b[H\x1b[2J~\r\n~"),
			testrec.O(2*time.Second, "x"),
		},
		Exit: testrec.Code(0),
	})
	h := startPlayer(t, data, 80, 25, Options{From: 1500 * time.Millisecond}, InteractiveOptions{})
	h.waitFor("vi", func(ls []string) bool { return ls[0] == "~" })
	h.quit()
	var m modeTracker
	m.scan(h.term.output())
	for mode, on := range m.on {
		if on {
			t.Errorf("mode %s left on; the output ends %q", mode, tail(h.term.output(), 200))
		}
	}
	if h.term.scr.AltScreen() {
		t.Error("the terminal is left on the alternate screen")
	}
}

// Play, on a terminal, also turns off what the session left on when it
// was cut off inside a full-screen program.
func TestPlayRestoresTheTerminal(t *testing.T) {
	data := recBytes(t, testrec.Session{
		Header: testrec.Header("carol", "prod", "default", "p", "main", t0, "bash"),
		Steps: []testrec.Step{
			testrec.R(0, "80x24"),
			testrec.O(time.Second, "$ vi\r\n\x1b[?1049h\x1b[?1h\x1b=\x1b[?25l\x1b[2;20r\x1b[?7l\x1b[H\x1b[2J~\r\n~"),
		},
	})
	for _, from := range []time.Duration{0, 500 * time.Millisecond, End} {
		term := newTerminal(80, 24)
		if _, err := Play(context.Background(), openBytes(t, data), Options{Terminal: true, NoWait: true, From: from, Out: term, ErrOut: term}); err != nil {
			t.Fatal(err)
		}
		var m modeTracker
		m.scan(term.output())
		for mode, on := range m.on {
			if on {
				t.Errorf("from %v: mode %s left on; the output ends %q", from, mode, tail(term.output(), 200))
			}
		}
	}
}

func tail(b []byte, n int) []byte { return b[max(0, len(b)-n):] }

// / searches and jumps to the hit, n to the next; the hit is marked.
func TestInteractiveSearch(t *testing.T) {
	s, marks := commandSession()
	data := recBytes(t, s)
	search := func(ctx context.Context, re *regexp.Regexp, hit func(time.Duration) bool) error {
		r := openBytes(t, data)
		for {
			ev, err := r.Next()
			if err != nil {
				return nil
			}
			if ev.Code == 'o' && re.Match(ev.Data) && !hit(ev.Time) {
				return ctx.Err()
			}
		}
	}
	h := startPlayer(t, data, 80, 25, Options{}, InteractiveOptions{Markers: func() []Marker { return marks }, Search: search})
	h.waitBar("the bar", has("0:00"))
	h.key('/', 'L', 'I', 'N', 'E', ' ', '1', '2', KeyEnter)
	h.waitBar("no hit", has("not found"))
	h.key('/', 'l', 'i', 'n', 'e', ' ', '1', '2', KeyEnter)
	lastRow := func(ls []string) string {
		for y := len(ls) - 2; y >= 0; y-- {
			if ls[y] != "" {
				return ls[y]
			}
		}
		return ""
	}
	ls := h.waitBar("the first hit", has("0:14 /"))
	if lastRow(ls) != "cmd 00 output line 12" || strings.Contains(ls[24], "not found") {
		t.Errorf("after /line 12:\n%s", strings.Join(ls, "\n"))
	}
	if out := string(h.term.output()); !strings.Contains(out, "\x1b[0;30;43mline 12") {
		t.Error("the hit is not highlighted")
	}
	h.key('n')
	ls = h.waitBar("the next hit", has("0:44 /"))
	if lastRow(ls) != "cmd 01 output line 12" {
		t.Errorf("after n:\n%s", strings.Join(ls, "\n"))
	}
	h.key('N')
	h.waitBar("the hit before", has("0:14 /"))
	h.quit()
}

// --exit-at-end quits at the end of the recording.
func TestInteractiveExitAtEnd(t *testing.T) {
	data := recBytes(t, gapSession())
	h := startPlayer(t, data, 80, 25, Options{From: 79 * time.Second}, InteractiveOptions{ExitAtEnd: true})
	h.waitBar("the bar", has("1:19"))
	h.clk.Advance(3 * time.Second)
	select {
	case err := <-h.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the player did not quit at the end")
	}
}
