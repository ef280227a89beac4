package gateway

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/client-go/kubernetes"
)

// Gateway is the rexec gateway server.
type Gateway struct {
	cfg     Config
	fp      *frontProxy
	uploads *uploads
	logf    func(string, ...any)

	// ctx ends every session: cancelled when a drain gives up.
	ctx    context.Context
	cancel context.CancelCauseFunc

	mu       sync.Mutex
	draining bool
	sessions sync.WaitGroup
	active   atomic.Int64
}

// New checks cfg and prepares a gateway; Run serves it.
func New(cfg Config) (*Gateway, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Logf == nil {
		cfg.Logf = log.Printf
	}
	fp, err := newFrontProxy(cfg.Client)
	if err != nil {
		return nil, err
	}
	up, err := newUploads(&cfg)
	if err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, fp: fp, uploads: up, logf: cfg.Logf}
	g.ctx, g.cancel = context.WithCancelCause(context.Background())
	return g, nil
}

// admit counts a new session in, unless the gateway is draining.
func (g *Gateway) admit() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.draining {
		return false
	}
	g.sessions.Add(1)
	g.active.Add(1)
	return true
}

// leave counts a session out; every admit is paired with one.
func (g *Gateway) leave() {
	g.active.Add(-1)
	g.sessions.Done()
}

// Active is the number of sessions running now.
func (g *Gateway) Active() int64 { return g.active.Load() }

// Run serves until ctx ends, then drains: no new sessions, and the running
// ones get up to drainTimeout to finish before they are ended (their
// recordings closed with reason "interrupted").
func (g *Gateway) Run(ctx context.Context, drainTimeout time.Duration) error {
	if err := g.fp.start(ctx); err != nil {
		return err
	}
	if g.uploads != nil {
		go g.uploads.drain(g.ctx, g.cfg.RetryEvery)
	}
	if g.cfg.DebugListen != "" {
		if err := g.serveDebug(ctx, g.cfg.DebugListen); err != nil {
			return err
		}
	}
	getCert, err := g.servingCert(ctx)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", g.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", g.cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           g.Handler(),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(logWriter{g.logf}, "", 0),
		TLSConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			// The certificate is checked against the request-header CA in
			// frontProxy, which follows the ConfigMap; at the TLS level it
			// is only asked for.
			ClientAuth:     tls.RequestClientCert,
			GetCertificate: getCert,
			NextProtos:     []string{"http/1.1"},
		},
	}
	g.logf("rexec gateway %s serving on %s", g.cfg.Instance, ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	g.drain(drainTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return nil
}

// servingCert serves Bootstrap's certificate, or the files, reloaded when
// they change (a cert-manager or Secret-volume rotation).
func (g *Gateway) servingCert(ctx context.Context) (func(*tls.ClientHelloInfo) (*tls.Certificate, error), error) {
	if c := g.cfg.ServingCert; c != nil {
		return func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c, nil }, nil
	}
	files, err := dynamiccertificates.NewDynamicServingContentFromFiles("serving", g.cfg.CertFile, g.cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	go files.Run(ctx, 1)
	return func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		c, err := tls.X509KeyPair(files.CurrentCertKeyContent())
		return &c, err
	}, nil
}

// drain stops taking sessions and waits for the running ones.
func (g *Gateway) drain(timeout time.Duration) {
	g.mu.Lock()
	g.draining = true
	g.mu.Unlock()
	g.logf("draining: %d session(s) running, waiting up to %v", g.Active(), timeout)
	done := make(chan struct{})
	go func() { g.sessions.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		g.cancel(errors.New("the rexec gateway was shut down"))
		<-done
	}
}

type logWriter struct{ logf func(string, ...any) }

func (l logWriter) Write(p []byte) (int, error) {
	l.logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Handler serves the gateway's paths.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", ok)
	mux.HandleFunc("/livez", ok)
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		draining := g.draining
		g.mu.Unlock()
		if draining {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		ok(w, r)
	})
	mux.HandleFunc("/", g.serveAPI)
	return mux
}

func ok(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }

// serveAPI serves discovery and the group's paths, to authenticated
// requests only.
func (g *Gateway) serveAPI(w http.ResponseWriter, r *http.Request) {
	u, err := g.fp.authenticate(r)
	if err != nil {
		writeStatus(w, apierrors.NewUnauthorized(err.Error()))
		return
	}
	if g.serveDiscovery(w, r) {
		return
	}
	ns, pod, sub, ok := parsePath(r.URL.Path)
	if !ok {
		writeStatus(w, apierrors.NewNotFound(podsResource(""), r.URL.Path))
		return
	}
	if sub == "" {
		g.servePod(w, r, u, ns, pod)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		writeStatus(w, apierrors.NewMethodNotSupported(podsResource(sub), r.Method))
		return
	}
	req, st := parseRequest(ns, pod, sub, r.URL.Query())
	if st != nil {
		writeStatus(w, st)
		return
	}
	g.serveSession(w, r, u, req)
}

// parsePath reads /apis/GROUP/VERSION/namespaces/NS/pods/POD[/exec|/attach].
func parsePath(p string) (ns, pod, sub string, ok bool) {
	rest, found := strings.CutPrefix(p, "/apis/"+Group+"/"+Version+"/namespaces/")
	if !found {
		return "", "", "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) < 3 || parts[1] != "pods" || parts[0] == "" || parts[2] == "" {
		return "", "", "", false
	}
	switch {
	case len(parts) == 3:
		return parts[0], parts[2], "", true
	case len(parts) == 4 && (parts[3] == "exec" || parts[3] == "attach"):
		return parts[0], parts[2], parts[3], true
	}
	return "", "", "", false
}

// writeStatus answers with a Status, as the API server does.
func writeStatus(w http.ResponseWriter, st *apierrors.StatusError) {
	s := st.Status()
	s.Kind, s.APIVersion = "Status", "v1"
	if s.Status == "" {
		s.Status = metav1.StatusFailure
	}
	code := int(s.Code)
	if code == 0 {
		code = http.StatusInternalServerError
	}
	writeJSON(w, code, s)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// servePod answers GET on the group's pods resource with the core pod, read
// as the user: the same object, the same rights.
func (g *Gateway) servePod(w http.ResponseWriter, r *http.Request, u user.Info, ns, name string) {
	if r.Method != http.MethodGet {
		writeStatus(w, apierrors.NewMethodNotSupported(podsResource(""), r.Method))
		return
	}
	client, err := kubernetes.NewForConfig(impersonate(g.cfg.Upstream, u, ""))
	if err != nil {
		writeStatus(w, apierrors.NewInternalError(err))
		return
	}
	pod, err := client.CoreV1().Pods(ns).Get(r.Context(), name, metav1.GetOptions{})
	if err != nil {
		if st := upstreamStatus(err); st != nil {
			writeStatus(w, st)
			return
		}
		writeStatus(w, apierrors.NewInternalError(err))
		return
	}
	pod.APIVersion, pod.Kind = Group+"/"+Version, "Pod"
	writeJSON(w, http.StatusOK, pod)
}
