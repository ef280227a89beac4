package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/version"
)

const (
	latencySamples = 5
	hopAPIServer   = "the API server"
)

// probe is what one unauthenticated GET /version saw on a fresh connection,
// through the same proxy client-go uses.
type probe struct {
	mu sync.Mutex

	dnsHost  string
	dnsStart time.Time
	dnsTook  time.Duration
	dnsAddrs []string
	dnsErr   error
	dnsDone  bool

	connAddr  string
	connStart time.Time
	connTook  time.Duration
	connErr   error
	connDone  bool

	tlsStart time.Time
	tlsTook  time.Duration
	tlsState *tls.ConnectionState
	tlsErr   error
	tlsDone  bool

	status int
	err    error
}

// reachability is step 2: DNS, TCP, TLS (checked against the kubeconfig's
// CA), /version, /readyz and round-trip latency.
func (r *run) reachability(s *stepRun) {
	host := r.serverURL.Hostname()
	port := r.serverURL.Port()
	if port == "" {
		port = map[string]string{"http": "80"}[r.serverURL.Scheme]
		if port == "" {
			port = "443"
		}
	}
	dialHost, dialPort, via := host, port, ""
	if r.proxyURL != nil {
		dialHost, dialPort = r.proxyURL.Hostname(), r.proxyURL.Port()
		if dialPort == "" {
			dialPort = map[string]string{"https": "443", "socks5": "1080"}[r.proxyURL.Scheme]
			if dialPort == "" {
				dialPort = "80"
			}
		}
		via = " (the proxy " + r.proxyURL.Redacted() + ")"
	}

	p := r.runProbe(s.ctx)
	r.probeAnswered = p.status != 0

	dns := s.timed("dns", func(ctx context.Context) Check {
		if ip := net.ParseIP(dialHost); ip != nil {
			return okCheck(dialHost+" is an IP address: no lookup"+via, map[string]any{"host": dialHost, "addresses": []string{dialHost}})
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		data := map[string]any{"host": dialHost, "addresses": p.dnsAddrs, "tookMs": Millis(p.dnsTook)}
		switch {
		case p.dnsErr != nil:
			c := failCheck(fmt.Sprintf("%s%s does not resolve: %v", dialHost, via, p.dnsErr), "DNS for "+dialHost,
				"check the host name in the kubeconfig's server (or proxy) URL and this machine's resolver (/etc/resolv.conf, VPN)")
			c.Data = data
			return c
		case !p.dnsDone:
			// The transport used a cached or literal address, or failed
			// before resolving; resolve here to say which.
			addrs, err := net.DefaultResolver.LookupHost(ctx, dialHost)
			if err != nil {
				return failCheck(fmt.Sprintf("%s%s does not resolve: %v", dialHost, via, err), "DNS for "+dialHost,
					"check the host name in the kubeconfig's server (or proxy) URL and this machine's resolver")
			}
			data["addresses"] = addrs
			return okCheck(fmt.Sprintf("%s%s → %s", dialHost, via, strings.Join(addrs, ", ")), data)
		}
		return okCheck(fmt.Sprintf("%s%s → %s", dialHost, via, strings.Join(p.dnsAddrs, ", ")), data)
	})
	if p.dnsDone {
		dns.Took = Millis(p.dnsTook)
	}
	if dns.Status == StatusFail {
		r.stop = "the API server's host name does not resolve"
		return
	}

	tcp := s.timed("tcp", func(ctx context.Context) Check {
		p.mu.Lock()
		defer p.mu.Unlock()
		target := net.JoinHostPort(dialHost, dialPort)
		data := map[string]any{"address": p.connAddr, "connectMs": Millis(p.connTook)}
		hop := "the network path to " + target + via
		switch {
		case p.connErr != nil:
			c := failCheck(fmt.Sprintf("connect to %s%s: %v", target, via, p.connErr), hop, connectHint(p.connErr, r.proxyURL != nil))
			c.Data = data
			return c
		case !p.connDone:
			if d := timeoutDetail(ctx, "connect to "+target); d != "" {
				return failCheck(d, hop, "nothing answers: a firewall dropping packets, a wrong address or port, or a VPN that is down")
			}
			if p.err != nil {
				return failCheck(fmt.Sprintf("connect to %s%s: %v", target, via, p.err), hop, connectHint(p.err, r.proxyURL != nil))
			}
			return okCheck("connected to "+target+via+" (connection reused)", data)
		}
		return okCheck(fmt.Sprintf("connected to %s%s", p.connAddr, via), data)
	})
	if p.connDone {
		tcp.Took = Millis(p.connTook)
	}
	if tcp.Status == StatusFail {
		r.stop = "the API server cannot be reached over TCP"
		return
	}

	tlsc := s.timed("tls", func(ctx context.Context) Check { return r.tlsCheck(ctx, p, host) })
	if p.tlsDone {
		tlsc.Took = Millis(p.tlsTook)
	}
	if tlsc.Status == StatusFail {
		r.stop = "the TLS connection to the API server failed"
		return
	}

	answered := true
	versionOK := s.timed("/version", func(ctx context.Context) Check {
		start := time.Now()
		res, err := r.get(ctx, "/version")
		body, code := res.body, res.code
		took := time.Since(start)
		if err != nil {
			answered = code != 0
			return r.apiError(ctx, "GET /version", code, err)
		}
		var v version.Info
		if err := json.Unmarshal(body, &v); err != nil {
			return failCheck(fmt.Sprintf("GET /version answered %d with something that is not a Kubernetes version: %.80q", code, body),
				"whatever answers at "+r.report.Server,
				"the server URL may point at something other than a Kubernetes API server (a web proxy, a login page)")
		}
		return okCheck(fmt.Sprintf("%s (%s), HTTP %d in %v", v.GitVersion, v.Platform, code, Millis(took)),
			map[string]any{"gitVersion": v.GitVersion, "platform": v.Platform, "status": code})
	}).Status == StatusOK

	if !answered {
		r.stop = "the API server does not answer requests"
		return
	}

	s.timed("/readyz", func(ctx context.Context) Check {
		res, err := r.get(ctx, "/readyz")
		body, code := res.body, res.code
		if err == nil && code == http.StatusOK {
			return okCheck(fmt.Sprintf("%s (HTTP %d)", strings.TrimSpace(string(body)), code), map[string]any{"status": code})
		}
		if code == http.StatusUnauthorized || code == http.StatusForbidden || code == http.StatusNotFound {
			return warnCheck(fmt.Sprintf("HTTP %d: readiness cannot be read with these credentials", code), "not needed for exec; the API server answered")
		}
		if code == 0 {
			return r.apiError(ctx, "GET /readyz", code, err)
		}
		var failing []string
		var se *apierrors.StatusError
		text := string(body)
		if errors.As(err, &se) && text == "" {
			text = se.ErrStatus.Message
		}
		for _, l := range strings.Split(text, "\n") {
			if strings.HasPrefix(l, "[-]") {
				failing = append(failing, strings.TrimSpace(l))
			}
		}
		detail := fmt.Sprintf("not ready (HTTP %d)", code)
		if len(failing) > 0 {
			detail += ": " + strings.Join(failing, "; ")
		}
		c := failCheck(detail, hopAPIServer, "the API server says it is not ready: check its logs and etcd; exec may fail or be slow until it is")
		c.Data = map[string]any{"status": code, "failing": failing}
		return c
	})

	if versionOK {
		s.timed("latency", func(ctx context.Context) Check {
			var samples []time.Duration
			for range latencySamples {
				start := time.Now()
				if _, err := r.get(ctx, "/version"); err != nil {
					return warnCheck("GET /version failed while timing it: "+err.Error(), "")
				}
				samples = append(samples, time.Since(start))
			}
			slices.Sort(samples)
			med := samples[len(samples)/2]
			data := map[string]any{"samples": len(samples), "minMs": Millis(samples[0]), "medianMs": Millis(med), "maxMs": Millis(samples[len(samples)-1])}
			return okCheck(fmt.Sprintf("GET /version round trip: median %v, min %v, max %v over %d", Millis(med), Millis(samples[0]), Millis(samples[len(samples)-1]), len(samples)), data)
		})
	}
}

type getResult struct {
	body []byte
	code int
}

// get GETs path with the kubeconfig's client, bounded by ctx.
func (r *run) get(ctx context.Context, path string) (getResult, error) {
	return bounded(ctx, func() (getResult, error) {
		var res getResult
		body, err := r.client.Discovery().RESTClient().Get().AbsPath(path).Do(ctx).StatusCode(&res.code).Raw()
		res.body = body
		return res, err
	})
}

// runProbe sends an unauthenticated GET /version over a fresh connection
// and records DNS, connect and TLS as the transport saw them. Nothing
// secret is sent, which is what lets it accept any server certificate and
// check it afterwards, to report what is wrong with it.
func (r *run) runProbe(ctx context.Context) *probe {
	p := &probe{}
	tlsCfg := &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // verified by hand in tlsCheck; no credentials are sent
		ServerName:         r.tlsServerName(),
		NextProtos:         []string{"http/1.1"},
	}
	tr := &http.Transport{
		Proxy:               r.proxy,
		TLSClientConfig:     tlsCfg,
		DisableKeepAlives:   true,
		TLSHandshakeTimeout: r.cfg.StepTimeout,
		DialContext:         (&net.Dialer{Timeout: r.cfg.StepTimeout}).DialContext,
	}
	defer tr.CloseIdleConnections()
	trace := &httptrace.ClientTrace{
		DNSStart: func(i httptrace.DNSStartInfo) {
			p.mu.Lock()
			p.dnsHost, p.dnsStart = i.Host, time.Now()
			p.mu.Unlock()
		},
		DNSDone: func(i httptrace.DNSDoneInfo) {
			p.mu.Lock()
			p.dnsTook, p.dnsErr, p.dnsDone = time.Since(p.dnsStart), i.Err, true
			for _, a := range i.Addrs {
				p.dnsAddrs = append(p.dnsAddrs, a.String())
			}
			p.mu.Unlock()
		},
		ConnectStart: func(_, addr string) {
			p.mu.Lock()
			p.connAddr, p.connStart = addr, time.Now()
			p.mu.Unlock()
		},
		ConnectDone: func(_, addr string, err error) {
			p.mu.Lock()
			// With several addresses, keep the one that worked.
			if !p.connDone || p.connErr != nil {
				p.connAddr, p.connTook, p.connErr, p.connDone = addr, time.Since(p.connStart), err, true
			}
			p.mu.Unlock()
		},
		TLSHandshakeStart: func() {
			p.mu.Lock()
			p.tlsStart = time.Now()
			p.mu.Unlock()
		},
		TLSHandshakeDone: func(st tls.ConnectionState, err error) {
			p.mu.Lock()
			p.tlsTook, p.tlsErr, p.tlsDone = time.Since(p.tlsStart), err, true
			if err == nil {
				p.tlsState = &st
			}
			p.mu.Unlock()
		},
	}
	u := *r.serverURL
	u.Path = strings.TrimSuffix(u.Path, "/") + "/version"
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, u.String(), nil)
	if err != nil {
		p.err = err
		return p
	}
	resp, err := tr.RoundTrip(req)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.err = err
		return p
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	p.status = resp.StatusCode
	return p
}

