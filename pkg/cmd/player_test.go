package cmd

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testrec"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/replay"
)

// viSession is a shell session with vi in the middle: the text typed in vi
// is echoed a character at a time between status-line updates, as vi does.
func viSession() testrec.Session {
	steps := []testrec.Step{
		testrec.R(0, "80x24"),
		testrec.O(time.Second, "$ "),
		testrec.I(2*time.Second, "vi notes\r"),
		testrec.O(2001*time.Millisecond, "vi notes\r\n"),
		testrec.O(2500*time.Millisecond, "\x1b[?1049h\x1b[?1h\x1b=\x1b[H\x1b[2J~\r\n~\r\n~\x1b[24;1H\"notes\" [New]\x1b[1;1H"),
		testrec.I(3*time.Second, "i"),
		testrec.O(3001*time.Millisecond, "\x1b[24;1H-- INSERT --\x1b[K\x1b[1;1H"),
	}
	at := 4 * time.Second
	for i, c := range "the vault key is hunter2" {
		steps = append(steps,
			testrec.I(at, string(c)),
			testrec.O(at+time.Millisecond, string(c)+"\x1b[24;70H1,"+strconv.Itoa(i+2)+"\x1b[1;"+strconv.Itoa(i+2)+"H"))
		at += 100 * time.Millisecond
	}
	steps = append(steps,
		testrec.I(at, "\x1b:wq\r"),
		testrec.O(at+time.Second, "\x1b[24;1H\"notes\" 1L written\x1b[?1l\x1b>\x1b[?1049l"),
		testrec.O(at+time.Second+time.Millisecond, "$ "),
		testrec.I(at+2*time.Second, "echo done\r"),
		testrec.O(at+2*time.Second+time.Millisecond, "echo done\r\ndone\r\n$ "),
	)
	return testrec.Session{
		Header: testrec.Header("alice", "prod", "default", "web", "main", t0, "bash"),
		Steps:  steps, Exit: testrec.Code(0),
	}
}

func TestExportRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "r.cast.zst")
	writeRec(t, rec, viSession())
	orig, _ := os.ReadFile(rec)

	// -O X X: the recording itself.
	_, _, err := runCmd(t, "export", "-O", rec, rec)
	if err == nil || !strings.Contains(err.Error(), "is the recording") {
		t.Errorf("export -O REC REC: %v", err)
	}
	_, _, err = runCmd(t, "export", "--overwrite", "-O", rec, rec)
	if err == nil {
		t.Error("export --overwrite -O REC REC was accepted")
	}
	// Through another name for the same file.
	link := filepath.Join(dir, "link.cast.zst")
	if err := os.Link(rec, link); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCmd(t, "export", "--overwrite", "-O", link, rec); err == nil {
		t.Error("export -O onto a hard link of the recording was accepted")
	}
	if now, _ := os.ReadFile(rec); !bytes.Equal(now, orig) {
		t.Fatal("the recording changed")
	}

	// An existing file needs --overwrite.
	other := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(other, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCmd(t, "export", "-O", other, rec)
	if err == nil || !strings.Contains(err.Error(), "--overwrite") {
		t.Errorf("export -O EXISTING: %v", err)
	}
	if b, _ := os.ReadFile(other); string(b) != "keep me" {
		t.Errorf("the existing file was changed: %q", b)
	}
	if _, _, err := runCmd(t, "export", "--overwrite", "--format", "txt", "-O", other, rec); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(other); !strings.Contains(string(b), "echo done") {
		t.Errorf("--overwrite did not write the export: %q", b)
	}
	fresh := filepath.Join(dir, "new.cast")
	if _, _, err := runCmd(t, "export", "-O", fresh, rec); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(fresh); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("new export file: %v %v", fi.Mode(), err)
	}
}

