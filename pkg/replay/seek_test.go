package replay

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testrec"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

var t0 = time.Date(2026, 11, 27, 6, 15, 0, 0, time.UTC)

// longSession is a shell session with a full-screen program in the middle,
// over many small frames.
func longSession() testrec.Session {
	var steps []testrec.Step
	at := time.Duration(0)
	step := func(d time.Duration, s testrec.Step) {
		at += d
		s.At = at
		steps = append(steps, s)
	}
	step(0, testrec.R(0, "80x24"))
	for i := range 200 {
		step(time.Second, testrec.O(0, fmt.Sprintf("\x1b[32mline %03d\x1b[0m of the shell output\r\n", i)))
	}
	step(time.Second, testrec.O(0, "$ top\r\n\x1b[?1049h\x1b[H\x1b[2J"))
	for i := range 30 {
		step(time.Second, testrec.O(0, fmt.Sprintf("\x1b[H\x1b[7m top - tick %02d \x1b[m\x1b[3;1Hload %d\x1b[K", i, i*3)))
	}
	step(time.Second, testrec.O(0, "\x1b[?1049l$ "))
	step(time.Second, testrec.R(0, "100x30"))
	for i := range 20 {
		step(time.Second, testrec.O(0, fmt.Sprintf("after %02d\r\n", i)))
	}
	return testrec.Session{
		Header:  testrec.Header("alice", "prod", "default", "web", "main", t0, "bash"),
		Steps:   steps,
		Exit:    testrec.Code(0),
		Options: record.Options{FrameBytes: 600},
	}
}