func (r *run) tlsServerName() string {
	if sn := r.restConfig.TLSClientConfig.ServerName; sn != "" {
		return sn
	}
	return r.serverURL.Hostname()
}

// tlsCheck reports the handshake and checks the server certificate against
// the kubeconfig's CA (or the system roots when it names none).
func (r *run) tlsCheck(ctx context.Context, p *probe, host string) Check {
	p.mu.Lock()
	defer p.mu.Unlock()
	hop := "TLS with " + host
	if r.serverURL.Scheme == "http" {
		return Check{Status: StatusWarn, Detail: "plain HTTP: no TLS", Hint: "credentials and sessions travel unencrypted"}
	}
	if p.tlsErr != nil || p.tlsState == nil {
		err := p.tlsErr
		if err == nil {
			err = p.err
		}
		if errors.Is(err, context.DeadlineExceeded) || (err == nil && ctx.Err() != nil) {
			return failCheck("the TCP connection was accepted, but no TLS handshake completed before the step's timeout (--timeout)", hop,
				"something that is not a TLS server listens there, or a proxy or firewall holds the connection without passing it on")
		}
		if err == nil {
			err = errors.New("no TLS handshake happened")
		}
		hint := "the server or something in between does not speak TLS on this port: check the port, and any proxy or load balancer in front of the API server"
		if r.proxyURL != nil && !p.tlsDone {
			hop = "the proxy " + r.proxyURL.Redacted()
			hint = "the proxy refused or failed the CONNECT to " + r.serverURL.Host + ": check its allow list, its credentials and NO_PROXY"
		}
		return failCheck(fmt.Sprintf("handshake failed: %v", err), hop, hint)
	}
	st := p.tlsState
	leaf := st.PeerCertificates[0]
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	sans := append(slices.Clone(leaf.DNSNames), ips...)
	data := map[string]any{
		"version":     tls.VersionName(st.Version),
		"handshakeMs": Millis(p.tlsTook),
		"subject":     leaf.Subject.String(),
		"issuer":      leaf.Issuer.String(),
		"notAfter":    leaf.NotAfter.UTC().Format(time.RFC3339),
		"sans":        sans,
	}
	detail := fmt.Sprintf("%s; server certificate %q from %q, expires %s, SANs %s",
		tls.VersionName(st.Version), certName(leaf.Subject), certName(leaf.Issuer),
		leaf.NotAfter.UTC().Format("2006-01-02"), strings.Join(sans, ", "))

	if r.restConfig.TLSClientConfig.Insecure {
		data["verified"] = false
		c := warnCheck(detail+"; not verified", "the kubeconfig sets insecure-skip-tls-verify: anyone in the path can read the session; set certificate-authority instead")
		c.Data = data
		return c
	}
	roots, rootsFrom, err := r.roots()
	if err != nil {
		c := failCheck(detail+"; the kubeconfig's CA cannot be read: "+err.Error(), hopKubeconfig, "fix certificate-authority / certificate-authority-data")
		c.Data = data
		return c
	}
	inter := x509.NewCertPool()
	for _, c := range st.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, verr := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: r.tlsServerName()})
	data["verifiedAgainst"] = rootsFrom
	if verr != nil {
		data["verified"] = false
		hint := "the certificate does not match " + rootsFrom + ": a TLS-intercepting proxy presents its own certificate (issuer above), or the kubeconfig is for another cluster"
		var hn x509.HostnameError
		if errors.As(verr, &hn) {
			hint = fmt.Sprintf("the certificate is not valid for %q: use a server name among its SANs, or --tls-server-name", r.tlsServerName())
		}
		var ci x509.CertificateInvalidError
		if errors.As(verr, &ci) && ci.Reason == x509.Expired {
			hint = "the server certificate has expired (or this machine's clock is wrong): the cluster's certificates need renewing"
		}
		c := failCheck(detail+"; verification failed: "+verr.Error(), hop, hint)
		c.Data = data
		return c
	}
	data["verified"] = true
	detail += "; verified against " + rootsFrom
	if expiresSoon(leaf) {
		c := warnCheck(detail, "the server certificate expires soon: the cluster's certificates need renewing")
		c.Data = data
		return c
	}
	return okCheck(detail, data)
}

