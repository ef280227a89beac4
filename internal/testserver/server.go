package testserver

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testexec"
)

// User is who the SelfSubjectReview says the caller is.
type User struct {
	Username string
	UID      string
	Groups   []string
	Extra    map[string][]string
}

// Options configure a Server. The zero value serves no pods.
type Options struct {
	// Pods are served by GET and LIST and are what exec runs in. A pod
	// without a namespace is put in "default".
	Pods []corev1.Pod
	// Deployments are served by GET and LIST, so that kubectl resolves
	// deploy/NAME through its selector to one of Pods.
	Deployments []appsv1.Deployment
	// User is returned by SelfSubjectReview.
	User User
	// ForbidSelfSubjectReview answers SelfSubjectReview with 403, as a
	// cluster that does not grant it does.
	ForbidSelfSubjectReview bool
	// Authorize answers SelfSubjectAccessReviews: allowed or not, and the
	// reason. Nil allows everything. Only the review answers; requests
	// themselves are not authorized.
	Authorize func(authorizationv1.ResourceAttributes) (allowed bool, reason string)
	// Token, when set, is the only bearer token accepted; any request
	// without it gets 401.
	Token string
	// RejectWebSocket answers WebSocket upgrades of pods/exec with 403 and
	// a Status, as some proxies and OpenShift versions do, so clients must
	// fall back to SPDY.
	RejectWebSocket bool
	// RejectSPDY answers SPDY upgrades of pods/exec with 403.
	RejectSPDY bool
	// CutAfter, when positive, closes the connection of every exec request
	// this long after it arrived, below TLS, as a lost network would.
	CutAfter time.Duration
	// Executor runs the commands; nil means a new testexec.Executor
	// (working in a temporary directory when made by Start).
	Executor *testexec.Executor
	// Runner, when set, runs the commands instead of Executor (which then
	// sees no calls): another runtime behind the same exec path, such as
	// the e2e node's sandbox for the demo's quick start.
	Runner remotecommand.Executor
}

// ExecRequest is one request to the pods/exec subresource as it arrived.
type ExecRequest struct {
	Method    string
	Namespace string
	Pod       string
	// Protocol is the upgrade asked for: "websocket", "spdy" or "none".
	Protocol string
	// Subprotocols are the stream protocols the client offered
	// (Sec-WebSocket-Protocol or X-Stream-Protocol-Version).
	Subprotocols []string
	// AuditID is the request's Audit-ID header, empty when it sent none.
	AuditID string
	// Query is the request's query: command, container, stdin, stdout,
	// stderr, tty.
	Query url.Values
	// Refused is the status the server answered with instead of handing
	// the request to the exec code (403, 404, 400...); 0 when handed over.
	Refused int
}

// Request is any API request, for checking what a client asked.
type Request struct {
	Method   string
	Path     string
	RawQuery string
	AuditID  string
}

// Server is a running API stand-in with its kubelet stand-in.
type Server struct {
	// URL is the API server's base URL, https://127.0.0.1:PORT.
	URL string
	// CAData is the PEM certificate clients must trust.
	CAData []byte
	// Executor runs the commands of exec sessions.
	Executor *testexec.Executor

	opts    Options
	runner  remotecommand.Executor // Options.Runner, else Executor
	store   *store
	api     *httptest.Server
	kubelet *httptest.Server
	apiConn *connTracker
	kubConn *connTracker
	// kubeletTransport is what the stream translator dials the kubelet
	// with: it trusts the test CA, as kube-apiserver trusts the kubelet's.
	kubeletTransport *http.Transport
	// kubeletExecs counts requests that reached the kubelet stand-in.
	kubeletExecs atomic.Int64

	mu       sync.Mutex
	execs    []ExecRequest
	requests []Request
	closed   bool
}

// Start starts a Server for the test and closes it when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Executor == nil {
		opts.Executor = testexec.New(t.TempDir(), nil)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// New starts a Server; the caller must Close it.
func New(opts Options) (*Server, error) {
	if opts.Executor == nil {
		opts.Executor = testexec.New("", nil)
	}
	if opts.Runner == nil {
		opts.Runner = opts.Executor
	}
	st, err := newStore(opts.Pods, opts.Deployments)
	if err != nil {
		return nil, err
	}
	s := &Server{
		Executor: opts.Executor,
		runner:   opts.Runner,
		opts:     opts,
		store:    st,
		apiConn:  newConnTracker(),
		kubConn:  newConnTracker(),
	}

	s.kubelet = startTLS(s.kubeletHandler(), s.kubConn)
	pool := x509.NewCertPool()
	pool.AddCert(s.kubelet.Certificate())
	s.kubeletTransport = &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}

	s.api = startTLS(s.apiHandler(), s.apiConn)
	s.URL = s.api.URL
	s.CAData = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.api.Certificate().Raw})
	return s, nil
}

// startTLS starts an HTTP/1.1 TLS test server (the stream upgrades need
// HTTP/1.1) whose connections t tracks.
func startTLS(h http.Handler, t *connTracker) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = t.listener(srv.Listener)
	srv.Config.ConnContext = t.connContext
	srv.StartTLS()
	return srv
}

// Close kills every command still running and stops both servers.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()

	s.Executor.KillAll()
	// Hijacked connections outlive httptest's Close; end them so their
	// handlers return.
	s.apiConn.closeAll()
	s.kubConn.closeAll()
	s.api.Close()
	s.kubelet.Close()
	s.kubeletTransport.CloseIdleConnections()
	s.Executor.WaitIdle(5 * time.Second)
}

// CutConnections closes every client connection to the API server below
// TLS, exec sessions included, as a lost network would. The server keeps
// running; the sessions' commands are killed because their client is gone.
func (s *Server) CutConnections() {
	s.apiConn.closeAll()
}

// RESTConfig returns a client-go config for the server, with the token
// when Options.Token is set.
func (s *Server) RESTConfig() *rest.Config {
	return &rest.Config{
		Host:            s.URL,
		BearerToken:     s.opts.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: slices.Clone(s.CAData)},
	}
}

// Execs returns every pods/exec request so far, oldest first.
func (s *Server) Execs() []ExecRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ExecRequest, len(s.execs))
	for i, e := range s.execs {
		e.Subprotocols = slices.Clone(e.Subprotocols)
		e.Query = cloneValues(e.Query)
		out[i] = e
	}
	return out
}

// Upgrades returns the Protocol of every pods/exec request so far, refused
// ones included, oldest first: "websocket", "spdy" or "none".
func (s *Server) Upgrades() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.execs))
	for i, e := range s.execs {
		out[i] = e.Protocol
	}
	return out
}

// Requests returns every API request so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Calls returns every command the executor was asked to run.
func (s *Server) Calls() []testexec.Call {
	return s.Executor.Calls()
}

// LastCall returns the last command the executor was asked to run, or the
// zero Call.
func (s *Server) LastCall() testexec.Call {
	c, _ := s.Executor.LastCall()
	return c
}

func (s *Server) recordRequest(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r)
}

// recordExec stores e and returns its index for setRefused.
func (s *Server) recordExec(e ExecRequest) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.execs = append(s.execs, e)
	return len(s.execs) - 1
}

func (s *Server) setRefused(i, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.execs[i].Refused = code
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

var errDuplicate = errors.New("duplicate object")
