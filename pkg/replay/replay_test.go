package replay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// events is a recording in memory, for driving the player.
type events struct {
	list []record.Event
	end  error
}

func (e *events) Next() (record.Event, error) {
	if len(e.list) == 0 {
		return record.Event{}, e.end
	}
	ev := e.list[0]
	e.list = e.list[1:]
	return ev, nil
}

func (e *events) Trailer() *record.Trailer { return nil }

func ev(at time.Duration, code byte, data string) record.Event {
	return record.Event{Time: at, Code: code, Data: []byte(data)}
}

func play(t *testing.T, src *events, o Options) (string, string, []time.Duration, Result, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	var waits []time.Duration
	o.Out, o.ErrOut = &out, &errOut
	o.sleepUntil = func(_ context.Context, _ time.Time, off time.Duration) error {
		waits = append(waits, off)
		return nil
	}
	res, err := Play(context.Background(), src, o)
	return out.String(), errOut.String(), waits, res, err
}

func TestPlaySplitsStreamsAndSkipsInput(t *testing.T) {
	src := &events{list: []record.Event{
		ev(0, 'r', "80x24"), ev(time.Second, 'i', "ls\r"), ev(2*time.Second, 'o', "out"),
		ev(3*time.Second, 'e', "err"), ev(4*time.Second, 'x', "0"),
	}, end: io.EOF}
	out, errOut, _, res, err := play(t, src, Options{Speed: 1})
	if err != nil || out != "out" || errOut != "err" || res.Events != 5 || res.Duration != 4*time.Second {
		t.Fatalf("out %q err %q res %+v err %v", out, errOut, res, err)
	}
}

func TestPlayTimingSpeedAndIdleLimit(t *testing.T) {
	mk := func() *events {
		return &events{list: []record.Event{
			ev(time.Second, 'o', "a"), ev(11*time.Second, 'o', "b"), ev(12*time.Second, 'o', "c"),
		}, end: io.EOF}
	}
	_, _, waits, _, _ := play(t, mk(), Options{Speed: 1})
	want := []time.Duration{time.Second, 11 * time.Second, 12 * time.Second}
	if !equal(waits, want) {
		t.Errorf("real time: waits %v, want %v", waits, want)
	}
	_, _, waits, _, _ = play(t, mk(), Options{Speed: 2})
	want = []time.Duration{500 * time.Millisecond, 5500 * time.Millisecond, 6 * time.Second}
	if !equal(waits, want) {
		t.Errorf("speed 2: waits %v, want %v", waits, want)
	}
	_, _, waits, _, _ = play(t, mk(), Options{Speed: 1, IdleTimeLimit: 2 * time.Second})
	want = []time.Duration{time.Second, 3 * time.Second, 4 * time.Second}
	if !equal(waits, want) {
		t.Errorf("idle limit: waits %v, want %v", waits, want)
	}
	_, _, waits, _, _ = play(t, mk(), Options{Speed: 1, NoWait: true})
	if len(waits) != 0 {
		t.Errorf("no-wait waited %v", waits)
	}
}

func equal(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPlayAbruptEndIsReportedNotFatal(t *testing.T) {
	abrupt := &record.AbruptError{At: 3 * time.Second}
	src := &events{list: []record.Event{ev(time.Second, 'o', "kept")}, end: abrupt}
	out, _, _, res, err := play(t, src, Options{})
	if err != nil || out != "kept" || !errors.Is(res.Abrupt, record.ErrAbrupt) {
		t.Fatalf("out %q res %+v err %v", out, res, err)
	}
}

func TestPlayCorruptIsAnError(t *testing.T) {
	src := &events{list: []record.Event{ev(time.Second, 'o', "kept")}, end: &record.CorruptError{Frame: 2, Err: errors.New("bad checksum")}}
	out, _, _, _, err := play(t, src, Options{})
	if out != "kept" || !errors.Is(err, record.ErrCorrupt) {
		t.Fatalf("out %q err %v", out, err)
	}
}

func TestPlayCancel(t *testing.T) {
	src := &events{list: []record.Event{ev(time.Hour, 'o', "never")}, end: io.EOF}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	_, err := Play(ctx, src, Options{Out: &out})
	if !errors.Is(err, context.Canceled) || out.Len() != 0 {
		t.Fatalf("err %v out %q", err, out.String())
	}
}

// TestPlayRealRecording plays a file made by the real writer byte for byte
// (raw: the filter would show the bytes that are not UTF-8 as U+FFFD).
func TestPlayRealRecording(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.cast.zst")
	w, err := record.Create(path, record.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Begin(record.Header{Version: 3, Term: record.Term{Cols: 80, Rows: 24}}); err != nil {
		t.Fatal(err)
	}
	bin := []byte{0xff, 0xfe, 'a', 0xe2, 0x82}
	_ = w.Stdout([]byte("héllo "))
	_ = w.Stdout(bin)
	_ = w.Stdout([]byte{0xac, '\n'}) // completes the euro sign split above
	_ = w.Stderr([]byte("oops\n"))
	code := 0
	if err := w.Close(record.End{Reason: record.ReasonExited, ExitCode: &code}); err != nil {
		t.Fatal(err)
	}
	r, err := record.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out, errOut bytes.Buffer
	res, err := Play(context.Background(), r, Options{NoWait: true, Raw: true, Out: &out, ErrOut: &errOut})
	if err != nil || res.Abrupt != nil || res.Trailer == nil {
		t.Fatalf("res %+v err %v", res, err)
	}
	want := append([]byte("héllo "), bin...)
	want = append(want, 0xac, '\n')
	if !bytes.Equal(out.Bytes(), want) || errOut.String() != "oops\n" {
		t.Errorf("stdout %q stderr %q", out.Bytes(), errOut.String())
	}
}
