package termtext

import (
	"reflect"
	"testing"
	"time"
)

func screenLines(chunks ...string) []string {
	var got []string
	l := &Lines{Emit: func(line Line) { got = append(got, line.Text) }}
	for i, c := range chunks {
		l.Write(time.Duration(i)*time.Second, []byte(c))
	}
	l.Flush()
	return got
}

func TestLines(t *testing.T) {
	cases := []struct {
		name   string
		chunks []string
		want   []string
	}{
		{"plain", []string{"a\nb\r\nc"}, []string{"a", "b", "c"}},
		{"colors removed", []string{"\x1b[01;34mbin\x1b[0m  \x1b[32mrun\x1b[m\r\n"}, []string{"bin  run"}},
		{"split across writes", []string{"\x1b[01", ";34mbi", "n\x1b", "[0m\r", "\n"}, []string{"bin"}},
		{"CR overwrites", []string{"progress 10%\rprogress 100%\r\n"}, []string{"progress 100%"}},
		{"CR then erase", []string{"downloading...\r\x1b[Kdone\n"}, []string{"done"}},
		{"backspace", []string{"lss\b \b\r\n"}, []string{"ls"}},
		{"OSC title removed (BEL and ST)", []string{"\x1b]0;user@host\x07$ ls\x1b]2;t\x1b\\\n"}, []string{"$ ls"}},
		{"DCS removed", []string{"a\x1bP1$r0m\x1b\\b\n"}, []string{"ab"}},
		{"cursor forward", []string{"a\x1b[3Cb\n"}, []string{"a   b"}},
		{"cursor to another row ends the line", []string{"top\x1b[2;1Hsecond\x1b[3;1H"}, []string{"top", "second"}},
		{"tab", []string{"a\tb\n"}, []string{"a       b"}},
		{"utf8 split", []string{"caf\xc3", "\xa9 \xe2\x82", "\xac\n"}, []string{"café €"}},
		{"invalid utf8", []string{"a\xffb\n"}, []string{"a\ufffdb"}},
		{"empty lines kept", []string{"a\n\nb\n"}, []string{"a", "", "b"}},
	}
	for _, c := range cases {
		if got := screenLines(c.chunks...); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

func TestLinesTimeIsFirstCharacter(t *testing.T) {
	var got []Line
	l := &Lines{Emit: func(line Line) { got = append(got, line) }}
	l.Write(time.Second, []byte("\x1b[0m"))
	l.Write(2*time.Second, []byte("hel"))
	l.Write(3*time.Second, []byte("lo\r\nx"))
	l.Write(4*time.Second, []byte("\n"))
	want := []Line{{Time: 2 * time.Second, Text: "hello"}, {Time: 3 * time.Second, Text: "x"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestLinesOSCAndAltScreen(t *testing.T) {
	var oscs []string
	l := &Lines{OSC: func(p []byte, _ time.Duration) { oscs = append(oscs, string(p)) }}
	l.Write(0, []byte("\x1b]133;A\x07$ \x1b]133;B\x1b\\ls\r\n\x1b]133;C\x07"))
	if !reflect.DeepEqual(oscs, []string{"133;A", "133;B", "133;C"}) {
		t.Errorf("OSC payloads %q", oscs)
	}
	l.Write(0, []byte("\x1b[?1049h"))
	if !l.AltScreen() {
		t.Error("alternate screen not seen")
	}
	l.Write(0, []byte("\x1b[?1049l"))
	if l.AltScreen() {
		t.Error("alternate screen not left")
	}
}

func typed(keys ...string) []string {
	var got []string
	in := &Input{Enter: func(l Line, uncertain bool) {
		s := l.Text
		if uncertain {
			s += " (?)"
		}
		got = append(got, s)
	}}
	for i, k := range keys {
		in.Write(time.Duration(i)*time.Second, []byte(k))
	}
	return got
}

func TestInput(t *testing.T) {
	cases := []struct {
		name string
		keys []string
		want []string
	}{
		{"simple", []string{"l", "s", "\r"}, []string{"ls"}},
		{"CRLF is one enter", []string{"ls\r\n"}, []string{"ls"}},
		{"backspace DEL and ^H", []string{"lss\x7f -l\x08a\r"}, []string{"ls -a"}},
		{"ctrl-u", []string{"rm -rf /\x15echo hi\r"}, []string{"echo hi"}},
		{"ctrl-w", []string{"git push --force\x17\x17status\r"}, []string{"git status"}},
		{"arrows insert in the middle", []string{"echo wrld\x1b[D\x1b[D\x1b[Do\r"}, []string{"echo world"}},
		{"home end", []string{"cho\x1b[Hе\x01e\x1b[Fx\r"}, []string{"eеchox"}},
		{"ctrl-c abandons", []string{"sudo reboot\x03", "\r"}, []string{""}},
		{"tab makes it uncertain", []string{"cat /etc/pas\twd\r", "ls\r"}, []string{"cat /etc/paswd (?)", "ls"}},
		{"history makes it uncertain", []string{"\x1b[A\r"}, []string{" (?)"}},
		{"bracketed paste", []string{"\x1b[200~kubectl get pods\x1b[201~\r"}, []string{"kubectl get pods"}},
		{"utf8 split", []string{"echo \xc3", "\xa9\r"}, []string{"echo é"}},
		{"delete key", []string{"abc\x1b[D\x1b[D\x1b[3~\r"}, []string{"ac"}},
	}
	for _, c := range cases {
		if got := typed(c.keys...); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

// FuzzLines feeds output and keys, repeated up to 2,000 times (what a
// hostile recording does to cost the most), and checks the bounds: no line
// over MaxLine characters, no control in any text, work within the credit
// the bytes earned, memory held bounded whatever the length.
func FuzzLines(f *testing.F) {
	f.Add([]byte("\x1b[01;34mbin\x1b[0m\r\n\x1b]0;t\x07"), []byte("ls\x7f\x15\r"), uint16(1))
	f.Add([]byte("\x1b[1000Cx"), []byte("\x01z"), uint16(2000))
	f.Add([]byte("AAAAAAAAAAAAAAAA\x1b[P\x1b[@"), []byte("\u009b6n\x1bb\x1bf"), uint16(2000))
	f.Fuzz(func(t *testing.T, out, in []byte, reps uint16) {
		reps = reps%2000 + 1
		var emitted int
		check := func(what, s string) {
			if len([]rune(s)) > MaxLine {
				t.Fatalf("%s of %d characters", what, len([]rune(s)))
			}
			for _, r := range s {
				if r < 0x20 || (r >= 0x7f && r < 0xa0) {
					t.Fatalf("%s %q holds control %U", what, s, r)
				}
			}
		}
		l := &Lines{Emit: func(line Line) {
			emitted += len([]rune(line.Text))
			check("line", line.Text)
		}}
		for range reps {
			l.Write(0, out)
			if len(l.line) > MaxLine || cap(l.line) > 2*MaxLine+1024 || cap(l.seq) > 2*maxSeq {
				t.Fatalf("line %d (cap %d), sequence cap %d", len(l.line), cap(l.line), cap(l.seq))
			}
		}
		l.Flush()
		n := len(out) * int(reps)
		if credit := int64(perByte*n + maxCredit); l.work > credit || int64(emitted) > int64(n)+credit {
			t.Fatalf("%d bytes: %d units of work, %d characters out", n, l.work, emitted)
		}
		i := &Input{Enter: func(line Line, _ bool) { check("typed line", line.Text) }}
		for range reps {
			i.Write(0, in)
			if len(i.line) > MaxLine || cap(i.seq) > 2*maxSeq {
				t.Fatalf("typed line %d, sequence cap %d", len(i.line), cap(i.seq))
			}
		}
		i.Flush()
		if m := int64(perByte*len(in)*int(reps) + maxCredit); i.work > m {
			t.Fatalf("typing %d bytes: %d units of work", len(in)*int(reps), i.work)
		}
	})
}
