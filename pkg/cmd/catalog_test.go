package cmd

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testrec"
)

var t0 = time.Date(2026, 11, 27, 6, 15, 0, 0, time.UTC)

// runCmd runs the root command with args and returns stdout, stderr, error.
func runCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := NewRootCmd(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

// runCmdFiles is runCmd with stdout and stderr in files, which are known
// not to be terminals.
func runCmdFiles(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	errOut, err := os.Create(filepath.Join(dir, "err"))
	if err != nil {
		t.Fatal(err)
	}
	defer errOut.Close()
	root := NewRootCmd(genericiooptions.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut})
	root.SetArgs(args)
	runErr := root.Execute()
	o, _ := os.ReadFile(out.Name())
	e, _ := os.ReadFile(errOut.Name())
	return string(o), string(e), runErr
}

func writeRec(t *testing.T, path string, s testrec.Session) {
	t.Helper()
	if err := testrec.File(path, s); err != nil {
		t.Fatal(err)
	}
}

func catalogDir(t *testing.T) string {
	dir := t.TempDir()
	writeRec(t, filepath.Join(dir, "1.cast.zst"), testrec.Session{
		Header: testrec.Header("alice", "prod", "default", "web", "main", t0, "bash"),
		Steps:  []testrec.Step{testrec.O(time.Second, "$ "), testrec.I(2*time.Second, "ls\r"), testrec.O(2100*time.Millisecond, "ls\r\nERROR here\r\n$ ")},
		End:    3 * time.Second, Exit: testrec.Code(0),
	})
	writeRec(t, filepath.Join(dir, "2.cast.zst"), testrec.Session{
		Header: testrec.Header("bob", "dev", "tools", "debug", "box", t0.Add(time.Hour), "sh", "-c", "false"),
		Steps:  []testrec.Step{testrec.E(time.Second, "oops\n")}, Exit: testrec.Code(1),
	})
	writeRec(t, filepath.Join(dir, "3.cast.zst"), testrec.Session{
		Header: testrec.Header("alice", "prod", "default", "db-0", "pg", t0.Add(2*time.Hour), "psql"),
		Steps:  []testrec.Step{testrec.O(time.Second, "a"), testrec.O(70*time.Second, "b")},
	})
	if err := os.WriteFile(filepath.Join(dir, "4.cast.zst"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLsTable(t *testing.T) {
	t.Setenv("TZ", "UTC")
	dir := catalogDir(t)
	out, _, err := runCmd(t, "ls", dir)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 {
		t.Fatalf("want a header and 4 rows:\n%s", out)
	}
	for _, col := range []string{"STARTED", "USER", "CONTEXT", "NAMESPACE/POD/CONTAINER", "COMMAND", "DURATION", "EXIT", "SIZE", "STATE"} {
		if !strings.Contains(lines[0], col) {
			t.Errorf("header lacks %s: %q", col, lines[0])
		}
	}
	want := [][]string{
		{"alice", "prod", "default/web/main", "bash", "3.0s", " 0 ", "complete"},
		{"bob", "dev", "tools/debug/box", "sh -c false", "1.0s", " 1 ", "complete"},
		{"alice", "default/db-0/pg", "psql", "1m10s", "abrupt"},
	}
	rows := map[bool][]string{}
	for _, l := range lines[1:] {
		rows[strings.Contains(l, "not-a-recording")] = append(rows[strings.Contains(l, "not-a-recording")], l)
	}
	if len(rows[true]) != 1 || len(rows[false]) != 3 {
		t.Fatalf("rows:\n%s", out)
	}
	for i, w := range want {
		for _, s := range w {
			if !strings.Contains(rows[false][i], s) {
				t.Errorf("row %d %q lacks %q", i, rows[false][i], s)
			}
		}
	}

	out, _, err = runCmd(t, "ls", dir, "--user", "alice", "--namespace", "default", "--since", "2026-11-27T07:00:00Z", "-o", "name")
	if err != nil || strings.TrimSpace(out) != filepath.Join(dir, "3.cast.zst") {
		t.Errorf("filtered -o name: %q %v", out, err)
	}
	out, _, err = runCmd(t, "ls", dir, "--pod", "web", "-o", "wide")
	if err != nil || !strings.Contains(out, filepath.Join(dir, "1.cast.zst")) || strings.Count(strings.TrimSpace(out), "\n") != 1 {
		t.Errorf("wide: %q %v", out, err)
	}
}

func TestLsJSONAndEmpty(t *testing.T) {
	dir := catalogDir(t)
	out, _, err := runCmd(t, "ls", dir, "-o", "json", "--until", "2026-11-27T06:30:00Z", "--user", "*")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Items []struct {
			Path     string  `json:"path"`
			State    string  `json:"state"`
			Duration float64 `json:"duration"`
			ExitCode *int    `json:"exitCode"`
			Header   struct {
				Rexec struct{ Pod string } `json:"rexec"`
			} `json:"header"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(list.Items) != 1 || list.Items[0].Header.Rexec.Pod != "web" || list.Items[0].Duration != 3 || *list.Items[0].ExitCode != 0 {
		t.Errorf("json: %s", out)
	}
	out, errOut, err := runCmd(t, "ls", t.TempDir())
	if err != nil || out != "" || !strings.Contains(errOut, "No recordings found") {
		t.Errorf("empty dir: %q %q %v", out, errOut, err)
	}
	t.Setenv("KUBECTL_REXEC_DIR", dir)
	out, _, err = runCmd(t, "ls", "--no-headers")
	if err != nil || strings.Count(out, "\n") != 4 {
		t.Errorf("default directory from $KUBECTL_REXEC_DIR: %q %v", out, err)
	}
	if _, _, err := runCmd(t, "ls", dir, "--since", "last tuesday"); err == nil {
		t.Error("bad --since accepted")
	}
}

func TestInfo(t *testing.T) {
	t.Setenv("TZ", "UTC")
	dir := catalogDir(t)
	out, _, err := runCmd(t, "info", filepath.Join(dir, "1.cast.zst"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"State:", "complete", "User:", "alice", "Audit ID:", "audit-web", "End:", "exited, exit code 0",
		"Duration:", "3.0s", "Events:", "4 (i 1, o 2, x 1)", "Bytes:", "stdout 20, stderr 0, stdin 3"} {
		if !strings.Contains(out, s) {
			t.Errorf("info lacks %q:\n%s", s, out)
		}
	}
	out, _, err = runCmd(t, "info", filepath.Join(dir, "3.cast.zst"))
	if err != nil || !strings.Contains(out, "abrupt") || !strings.Contains(out, "no end record") || !strings.Contains(out, "1m10s") {
		t.Errorf("abrupt info: %v\n%s", err, out)
	}
	if _, _, err := runCmd(t, "info", filepath.Join(dir, "4.cast.zst")); err == nil || !strings.Contains(err.Error(), "not a kubectl-rexec recording") {
		t.Errorf("garbage: %v", err)
	}
	out, _, err = runCmd(t, "info", "-o", "json", filepath.Join(dir, "2.cast.zst"))
	var info struct {
		Events map[string]int  `json:"events"`
		Bytes  struct{ E int } `json:"bytes"`
	}
	if err != nil || json.Unmarshal([]byte(out), &info) != nil || info.Events["e"] != 1 || info.Bytes.E != 5 {
		t.Errorf("info json: %v %s", err, out)
	}
}

func TestParseOffset(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"90s": 90 * time.Second, "1h2m": time.Hour + 2*time.Minute, "90": 90 * time.Second, "2.5": 2500 * time.Millisecond,
		"1:02:03": time.Hour + 2*time.Minute + 3*time.Second, "2:03.5": 123500 * time.Millisecond, "end": -1, "": 0,
	} {
		got, err := parseOffset(in, 0)
		if err != nil || got != want {
			t.Errorf("parseOffset(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"-5s", "soon", "1:75", "1.5:00"} {
		if _, err := parseOffset(bad, 0); err == nil {
			t.Errorf("parseOffset(%q) accepted", bad)
		}
	}
}

func TestReplayFromToAndCommands(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "r.cast.zst")
	writeRec(t, p, testrec.Session{
		Header: testrec.Header("alice", "prod", "default", "web", "main", t0, "bash"),
		Steps: []testrec.Step{
			testrec.O(time.Second, "one\r\n"), testrec.M(time.Second, "first"),
			testrec.O(2*time.Second, "two\r\n"), testrec.M(3*time.Second, "second"),
			testrec.O(3*time.Second, "three\x1b]52;c;ZXZpbA==\x07\r\n"), testrec.O(4*time.Second, "four\r\n"),
		},
		Exit: testrec.Code(0),
	})
	out, _, err := runCmd(t, "replay", "--no-wait", "--safe", "--from", "2s", "--to", "3", p)
	if err != nil || out != "two\r\nthree\r\n" {
		t.Errorf("--from 2s --to 3 --safe: %q %v", out, err)
	}
	// Into a file or a pipe the exact bytes go out unless --safe.
	out, _, err = runCmdFiles(t, "replay", "--no-wait", "--from", "2s", "--to", "3", p)
	if err != nil || out != "two\r\nthree\x1b]52;c;ZXZpbA==\x07\r\n" {
		t.Errorf("--from 2s --to 3 into a file: %q %v", out, err)
	}
	// Into a writer that may be a terminal, they are filtered.
	out, _, err = runCmd(t, "replay", "--no-wait", "--from", "2s", "--to", "3", p)
	if err != nil || out != "two\r\nthree\r\n" {
		t.Errorf("--from 2s --to 3 into a buffer: %q %v", out, err)
	}
	out, _, err = runCmd(t, "replay", "--no-wait", "--raw", "--jump", "2", "--to", "3s", p)
	if err != nil || out != "three\x1b]52;c;ZXZpbA==\x07\r\n" {
		t.Errorf("--jump 2 --raw: %q %v", out, err)
	}
	out, _, err = runCmd(t, "replay", "--commands", p)
	if err != nil || !strings.Contains(out, "1     1s    first") || !strings.Contains(out, "2     3s    second") {
		t.Errorf("--commands:\n%s %v", out, err)
	}
	out, _, err = runCmd(t, "replay", "--from", "end", p)
	if err != nil || out != "one\ntwo\nthree\nfour\n" {
		t.Errorf("--from end (not a terminal): %q %v", out, err)
	}
	if _, _, err := runCmd(t, "replay", "--jump", "3", p); err == nil || !strings.Contains(err.Error(), "no command 3") {
		t.Errorf("--jump 3: %v", err)
	}
	if _, _, err := runCmd(t, "replay", "--from", "5s", "--to", "2s", p); err == nil {
		t.Error("--to before --from accepted")
	}
}

// TestNoRecordingsYet: before the first session the recording directory
// does not exist; ls lists nothing and grep finds nothing, neither errors
// about the directory. A directory named on the command line must exist.
func TestNoRecordingsYet(t *testing.T) {
	state := t.TempDir()
	t.Setenv("KUBECTL_REXEC_DIR", "")
	t.Setenv("XDG_STATE_HOME", state)
	missing := filepath.Join(state, "kubectl-rexec", "recordings")
	out, errOut, err := runCmd(t, "ls")
	if err != nil || out != "" || errOut != "No recordings found in "+missing+".\n" {
		t.Errorf("ls: out %q, err out %q, error %v; want only the no-recordings line", out, errOut, err)
	}
	out, _, err = runCmd(t, "ls", "-o", "json")
	if err != nil || !strings.Contains(out, `"items": []`) {
		t.Errorf("ls -o json: %q %v, want an empty list", out, err)
	}
	out, errOut, err = runCmd(t, "grep", "x")
	if out != "" || strings.Contains(errOut, "no such file") || err == nil {
		t.Errorf("grep: out %q, err out %q, error %v; want no match (exit 1) and no complaint", out, errOut, err)
	}
	if _, _, err := runCmd(t, "ls", missing); err == nil {
		t.Errorf("ls of a named missing directory succeeded")
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("ls created %s", missing)
	}
}
