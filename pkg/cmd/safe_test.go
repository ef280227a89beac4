package cmd

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/creack/pty"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testrec"
)

// rawControl returns the first character in s a terminal would act on
// (anything but newline, tab and CR among the controls), or -1.
func rawControl(s string) rune {
	if !utf8.ValidString(s) {
		return utf8.RuneError
	}
	for _, r := range s {
		if (r < 0x20 && r != '\n' && r != '\t' && r != '\r') || (r >= 0x7f && r < 0xa0) {
			return r
		}
	}
	return -1
}

// evil is what a recorded user can put in a recording: in its header,
// its commands, its output and what they typed; and in its file name.
const evil = "\x1b]52;c;ZXZpbA==\x07\u009b6n\u009d0;t\u009c\x1b[2J\u0090$q\u009c\x05"

func evilRecording(t *testing.T) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "x"+evil+".cast.zst")
	h := testrec.Header("mal"+evil, "ctx"+evil, "ns"+evil, "pod"+evil, "c"+evil, t0, "sh", "-c", "echo "+evil)
	h.Rexec.Node, h.Rexec.Image, h.Rexec.ClientHost = "node"+evil, "img"+evil, "host"+evil
	writeRec(t, path, testrec.Session{
		Header: h,
		Steps: []testrec.Step{
			testrec.O(time.Second, "$ "), testrec.I(2*time.Second, "echo hi\u009b6n\u0085\u009d52;c;x\u009c\r"), testrec.M(2*time.Second, "echo"+evil),
			testrec.O(3*time.Second, "hi"+evil+"\r\n"), testrec.E(3*time.Second, "err"+evil+"\r\n"),
		},
		Exit: testrec.Code(0),
	})
	return dir, path
}

// TestUntrustedStringsAreEscaped runs every reading command on a recording
// full of controls, with a file name full of them, printing where a
// terminal may be: nothing a terminal acts on comes out.
func TestUntrustedStringsAreEscaped(t *testing.T) {
	dir, path := evilRecording(t)
	for _, args := range [][]string{
		{"ls", dir}, {"ls", "-o", "wide", dir}, {"ls", "-o", "name", dir}, {"ls", "-o", "json", dir}, {"ls", "-o", "yaml", dir},
		{"info", path}, {"info", "-o", "json", path}, {"info", "-o", "yaml", path},
		{"replay", "--commands", path}, {"replay", "--no-wait", path}, {"replay", "--from", "end", path},
		{"grep", "-H", "hi|err", path}, {"grep", "-l", "hi", path}, {"grep", "--input", "hi", path}, {"grep", "-o", "json", "hi", path},
		{"verify", path}, {"verify", "-o", "json", path},
		{"export", "--format", "txt", path}, {"export", "--format", "asciicast-v2", path},
		{"export", "--format", "asciicast-v3", path}, {"export", "--format", "json", path},
		{"replay", "--jump", "9", path},
	} {
		out, errOut, err := runCmd(t, args...)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if args[0] == "replay" {
			// Playing draws: the one sequence in evil that acts only on
			// the screen passes.
			out, errOut = strings.ReplaceAll(out, "\x1b[2J", ""), strings.ReplaceAll(errOut, "\x1b[2J", "")
		}
		for what, s := range map[string]string{"stdout": out, "stderr": errOut, "error": msg} {
			if r := rawControl(s); r >= 0 {
				t.Errorf("%s: %s holds %U:\n%q", strings.Join(args[:len(args)-1], " "), what, r, s)
			}
		}
		if args[0] != "replay" && len(out) == 0 {
			t.Errorf("%s printed nothing (%v)", strings.Join(args[:len(args)-1], " "), err)
		}
	}
	// JSON says the same as before, with the controls escaped.
	out, _, err := runCmd(t, "ls", "-o", "json", dir)
	var list struct {
		Items []struct{ Path string } `json:"items"`
	}
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list.Items) != 1 || list.Items[0].Path != path {
		t.Errorf("ls -o json: %v %+v", err, list)
	}
	// A script gets the exact name from a pipe or a file.
	out, _, err = runCmdFiles(t, "ls", "-o", "name", dir)
	if err != nil || out != path+"\n" {
		t.Errorf("ls -o name into a file: %q %v", out, err)
	}
}

// TestFatalEscapes: error lines go out through kubectl's CheckErr, which
// prints what the error says, file names and keys included.
func TestFatalEscapes(t *testing.T) {
	var b bytes.Buffer
	writeFatal(&b, "error: open "+evil+": no such file")
	if r := rawControl(b.String()); r >= 0 || !strings.HasSuffix(b.String(), "no such file\n") {
		t.Fatalf("%q holds %U", b.String(), r)
	}
}

// TestReplayFiltersStderrByItsOwnTerminal: with stdout sent to /dev/null
// and stderr on a terminal, what the session wrote on stderr went out raw
// (an OSC 52 clipboard write, here). Each stream is judged by where it goes.
func TestReplayFiltersStderrByItsOwnTerminal(t *testing.T) {
	_, path := evilRecording(t)
	ptm, pts, err := pty.Open()
	if err != nil {
		t.Fatalf("open a pty: %v", err)
	}
	defer ptm.Close()
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	got := make(chan []byte)
	go func() {
		var b bytes.Buffer
		_, err := io.Copy(&b, ptm)
		if err != nil && !errors.Is(err, syscall.EIO) {
			b.WriteString("read error: " + err.Error())
		}
		got <- b.Bytes()
	}()
	root := NewRootCmd(genericStreams(strings.NewReader(""), devnull, pts))
	root.SetArgs([]string{"replay", "--no-wait", "-q", path})
	runErr := root.Execute()
	pts.Close()
	stderr := <-got
	if runErr != nil {
		t.Fatal(runErr)
	}
	if !bytes.Contains(stderr, []byte("err")) {
		t.Fatalf("stderr on the terminal: %q", stderr)
	}
	if r := rawControl(strings.ReplaceAll(string(stderr), "\x1b[2J", "")); r >= 0 {
		t.Errorf("stderr on the terminal holds %U: %q", r, stderr)
	}
}

func genericStreams(in io.Reader, out, errOut io.Writer) genericiooptions.IOStreams {
	return genericiooptions.IOStreams{In: in, Out: out, ErrOut: errOut}
}
