package doctor

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testserver"
)

// TestServerURLWithPassword: a server URL holding user:password@ is named
// as the problem (the WebSocket exec stream refuses it), never a proxy,
// and the password is never shown.
func TestServerURLWithPassword(t *testing.T) {
	srv := testserver.Start(t, serverOptions())
	kc := filepath.Join(t.TempDir(), "kc")
	writeKubeconfig(t, srv.Kubeconfig(t), kc, func(c *clientcmdConfig) {
		c.Clusters[testserver.KubeconfigCluster].Server = strings.Replace(srv.URL, "https://", "https://admin:srv-pass-Q9z@", 1)
	})
	r, text, js := runDoctor(t, config(t, kc, "demo"))
	c := check(t, r, "kubeconfig", "server")
	if c.Status != StatusFail || !strings.Contains(c.Detail, "user name and password") || !strings.Contains(c.Hint, "user entry") {
		t.Errorf("server: %s %q hint %q", c.Status, c.Detail, c.Hint)
	}
	for _, out := range []string{text, js} {
		if strings.Contains(out, "srv-pass-Q9z") {
			t.Errorf("the password appears in the output")
		}
	}
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(strings.ToLower(l), "websocket") && strings.Contains(strings.ToLower(l), "proxy") {
			t.Errorf("a WebSocket failure blames a proxy: %s", l)
		}
	}
	t.Logf("%s", text)
}
