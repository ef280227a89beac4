package cluster

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"text/template"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

// HAProxyOptions configure the optional HAProxy in front of kube-apiserver.
// It runs in TCP mode and passes TLS through, so clients still verify the
// apiserver's certificate (SAN 127.0.0.1) and authenticate with their own
// client certificates. The timeouts are what make it interesting: an idle
// exec stream is cut after TimeoutTunnel, as behind a real load balancer.
type HAProxyOptions struct {
	// Binary is the haproxy executable; "haproxy" on PATH (Debian's
	// package installs /usr/sbin/haproxy) when empty.
	Binary string
	// TimeoutConnect, TimeoutClient, TimeoutServer and TimeoutTunnel map to
	// HAProxy's "timeout" keywords. Zero means 5s, 1m, 1m and 1h. Once a
	// connection is upgraded (exec streams are) only the tunnel timeout
	// applies to it.
	TimeoutConnect, TimeoutClient, TimeoutServer, TimeoutTunnel time.Duration
}

var haproxyConfig = template.Must(template.New("haproxy.cfg").Parse(`# Written by package cluster (test/cluster); regenerated on every start.
global
	maxconn 2000

defaults
	mode tcp
	log stdout format raw local0
	option tcplog
	timeout connect {{.Connect}}
	timeout client {{.Client}}
	timeout server {{.Server}}
	timeout tunnel {{.Tunnel}}

frontend kube-apiserver
	bind 127.0.0.1:{{.Port}}
	default_backend kube-apiserver

backend kube-apiserver
	server apiserver 127.0.0.1:{{.APIServerPort}}
`))

// ms renders a duration as HAProxy milliseconds, its exact unit.
func ms(d, def time.Duration) string {
	if d == 0 {
		d = def
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

func (c *Cluster) startHAProxy(ctx context.Context, o HAProxyOptions) error {
	bin := o.Binary
	if bin == "" {
		bin = "haproxy"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		// Debian installs it in /usr/sbin, which a non-root PATH may lack.
		if _, serr := os.Stat("/usr/sbin/haproxy"); bin != "haproxy" || serr != nil {
			return fmt.Errorf("haproxy not found (apt-get install -y haproxy): %w", err)
		}
		path = "/usr/sbin/haproxy"
	}
	if c.Ports.HAProxy, err = freePort(); err != nil {
		return err
	}
	var cfg bytes.Buffer
	if err := haproxyConfig.Execute(&cfg, map[string]any{
		"Connect":       ms(o.TimeoutConnect, 5*time.Second),
		"Client":        ms(o.TimeoutClient, time.Minute),
		"Server":        ms(o.TimeoutServer, time.Minute),
		"Tunnel":        ms(o.TimeoutTunnel, time.Hour),
		"Port":          c.Ports.HAProxy,
		"APIServerPort": c.Ports.APIServer,
	}); err != nil {
		return fmt.Errorf("rendering haproxy.cfg: %w", err)
	}
	cfgFile := filepath.Join(c.StateDir, "haproxy.cfg")
	if err := os.WriteFile(cfgFile, cfg.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing haproxy.cfg: %w", err)
	}
	// -db: stay in the foreground, so the PID we record is HAProxy itself.
	p, err := c.start(procHAProxy, path, "-db", "-f", cfgFile)
	if err != nil {
		return err
	}
	c.ProxyServer = fmt.Sprintf("https://127.0.0.1:%d", c.Ports.HAProxy)
	c.ProxyKubeconfig = filepath.Join(c.StateDir, "proxy.kubeconfig")
	cfgAdmin, err := clientcmd.LoadFromFile(c.AdminKubeconfig)
	if err != nil {
		return fmt.Errorf("loading admin kubeconfig: %w", err)
	}
	for _, cl := range cfgAdmin.Clusters {
		cl.Server = c.ProxyServer
	}
	if err := clientcmd.WriteToFile(*cfgAdmin, c.ProxyKubeconfig); err != nil {
		return fmt.Errorf("writing proxy kubeconfig: %w", err)
	}
	hc, err := c.adminHTTPClient()
	if err != nil {
		return err
	}
	return waitFor(ctx, p, "kube-apiserver /readyz through haproxy", func(ctx context.Context) bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.ProxyServer+"/readyz", nil)
		resp, err := hc.Do(req)
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}
