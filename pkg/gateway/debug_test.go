package gateway

import (
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
)

// TestActiveCountsRunningSessions: a session that ends is counted out, so
// that the drain log and /debug/memstats say how many really run.
func TestActiveCountsRunningSessions(t *testing.T) {
	g := &Gateway{}
	if !g.admit() || !g.admit() {
		t.Fatal("admit refused while not draining")
	}
	g.leave()
	if got := g.Active(); got != 1 {
		t.Fatalf("Active() = %d after two sessions began and one ended, want 1", got)
	}
	g.leave()
	if got := g.Active(); got != 0 {
		t.Fatalf("Active() = %d after both ended, want 0", got)
	}
	g.sessions.Wait() // returns at once: every admit was paired with a leave
}

func TestCheckDebugListen(t *testing.T) {
	for _, ok := range []string{"", "127.0.0.1:6060", "[::1]:6060", "localhost:6060", "127.0.0.2:0"} {
		if err := checkDebugListen(ok); err != nil {
			t.Errorf("checkDebugListen(%q) = %v, want accepted", ok, err)
		}
	}
	for _, bad := range []string{":6060", "0.0.0.0:6060", "10.0.0.1:6060", "[::]:6060", "example.com:6060", "6060"} {
		err := checkDebugListen(bad)
		if err == nil {
			t.Errorf("checkDebugListen(%q) accepted, want refused", bad)
			continue
		}
		if !strings.Contains(err.Error(), "--debug-listen") {
			t.Errorf("checkDebugListen(%q) = %q, want the flag named", bad, err)
		}
	}
}

// TestConfigRefusesPublicDebugListener: the check runs with the rest of
// the configuration, before anything listens.
func TestConfigRefusesPublicDebugListener(t *testing.T) {
	c := validConfig(t)
	c.DebugListen = "0.0.0.0:6060"
	if err := c.check(); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("check() = %v, want the non-loopback debug address refused", err)
	}
	c = validConfig(t)
	c.UpstreamProtocol = "h2"
	if err := c.check(); err == nil || !strings.Contains(err.Error(), "--upstream-protocol") {
		t.Fatalf("check() = %v, want the unknown upstream protocol refused", err)
	}
	c = validConfig(t)
	if err := c.check(); err != nil || c.UpstreamProtocol != UpstreamWebSocket {
		t.Fatalf("check() = %v, upstream %q; want WebSocket by default", err, c.UpstreamProtocol)
	}
}

func TestDebugHandler(t *testing.T) {
	g := &Gateway{}
	g.admit()
	defer g.leave()
	srv := httptest.NewServer(g.debugHandler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/debug/memstats?gc=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m memStats
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("decoding /debug/memstats: %v", err)
	}
	if m.Sessions != 1 || m.Goroutines == 0 || m.HeapAlloc == 0 || m.NumGC == 0 {
		t.Errorf("memstats %+v: want 1 session, goroutines, a heap and the GC asked for", m)
	}
	resp2, err := http.Get(srv.URL + "/debug/pprof/heap?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusOK {
		t.Errorf("/debug/pprof/heap: %s", resp2.Status)
	}
}

// validConfig is a Config that passes check.
func validConfig(t *testing.T) *Config {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Config{
		Upstream: &rest.Config{Host: "https://api"}, Client: fake.NewClientset(),
		RecordDir: t.TempDir(), SpoolDir: t.TempDir(), SignKey: key,
		ServingCert: &tls.Certificate{}, Instance: "gw-0",
	}
}
