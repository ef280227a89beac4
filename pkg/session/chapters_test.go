package session

import (
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
