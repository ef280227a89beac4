package doctor

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// refusingProxy is an HTTPS reverse proxy in front of the API server that
// answers every WebSocket upgrade with 403 and passes everything else
// (SPDY upgrades included) through, authenticating to the API server as
// admin: what some OpenShift versions and some corporate proxies do. It
// returns a kubeconfig that reaches the cluster through it.
func refusingProxy(t *testing.T) string {
	t.Helper()
	admin, err := clientcmd.LoadFromFile(tc.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	var user *clientcmdapi.AuthInfo
	for _, a := range admin.AuthInfos {
		user = a
	}
	var caPEM []byte
	for _, c := range admin.Clusters {
		caPEM = c.CertificateAuthorityData
	}
	cert, err := tls.X509KeyPair(user.ClientCertificateData, user.ClientKeyData)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	backend, err := url.Parse(tc.Server)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(backend)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, MinVersion: tls.VersionTLS12}}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"websocket upgrades are refused by this proxy","reason":"Forbidden","code":403}`))
			return
		}
		r.Header.Del("Authorization") // the proxy authenticates itself
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["refusing"] = &clientcmdapi.Cluster{
		Server:                   srv.URL,
		CertificateAuthorityData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}),
	}
	// Some credential, so that nothing prompts; the proxy drops it.
	cfg.AuthInfos["via-proxy"] = &clientcmdapi.AuthInfo{Token: "dropped-by-the-proxy"}
	cfg.Contexts["refusing"] = &clientcmdapi.Context{Cluster: "refusing", AuthInfo: "via-proxy", Namespace: "default"}
	cfg.CurrentContext = "refusing"
	kc := filepath.Join(t.TempDir(), "refusing.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, kc); err != nil {
		t.Fatal(err)
	}
	return kc
}

// TestWebSocketRefusedByProxy: behind a proxy that refuses WebSocket
// upgrades with 403, doctor reports both protocols, names the refusal as
// harmless, passes overall, and a real rexec session falls back to SPDY.
func TestWebSocketRefusedByProxy(t *testing.T) {
	kc := refusingProxy(t)
	rep := report(t, doctor(t, nil, "--kubeconfig", kc, pod, "-o", "json", "--rtt-samples", "5", "--throughput-mib", "1"))
	ws := findCheck(t, rep, "handshake", "websocket")
	if ws.Status != "warn" || ws.Data["status"] != float64(403) ||
		!strings.HasPrefix(ws.Detail, "WebSocket upgrade refused (403), SPDY works: OpenShift does this on some versions; rexec falls back automatically") {
		t.Errorf("websocket: %s %q %+v", ws.Status, ws.Detail, ws.Data)
	}
	sp := findCheck(t, rep, "handshake", "spdy")
	if sp.Status != "ok" || sp.Data["status"] != float64(101) || sp.Data["protocol"] != "v4.channel.k8s.io" {
		t.Errorf("spdy: %s %q %+v", sp.Status, sp.Detail, sp.Data)
	}
	if !rep.OK || rep.Warnings != 1 || rep.Protocol != "v4.channel.k8s.io (spdy)" {
		t.Errorf("ok %v, warnings %d, protocol %q", rep.OK, rep.Warnings, rep.Protocol)
	}
	if c := findCheck(t, rep, "stream", "echo spdy"); c.Status != "ok" {
		t.Errorf("echo over SPDY: %s %q", c.Status, c.Detail)
	}

	r := plugin(t, nil, "--kubeconfig", kc, "--record-dir", t.TempDir(), "-q", pod, "--", "echo", "via spdy")
	if r.code != 0 || r.stdout != "via spdy\n" {
		t.Errorf("rexec through the proxy: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