func openBytes(t *testing.T, data []byte) *record.Reader {
	t.Helper()
	r, err := record.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// truth runs every output event up to t through an emulator.
func truth(t *testing.T, data []byte, at time.Duration) (string, bool) {
	t.Helper()
	r := openBytes(t, data)
	h := r.Header()
	scr := NewScreen(h.Term.Cols, h.Term.Rows)
	defer scr.Close()
	for {
		ev, err := r.Next()
		if err != nil || ev.Time > at {
			break
		}
		switch ev.Code {
		case 'o':
			scr.Write(ev.Data)
		case 'r':
			c, rr, _ := parseSize(ev.Data)
			scr.Resize(c, rr)
		}
	}
	return scr.Text(), scr.AltScreen()
}

// shown feeds what the player wrote into an emulator of the viewer's size.
func shown(out []byte, cols, rows int) string {
	scr := NewScreen(cols, rows)
	defer scr.Close()
	scr.Write(out)
	return scr.Text()
}

func TestFromRedrawsTheScreenAsItWas(t *testing.T) {
	data, err := testrec.Bytes(longSession())
	if err != nil {
		t.Fatal(err)
	}
	r := openBytes(t, data)
	if n := len(r.Index().Frames); n < 20 {
		t.Fatalf("want many frames to seek among, got %d", n)
	}
	for _, at := range []time.Duration{5 * time.Second, 150 * time.Second, 215 * time.Second, 232 * time.Second, 240 * time.Second, End} {
		want, _ := truth(t, data, map[bool]time.Duration{true: time.Hour, false: at}[at == End])
		var out bytes.Buffer
		r := openBytes(t, data)
		res, err := Play(context.Background(), r, Options{From: at, To: at, Terminal: true, NoWait: true, Out: &out, ErrOut: &out})
		if err != nil {
			t.Fatalf("at %v: %v", at, err)
		}
		if res.Events != 0 {
			t.Errorf("at %v: played %d events after drawing", at, res.Events)
		}
		cols, rows := 80, 24
		if at > 233*time.Second || at == End {
			cols, rows = 100, 30
		}
		if got := shown(out.Bytes(), cols, rows); got != want {
			t.Errorf("at %v the screen shows\n%s\nwant\n%s", at, got, want)
		}
	}
}

func TestFromWithoutTerminalSkips(t *testing.T) {
	data, err := testrec.Bytes(longSession())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_, err = Play(context.Background(), openBytes(t, data), Options{From: 100 * time.Second, To: 102 * time.Second, NoWait: true, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	want := "\x1b[32mline 099\x1b[0m of the shell output\r\n\x1b[32mline 100\x1b[0m of the shell output\r\n\x1b[32mline 101\x1b[0m of the shell output\r\n"
	if out.String() != want {
		t.Errorf("got %q\nwant %q", out.String(), want)
	}
}

func TestScreenWindowBoundsTheWork(t *testing.T) {
	// With a tiny window only the last output is replayed into the
	// emulator, yet a screen that was cleared within it is exact.
	data, err := testrec.Bytes(longSession())
	if err != nil {
		t.Fatal(err)
	}
	want, alt := truth(t, data, 215*time.Second)
	if !alt {
		t.Fatal("the test wants a moment inside the full-screen program")
	}
	var out bytes.Buffer
	if _, err := Play(context.Background(), openBytes(t, data), Options{From: 215 * time.Second, To: 215 * time.Second, Terminal: true, NoWait: true, Out: &out, ScreenWindow: 64}); err != nil {
		t.Fatal(err)
	}
	if got := shown(out.Bytes(), 80, 24); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if bytes.Contains(out.Bytes(), []byte("\x1b[?1049h")) {
		t.Error("the viewer's terminal was switched to the alternate screen: the screen vanishes when play ends")
	}
}

// syncBuf is written by the player while the test reads it.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestFollow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "live.cast.zst")
	w, err := record.Create(path, record.Options{FlushEvery: 50 * time.Millisecond, FrameBytes: 200})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Begin(testrec.Header("alice", "prod", "default", "web", "main", t0)); err != nil {
		t.Fatal(err)
	}
	_ = w.Stdout([]byte("before follow\r\n"))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	var out syncBuf
	done := make(chan error, 1)
	var res Result
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	waiting := make(chan struct{}, 100)
	go func() {
		var err error
		res, err = Follow(ctx, path, Options{From: End, Out: &out}, FollowOptions{Poll: 20 * time.Millisecond, Waiting: func() { waiting <- struct{}{} }})
		done <- err
	}()
	<-waiting
	for i := range 30 {
		_ = w.Stdout(fmt.Appendf(nil, "live %02d %s\r\n", i, strings.Repeat("=", 20)))
		if i%10 == 9 {
			<-waiting // the player caught up, then the recording grows again
		}
	}
	code := 0
	if err := w.Close(record.End{Reason: record.ReasonExited, ExitCode: &code}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("Follow did not end with the recording")
	}
	got := out.String()
	if res.Trailer == nil || !strings.Contains(got, "before follow") || !strings.Contains(got, "live 29") {
		t.Fatalf("trailer %v, output %q", res.Trailer, got)
	}
	for i := range 30 {
		if n := strings.Count(got, fmt.Sprintf("live %02d ", i)); n != 1 {
			t.Errorf("live %02d shown %d times", i, n)
		}
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

// shrinkSession runs top at 130x40, shrinks the terminal to 80x24 (top
// redraws at the new size), quits top and prints more.
func shrinkSession() testrec.Session {
	var steps []testrec.Step
	steps = append(steps, testrec.R(0, "130x40"), testrec.O(time.Second, "$ top\r\n\x1b[?1049h\x1b[?1h\x1b=\x1b[H\x1b[2J"))
	frame := func(at time.Duration, cols, rows, tick int) {
		var b strings.Builder
		b.WriteString("\x1b[H")
		for y := range rows {
			fmt.Fprintf(&b, "\x1b[%d;1H%-*s", y+1, cols, fmt.Sprintf("top tick %d row %02d", tick, y))
		}
		steps = append(steps, testrec.O(at, b.String()))
	}
	for i := range 5 {
		frame(time.Duration(2+i)*time.Second, 130, 40, i)
	}
	steps = append(steps, testrec.R(7*time.Second, "80x24"))
	for i := 5; i < 10; i++ {
		frame(time.Duration(3+i)*time.Second, 80, 24, i)
	}
	steps = append(steps, testrec.O(13*time.Second, "\x1b[?1l\x1b>\x1b[?1049l$ "))
	for i := range 30 {
		steps = append(steps, testrec.O(time.Duration(14+i)*time.Second, fmt.Sprintf("later %02d\r\n", i)))
	}
	return testrec.Session{
		Header: testrec.Header("alice", "prod", "default", "web", "main", t0, "bash"),
		Steps:  steps, Exit: testrec.Code(0),
		Options: record.Options{FrameBytes: 2000},
	}
}

// After the recording shrank, a seek shows the screen at the new size:
// no stale rows of the larger screen, nothing of the later output lost.
func TestSeekAfterTheTerminalShrank(t *testing.T) {
	data, err := testrec.Bytes(shrinkSession())
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Duration{9 * time.Second, 12500 * time.Millisecond, 20 * time.Second, 43 * time.Second} {
		want, _ := truth(t, data, at)
		for _, viewer := range [][2]int{{80, 24}, {130, 40}, {200, 60}} {
			var out bytes.Buffer
			r := openBytes(t, data)
			if _, err := Play(context.Background(), r, Options{From: at, To: at, Terminal: true, NoWait: true, Out: &out, ErrOut: &out}); err != nil {
				t.Fatal(err)
			}
			if got := shown(out.Bytes(), viewer[0], viewer[1]); got != want {
				t.Errorf("at %v on a %dx%d terminal the screen shows\n%s\nwant\n%s", at, viewer[0], viewer[1], got, want)
			}
		}
	}
}

// A screen Reset (the player keeps one emulator for every seek) is as
// good as a new one, whatever state the old content left it in.
func TestScreenResetIsANewScreen(t *testing.T) {
	for _, junk := range []string{
		"\x1b[?1049h\x1b[?1h\x1b=\x1b[2;10r\x1b[?6h\x1b[1;31mvi\x1b[4h\x1b(0",
		"plain text\r\n\x1b[?25l\x1b]0;title",
		"cut in the middle of a sequence \x1b[38;5", "\x1b]52;c;ZXZpbA", "\x1bP1$q",
	} {
		scr := NewScreen(130, 40)
		scr.Write([]byte(junk))
		scr.Reset(80, 24)
		fresh := NewScreen(80, 24)
		for _, s := range []*Screen{scr, fresh} {
			s.Write([]byte("\x1b[Hhello\r\n\x1b[32mworld\x1b[m\r\nline\x1b[5;5Hx"))
		}
		if got, want := string(scr.Draw(nil, 0)), string(fresh.Draw(nil, 0)); got != want || scr.AltScreen() {
			t.Errorf("after %q and Reset:\n%q\nwant\n%q", junk, got, want)
		}
		scr.Close()
		fresh.Close()
	}
}