// roots is the CA pool client-go verifies the server with.
func (r *run) roots() (*x509.CertPool, string, error) {
	tc := r.restConfig.TLSClientConfig
	pemBytes, from := tc.CAData, "the kubeconfig's certificate-authority-data"
	if len(pemBytes) == 0 && tc.CAFile != "" {
		b, err := os.ReadFile(tc.CAFile)
		if err != nil {
			return nil, "", err
		}
		pemBytes, from = b, "the kubeconfig's certificate-authority "+tc.CAFile
	}
	if len(pemBytes) == 0 {
		pool, err := x509.SystemCertPool()
		return pool, "the system's trusted CAs", err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, "", errors.New("no PEM certificate in it")
	}
	return pool, from, nil
}

func connectHint(err error, viaProxy bool) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "connection refused"):
		if viaProxy {
			return "nothing listens at the proxy's address: check HTTPS_PROXY / proxy-url, or set NO_PROXY for the API server"
		}
		return "nothing listens there: the API server (or the load balancer or proxy in front of it) is down, or the server URL's port is wrong"
	case strings.Contains(msg, "timeout"), strings.Contains(msg, "deadline"):
		return "no answer: a firewall dropping packets, a VPN that is down, or a wrong address"
	case strings.Contains(msg, "no route"), strings.Contains(msg, "unreachable"):
		return "no route to the host: check the VPN and the network"
	}
	return "check the network path and the server URL"
}

