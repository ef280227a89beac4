package webplayer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testbrowser"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/replay"
)

// writePage exports the recording at path as a page in a temporary
// directory and returns the page's path.
func writePage(t *testing.T, path string) string {
	t.Helper()
	r, err := record.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := filepath.Join(t.TempDir(), "page.html")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := New(f)
	if err := p.Header(r.Header()); err != nil {
		t.Fatal(err)
	}
	var readErr error
	for {
		ev, err := r.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		if err := p.Event(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.End(r.Trailer(), readErr); err != nil {
		t.Fatal(err)
	}
	return out
}

// screenJS reads the terminal the page shows as text: each row's spans put
// at their column (the player positions them with --offset), trailing
// spaces and trailing empty rows dropped, as replay.Screen.Text does.
const screenJS = `(() => {
  const rows = document.querySelectorAll("#player .ap-term-text .ap-line");
  const lines = Array.from(rows, (row) => {
    const cells = [];
    for (const span of row.children) {
      const col = parseInt(span.style.getPropertyValue("--offset"), 10) || 0;
      Array.from(span.textContent).forEach((ch, i) => { cells[col + i] = ch; });
    }
    return Array.from(cells, (c) => (c === undefined ? " " : c)).join("").replace(/ +$/, "");
  });
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines.join("\n");
})()`

// openPage opens a page and waits until its player has loaded the
// recording.
func openPage(t *testing.T, ctx context.Context, b *testbrowser.Browser, page string) *testbrowser.Page {
	t.Helper()
	p, err := b.Open(ctx, "file://"+page)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(ctx, `window.rexec && window.rexec.player() && window.rexec.player().getDuration() > 0 && document.querySelector("#player .ap-term-text .ap-line")`); err != nil {
		t.Fatalf("the player did not load: %v\nconsole: %v", err, b.Logs())
	}
	return p
}

// seek moves the page's player to t seconds and returns the screen text
// once it equals want (or, at the deadline, the last text seen).
func seek(t *testing.T, ctx context.Context, p *testbrowser.Page, at time.Duration, want string) string {
	t.Helper()
	if err := p.Eval(ctx, fmt.Sprintf("window.rexec.player().seek(%f).then(() => true)", at.Seconds()), nil); err != nil {
		t.Fatal(err)
	}
	var got string
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := p.Eval(ctx, screenJS, &got); err != nil {
			t.Fatal(err)
		}
		if got == want || time.Now().After(deadline) {
			return got
		}
		// The player draws on the next animation frame: wait for one.
		if err := p.Eval(ctx, "new Promise((r) => requestAnimationFrame(() => r(true)))", nil); err != nil {
			t.Fatal(err)
		}
	}
}

// point is a session time to compare at: halfway between the event whose
// output holds text (the n-th such event, 1-based) and the next event.
type point struct {
	name string
	text string
	n    int
}

func pointTimes(t *testing.T, path string, points []point) (map[string]time.Duration, *record.Trailer) {
	t.Helper()
	r, err := record.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var evs []record.Event
	for {
		ev, err := r.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
		evs = append(evs, ev)
	}
	out := map[string]time.Duration{}
	for _, pt := range points {
		seen := 0
		for i, ev := range evs[:len(evs)-1] {
			if ev.Code == 'o' && strings.Contains(string(ev.Data), pt.text) {
				if seen++; seen == pt.n {
					out[pt.name] = (ev.Time + evs[i+1].Time) / 2
					break
				}
			}
		}
		if _, ok := out[pt.name]; !ok {
			t.Fatalf("%s: no output event %d holding %q", pt.name, pt.n, pt.text)
		}
	}
	return out, r.Trailer()
}

// The page shows, at every time we seek to, exactly the screen that
// `replay --from` draws there: after the terminal grew (a line wraps at the
// new width), in a shell that scrolled, inside vim, inside less after the
// terminal shrank. Inside top, and at the end (top's last screen is still
// there), the two emulators differ in one known way, checked exactly:
// lastColumnErased.
func TestPageShowsWhatReplayDraws(t *testing.T) {
	const fixture = "testdata/fullscreen.cast.zst"
	b := testbrowser.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := openPage(t, ctx, b, writePage(t, fixture))

	points := []point{
		{"shell, 30 lines scrolled", "line 30", 1},
		{"after growing to 100x30", "39-40", 1},
		{"vim, after typing", "hello from vim", 1},
		{"less after shrinking to 72x20, second page", "38 the quick", 1},
		{"top", "load average", 3},
	}
	at, tr := pointTimes(t, fixture, points)
	r, err := record.Open(fixture)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	check := func(name string, when, seekTo time.Duration, same func(page, replay string) bool) {
		want, err := replay.ScreenText(r, when)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(want) == "" {
			t.Fatalf("%s: replay draws an empty screen at %v: the point tests nothing", name, when)
		}
		got := seek(t, ctx, p, seekTo, want)
		if !same(got, want) {
			t.Errorf("%s (%v): the page shows\n%s\n--- replay --from draws\n%s", name, when, got, want)
		}
	}
	equal := func(a, b string) bool { return a == b }
	for _, pt := range points[:4] {
		check(pt.name, at[pt.name], at[pt.name], equal)
	}
	check("top", at["top"], at["top"], lastColumnErased(72))
	var dur float64
	if err := p.Eval(ctx, "window.rexec.player().getDuration()", &dur); err != nil {
		t.Fatal(err)
	}
	if want := tr.Duration.Duration().Seconds(); dur < want-0.001 || dur > want+0.001 {
		t.Errorf("the page's duration is %.6f s, the recording's %.6f s", dur, want)
	}
	check("the end", replay.End, tr.Duration.Duration(), lastColumnErased(72))
}

// lastColumnErased accepts the one known difference between the two
// terminal emulators: a line written up to the last column and then erased
// to its end (EL, which top sends after every line) keeps its last
// character in asciinema-player's emulator and loses it in ours, as it
// does in xterm and ghostty (EL erases from the cursor, which waits on the
// last column). Every other line must be equal, and at least one line must
// show the difference, or the check would test nothing.
func lastColumnErased(cols int) func(page, replay string) bool {
	return func(page, replay string) bool {
		pl, rl := strings.Split(page, "\n"), strings.Split(replay, "\n")
		if len(pl) != len(rl) {
			return false
		}
		differ := 0
		for i := range pl {
			if pl[i] == rl[i] {
				continue
			}
			r := []rune(pl[i])
			if len(r) != cols || strings.TrimRight(string(r[:cols-1]), " ") != rl[i] {
				return false
			}
			differ++
		}
		return differ > 0
	}
}

// The commands are markers on the seek bar, with their labels, and the
// clock shows the wall-clock UTC time of the playhead.
func TestPageMarkersAndUTCClock(t *testing.T) {
	const fixture = "testdata/fullscreen.cast.zst"
	b := testbrowser.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := openPage(t, ctx, b, writePage(t, fixture))

	r, err := record.Open(fixture)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	start := r.Header().Rexec.Start
	var labels []string
	var times []time.Duration
	for {
		ev, err := r.Next()
		if err != nil {
			break
		}
		if ev.Code == 'm' {
			labels = append(labels, string(ev.Data))
			times = append(times, ev.Time)
		}
	}
	if len(labels) < 5 {
		t.Fatalf("the fixture has %d markers", len(labels))
	}
	var tips []string
	if err := p.Eval(ctx, `Array.from(document.querySelectorAll("#player .ap-marker-container .ap-tooltip"), (e) => e.textContent)`, &tips); err != nil {
		t.Fatal(err)
	}
	if len(tips) != len(labels) {
		t.Fatalf("%d markers on the seek bar, want %d: %q", len(tips), len(labels), tips)
	}
	for i, l := range labels {
		if !strings.HasSuffix(tips[i], " - "+l) {
			t.Errorf("marker %d: tooltip %q, want the label %q", i, tips[i], l)
		}
	}
	var listed []string
	if err := p.Eval(ctx, `Array.from(document.querySelectorAll("#commands .label"), (e) => e.textContent)`, &listed); err != nil {
		t.Fatal(err)
	}
	if strings.Join(listed, "\n") != strings.Join(labels, "\n") {
		t.Errorf("commands listed %q, want %q", listed, labels)
	}

	for _, at := range []time.Duration{0, 1234567 * time.Microsecond, 4*time.Second + 500*time.Millisecond} {
		if err := p.Eval(ctx, fmt.Sprintf("window.rexec.player().seek(%f).then(() => true)", at.Seconds()), nil); err != nil {
			t.Fatal(err)
		}
		ms := start.UnixMilli() + (at + 500*time.Microsecond).Milliseconds()
		want := time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05.000") + " UTC"
		cond := fmt.Sprintf(`document.getElementById("utc").textContent === %q`, want)
		if err := p.Wait(ctx, cond); err != nil {
			var got string
			_ = p.Eval(ctx, `document.getElementById("utc").textContent`, &got)
			t.Errorf("at %v: the clock shows %q, want %q", at, got, want)
		}
	}
	// A click on a command moves the player there.
	if err := p.Eval(ctx, `document.querySelectorAll("#commands button")[2].click()`, nil); err != nil {
		t.Fatal(err)
	}
	cond := fmt.Sprintf("Math.abs(window.rexec.player().getCurrentTime() - %f) < 0.002", times[2].Seconds())
	if err := p.Wait(ctx, cond); err != nil {
		var cur float64
		_ = p.Eval(ctx, "window.rexec.player().getCurrentTime()", &cur)
		t.Errorf("after clicking command 3 the player is at %.3f s, want %.3f s: %v", cur, times[2].Seconds(), err)
	}
}
