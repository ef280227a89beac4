package node

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

// streamIdleTimeout and streamCreationTimeout are the kubelet's defaults
// (--streaming-connection-idle-timeout=4h; 30s to open the streams).
const (
	streamIdleTimeout     = 4 * time.Hour
	streamCreationTimeout = remotecommand.DefaultStreamCreationTimeout
)

// handler serves the subset of the kubelet API that `kubectl exec` reaches
// through kube-apiserver.
func (n *Node) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	})
	// kube-apiserver uses the first form; the kubelet also accepts the pod UID.
	mux.HandleFunc("/exec/{namespace}/{pod}/{container}", n.serveExec)
	mux.HandleFunc("/exec/{namespace}/{pod}/{uid}/{container}", n.serveExec)
	// No container writes logs here; an empty log keeps `kubectl logs` quiet.
	mux.HandleFunc("/containerLogs/{namespace}/{pod}/{container}", func(w http.ResponseWriter, r *http.Request) {
		if _, err := n.lookup(podKey(r.PathValue("namespace"), r.PathValue("pod")), r.PathValue("container")); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
	})
	return mux
}

func (n *Node) serveExec(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	ns, pod, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	key := podKey(ns, pod)
	if _, err := n.lookup(key, container); err != nil {
		// The kubelet answers 404 for an unknown pod before upgrading.
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	opts, err := remotecommand.NewOptions(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	cmd := r.URL.Query()["command"]
	n.logf("exec %s/%s -c %s tty=%v stdin=%v: %q", ns, pod, container, opts.TTY, opts.Stdin, cmd)

	// After the upgrade net/http no longer watches the connection, so the
	// request context would not end when the client goes away. Wrapping the
	// hijacked connection turns its close (or a read error) into a cancel,
	// which the executor answers by killing the command's process group.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	hw := &hijackNotifier{ResponseWriter: w, onClose: cancel}
	remotecommand.ServeExec(hw, r.WithContext(ctx), n.exec, key, "", container, cmd, opts,
		streamIdleTimeout, streamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

// hijackNotifier is an http.ResponseWriter whose hijacked connection calls
// onClose when it is closed or fails. It deliberately has no Unwrap method:
// ServeExec unwraps writers that have one and would bypass it.
type hijackNotifier struct {
	http.ResponseWriter
	onClose func()
}

func (h *hijackNotifier) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("response writer cannot be hijacked")
	}
	c, rw, err := hj.Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("hijacking connection: %w", err)
	}
	return &notifyConn{Conn: c, onClose: h.onClose}, rw, nil
}

type notifyConn struct {
	net.Conn
	once    sync.Once
	onClose func()
}

func (c *notifyConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			c.once.Do(c.onClose)
		}
	}
	return n, err
}

func (c *notifyConn) Close() error {
	c.once.Do(c.onClose)
	return c.Conn.Close()
}

// listen opens the TLS listener described by the node's configuration.
func (n *Node) listen() (net.Listener, error) {
	cert, err := tls.LoadX509KeyPair(n.cfg.TLSCertFile, n.cfg.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("loading serving certificate: %w", err)
	}
	// HTTP/1.1 only: exec upgrades (SPDY, WebSocket) do not work over HTTP/2.
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	if n.cfg.ClientCAFile != "" {
		pem, err := os.ReadFile(n.cfg.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("reading client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificates in client CA %s", n.cfg.ClientCAFile)
		}
		// Like a kubelet with --client-ca-file and anonymous auth off: only
		// kube-apiserver (holding --kubelet-client-certificate) gets in.
		tlsCfg.ClientCAs = pool
		tlsCfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	ln, err := net.Listen("tcp", n.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", n.cfg.Listen, err)
	}
	return tls.NewListener(ln, tlsCfg), nil
}
