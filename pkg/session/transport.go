package session

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

// Upgrade is what one upgrade attempt (WebSocket or SPDY) got back.
type Upgrade struct {
	Kind     string // "websocket" or "spdy"
	Status   int    // HTTP status; 101 when the upgrade succeeded
	Protocol string // negotiated sub-protocol, e.g. v5.channel.k8s.io
	Took     time.Duration
	At       time.Time // when the answer arrived
	// Body is the start of a refusal's body (a Status, from the API
	// server), up to 64 KiB; empty for a successful upgrade.
	Body []byte
}

// UpgradeWatcher sees every HTTP exchange of an exec request. client-go hides
// which protocol it negotiated; the upgrade response tells us, and it arrives
// before any stream byte, which is when the recording header must be written.
// doctor uses the same watcher to report each protocol's handshake.
type UpgradeWatcher struct {
	AuditID   string        // sent as the Audit-ID header when set
	OnUpgrade func(Upgrade) // called on a successful upgrade (101)

	mu       sync.Mutex
	attempts []Upgrade
}

// Wrap returns a copy of config whose transports report to w.
func (w *UpgradeWatcher) Wrap(config *rest.Config) *rest.Config {
	c := rest.CopyConfig(config)
	inner := c.WrapTransport
	c.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		if inner != nil {
			rt = inner(rt)
		}
		return &watchingRoundTripper{next: rt, w: w}
	}
	return c
}

func (w *UpgradeWatcher) record(u Upgrade) {
	w.mu.Lock()
	w.attempts = append(w.attempts, u)
	w.mu.Unlock()
	if u.Status == http.StatusSwitchingProtocols && w.OnUpgrade != nil {
		w.OnUpgrade(u)
	}
}

// Attempts returns the upgrade attempts so far, oldest first.
func (w *UpgradeWatcher) Attempts() []Upgrade {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Upgrade(nil), w.attempts...)
}

// Last returns the latest upgrade attempt, if there was one.
func (w *UpgradeWatcher) Last() (Upgrade, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.attempts) == 0 {
		return Upgrade{}, false
	}
	return w.attempts[len(w.attempts)-1], true
}

type watchingRoundTripper struct {
	next http.RoundTripper
	w    *UpgradeWatcher
}

func (rt *watchingRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if rt.w.AuditID != "" && req.Header.Get("Audit-ID") == "" {
		// The API server adopts a caller's Audit-ID as the audit event's ID,
		// which lets an auditor join the recording with the audit log.
		req = req.Clone(req.Context())
		req.Header.Set("Audit-ID", rt.w.AuditID)
	}
	kind := upgradeKind(req)
	start := time.Now()
	resp, err := rt.next.RoundTrip(req)
	if kind == "" {
		return resp, err
	}
	u := Upgrade{Kind: kind, Took: time.Since(start), At: time.Now()}
	if resp != nil {
		u.Status = resp.StatusCode
		u.Protocol = negotiated(kind, resp)
		if resp.StatusCode != http.StatusSwitchingProtocols && resp.Body != nil {
			u.Body, resp.Body = peekBody(resp.Body)
		}
	}
	rt.w.record(u)
	return resp, err
}

// peekBody reads the start of a body and gives back one that still holds
// all of it, for client-go to read as it would have.
func peekBody(body io.ReadCloser) ([]byte, io.ReadCloser) {
	b, err := io.ReadAll(io.LimitReader(body, 64<<10))
	rest := io.MultiReader(bytes.NewReader(b), body)
	if err != nil {
		rest = io.MultiReader(bytes.NewReader(b), errReader{err})
	}
	return b, readCloser{rest, body}
}

type readCloser struct {
	io.Reader
	io.Closer
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// upgradeKind tells the exec upgrade attempts apart. The Upgrade header is
// set below this wrapper, but the protocol offers are set above it.
func upgradeKind(req *http.Request) string {
	switch {
	case req.Header.Get("Sec-WebSocket-Protocol") != "" || strings.EqualFold(req.Header.Get("Upgrade"), "websocket"):
		return "websocket"
	case req.Header.Get("X-Stream-Protocol-Version") != "" || strings.EqualFold(req.Header.Get("Upgrade"), "spdy/3.1"):
		return "spdy"
	}
	return ""
}

func negotiated(kind string, resp *http.Response) string {
	if kind == "websocket" {
		return resp.Header.Get("Sec-WebSocket-Protocol")
	}
	return resp.Header.Get("X-Stream-Protocol-Version")
}