// apiError turns a failed authenticated request into a check: an answer
// with 401 or 403 still shows the API server is reachable.
func (r *run) apiError(ctx context.Context, what string, code int, err error) Check {
	switch {
	case code == http.StatusUnauthorized:
		return warnCheck(what+": HTTP 401, the API server answered but rejects the credentials", "see the identity step")
	case code == http.StatusForbidden:
		return warnCheck(what+": HTTP 403, the API server answered", "not needed for exec")
	case code >= 500:
		return failCheck(fmt.Sprintf("%s: HTTP %d: %v", what, code, err), hopAPIServer+" (or a proxy in front of it answering "+fmt.Sprint(code)+")",
			"the API server or a gateway in front of it is failing: check their logs")
	case code != 0:
		return failCheck(fmt.Sprintf("%s: HTTP %d: %v", what, code, err), hopAPIServer, "the server URL may point at something other than a Kubernetes API server")
	}
	if d := timeoutDetail(ctx, what); d != "" {
		if r.probeAnswered && r.restConfig.ExecProvider != nil {
			// The same request without credentials was answered at once.
			return failCheck(d, "the credential plugin "+r.restConfig.ExecProvider.Command,
				fmt.Sprintf("the API server answers, but the exec credential plugin %q gave no credentials in time: it may wait for a login; run it (or its login command) by hand", r.restConfig.ExecProvider.Command))
		}
		return failCheck(d, hopAPIServer, "the API server accepted the connection but did not answer in time: check its load")
	}
	return failCheck(fmt.Sprintf("%s: %v", what, err), hopAPIServer, "the request failed after the TLS handshake worked: a proxy in between, or client credentials that cannot be loaded (exec plugin)")
}
