package session

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"

	"k8s.io/streaming/pkg/httpstream"
)

func TestExplainNamesTheCause(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, "connection reset by peer"},
		{errors.New("next reader: websocket: close 1006 (abnormal closure): unexpected EOF"), "the WebSocket closed without a close frame"},
		{fmt.Errorf("error reading from error stream: %w", io.ErrUnexpectedEOF), "the connection was closed"},
		{&httpstream.UpgradeFailureError{Cause: errors.New("502 Bad Gateway")}, "upgrade refused"},
		{errors.New("tls: failed to verify certificate: x509: certificate signed by unknown authority"), "TLS error"},
		{&net.OpError{Op: "read", Err: timeoutErr{}}, "no reply to pings in time"},
		{errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), "connection refused"},
		{errors.New("something else"), "the stream failed"},
	} {
		got := explain(tc.err)
		if got.Reason != tc.want {
			t.Errorf("%v: reason %q, want %q", tc.err, got.Reason, tc.want)
		}
		msg := got.Error()
		if !strings.HasPrefix(msg, "connection lost: "+tc.want) || !strings.Contains(msg, tc.err.Error()) || got.Hop == "" {
			t.Errorf("message %q", msg)
		}
		if !errors.Is(got, tc.err) {
			t.Errorf("the stream error is not wrapped")
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// TestServerURLWithPasswordNamed: an exec URL with user:password@ is
// refused up front with a message that says what is wrong with it (and not
// the password); the dialer's own "malformed ws or wss URL", should it
// come, is explained the same way, not blamed on a proxy.
func TestServerURLWithPasswordNamed(t *testing.T) {
	u, _ := url.Parse("https://admin:srv-pass-Q9z@api.example:6443/api/v1/namespaces/default/pods/web/exec?command=sh")
	err := checkExecURL(u, true)
	if err == nil || !strings.Contains(err.Error(), "https://admin:xxxxx@api.example:6443 holds a user name and password") ||
		strings.Contains(err.Error(), "srv-pass-Q9z") || strings.Contains(err.Error(), "proxy") {
		t.Errorf("got %v", err)
	}
	if err := checkExecURL(u, false); err != nil {
		t.Errorf("SPDY: %v", err)
	}
	got := explain(errors.New("malformed ws or wss URL"))
	if strings.Contains(got.Error(), "proxy") || !strings.Contains(got.Error(), "user name and password") {
		t.Errorf("explain: %v", got)
	}
}
