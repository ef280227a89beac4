package integration

import (
	"strings"
	"testing"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testserver"
)

// TestServerURLWithPassword: a server URL holding user:password@ fails
// with a message that says what is wrong with the URL, not one that blames
// a proxy, and the password appears nowhere.
func TestServerURLWithPassword(t *testing.T) {
	srv, kc := cluster(t, testserver.Options{})
	server := strings.Replace(srv.URL, "https://", "https://admin:srv-pass-Q9z@", 1)
	r := rexec(t, kc, nil, "", "-s", server, "demo", "--", "echo", "hi")
	if r.code == 0 || !strings.Contains(r.stderr, "holds a user name and password") || strings.Contains(r.stderr, "proxy") ||
		strings.Contains(r.stderr, "srv-pass-Q9z") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	t.Logf("stderr: %s", r.stderr)
}
