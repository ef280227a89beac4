package replay

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// recordingText is the asciicast v3 text of a recording (zstd -dc).
func recordingText(t *testing.T, data []byte) []byte {
	t.Helper()
	dec, err := zstd.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(dec); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A plain asciicast v3 file (the recording's own text) plays and seeks as
// the recording does.
func TestPlainV3SeeksLikeTheRecording(t *testing.T) {
	data := recBytes(t, longSession())
	text := recordingText(t, data)
	defer func(n int64) { plainFrame = n }(plainFrame)
	plainFrame = 1024
	p, err := OpenPlain(bytes.NewReader(text), int64(len(text)))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(p.Index().Frames); n < 10 {
		t.Fatalf("frames: %d", n)
	}
	if d, err := Length(p); err != nil || d != 253*time.Second {
		t.Errorf("Length = %v, %v", d, err)
	}
	for _, at := range []time.Duration{5 * time.Second, 150 * time.Second, 215 * time.Second, 240 * time.Second} {
		want, _ := truth(t, data, at)
		p, _ := OpenPlain(bytes.NewReader(text), int64(len(text)))
		var out bytes.Buffer
		if _, err := Play(context.Background(), p, Options{From: at, To: at, Terminal: true, NoWait: true, Out: &out}); err != nil {
			t.Fatal(err)
		}
		cols, rows := 80, 24
		if at > 233*time.Second {
			cols, rows = 100, 30
		}
		if got := shown(out.Bytes(), cols, rows); got != want {
			t.Errorf("at %v the screen shows\n%s\nwant\n%s", at, got, want)
		}
	}
}

func TestPlainV2(t *testing.T) {
	v2 := `{"version": 2, "width": 40, "height": 10, "timestamp": 1700000000, "env": {"TERM": "xterm"}}
[0.5, "o", "hello\r\n"]
[1.25, "i", "ls\r"]
[1.5, "o", "ls\r\nfile\r\n"]
[2.0, "m", "marker"]
[2.5, "r", "50x12"]
`
	p, err := OpenPlain(strings.NewReader(v2), int64(len(v2)))
	if err != nil {
		t.Fatal(err)
	}
	if h := p.Header(); h.Term.Cols != 40 || h.Term.Rows != 10 || h.Term.Type != "xterm" {
		t.Errorf("header %+v", h)
	}
	var out bytes.Buffer
	res, err := Play(context.Background(), p, Options{NoWait: true, Out: &out})
	if err != nil || out.String() != "hello\r\nls\r\nfile\r\n" || res.Events != 5 || res.Duration != 2500*time.Millisecond {
		t.Errorf("played %q %+v %v", out.String(), res, err)
	}
	if ms := p.Markers(); len(ms) != 1 || ms[0].Time != 2*time.Second || ms[0].Label != "marker" {
		t.Errorf("markers %+v", ms)
	}
	for _, bad := range []string{"", "not json\n", `{"version": 4}` + "\n", `{"version": 2, "width": 80, "height": 24}` + "\n[1, \"o\"]\n[2, \"o\", \"x\"]\n"} {
		p, err := OpenPlain(strings.NewReader(bad), int64(len(bad)))
		if err == nil {
			_, err = Play(context.Background(), p, Options{NoWait: true, Out: &out})
		}
		if err == nil {
			t.Errorf("%q played without error", bad)
		}
	}
}

// Our own extension events in a plain v3 file: binary output (O, and ob
// of format version 1) and typed input kept as its length (H).
func TestPlainV3Extensions(t *testing.T) {
	v3 := `{"version": 3, "term": {"cols": 80, "rows": 24}}
[0.5, "O", "aGk="]
[0.1, "ob", "IQ=="]
[0.2, "H", "8"]
[0.1, "x", "0"]
`
	p, err := OpenPlain(strings.NewReader(v3), int64(len(v3)))
	if err != nil {
		t.Fatal(err)
	}
	var evs []string
	for {
		ev, err := p.Next()
		if err != nil {
			break
		}
		evs = append(evs, fmt.Sprintf("%v %c %q %d", ev.Time, ev.Code, ev.Data, ev.Redacted))
	}
	want := []string{`500ms o "hi" 0`, `600ms o "!" 0`, `800ms i "" 8`, `900ms x "0" 0`}
	if strings.Join(evs, "|") != strings.Join(want, "|") {
		t.Errorf("events %q, want %q", evs, want)
	}
}
