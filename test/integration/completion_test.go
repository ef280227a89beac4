package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompletionQuietWithoutCluster: `kubectl-rexec __complete ”` (what
// kubectl_complete-rexec runs for `kubectl rexec <TAB>`) with no cluster in
// reach offers the subcommands and says nothing else on stderr: client-go's
// discovery errors (memcache.go lines) must not land amid the completions.
func TestCompletionQuietWithoutCluster(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n" +
		"users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
	if err := os.WriteFile(kubeconfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(rexecBin, "__complete", "")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "HOME="+t.TempDir())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("__complete: %v (stderr %q)", err, errb.String())
	}
	if !strings.Contains(out.String(), "replay\t") {
		t.Errorf("__complete '': stdout %q, want the subcommands", out.String())
	}
	// Cobra's own note on the directive is the one line allowed.
	for _, line := range strings.Split(strings.TrimSpace(errb.String()), "\n") {
		if line != "" && !strings.HasPrefix(line, "Completion ended with directive:") {
			t.Errorf("__complete '' printed on stderr: %q", line)
		}
	}
}
