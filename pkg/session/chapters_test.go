package session

import (
	"fmt"
	"reflect"
	"testing"
)

// chapterRun plays a conversation through chapters: ">" items are typed,
// others are the terminal's output.
func chapterRun(t *testing.T, script ...string) []string {
	t.Helper()
	var marks []string
	c := newChapters(func(l string) error { marks = append(marks, l); return nil })
	in := c.input(func([]byte) error { return nil })
	out := c.output(func([]byte) error { return nil })
	for _, s := range script {
		if len(s) > 0 && s[0] == '>' {
			if err := in([]byte(s[1:])); err != nil {
				t.Fatal(err)
			}
		} else if err := out([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	return marks
}

func TestChaptersFromEnter(t *testing.T) {
	got := chapterRun(t,
		"$ ", ">l", "l", ">s", "s", ">\r", "\r\nfile\r\n$ ",
		">\r", "\r\n$ ", // an empty line is no command
		">rm -rf /tmpx\x7f", "rm -rf /tmp", ">\r", "\r\n$ ",
		">echo oops\x15date\r", "date\r\n$ ",
	)
	want := []string{"ls", "rm -rf /tmp", "date"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestChaptersUseTheEchoForCompletion(t *testing.T) {
	got := chapterRun(t, "$ ", ">cat /etc/pas\t", "cat /etc/passwd ", ">\r", "\r\nroot:x\r\n$ ")
	if want := []string{"cat /etc/passwd"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestChaptersSkipPasswordsAndFullScreen(t *testing.T) {
	got := chapterRun(t,
		"$ ", ">sudo -i\r", "sudo -i\r\n[sudo] password for alice: ", ">hunter2\r", "\r\n# ",
		">vim\r", "vim\r\n\x1b[?1049h~\r\n~", ">ihello\x1b:wq\r", "\x1b[?1049l# ", ">exit\r",
	)
	if want := []string{"sudo -i", "vim", "exit"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestChaptersFromOSC133(t *testing.T) {
	got := chapterRun(t,
		"\x1b]133;A\x07$ \x1b]133;B\x07", ">ls -l\r", "ls -l\r\n\x1b]133;C\x07total 0\r\n\x1b]133;D;0\x07",
		"\x1b]133;A\x07$ \x1b]133;B\x07", ">\x1b[A", "ls -l", ">\r", "\r\n\x1b]133;C\x07total 0\r\n\x1b]133;D;0\x07",
		// Enter inside a program's own prompt (no 133;C follows) is not a command.
		"\x1b]133;A\x07$ \x1b]133;B\x07", ">read x\r", "read x\r\n\x1b]133;C\x07", ">typed answer\r", "\r\n\x1b]133;D;0\x07",
	)
	if want := []string{"ls -l", "ls -l", "read x"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// BenchmarkChaptersOutput is what command marking costs on a TTY session's
// output path (it runs in the stream, after the recorder's cheap tee):
// coloured log lines written 32 KiB at a time, as `cat` of a log would.
func BenchmarkChaptersOutput(b *testing.B) {
	var text []byte
	for i := 0; len(text) < 8<<20; i++ {
		text = fmt.Appendf(text, "\x1b[90m2026-11-27T06:15:%02d.%06dZ\x1b[0m \x1b[32mINFO\x1b[0m request completed GET /api/v1/namespaces/default/pods/web-%d status=200 latency=%dms\r\n", i%60, i*7919%1000000, i%97, i%2000)
	}
	c := newChapters(func(string) error { return nil })
	out := c.output(func([]byte) error { return nil })
	const chunk = 32 << 10
	b.SetBytes(chunk)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		off := (i * chunk) % (len(text) - chunk)
		if err := out(text[off : off+chunk]); err != nil {
			b.Fatal(err)
		}
	}
}

// Keys sent to a full-screen program that leaves without an Enter (q in
// top or less) are not the start of the next command line.
func TestChaptersForgetKeysSentToFullScreenPrograms(t *testing.T) {
	got := chapterRun(t,
		"$ ", ">top -d 1\r", "top -d 1\r\n\x1b[?1049h\x1b[H\x1b[2Jtop - 06:15:00", ">q", "\x1b[?1049l$ ",
		">top -d 1\r", "top -d 1\r\n\x1b[?1049htop", ">q", "\x1b[?1049l$ ", ">l", "l", ">s\r", "s\r\nfile\r\n$ ",
		">less f\r", "less f\r\n\x1b[?1049hline", ">/x", ">q", "\x1b[?1049l$ ", ">date\r", "date\r\n",
	)
	if want := []string{"top -d 1", "top -d 1", "ls", "less f", "date"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
