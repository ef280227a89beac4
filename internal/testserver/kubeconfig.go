package testserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Names used in the kubeconfig the server writes.
const (
	KubeconfigContext   = "test-ctx"
	KubeconfigCluster   = "test-cluster"
	KubeconfigUser      = "test-user"
	KubeconfigNamespace = "default"
)

// Kubeconfig writes a kubeconfig for the server into a temporary directory
// of the test and returns its path.
func (s *Server) Kubeconfig(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := s.WriteKubeconfig(path); err != nil {
		t.Fatalf("testserver: write kubeconfig: %v", err)
	}
	return path
}

// WriteKubeconfig writes a kubeconfig to path whose only context,
// "test-ctx", reaches the server in namespace "default" with the CA
// embedded. Its user has the bearer token of Options.Token or, without
// one, a client certificate: a user entry with no credential at all makes
// kubectl's config loading (ConfigFlags with a password flag) prompt
// "Please enter Username". The server does not ask for client
// certificates, so that one is never sent.
func (s *Server) WriteKubeconfig(path string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[KubeconfigCluster] = &clientcmdapi.Cluster{
		Server:                   s.URL,
		CertificateAuthorityData: slices.Clone(s.CAData),
	}
	user := &clientcmdapi.AuthInfo{Token: s.opts.Token}
	if s.opts.Token == "" {
		cert, key, err := clientCert()
		if err != nil {
			return err
		}
		user.ClientCertificateData, user.ClientKeyData = cert, key
	}
	cfg.AuthInfos[KubeconfigUser] = user
	cfg.Contexts[KubeconfigContext] = &clientcmdapi.Context{
		Cluster:   KubeconfigCluster,
		AuthInfo:  KubeconfigUser,
		Namespace: KubeconfigNamespace,
	}
	cfg.CurrentContext = KubeconfigContext
	return clientcmd.WriteToFile(*cfg, path)
}

var clientCertOnce = sync.OnceValues(func() (pair [2][]byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return pair, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "testserver-user"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return pair, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return pair, err
	}
	pair[0] = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	pair[1] = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	return pair, nil
})

// clientCert returns a self-signed client certificate and its key, made
// once per process.
func clientCert() (cert, key []byte, err error) {
	pair, err := clientCertOnce()
	return slices.Clone(pair[0]), slices.Clone(pair[1]), err
}
