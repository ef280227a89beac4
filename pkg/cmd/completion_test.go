package cmd

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func TestRecordingCompletions(t *testing.T) {
	cwd := t.TempDir()
	recDir := filepath.Join(t.TempDir(), "recordings")
	for _, f := range []string{
		filepath.Join(cwd, "a.cast.zst"),
		filepath.Join(cwd, "b.txt"),
		filepath.Join(cwd, ".hidden.cast.zst"),
		filepath.Join(cwd, "sub", "c.cast.zst"),
		filepath.Join(recDir, "20261127T061500Z_ctx_ns_pod_1a2b3c4d.cast.zst"),
		filepath.Join(recDir, "notes"),
	} {
		if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(cwd)
	rec := filepath.Join(recDir, "20261127T061500Z_ctx_ns_pod_1a2b3c4d.cast.zst")
	sep := string(filepath.Separator)
	for _, tt := range []struct {
		toComplete string
		want       []string
		dirs       bool
	}{
		{"", []string{rec, "a.cast.zst", "sub" + sep}, true},
		{"a", []string{"a.cast.zst"}, false},
		{".", []string{".hidden.cast.zst"}, false},
		{"su", []string{"sub" + sep}, true},
		{"sub/", []string{"sub/c.cast.zst"}, false},
		{"nope/", nil, false},
		{recDir + sep, []string{rec}, false},
		{rec[:len(rec)-5], []string{rec}, false},
	} {
		got, dirs := recordingCompletions(tt.toComplete, recDir)
		if !slices.Equal(got, tt.want) || dirs != tt.dirs {
			t.Errorf("recordingCompletions(%q) = %q, %v; want %q, %v", tt.toComplete, got, dirs, tt.want, tt.dirs)
		}
	}
}

// TestCompletionWiring asks the command tree, as the shell does through
// `kubectl-rexec __complete`, for what needs no cluster.
func TestCompletionWiring(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join("testdata", "does-not-exist"))
	cwd := t.TempDir()
	if err := os.WriteFile(filepath.Join(cwd, "s.cast.zst"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(cwd)
	t.Setenv("KUBECTL_REXEC_DIR", t.TempDir())
	for _, tt := range []struct {
		args []string
		want string // the output, directive line included
	}{
		{[]string{"version", "-o", ""}, "json\n:4\n"},
		{[]string{"replay", ""}, "s.cast.zst\n:4\n"},
		{[]string{"replay", "s.cast.zst", ""}, ":4\n"},
		{[]string{"replay", "--speed", ""}, ":4\n"},
		{[]string{"--request-timeout", ""}, ":4\n"},
		{[]string{"--token", ""}, ":4\n"},
		{[]string{"--kubeconfig", ""}, ":0\n"},
		{[]string{"--record-dir", ""}, ":16\n"},
		{[]string{"-f", ""}, "json\nyaml\nyml\n:8\n"},
	} {
		var out bytes.Buffer
		root := NewRootCmd(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &bytes.Buffer{}})
		root.SetOut(&out)
		root.SetErr(&bytes.Buffer{})
		root.SetArgs(append([]string{cobra.ShellCompNoDescRequestCmd}, tt.args...))
		if err := root.Execute(); err != nil {
			t.Fatalf("__complete %q: %v", tt.args, err)
		}
		if out.String() != tt.want {
			t.Errorf("__complete %q = %q, want %q", tt.args, out.String(), tt.want)
		}
	}
}
