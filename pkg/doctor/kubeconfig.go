package doctor

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"

	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const hopKubeconfig = "the kubeconfig on this machine"

// expiresSoon says a certificate is near its end: within a week, or within
// the last tenth of its lifetime when that is shorter (short-lived login
// certificates of a few hours are normal and not worth a warning).
func expiresSoon(c *x509.Certificate) bool {
	ahead := min(7*24*time.Hour, c.NotAfter.Sub(c.NotBefore)/10)
	return time.Until(c.NotAfter) < ahead
}

// certName is a certificate's common name, else its whole subject.
func certName(n pkix.Name) string {
	if n.CommonName != "" {
		return n.CommonName
	}
	if s := n.String(); s != "" {
		return s
	}
	return "(empty subject)"
}

// kubeconfig is step 1: which files, which context, which server, how the
// user authenticates (never with what) and which proxy is in effect.
func (r *run) kubeconfig(s *stepRun) {
	flags := r.cfg.Flags
	loader := flags.ToRawKubeConfigLoader()
	access := loader.ConfigAccess()

	s.timed("files", func(context.Context) Check {
		files := access.GetLoadingPrecedence()
		var found, missing []string
		for _, f := range files {
			if _, err := os.Stat(f); err == nil {
				found = append(found, f)
			} else {
				missing = append(missing, f)
			}
		}
		source := "default location"
		switch {
		case access.IsExplicitFile():
			source = "--kubeconfig"
		case os.Getenv(clientcmd.RecommendedConfigPathEnvVar) != "":
			source = "$" + clientcmd.RecommendedConfigPathEnvVar
		}
		data := map[string]any{"source": source, "files": found, "missing": missing}
		switch {
		case access.IsExplicitFile() && len(found) == 0:
			return failCheck(fmt.Sprintf("%s (from --kubeconfig) does not exist", files[0]), hopKubeconfig,
				"check the path given to --kubeconfig")
		case len(found) == 0:
			c := warnCheck(fmt.Sprintf("no kubeconfig file (%s: %s)", source, strings.Join(files, ", ")),
				"without a file only flags (--server, --token, ...) or an in-cluster service account can configure the client")
			c.Data = data
			return c
		}
		detail := strings.Join(found, ", ") + " (" + source + ")"
		if len(missing) > 0 {
			detail += "; not found: " + strings.Join(missing, ", ")
		}
		return okCheck(detail, data)
	})

	raw, err := loader.RawConfig()
	if err != nil {
		s.add(failCheck("cannot load: "+err.Error(), hopKubeconfig, "fix the kubeconfig file named above (kubectl config view shows what it parses to)"))
		r.stop = "the kubeconfig could not be loaded"
		return
	}
	contextName := raw.CurrentContext
	if flags.Context != nil && *flags.Context != "" {
		contextName = *flags.Context
	}
	clusterName, userName, namespace := "", "", ""
	if kc, ok := raw.Contexts[contextName]; ok {
		clusterName, userName, namespace = kc.Cluster, kc.AuthInfo, kc.Namespace
	}
	if flags.ClusterName != nil && *flags.ClusterName != "" {
		clusterName = *flags.ClusterName
	}
	if flags.AuthInfoName != nil && *flags.AuthInfoName != "" {
		userName = *flags.AuthInfoName
	}
	ns, _, nsErr := loader.Namespace()
	if nsErr == nil {
		namespace = ns
	}
	r.report.Context, r.report.Cluster, r.report.Namespace = contextName, clusterName, namespace

	s.timed("context", func(context.Context) Check {
		data := map[string]any{"context": contextName, "cluster": clusterName, "user": userName, "namespace": namespace}
		if contextName != "" {
			if _, ok := raw.Contexts[contextName]; !ok {
				return failCheck(fmt.Sprintf("context %q is not in the kubeconfig", contextName), hopKubeconfig,
					"pick an existing one: kubectl config get-contexts")
			}
		}
		name := contextName
		if name == "" {
			name = "(none)"
		}
		c := okCheck(fmt.Sprintf("%s (cluster %s, user %s, namespace %s)", name, orNone(clusterName), orNone(userName), namespace), data)
		if nsErr != nil {
			c = warnCheck(c.Detail+"; namespace: "+nsErr.Error(), "")
			c.Data = data
		}
		return c
	})

	cfg, err := loader.ClientConfig()
	if err != nil {
		s.add(failCheck("no usable client configuration: "+err.Error(), hopKubeconfig,
			"the context needs a cluster with a server URL and a user: kubectl config view --minify"))
		r.stop = "the kubeconfig gives no usable client configuration"
		return
	}
	cfg = rest.CopyConfig(cfg)
	// Doctor's own requests are few and must not wait for the client-side
	// rate limiter, which would distort the latency figures.
	cfg.QPS, cfg.Burst = -1, 0
	r.restConfig = cfg

	s.timed("server", func(context.Context) Check {
		u, _, err := rest.DefaultServerUrlFor(cfg)
		if err != nil {
			return failCheck(fmt.Sprintf("server %q is not a valid URL: %v", redactURLString(cfg.Host), err), hopKubeconfig,
				"set the cluster's server to https://HOST:PORT")
		}
		r.serverURL = u
		r.report.Server = u.Redacted()
		data := map[string]any{"url": u.Redacted()}
		detail := u.Redacted()
		if cfg.TLSClientConfig.ServerName != "" {
			detail += " (TLS server name " + cfg.TLSClientConfig.ServerName + ")"
			data["tlsServerName"] = cfg.TLSClientConfig.ServerName
		}
		if u.User != nil {
			// client-go sends it as basic auth on plain requests, but the
			// WebSocket exec stream refuses such a URL outright.
			c := failCheck(detail+": the server URL holds a user name and password (user:password@), which the WebSocket exec stream does not allow "+
				"(kubectl exec fails on it with \"malformed ws or wss URL\")", hopKubeconfig,
				"remove them from the cluster's server URL (or --server) and give the credentials in the kubeconfig's user entry (username and password, or a token)")
			c.Data = data
			return c
		}
		if u.Scheme == "http" {
			return Check{Status: StatusWarn, Detail: detail + ": plain HTTP", Hint: "credentials and sessions travel unencrypted", Data: data}
		}
		return okCheck(detail, data)
	})
	if r.serverURL == nil {
		r.stop = "the server URL is invalid"
		return
	}

	s.timed("auth", func(context.Context) Check { return r.authCheck(cfg) })

	s.timed("proxy", func(context.Context) Check { return r.proxyCheck(cfg, raw.Clusters, clusterName) })

	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		s.add(failCheck("cannot build a client: "+err.Error(), hopKubeconfig, "check the kubeconfig's TLS and auth settings"))
		r.stop = "no client could be built from the kubeconfig"
		return
	}
	r.client = client
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// authCheck names how the client authenticates, never with what.
func (r *run) authCheck(cfg *rest.Config) Check {
	var kinds []string
	data := map[string]any{}
	status, hint := StatusOK, ""
	if cfg.CertData != nil || cfg.CertFile != "" {
		kind := "client certificate"
		if info, err := describeCert(cfg); err != nil {
			kind += " (unreadable: " + err.Error() + ")"
			status, hint = StatusFail, "the client certificate named by the kubeconfig cannot be read"
		} else {
			kind += " " + info.text
			data["clientCertificate"] = info.data
			switch {
			case time.Now().After(info.notAfter):
				status, hint = StatusFail, "the client certificate has expired: get a new kubeconfig from the cluster's administrator or your login tool"
			case info.soon && status == StatusOK:
				status, hint = StatusWarn, "the client certificate expires soon: renew it before it does"
			}
		}
		kinds = append(kinds, kind)
	}
	if cfg.BearerToken != "" || cfg.BearerTokenFile != "" {
		source := "from the kubeconfig user"
		switch {
		case r.cfg.Flags.BearerToken != nil && *r.cfg.Flags.BearerToken != "":
			source = "from --token"
		case cfg.BearerTokenFile != "":
			source = "from file " + cfg.BearerTokenFile
		}
		kinds = append(kinds, "bearer token ("+source+")")
		data["token"] = source
	}
	if cfg.ExecProvider != nil {
		e := cfg.ExecProvider
		kind := fmt.Sprintf("exec plugin %q (%s)", e.Command, e.APIVersion)
		data["execPlugin"] = map[string]any{"command": e.Command, "apiVersion": e.APIVersion}
		if _, err := exec.LookPath(e.Command); err != nil {
			status = StatusFail
			hint = fmt.Sprintf("the exec credential plugin %q is not installed or not on PATH", e.Command)
			if e.InstallHint != "" {
				hint += ": " + oneLine(e.InstallHint)
			}
		}
		kinds = append(kinds, kind)
	}
	if cfg.AuthProvider != nil {
		kinds = append(kinds, fmt.Sprintf("auth provider %q", cfg.AuthProvider.Name))
		data["authProvider"] = cfg.AuthProvider.Name
	}
	if cfg.Username != "" {
		kinds = append(kinds, fmt.Sprintf("basic auth (user %q)", cfg.Username))
		data["basicAuthUser"] = cfg.Username
	}
	if len(kinds) == 0 {
		kinds = append(kinds, "none")
		if status == StatusOK {
			status, hint = StatusWarn, "no credentials: requests are anonymous and most clusters refuse them"
		}
	}
	if im := cfg.Impersonate; im.UserName != "" || len(im.Groups) > 0 || im.UID != "" {
		kinds = append(kinds, fmt.Sprintf("impersonating user %q groups %v", im.UserName, im.Groups))
		data["impersonate"] = map[string]any{"user": im.UserName, "groups": im.Groups}
	}
	r.authKind = strings.Join(kinds, ", ")
	data["kind"] = r.authKind
	c := Check{Status: status, Detail: r.authKind, Hint: hint, Data: data}
	if status == StatusFail {
		c.Hop = hopKubeconfig
	}
	return c
}

