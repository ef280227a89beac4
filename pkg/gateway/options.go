package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/config"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/sign"
)

// Options are the gateway's command-line flags; Config turns them into a
// Config. Process settings are flags; what the gateway enforces comes from
// the policy file (a ConfigMap in the shipped manifests).
type Options struct {
	Listen       string
	CertFile     string
	KeyFile      string
	Kubeconfig   string
	Instance     string
	RecordDir    string
	SpoolDir     string
	SignKey      string
	PolicyFile   string
	DrainTimeout string
	Bootstrap    string
	APIService   string
	RetryEvery   string
	DebugListen  string
	UpstreamProt string
}

// Policy is the gateway's policy file.
type Policy struct {
	// Cluster names the cluster in recordings and object keys.
	Cluster string `json:"cluster,omitempty"`
	// Upload is the object store, as in the plugin's config file
	// (url, endpoint, region, pathStyle, retention, live, liveInterval).
	Upload config.Upload `json:"upload,omitempty"`
	// StoreDown: "refuse" (default) refuses new sessions while the store
	// cannot be reached; "queue" records them and uploads later.
	StoreDown string `json:"storeDown,omitempty"`
	// RequireReason refuses sessions without kubectl rexec --reason.
	RequireReason bool `json:"requireReason,omitempty"`
}

// AddFlags registers the flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Listen, "listen", ":8443", "HTTPS address to serve on")
	fs.StringVar(&o.CertFile, "tls-cert-file", "", "Serving certificate (PEM), valid for the Service's DNS name <name>.<namespace>.svc")
	fs.StringVar(&o.KeyFile, "tls-private-key-file", "", "Serving certificate's private key (PEM)")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "Kubeconfig to reach the API server (default: in-cluster ServiceAccount)")
	fs.StringVar(&o.Instance, "instance", os.Getenv("POD_NAME"), "This gateway's name in recordings (default $POD_NAME, else the host name)")
	fs.StringVar(&o.RecordDir, "record-dir", "/var/lib/rexec-gateway/recordings", "Where recordings are written until uploaded (a volume)")
	fs.StringVar(&o.SpoolDir, "spool-dir", "/var/lib/rexec-gateway/spool", "The upload queue (a volume)")
	fs.StringVar(&o.SignKey, "sign-key", "", "ed25519 private key (PKCS#8 PEM or OpenSSH) that signs every recording; from a Secret")
	fs.StringVar(&o.PolicyFile, "policy", "", "Policy file (YAML: cluster, upload, storeDown, requireReason)")
	fs.StringVar(&o.DrainTimeout, "drain-timeout", "1h", "On SIGTERM, how long running sessions may go on before they are ended")
	fs.StringVar(&o.RetryEvery, "retry-every", "30s", "How often queued uploads are retried (each also backs off on its own, 30s doubling to 1h)")
	fs.StringVar(&o.UpstreamProt, "upstream-protocol", UpstreamWebSocket, "How to open the real pods/exec: websocket (v5, falling back to SPDY when refused) or spdy")
	fs.StringVar(&o.DebugListen, "debug-listen", "", "Loopback HOST:PORT serving Go profiles (/debug/pprof/) and /debug/memstats, for benchmarks and debugging; off when empty, refused on any other address")
	fs.StringVar(&o.Bootstrap, "bootstrap", "", "NAMESPACE/SERVICE: keep the signing key and the serving certificate in Secrets there, creating them on first start, and publish the public key (see deploy/)")
	fs.StringVar(&o.APIService, "apiservice", "v1alpha1."+Group, "With --bootstrap: the APIService whose caBundle to set (empty: leave it)")
}

// Config loads what the options name.
func (o *Options) Config(ctx context.Context, version string) (Config, error) {
	var cfg Config
	up, err := restConfig(o.Kubeconfig)
	if err != nil {
		return cfg, err
	}
	client, err := kubernetes.NewForConfig(up)
	if err != nil {
		return cfg, fmt.Errorf("API client: %w", err)
	}
	pol, err := LoadPolicy(o.PolicyFile)
	if err != nil {
		return cfg, err
	}
	instance := o.Instance
	if instance == "" {
		instance, _ = os.Hostname()
	}
	retry, err := time.ParseDuration(o.RetryEvery)
	if err != nil || retry <= 0 {
		return cfg, fmt.Errorf("--retry-every %q: want a positive duration such as 30s", o.RetryEvery)
	}
	cfg = Config{
		RetryEvery: retry, DebugListen: o.DebugListen, UpstreamProtocol: o.UpstreamProt,
		Listen: o.Listen, CertFile: o.CertFile, KeyFile: o.KeyFile,
		Instance: instance, Version: version, Cluster: pol.Cluster,
		Upstream: up, Client: client,
		RecordDir: o.RecordDir, SpoolDir: o.SpoolDir,
		Upload: pol.Upload, StoreDown: pol.StoreDown, RequireReason: pol.RequireReason,
	}
	if o.SignKey != "" {
		if cfg.SignKey, err = sign.LoadPrivateKey(o.SignKey); err != nil {
			return cfg, err
		}
	}
	if o.Bootstrap != "" {
		ns, svc, ok := strings.Cut(o.Bootstrap, "/")
		if !ok || ns == "" || svc == "" {
			return cfg, fmt.Errorf("--bootstrap %q: want NAMESPACE/SERVICE", o.Bootstrap)
		}
		b := Bootstrap{Namespace: ns, Service: svc, APIService: o.APIService}
		key, cert, err := b.Run(ctx, client, up)
		if err != nil {
			return cfg, fmt.Errorf("bootstrap: %w", err)
		}
		if cfg.SignKey == nil {
			cfg.SignKey = key
		}
		if o.CertFile == "" {
			cfg.ServingCert = cert
		}
	}
	return cfg, nil
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		c, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster config: %w (outside a cluster, give --kubeconfig)", err)
		}
		return c, nil
	}
	c, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	return c, nil
}

// LoadPolicy reads the policy file strictly: an unknown key is an error,
// not a silently ignored setting. An empty path is the default policy.
func LoadPolicy(path string) (Policy, error) {
	var p Policy
	if path == "" {
		return p, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return p, fmt.Errorf("read policy: %w", err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return p, fmt.Errorf("policy %s: %w", path, err)
	}
	d := json.NewDecoder(bytes.NewReader(j))
	d.DisallowUnknownFields()
	if err := d.Decode(&p); err != nil && !(len(bytes.TrimSpace(j)) == 0 || string(bytes.TrimSpace(j)) == "null") {
		return p, fmt.Errorf("policy %s: %w", path, err)
	}
	return p, nil
}
