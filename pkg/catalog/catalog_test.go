package catalog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testrec"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

var t0 = time.Date(2026, 11, 27, 6, 15, 0, 0, time.UTC)

func session(user, ns, pod string, start time.Time, exit *int, steps ...testrec.Step) testrec.Session {
	return testrec.Session{
		Header: testrec.Header(user, "prod", ns, pod, "main", start, "bash", "-l"),
		Steps:  steps,
		Exit:   exit,
	}
}

func write(t testing.TB, dir, name string, s testrec.Session) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := testrec.File(p, s); err != nil {
		t.Fatal(err)
	}
	return p
}

// fixture is a directory with one recording of each state.
func fixture(t *testing.T) string {
	dir := t.TempDir()
	write(t, dir, "a"+Suffix, session("alice", "default", "web", t0, testrec.Code(0),
		testrec.O(time.Second, "$ "), testrec.I(2*time.Second, "ls\r"), testrec.O(3*time.Second, "ls\r\nfile\r\n$ ")))
	write(t, dir, "b"+Suffix, session("bob", "kube-system", "dns", t0.Add(time.Hour), testrec.Code(3),
		testrec.O(90*time.Second, "x")))
	// Cut off: no trailer, last event at 75s.
	write(t, dir, "c"+Suffix, session("alice", "default", "db-0", t0.Add(2*time.Hour), nil,
		testrec.O(5*time.Second, "a"), testrec.O(75*time.Second, "b")))
	if err := os.WriteFile(filepath.Join(dir, "d"+Suffix), []byte("hello, not zstd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(dir, "a"+Suffix))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "e"+Suffix), append(good[:len(good):len(good)], 0, 1, 2, 3), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ignored.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestListStates(t *testing.T) {
	dir := fixture(t)
	files, err := Files([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 5 {
		t.Fatalf("files %v, want the 5 *.cast.zst", files)
	}
	got := map[string]Entry{}
	for _, e := range List(files) {
		got[filepath.Base(e.Path)] = e
	}
	a := got["a"+Suffix]
	if a.State != Complete || a.User() != "alice" || a.Pod() != "web" || a.Command() != "bash -l" ||
		a.Duration.Duration() != 3*time.Second || a.ExitCode == nil || *a.ExitCode != 0 || !a.Start.Equal(t0) {
		t.Errorf("complete entry %+v", a)
	}
	if b := got["b"+Suffix]; b.State != Complete || b.ExitCode == nil || *b.ExitCode != 3 || b.Duration.Duration() != 90*time.Second {
		t.Errorf("exit 3 entry %+v", b)
	}
	c := got["c"+Suffix]
	if c.State != Abrupt || c.Duration.Duration() != 75*time.Second || c.ExitCode != nil || c.Problem == "" || c.Pod() != "db-0" {
		t.Errorf("abrupt entry: state %s duration %v exit %v problem %q", c.State, c.Duration.Duration(), c.ExitCode, c.Problem)
	}
	if d := got["d"+Suffix]; d.State != Invalid || d.Header != nil || !strings.Contains(d.Problem, "not zstd") {
		t.Errorf("non-recording entry: %s %q", d.State, d.Problem)
	}
	if e := got["e"+Suffix]; e.State != Corrupt || e.Header == nil || e.Problem == "" {
		t.Errorf("bytes after the trailer: state %s problem %q", e.State, e.Problem)
	}
}

func TestListSortedByStart(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "z"+Suffix, session("u", "n", "first", t0, testrec.Code(0), testrec.O(time.Second, "x")))
	write(t, dir, "a"+Suffix, session("u", "n", "second", t0.Add(time.Minute), testrec.Code(0), testrec.O(time.Second, "x")))
	files, _ := Files([]string{dir})
	es := List(files)
	if len(es) != 2 || es[0].Pod() != "first" || es[1].Pod() != "second" {
		t.Fatalf("order %s, %s", es[0].Pod(), es[1].Pod())
	}
}

func TestFilter(t *testing.T) {
	dir := fixture(t)
	files, _ := Files([]string{dir})
	es := List(files)
	count := func(f Filter) (pods []string) {
		for i := range es {
			if f.Match(&es[i]) {
				pods = append(pods, es[i].Pod())
			}
		}
		return pods
	}
	cases := []struct {
		f    Filter
		want int
	}{
		{Filter{}, 5},
		{Filter{User: "alice"}, 3}, // a, c and e (e is a's bytes plus garbage)
		{Filter{User: "ali*"}, 3},
		{Filter{Namespace: "kube-system"}, 1},
		{Filter{Pod: "db-*"}, 1},
		{Filter{Pod: "web", User: "bob"}, 0},
		{Filter{Since: t0.Add(30 * time.Minute)}, -1},
		{Filter{Until: t0.Add(90 * time.Minute), User: "*"}, 3},
	}
	for _, c := range cases {
		got := count(c.f)
		if c.want >= 0 && len(got) != c.want {
			t.Errorf("filter %+v: got %d %v, want %d", c.f, len(got), got, c.want)
		}
	}
	// Since: b and c by their header, d by its file time (now).
	if got := count(Filter{Since: t0.Add(30 * time.Minute)}); len(got) != 3 {
		t.Errorf("since: %v", got)
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2h":                   now.Add(-2 * time.Hour),
		"1d":                   now.Add(-24 * time.Hour),
		"2026-11-27":           time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC),
		"2026-11-27 06:15":     time.Date(2026, 11, 27, 6, 15, 0, 0, time.UTC),
		"2026-11-27T06:15:00Z": time.Date(2026, 11, 27, 6, 15, 0, 0, time.UTC),
	} {
		got, err := ParseTime(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseTime("yesterday", now); err == nil {
		t.Error("ParseTime(yesterday) did not fail")
	}
}

func TestFormat(t *testing.T) {
	for d, want := range map[time.Duration]string{
		400 * time.Millisecond: "0.4s", 12 * time.Second: "12s", 185 * time.Second: "3m05s",
		2*time.Hour + 3*time.Minute: "2h03m", 50 * time.Hour: "2d02h",
	} {
		if got := HumanDuration(d); got != want {
			t.Errorf("HumanDuration(%v) = %q, want %q", d, got, want)
		}
	}
	for n, want := range map[int64]string{812: "812", 12 << 10: "12K", 3500000: "3.3M", 1 << 30: "1G"} {
		if got := HumanSize(n); got != want {
			t.Errorf("HumanSize(%d) = %q, want %q", n, got, want)
		}
	}
	for _, d := range []time.Duration{0, 4250 * time.Millisecond, time.Hour + 2*time.Minute + 3*time.Millisecond} {
		back, err := time.ParseDuration(Offset(d))
		if err != nil || back != d {
			t.Errorf("Offset(%v) = %q does not read back (%v, %v)", d, Offset(d), back, err)
		}
	}
}

// BenchmarkList1000 lists a directory of 1,000 recordings of about 1 MiB
// of output each (two data frames): only headers and trailers are read.
func BenchmarkList1000(b *testing.B) {
	dir := b.TempDir()
	steps := make([]testrec.Step, 0, 600)
	line := strings.Repeat("output line with some text in it ", 60) + "\r\n"
	for i := range 600 {
		steps = append(steps, testrec.O(time.Duration(i)*100*time.Millisecond, line))
	}
	data, err := testrec.Bytes(session("alice", "default", "web", t0, testrec.Code(0), steps...))
	if err != nil {
		b.Fatal(err)
	}
	r, err := record.NewReader(strings.NewReader(string(data)), int64(len(data)))
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("each recording: %d bytes, %d frames", len(data), len(r.Index().Frames))
	r.Close()
	for i := range 1000 {
		if err := os.WriteFile(filepath.Join(dir, time.Duration(i).String()+Suffix), data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		files, err := Files([]string{dir})
		if err != nil {
			b.Fatal(err)
		}
		es := List(files)
		if len(es) != 1000 || es[0].State != Complete {
			b.Fatalf("%d entries, first %s %s", len(es), es[0].State, es[0].Problem)
		}
	}
}
