package catalog

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testrec"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

func grep(t *testing.T, path, pattern string, o GrepOptions) ([]Match, error) {
	t.Helper()
	var ms []Match
	err := Grep(path, regexp.MustCompile(pattern), o, func(m Match) error {
		ms = append(ms, m)
		return nil
	})
	return ms, err
}

func TestGrep(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "s"+Suffix, session("alice", "default", "web", t0, testrec.Code(0),
		testrec.O(time.Second, "$ "),
		testrec.I(2*time.Second, "rm -rf /tmpx"), testrec.I(3*time.Second, "\x7f\r"),
		testrec.O(3*time.Second+time.Millisecond, "rm -rf /tmp\r\n"),
		testrec.O(62*time.Second, "\x1b[31mERR"), testrec.O(63*time.Second, "OR\x1b[0m: disk "),
		testrec.E(64*time.Second, "stderr: disk warning\n"),
		testrec.O(65*time.Second, "full\r\n$ "),
	))
	ms, err := grep(t, p, `ERROR: disk full`, GrepOptions{})
	if err != nil || len(ms) != 1 || ms[0].Time != 65*time.Second || ms[0].Offset != record.Seconds(65*time.Second) || ms[0].Line != "ERROR: disk full" || ms[0].Stream != "o" {
		t.Fatalf("output search: %+v %v", ms, err)
	}
	ms, _ = grep(t, p, `(?i)DISK`, GrepOptions{})
	if len(ms) != 2 || ms[0].Stream != "o" && ms[1].Stream != "o" {
		t.Errorf("both streams: %+v", ms)
	}
	ms, _ = grep(t, p, `^rm -rf /tmp$`, GrepOptions{Input: true})
	if len(ms) != 1 || ms[0].Time != 3*time.Second || ms[0].Stream != "i" {
		t.Errorf("input search: %+v", ms)
	}
	if ms, _ := grep(t, p, `tmpx`, GrepOptions{Input: true}); len(ms) != 0 {
		t.Errorf("backspace not applied: %+v", ms)
	}
}

func TestGrepDamaged(t *testing.T) {
	dir := t.TempDir()
	cut := write(t, dir, "cut"+Suffix, session("a", "n", "p", t0, nil, testrec.O(time.Second, "first\r\n"), testrec.O(2*time.Second, "second\r\n")))
	if ms, err := grep(t, cut, `second`, GrepOptions{}); err != nil || len(ms) != 1 {
		t.Errorf("cut-off recording: %+v %v", ms, err)
	}
	junk := filepath.Join(dir, "junk"+Suffix)
	if err := os.WriteFile(junk, []byte("nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := grep(t, junk, `x`, GrepOptions{}); err == nil {
		t.Error("junk searched without error")
	}
}

func TestExportCutOff(t *testing.T) {
	dir := t.TempDir()
	cut := write(t, dir, "cut"+Suffix, session("a", "n", "p", t0, nil, testrec.O(time.Second, "first\r\n"), testrec.O(2*time.Second, "second\r\n")))
	for _, f := range Formats {
		var out strings.Builder
		err := Export(cut, &out, f, ExportOptions{})
		if !errors.Is(err, record.ErrAbrupt) || !strings.Contains(out.String(), "second") {
			t.Errorf("%s: %v, %q", f, err, out.String())
		}
	}
	if err := Export(cut, io.Discard, "mp4", ExportOptions{}); err == nil {
		t.Error("unknown format accepted")
	}
}

func TestCutTail(t *testing.T) {
	for in, want := range map[string]int{"abc": 0, "caf\xc3": 1, "\xe2\x82": 2, "\xe2\x82\xac": 0, "\xff": 0, "a\xf0\x9f\x98": 3} {
		if got := cutTail([]byte(in)); got != want {
			t.Errorf("cutTail(%q) = %d, want %d", in, got, want)
		}
	}
}