func TestExportJSONTimesAreExact(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "r.cast.zst")
	writeRec(t, rec, testrec.Session{
		Header: testrec.Header("alice", "prod", "default", "web", "main", t0, "bash"),
		Steps:  []testrec.Step{testrec.O(1719183*time.Microsecond, "a"), testrec.O(2300001*time.Microsecond, "b")},
		Exit:   testrec.Code(0),
	})
	out, _, err := runCmd(t, "export", "--format", "json", rec)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"time":1.719183,`) || !strings.Contains(out, `"time":2.300001,`) || regexp.MustCompile(`"time":\d+\.\d{7,}`).MatchString(out) {
		t.Errorf("json export times:\n%s", out)
	}
}

// grep's OFFSET is when the hit appeared, rounded up to the millisecond, so
// that the screen at OFFSET shows it; the JSON offset is a number.
func TestGrepOffsetIsWhenTheHitAppeared(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "r.cast.zst")
	writeRec(t, rec, testrec.Session{
		Header: testrec.Header("alice", "prod", "default", "web", "main", t0, "bash"),
		Steps: []testrec.Step{
			testrec.R(0, "80x24"),
			testrec.O(time.Second, "$ "),
			testrec.O(2000300*time.Microsecond, "ec"),
			testrec.O(2500700*time.Microsecond, "ho needle"),
			testrec.O(3*time.Second, "\r\nneedle\r\n$ "),
		},
		Exit: testrec.Code(0),
	})
	out, _, err := runCmd(t, "grep", "needle", rec)
	if err != nil {
		t.Fatal(err)
	}
	if want := "2.501s:$ echo needle\n3s:needle\n"; out != want {
		t.Errorf("grep printed %q, want %q", out, want)
	}
	out, _, err = runCmd(t, "grep", "-o", "json", "echo needle", rec)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	if off, ok := m["offset"].(float64); !ok || off != 2.501 {
		t.Errorf("json offset %#v in %s", m["offset"], out)
	}
	// The screen at that offset shows the hit.
	r, err := record.Open(rec)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var screen bytes.Buffer
	if _, err := replay.Play(t.Context(), r, replay.Options{From: 2501 * time.Millisecond, To: 2501 * time.Millisecond, NoWait: true, Terminal: true, Out: &screen}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(screen.String(), "echo needle") {
		t.Errorf("replay --from 2.501s shows %q", screen.String())
	}
}

func TestGrepFindsTextTypedInAFullScreenProgram(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "r.cast.zst")
	writeRec(t, rec, viSession())
	out, _, err := runCmd(t, "grep", "vault key is hunter2", rec)
	if err != nil {
		t.Fatalf("grep: %v (%q)", err, out)
	}
	// The last character was typed at 4s + 23 * 100ms and echoed 1ms later.
	if want := "6.301s:the vault key is hunter2\n"; out != want {
		t.Errorf("grep printed %q, want %q", out, want)
	}
}

func TestGrepListsEachFileOnce(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "r.cast.zst")
	writeRec(t, rec, viSession())
	out, _, err := runCmd(t, "grep", "-l", "done", dir, rec, rec)
	if err != nil || out != rec+"\n" {
		t.Errorf("grep -l DIR FILE FILE: %q %v", out, err)
	}
}

func TestGrepContextAndFilters(t *testing.T) {
	dir := catalogDir(t)
	out, _, err := runCmd(t, "grep", "-C", "1", "ERROR", dir)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "1.cast.zst")
	want := p + "-2.1s-$ ls\n" + p + ":2.1s:ERROR here\n" + p + "-2.1s-$\n"
	if out != want {
		t.Errorf("grep -C 1:\n%s\nwant\n%s", out, want)
	}
	for _, args := range [][]string{
		{"--user", "bob"}, {"--pod", "db-*"}, {"-n", "tools"}, {"--since", "2026-11-27T06:30:00Z"}, {"--until", "2026-11-27T06:00:00Z"},
	} {
		_, _, err := runCmd(t, append(append([]string{"grep"}, args...), "ERROR", dir)...)
		if err == nil {
			t.Errorf("grep %v ERROR matched a session it should have left out", args)
		}
	}
	out, _, err = runCmd(t, "grep", "--user", "alice", "--pod", "web", "-n", "default", "--since", "2026-11-27T06:00:00Z", "ERROR", dir)
	if err != nil || !strings.Contains(out, "ERROR here") {
		t.Errorf("grep with matching filters: %q %v", out, err)
	}
}

func TestExportTextMarksFullScreenPeriods(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "r.cast.zst")
	writeRec(t, rec, viSession())
	out, _, err := runCmd(t, "export", "--format", "txt", rec)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "$ vi notes\n[full-screen program from 2.5s to 7.4s, not in this transcript: replay --from 2.5s]\n$ echo done\n") {
		t.Errorf("txt export:\n%s", out)
	}
}

func TestLsShowsTheTimeZone(t *testing.T) {
	dir := catalogDir(t)
	out, _, err := runCmd(t, "ls", dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Local().Format("2006-01-02 15:04:05 MST"); !strings.Contains(out, want) {
		t.Errorf("ls STARTED column without its zone:\n%s", out)
	}
}

func TestReplayFlags(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "r.cast.zst")
	writeRec(t, rec, viSession())
	for _, v := range []string{"2", "2.5", "2s", "1m", "0", "off"} {
		if _, _, err := runCmd(t, "replay", "--no-wait", "--idle-time-limit", v, rec); err != nil {
			t.Errorf("--idle-time-limit %s: %v", v, err)
		}
	}
	for _, v := range []string{"-1", "soon"} {
		if _, _, err := runCmd(t, "replay", "--no-wait", "--idle-time-limit", v, rec); err == nil {
			t.Errorf("--idle-time-limit %s accepted", v)
		}
	}
	for _, v := range []string{"100", "1000", "0.1"} {
		if _, _, err := runCmd(t, "replay", "--no-wait", "--speed", v, rec); err != nil {
			t.Errorf("--speed %s: %v", v, err)
		}
	}
	for _, v := range []string{"0", "-2"} {
		if _, _, err := runCmd(t, "replay", "--no-wait", "--speed", v, rec); err == nil {
			t.Errorf("--speed %s accepted", v)
		}
	}
	_, _, err := runCmd(t, "replay", "--from", "90", rec)
	if err == nil || !strings.Contains(err.Error(), "past the end") || !strings.Contains(err.Error(), "--from end") {
		t.Errorf("--from past the end: %v", err)
	}
	out, _, err := runCmd(t, "replay", "--commands", "-o", "json", rec)
	var cmds struct {
		Kind  string `json:"kind"`
		Items []struct {
			Number int     `json:"number"`
			Offset float64 `json:"offset"`
			From   string  `json:"from"`
			Label  string  `json:"command"`
		} `json:"items"`
	}
	if err != nil || json.Unmarshal([]byte(out), &cmds) != nil || cmds.Kind != "CommandList" {
		t.Fatalf("--commands -o json: %v %s", err, out)
	}
}

func TestReplayFollowClosingLineHasTheExitCode(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "r.cast.zst")
	s := viSession()
	s.Exit = testrec.Code(3)
	writeRec(t, rec, s)
	_, errOut, err := runCmd(t, "replay", "--follow", "--from", "0", "--idle-time-limit", "0.001", rec)
	if err != nil || !strings.Contains(errOut, "exit code 3") {
		t.Errorf("--follow closing line: %q %v", errOut, err)
	}
}

// runCmdIn is runCmd with standard input.
func runCmdIn(t *testing.T, in []byte, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := NewRootCmd(genericiooptions.IOStreams{In: bytes.NewReader(in), Out: &out, ErrOut: &errOut})
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

func markedSession() testrec.Session {
	return testrec.Session{
		Header: testrec.Header("alice", "prod", "default", "web", "main", t0, "bash"),
		Steps: []testrec.Step{
			testrec.O(time.Second, "one\r\n"), testrec.M(time.Second, "first"),
			testrec.O(2*time.Second, "two\r\n"), testrec.M(3500*time.Millisecond, "second <&>"),
			testrec.O(4*time.Second, "four\r\n"),
		},
		Exit: testrec.Code(0),
	}
}

func TestReplayCommandsJSON(t *testing.T) {
	rec := filepath.Join(t.TempDir(), "r.cast.zst")
	writeRec(t, rec, markedSession())
	out, _, err := runCmd(t, "replay", "--commands", "-o", "json", rec)
	want := `{
    "kind": "CommandList",
    "items": [
        {
            "number": 1,
            "offset": 1,
            "from": "1s",
            "command": "first"
        },
        {
            "number": 2,
            "offset": 3.5,
            "from": "3.5s",
            "command": "second <&>"
        }
    ]
}
`
	if err != nil || out != want {
		t.Errorf("--commands -o json: %v\n%s", err, out)
	}
	if _, _, err := runCmd(t, "replay", "-o", "json", rec); err == nil {
		t.Error("-o without --commands accepted")
	}
}

// replay plays plain asciicast files (v2 as asciinema 2 writes them, v3)
// and standard input, compressed or plain.
func TestReplayPlainCastAndStdin(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "r.cast.zst")
	writeRec(t, rec, markedSession())
	data, _ := os.ReadFile(rec)
	v3, _, err := runCmd(t, "export", "--format", "asciicast-v3", rec)
	if err != nil {
		t.Fatal(err)
	}
	v2, _, err := runCmd(t, "export", "--format", "asciicast-v2", rec)
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"v3.cast": v3, "v2.cast": v2} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		out, _, err := runCmd(t, "replay", "--no-wait", p)
		if err != nil || out != "one\r\ntwo\r\nfour\r\n" {
			t.Errorf("replay %s: %q %v", name, out, err)
		}
		out, _, err = runCmd(t, "replay", "--no-wait", "--from", "2s", p)
		if err != nil || out != "two\r\nfour\r\n" {
			t.Errorf("replay --from 2s %s: %q %v", name, out, err)
		}
		out, _, err = runCmd(t, "replay", "--commands", p)
		if err != nil || !strings.Contains(out, "2     3.5s   second <&>") {
			t.Errorf("replay --commands %s:\n%s %v", name, out, err)
		}
		out, _, err = runCmdIn(t, []byte(text), "replay", "--no-wait", "-")
		if err != nil || out != "one\r\ntwo\r\nfour\r\n" {
			t.Errorf("replay - < %s: %q %v", name, out, err)
		}
	}
	out, _, err := runCmdIn(t, data, "replay", "--no-wait", "--jump", "2", "-")
	if err != nil || out != "four\r\n" {
		t.Errorf("replay --jump 2 - < recording: %q %v", out, err)
	}
	_, _, err = runCmdIn(t, []byte("hello\n"), "replay", "--no-wait", "-")
	if err == nil || !strings.Contains(err.Error(), "not") {
		t.Errorf("replay - < junk: %v", err)
	}
}
