package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "kubectl-rexec", "config.yaml")
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func noenv(string) string { return "" }

func ptr[T any](v T) *T { return &v }

func TestPathFollowsXDG(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", "/x/conf")
	if p, _ := Path(); p != "/x/conf/kubectl-rexec/config.yaml" {
		t.Fatal(p)
	}
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("HOME", "/home/u")
	if p, _ := Path(); p != "/home/u/.config/kubectl-rexec/config.yaml" {
		t.Fatal(p)
	}
}

func TestMissingFileIsDefaults(t *testing.T) {
	l, err := LoadFile(filepath.Join(t.TempDir(), "none.yaml"))
	if err != nil || l.Found {
		t.Fatal(l, err)
	}
	e := Resolve(l, Flags{}, noenv)
	if e.Mode != ModeRequired || !e.RecordInput || e.RecordUnechoedInput || !e.AllowUnechoedInput || e.AllowRecordOff || !e.AllowBestEffort || e.RequireReason || e.SignKey != "" || e.RecordDir != "" {
		t.Fatalf("%+v", e)
	}
	if err := e.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestFileValues(t *testing.T) {
	p := writeConfig(t, `
recordDir: recs
recordInput: false
recordUnechoedInput: true
recordMode: best-effort
allowRecordOff: true
requireReason: true
requireTicket: true
signKey: ~/keys/rexec
upload: s3://bucket/x
`)
	t.Setenv("HOME", "/home/u")
	l, err := LoadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	e := Resolve(l, Flags{}, noenv)
	if e.RecordDir != filepath.Join(filepath.Dir(p), "recs") || e.RecordInput || e.Mode != ModeBestEffort ||
		!e.AllowRecordOff || !e.RequireReason || !e.RequireTicket || e.SignKey != "/home/u/keys/rexec" || e.Upload.URL != "s3://bucket/x" {
		t.Fatalf("%+v", e)
	}
	for _, s := range e.Settings("/default") {
		if s.Source != SourceFile {
			t.Errorf("%s from %s", s.Name, s.Source)
		}
	}
}

func TestStrict(t *testing.T) {
	for body, want := range map[string]string{
		"requireReson: true\n":                                   `unknown field "requireReson"`,
		"recordMode: sometimes\n":                                `recordMode "sometimes" is not one of`,
		"recordMode: off\n":                                      "allowRecordOff: true",
		"recordMode: best-effort\nallowBestEffort: false\n":      "contradicts",
		"recordUnechoedInput: true\nallowUnechoedInput: false\n": "contradicts",
		"recordInput: [1]\n":                                     "config file",
	} {
		_, err := LoadFile(writeConfig(t, body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}

func TestPrecedence(t *testing.T) {
	l, err := LoadFile(writeConfig(t, "recordDir: /file\nrecordInput: false\nsignKey: /file.key\nrecordMode: best-effort\n"))
	if err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		if k == EnvRecordDir {
			return "/env"
		}
		return ""
	}
	e := Resolve(l, Flags{}, env)
	if e.RecordDir != "/env" || e.sources["recordDir"] != SourceEnv {
		t.Fatalf("env over file: %+v", e)
	}
	e = Resolve(l, Flags{RecordDir: ptr("/flag"), RecordInput: ptr(true), SignKey: ptr("/flag.key"), Mode: ptr(ModeRequired), Reason: ptr(" why "), Ticket: ptr("T-1")}, env)
	if e.RecordDir != "/flag" || !e.RecordInput || e.SignKey != "/flag.key" || e.Mode != ModeRequired || e.Reason != "why" || e.Ticket != "T-1" {
		t.Fatalf("flags over all: %+v", e)
	}
	got := map[string]Source{}
	for _, s := range e.Settings("/d") {
		got[s.Name] = s.Source
	}
	for _, k := range []string{"recordDir", "recordInput", "signKey", "recordMode", "reason", "ticket"} {
		if got[k] != SourceFlag {
			t.Errorf("%s from %s", k, got[k])
		}
	}
}

func TestPolicy(t *testing.T) {
	strict, err := LoadFile(writeConfig(t, "requireReason: true\nrequireTicket: true\nallowBestEffort: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	lax, err := LoadFile(writeConfig(t, "allowRecordOff: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	none, _ := LoadFile(filepath.Join(t.TempDir(), "none"))
	for _, tc := range []struct {
		l     *Loaded
		flags Flags
		want  string
	}{
		{none, Flags{Mode: ptr(ModeOff)}, "--record=off is not permitted"},
		{lax, Flags{Mode: ptr(ModeOff)}, ""},
		{none, Flags{Mode: ptr("nope")}, "--record must be one of"},
		{none, Flags{Mode: ptr(ModeBestEffort)}, ""},
		{strict, Flags{Mode: ptr(ModeBestEffort), Reason: ptr("r"), Ticket: ptr("t")}, "--record=best-effort is not permitted"},
		{strict, Flags{Ticket: ptr("t")}, "--reason is required by " + strict.Path},
		{strict, Flags{Reason: ptr("   "), Ticket: ptr("t")}, "--reason is required"},
		{strict, Flags{Reason: ptr("r")}, "--ticket is required by " + strict.Path},
		{strict, Flags{Reason: ptr("r"), Ticket: ptr("t")}, ""},
	} {
		err := Resolve(tc.l, tc.flags, noenv).Check()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.flags, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: %v, want %q", tc.flags, err, tc.want)
		}
	}
}

// TestBareOff: YAML 1.1 reads a bare off as false; it still means off.
func TestBareOff(t *testing.T) {
	for _, body := range []string{"recordMode: off\nallowRecordOff: true\n", "recordMode: \"off\"\nallowRecordOff: true\n"} {
		l, err := LoadFile(writeConfig(t, body))
		if err != nil {
			t.Fatal(err)
		}
		if e := Resolve(l, Flags{}, noenv); e.Mode != ModeOff || e.Check() != nil {
			t.Errorf("%q: mode %q, %v", body, e.Mode, e.Check())
		}
	}
}

func TestUploadSection(t *testing.T) {
	p := writeConfig(t, `
upload:
  url: s3://audit/rexec
  endpoint: http://127.0.0.1:7070
  pathStyle: true
  retention: {mode: compliance, days: 30}
  required: true
`)
	l, err := LoadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	u := l.File.Upload
	if u.URL != "s3://audit/rexec" || u.Endpoint != "http://127.0.0.1:7070" || !u.PathStyle || u.Retention == nil || u.Retention.Mode != "COMPLIANCE" || u.Retention.Days != 30 {
		t.Fatalf("%+v", u)
	}
	e := Resolve(l, Flags{Upload: ptr("off")}, noenv)
	if err := e.Check(); err == nil || !strings.Contains(err.Error(), "upload.required") {
		t.Errorf("--upload=off with required: %v", err)
	}
	e = Resolve(l, Flags{}, func(k string) string {
		if k == EnvUpload {
			return "s3://other/x"
		}
		return ""
	})
	if e.Upload.URL != "s3://other/x" || e.Upload.Endpoint != "http://127.0.0.1:7070" || e.Check() != nil {
		t.Errorf("env override: %+v %v", e.Upload, e.Check())
	}
	for _, bad := range []string{
		"upload: http://x/y\n",
		"upload: {url: s3://b, retention: {mode: forever, days: 1}}\n",
		"upload: {url: s3://b, retention: {mode: GOVERNANCE, days: 0}}\n",
		"upload: {url: s3://b, endpiont: x}\n",
		"upload: {required: true}\n",
	} {
		if _, err := LoadFile(writeConfig(t, bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	e = Resolve(l, Flags{Upload: ptr("gs://x")}, noenv)
	if err := e.Check(); err == nil {
		t.Error("accepted --upload gs://x")
	}
}

// The file can forbid recording typed input that was not echoed; the flag
// is then refused with a message that names the file.
func TestUnechoedInputPolicy(t *testing.T) {
	l, err := LoadFile(writeConfig(t, "allowUnechoedInput: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	on := true
	e := Resolve(l, Flags{RecordUnechoedInput: &on}, noenv)
	if err := e.Check(); err == nil || !strings.Contains(err.Error(), "--record-unechoed-input is not permitted") || !strings.Contains(err.Error(), l.Path) {
		t.Fatalf("check: %v", err)
	}
	if e := Resolve(l, Flags{}, noenv); e.RecordUnechoedInput || e.Check() != nil {
		t.Fatalf("without the flag: %+v %v", e, e.Check())
	}
	l, _ = LoadFile(writeConfig(t, ""))
	if e := Resolve(l, Flags{RecordUnechoedInput: &on}, noenv); !e.RecordUnechoedInput || e.Check() != nil {
		t.Fatalf("allowed by default: %+v %v", e, e.Check())
	}
}
