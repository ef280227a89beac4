package record

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// asciinema3Code is the event code asciinema 3 (3.0 to 3.1, src/asciicast/
// v3.rs and v2.rs) writes back for a code it read, when it converts a file
// to asciicast v2 or v3 or concatenates files (`asciinema convert`,
// `asciinema cat`). This restates its rule; it is not its code:
//
//   - "o", "i", "r", "m" and "x" are its known events, written back as they
//     are (output, input, resize, marker, exit);
//   - an empty code is a parse error;
//   - any other code becomes an "Other" event that keeps only the first
//     character of the code, and is written back with that one character
//     as its code and the data unchanged.
//
// So a one-character unknown code passes through unchanged, and a longer
// one is cut to its first character: "ob" came back as "o", and its base64
// as terminal output.
func asciinema3Code(code string) (string, bool) {
	switch code {
	case "o", "i", "r", "m", "x":
		return code, true
	case "":
		return "", false
	}
	r, _ := utf8.DecodeRuneInString(code)
	return string(r), true
}

// Every event code the writer produces comes back unchanged from asciinema
// 3's convert and cat, so none of its binary or extension events turns
// into output or input there.
func TestAsciinema3KeepsEveryCode(t *testing.T) {
	data := record(t, Options{}, exited(0), func(w *Writer) {
		apply(t, w, op{code: 'r', a: 80, b: 24})
		apply(t, w, op{code: 'o', data: []byte("text \xff\xfe more")})
		apply(t, w, op{code: 'e', data: []byte("err \xfe")})
		apply(t, w, op{code: 'i', data: []byte("\xc3\x28 typed")})
		apply(t, w, op{code: 'm', data: []byte("label")})
	})
	seen := map[string]bool{}
	for _, ev := range eventLines(t, data) {
		code := ev[1].(string)
		seen[code] = true
		got, ok := asciinema3Code(code)
		if !ok || got != code {
			t.Errorf("asciinema 3 turns code %q into %q", code, got)
		}
	}
	for _, want := range []string{"o", "O", "e", "E", "i", "I", "r", "m", "x"} {
		if !seen[want] {
			t.Errorf("the recording has no %q event: the test does not cover it (codes %v)", want, seen)
		}
	}
}

// The format version 1 codes are what asciinema 3 damaged: this is why
// they changed (and what the rule above has to say about them).
func TestAsciinema3CutTheVersion1Codes(t *testing.T) {
	for code, want := range map[string]string{"ob": "o", "eb": "e", "ib": "i"} {
		if got, _ := asciinema3Code(code); got != want {
			t.Errorf("%s: %s, want %s", code, got, want)
		}
	}
}

// A recording written with the format version 1 codes (ob, eb, ib) by the
// reference writer of that version still reads, byte for byte.
func TestReadFormatVersion1Binary(t *testing.T) {
	data, err := os.ReadFile("testdata/format-v1-binary.cast.zst")
	if err != nil {
		t.Fatal(err)
	}
	text := string(decompress(t, data))
	for _, code := range []string{`"ob"`, `"eb"`, `"ib"`} {
		if !strings.Contains(text, code) {
			t.Fatalf("the fixture has no %s event:\n%s", code, text)
		}
	}
	h, evs, tr := mustReadAll(t, data)
	if h.Rexec.FormatVersion != 1 {
		t.Errorf("format_version %d, want 1", h.Rexec.FormatVersion)
	}
	var o, e, i bytes.Buffer
	for _, ev := range evs {
		switch ev.Code {
		case 'o':
			o.Write(ev.Data)
		case 'e':
			e.Write(ev.Data)
		case 'i':
			i.Write(ev.Data)
		}
	}
	if want := "$ printf '\\377\\376'\r\n\xff\xfe\r\n$ done\r\n"; o.String() != want {
		t.Errorf("stdout %q, want %q", o.String(), want)
	}
	if want := "err \xfe\xff\n"; e.String() != want {
		t.Errorf("stderr %q, want %q", e.String(), want)
	}
	if want := "printf '\\377\\376'\r\xc3\x28 binary in\r"; i.String() != want {
		t.Errorf("stdin %q, want %q", i.String(), want)
	}
	if tr == nil || tr.Bytes.O != int64(o.Len()) || tr.Bytes.E != int64(e.Len()) || tr.Bytes.I != int64(i.Len()) {
		t.Errorf("trailer %+v, bytes o=%d e=%d i=%d", tr, o.Len(), e.Len(), i.Len())
	}
}

// Held-back events keep their own times, and typed input kept as its
// length only is an H event that reads back as an 'i' event with Redacted
// set and no data (and no bytes counted).
func TestAtAndRedacted(t *testing.T) {
	clock := newFakeClock()
	t0 := clock.Now()
	data := record(t, Options{Now: clock.Now}, exited(0), func(w *Writer) {
		clock.Add(2 * time.Second)
		if err := w.StdinAt(t0.Add(100*time.Millisecond), []byte("ls\r")); err != nil {
			t.Fatal(err)
		}
		_ = w.StdoutAt(t0.Add(150*time.Millisecond), []byte("ls\r\n$ "))
		_ = w.RedactedStdinAt(t0.Add(time.Second), 7)
		_ = w.ResizeAt(t0.Add(1200*time.Millisecond), 100, 30)
		_ = w.MarkerAt(t0.Add(1300*time.Millisecond), "m")
		_ = w.StdinAt(t0.Add(1400*time.Millisecond), []byte("\r"))
	})
	lines := eventLines(t, data)
	if lines[2][1] != "H" || lines[2][2] != "7" {
		t.Errorf("redacted event %v, want [1, H, 7]", lines[2])
	}
	_, evs, tr := mustReadAll(t, data)
	want := []struct {
		at   time.Duration
		code byte
		data string
		red  int
	}{{100 * time.Millisecond, 'i', "ls\r", 0}, {150 * time.Millisecond, 'o', "ls\r\n$ ", 0}, {time.Second, 'i', "", 7},
		{1200 * time.Millisecond, 'r', "100x30", 0}, {1300 * time.Millisecond, 'm', "m", 0}, {1400 * time.Millisecond, 'i', "\r", 0}}
	for i, w := range want {
		ev := evs[i]
		if ev.Time != w.at || ev.Code != w.code || string(ev.Data) != w.data || ev.Redacted != w.red {
			t.Errorf("event %d: %v %c %q redacted %d, want %v %c %q %d", i, ev.Time, ev.Code, ev.Data, ev.Redacted, w.at, w.code, w.data, w.red)
		}
	}
	if tr.Bytes.I != 4 {
		t.Errorf("trailer counts %d input bytes, want 4 (the redacted ones are not recorded)", tr.Bytes.I)
	}
	if got, _ := asciinema3Code("H"); got != "H" {
		t.Errorf("asciinema 3 turns H into %q", got)
	}
}
