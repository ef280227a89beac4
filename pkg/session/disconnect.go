package session

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"

	"k8s.io/streaming/pkg/httpstream"
)

// Hints name the hop to check first. The path is: this client, any proxy or
// load balancer (HAProxy, an ingress, a corporate proxy), the API server,
// then the kubelet and the container runtime.
const (
	hopProxyOrServer = "likely a proxy or load balancer between here and the API server " +
		"(an idle or tunnel timeout such as HAProxy's 'timeout tunnel'), else the API server itself"
	hopUpgrade = "the API server or a proxy refused the streaming upgrade; a proxy that drops the " +
		"'Upgrade' and 'Connection' headers causes this"
	hopTLS   = "check the server certificate and any TLS-intercepting proxy on the path"
	hopProxy = "the HTTPS proxy in effect (kubeconfig proxy-url or HTTPS_PROXY) refused or failed the connection"
	hopPing  = "the API server stopped answering pings; check the network path and the API server's load"
	// hopGateway: the session went through the rexec gateway, which the
	// API server proxies to.
	hopGateway = "the rexec gateway ended the stream or went away (its recording of the session ends there, and is uploaded when it restarts); " +
		"check it with: kubectl -n rexec-system get pods,events; else a proxy in front of the API server, or the API server itself"
)

// explain names why a stream ended early, from the error client-go gave.
func explain(err error) *ConnectionLostError {
	msg := err.Error()
	lost := func(reason, hop string) *ConnectionLostError {
		return &ConnectionLostError{Reason: reason, Hop: hop, Err: err}
	}
	var unknownAuthority x509.UnknownAuthorityError
	var hostnameErr x509.HostnameError
	var certInvalid x509.CertificateInvalidError
	var netErr net.Error
	switch {
	case httpstream.IsHTTPSProxyError(err):
		return lost("proxy error", hopProxy)
	case upgradeRefused(err):
		return lost("upgrade refused", hopUpgrade)
	case errors.As(err, &unknownAuthority), errors.As(err, &hostnameErr), errors.As(err, &certInvalid),
		strings.Contains(msg, "tls: "), strings.Contains(msg, "x509: "):
		return lost("TLS error", hopTLS)
	case errors.Is(err, syscall.ECONNRESET), strings.Contains(msg, "connection reset by peer"):
		return lost("connection reset by peer", hopProxyOrServer)
	case errors.Is(err, syscall.ECONNREFUSED), strings.Contains(msg, "connection refused"):
		return lost("connection refused", "nothing listens at the server address; check the kubeconfig's server URL and that the API server (or the proxy in front of it) is up")
	case strings.Contains(msg, "close 1006"), strings.Contains(msg, "abnormal closure"):
		return lost("the WebSocket closed without a close frame", hopProxyOrServer)
	case errors.As(err, &netErr) && netErr.Timeout(), strings.Contains(msg, "i/o timeout"):
		return lost("no reply to pings in time", hopPing)
	case strings.Contains(msg, "malformed ws or wss URL"):
		return lost("the server URL is not one a WebSocket may use", "check the kubeconfig's server URL (or --server): "+
			"a user name and password in it (user:password@) is what the WebSocket exec stream refuses")
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), strings.Contains(msg, "EOF"):
		return lost("the connection was closed", hopProxyOrServer)
	}
	return lost("the stream failed", hopProxyOrServer)
}

// upgradeRefused is true when the server or a proxy answered the upgrade
// with a status. client-go types the WebSocket refusal, but its SPDY round
// tripper reports one only as "unable to upgrade connection: ..." text.
func upgradeRefused(err error) bool {
	return httpstream.IsUpgradeFailure(err) || strings.Contains(err.Error(), "unable to upgrade connection")
}

// URLCredentialsError says that the API server URL holds a user name and
// password, which the WebSocket exec stream refuses (the gorilla/websocket
// dialer client-go uses fails with "malformed ws or wss URL", and kubectl
// exec with it). URL is the server's address with the password hidden.
type URLCredentialsError struct {
	URL string
}

func (e *URLCredentialsError) Error() string {
	return fmt.Sprintf("the API server URL %s holds a user name and password (user:password@), which the WebSocket exec "+
		"stream does not allow (kubectl exec fails on it with \"malformed ws or wss URL\"): remove them from the cluster's "+
		"server URL in the kubeconfig (or --server), and give the credentials in the kubeconfig's user entry "+
		"(username and password, or a token)", e.URL)
}

// checkExecURL refuses, before anything is recorded or sent, an exec URL
// the WebSocket stream cannot use.
func checkExecURL(u *url.URL, websocket bool) error {
	if !websocket || u == nil || u.User == nil {
		return nil
	}
	shown := (&url.URL{Scheme: u.Scheme, User: u.User, Host: u.Host}).Redacted()
	return &URLCredentialsError{URL: shown}
}
