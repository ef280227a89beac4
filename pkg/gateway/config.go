package gateway

import (
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/config"
)

// Config is everything the gateway runs with. cmd/rexec-gateway fills it
// from flags; tests fill it directly.
type Config struct {
	// Listen is the HTTPS address, e.g. ":8443".
	Listen string
	// CertFile and KeyFile are the serving certificate, which the
	// APIService's caBundle must verify for <service>.<namespace>.svc.
	CertFile, KeyFile string
	// ServingCert, when set, is used instead of CertFile and KeyFile
	// (Bootstrap's certificate, from a Secret).
	ServingCert *tls.Certificate
	// Instance names this gateway in every recording it makes (the pod
	// name in a Deployment).
	Instance string
	// Version is the gateway's version, for the recording header.
	Version string
	// Cluster names the cluster in recordings and object keys.
	Cluster string

	// Upstream reaches the API server as the gateway's ServiceAccount;
	// every exec is made with it, impersonating the user. Client is the
	// same, as a clientset.
	Upstream *rest.Config
	Client   kubernetes.Interface

	// RecordDir holds the recordings while they are written and until they
	// are uploaded; SpoolDir the upload queue. Both belong on a volume
	// that outlives the process, so that a killed gateway's recordings are
	// uploaded when it restarts.
	RecordDir, SpoolDir string
	// SignKey signs every recording's trailer.
	SignKey ed25519.PrivateKey
	// Upload is the object store section, as in the plugin's config file.
	Upload config.Upload
	// StoreDown says what a new session gets while the object store
	// cannot be reached: StoreRefuse (no session) or StoreQueue
	// (record locally, upload later).
	StoreDown string
	// RequireReason refuses sessions that give no --reason.
	RequireReason bool

	// RetryEvery is how often queued uploads are retried; default 30s.
	RetryEvery time.Duration
	// ProbeStoreEvery is how often the store's reachability is checked
	// for StoreRefuse; default 10s.
	ProbeStoreEvery time.Duration
	// UpstreamProtocol is how the gateway opens the real pods/exec:
	// UpstreamWebSocket (default: WebSocket v5, SPDY when the API server
	// refuses it) or UpstreamSPDY (SPDY only, which spares kube-apiserver
	// its WebSocket-to-SPDY translation; docs/BENCHMARKS.md compares them).
	UpstreamProtocol string
	// DebugListen, when set, is a loopback address serving the Go
	// runtime's profiles and /debug/memstats (debug.go); off by default.
	DebugListen string
	// Logf logs one line; log.Printf when nil.
	Logf func(format string, args ...any)
}

// How the gateway opens the upstream exec.
const (
	UpstreamWebSocket = "websocket"
	UpstreamSPDY      = "spdy"
)

// What a new session gets while the object store cannot be reached.
const (
	StoreRefuse = "refuse"
	StoreQueue  = "queue"
)

func (c *Config) check() error {
	switch {
	case c.Upstream == nil || c.Client == nil:
		return errors.New("no connection to the API server")
	case c.RecordDir == "" || c.SpoolDir == "":
		return errors.New("--record-dir and --spool-dir are required: put them on a volume")
	case c.SignKey == nil:
		return errors.New("--sign-key is required: every gateway recording is signed")
	case c.ServingCert == nil && (c.CertFile == "" || c.KeyFile == ""):
		return errors.New("no serving certificate: give --tls-cert-file and --tls-private-key-file, or --bootstrap")
	case c.Instance == "":
		return errors.New("--instance is required (the pod name: set it from the downward API)")
	}
	switch c.UpstreamProtocol {
	case "":
		c.UpstreamProtocol = UpstreamWebSocket
	case UpstreamWebSocket, UpstreamSPDY:
	default:
		return fmt.Errorf("--upstream-protocol %q: want %s or %s", c.UpstreamProtocol, UpstreamWebSocket, UpstreamSPDY)
	}
	if err := checkDebugListen(c.DebugListen); err != nil {
		return err
	}
	switch c.StoreDown {
	case "":
		c.StoreDown = StoreRefuse
	case StoreRefuse, StoreQueue:
	default:
		return fmt.Errorf("--store-down %q: want %s or %s", c.StoreDown, StoreRefuse, StoreQueue)
	}
	if c.Upload.URL != "" {
		if err := config.CheckUploadURL(c.Upload.URL); err != nil {
			return err
		}
	}
	if c.RetryEvery <= 0 {
		c.RetryEvery = 30 * time.Second
	}
	if c.ProbeStoreEvery <= 0 {
		c.ProbeStoreEvery = 10 * time.Second
	}
	return nil
}