type certInfo struct {
	text     string
	notAfter time.Time
	soon     bool
	data     map[string]any
}

// describeCert reads the client certificate (public, unlike its key).
func describeCert(cfg *rest.Config) (certInfo, error) {
	pemBytes := cfg.CertData
	if len(pemBytes) == 0 {
		b, err := os.ReadFile(cfg.CertFile)
		if err != nil {
			return certInfo{}, err
		}
		pemBytes = b
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return certInfo{}, fmt.Errorf("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return certInfo{}, err
	}
	return certInfo{
		text:     fmt.Sprintf("(subject %s, expires %s)", cert.Subject, cert.NotAfter.UTC().Format(time.RFC3339)),
		notAfter: cert.NotAfter,
		soon:     expiresSoon(cert),
		data: map[string]any{
			"subject":  cert.Subject.String(),
			"issuer":   cert.Issuer.String(),
			"notAfter": cert.NotAfter.UTC().Format(time.RFC3339),
		},
	}, nil
}

// proxyCheck says which proxy client-go will use for the server: the
// kubeconfig's proxy-url, else HTTPS_PROXY/HTTP_PROXY/NO_PROXY with
// http.ProxyFromEnvironment's rules (as client-go applies them).
func (r *run) proxyCheck(cfg *rest.Config, clusters map[string]*clientcmdapi.Cluster, clusterName string) Check {
	req := &http.Request{URL: r.serverURL, Header: http.Header{}}
	if cfg.Proxy != nil {
		r.proxy = cfg.Proxy
		u, err := cfg.Proxy(req)
		if err != nil {
			return failCheck("kubeconfig proxy-url: "+err.Error(), hopKubeconfig, "fix the cluster's proxy-url")
		}
		r.proxyURL = u
		shown := ""
		if u != nil {
			shown = u.Redacted()
		} else if c, ok := clusters[clusterName]; ok {
			shown = redactURLString(c.ProxyURL)
		}
		return okCheck("proxy-url "+shown+" (from the kubeconfig)", map[string]any{"source": "kubeconfig proxy-url", "url": shown})
	}
	r.proxy = utilnet.NewProxierWithNoProxyCIDR(http.ProxyFromEnvironment)
	u, err := r.proxy(req)
	if err != nil {
		return failCheck("proxy from the environment: "+err.Error(), hopKubeconfig, "fix HTTPS_PROXY / HTTP_PROXY")
	}
	env := map[string]any{}
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"} {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = redactProxyList(k, v)
		}
	}
	if u != nil {
		r.proxyURL = u
		return okCheck(u.Redacted()+" (from the environment, for "+r.serverURL.Hostname()+")",
			map[string]any{"source": "environment", "url": u.Redacted(), "env": env})
	}
	detail := "none"
	if len(env) > 0 {
		var parts []string
		for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"} {
			if v, ok := env[k]; ok {
				parts = append(parts, k+"="+v.(string))
			}
		}
		detail = "none: " + r.serverURL.Hostname() + " is not proxied (NO_PROXY or a loopback address) with " + strings.Join(parts, " ")
	}
	return okCheck(detail, map[string]any{"source": "environment", "env": env})
}

// redactURLString hides a password in a URL; an unparsable value is shown
// only by its scheme-less host-ish prefix.
func redactURLString(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func redactProxyList(key, v string) string {
	if strings.EqualFold(key, "NO_PROXY") {
		return v
	}
	return redactURLString(v)
}
