package cluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// PKI names the files of the cluster's certificate authority and the
// certificates signed by it. All of them live in <state>/pki.
type PKI struct {
	Dir string

	CACert, CAKey                       string
	APIServerCert, APIServerKey         string // serving, SAN 127.0.0.1 and localhost
	AdminCert, AdminKey                 string // CN=admin, O=system:masters
	ViewerCert, ViewerKey               string // CN=viewer, no groups
	KubeletCert, KubeletKey             string // the node's serving cert, SAN 127.0.0.1
	KubeletClientCert, KubeletClientKey string // kube-apiserver → node client cert
	SAKey, SAPub                        string // service-account token signing pair
	TokenFile                           string // --token-auth-file CSV
	Token                               string // the static token in TokenFile
	// The aggregation layer: kube-apiserver authenticates to aggregated
	// API servers (the rexec gateway) with FrontProxyClient, signed by its
	// own CA, FrontProxyCA, which it publishes in
	// kube-system/extension-apiserver-authentication.
	FrontProxyCACert, FrontProxyCAKey         string
	FrontProxyClientCert, FrontProxyClientKey string // CN=front-proxy-client
}

// User names and groups the certificates and the token carry.
const (
	AdminUser   = "admin"
	ViewerUser  = "viewer"
	TokenUser   = "token-admin"
	MastersGrp  = "system:masters"
	kubeletUser = "kube-apiserver-kubelet-client"
	// FrontProxyClientName is the front-proxy client certificate's CN,
	// the one --requestheader-allowed-names allows.
	FrontProxyClientName = "front-proxy-client"
)

func newPKI(dir string) *PKI {
	p := func(name string) string { return filepath.Join(dir, name) }
	return &PKI{
		Dir:    dir,
		CACert: p("ca.crt"), CAKey: p("ca.key"),
		APIServerCert: p("apiserver.crt"), APIServerKey: p("apiserver.key"),
		AdminCert: p("admin.crt"), AdminKey: p("admin.key"),
		ViewerCert: p("viewer.crt"), ViewerKey: p("viewer.key"),
		KubeletCert: p("kubelet.crt"), KubeletKey: p("kubelet.key"),
		KubeletClientCert: p("apiserver-kubelet-client.crt"), KubeletClientKey: p("apiserver-kubelet-client.key"),
		SAKey: p("sa.key"), SAPub: p("sa.pub"),
		TokenFile:        p("tokens.csv"),
		FrontProxyCACert: p("front-proxy-ca.crt"), FrontProxyCAKey: p("front-proxy-ca.key"),
		FrontProxyClientCert: p("front-proxy-client.crt"), FrontProxyClientKey: p("front-proxy-client.key"),
	}
}

// ensurePKI creates whatever of the PKI is missing in dir and loads the rest:
// generating it once per state directory keeps kubeconfigs handed out by an
// earlier `rexec-cluster up` valid across restarts.
func ensurePKI(dir string) (*PKI, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating PKI directory: %w", err)
	}
	p := newPKI(dir)

	caCert, caKey, err := loadPair(p.CACert, p.CAKey)
	if err != nil {
		caCert, caKey, err = writeCert(p.CACert, p.CAKey, &x509.Certificate{
			Subject:               pkix.Name{CommonName: "kubectl-rexec-e2e-ca"},
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		}, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("creating CA: %w", err)
		}
		// A new CA invalidates every certificate signed by an old one.
		for _, f := range []string{p.APIServerCert, p.AdminCert, p.ViewerCert, p.KubeletCert, p.KubeletClientCert} {
			_ = os.Remove(f)
		}
	}

	loopback := []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback}
	leaves := []struct {
		cert, key string
		tmpl      x509.Certificate
	}{
		{p.APIServerCert, p.APIServerKey, x509.Certificate{
			Subject: pkix.Name{CommonName: "kube-apiserver"},
			DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
				"kubernetes.default.svc.cluster.local"},
			IPAddresses: append(loopback, net.ParseIP(serviceIP)),
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}},
		{p.AdminCert, p.AdminKey, clientTemplate(AdminUser, MastersGrp)},
		{p.ViewerCert, p.ViewerKey, clientTemplate(ViewerUser)},
		{p.KubeletCert, p.KubeletKey, x509.Certificate{
			Subject:     pkix.Name{CommonName: "rexec-node"},
			DNSNames:    []string{"localhost", "rexec-node"},
			IPAddresses: loopback,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}},
		{p.KubeletClientCert, p.KubeletClientKey, clientTemplate(kubeletUser, MastersGrp)},
	}
	for _, l := range leaves {
		if _, _, err := loadPair(l.cert, l.key); err == nil {
			continue
		}
		tmpl := l.tmpl
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		if _, _, err := writeCert(l.cert, l.key, &tmpl, caCert, caKey); err != nil {
			return nil, fmt.Errorf("creating %s: %w", filepath.Base(l.cert), err)
		}
	}

	if err := ensureFrontProxy(p); err != nil {
		return nil, err
	}
	if err := ensureSAKeys(p.SAKey, p.SAPub); err != nil {
		return nil, err
	}
	if err := ensureToken(p); err != nil {
		return nil, err
	}
	return p, nil
}

// ensureFrontProxy creates the front-proxy CA and client certificate, as
// kubeadm does: a CA of its own, so that no cluster client certificate can
// pass for the API server's proxy.
func ensureFrontProxy(p *PKI) error {
	ca, caKey, err := loadPair(p.FrontProxyCACert, p.FrontProxyCAKey)
	if err != nil {
		ca, caKey, err = writeCert(p.FrontProxyCACert, p.FrontProxyCAKey, &x509.Certificate{
			Subject:               pkix.Name{CommonName: "kubectl-rexec-e2e-front-proxy-ca"},
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		}, nil, nil)
		if err != nil {
			return fmt.Errorf("creating front-proxy CA: %w", err)
		}
		_ = os.Remove(p.FrontProxyClientCert)
	}
	if _, _, err := loadPair(p.FrontProxyClientCert, p.FrontProxyClientKey); err == nil {
		return nil
	}
	tmpl := clientTemplate(FrontProxyClientName)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	if _, _, err := writeCert(p.FrontProxyClientCert, p.FrontProxyClientKey, &tmpl, ca, caKey); err != nil {
		return fmt.Errorf("creating front-proxy client certificate: %w", err)
	}
	return nil
}

// IssueClientCert signs a client certificate for user and groups with the
// cluster CA, writing certFile and keyFile.
func (p *PKI) IssueClientCert(certFile, keyFile, user string, groups ...string) error {
	ca, caKey, err := loadPair(p.CACert, p.CAKey)
	if err != nil {
		return fmt.Errorf("loading cluster CA: %w", err)
	}
	tmpl := clientTemplate(user, groups...)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	_, _, err = writeCert(certFile, keyFile, &tmpl, ca, caKey)
	return err
}

// IssueServingCert signs a serving certificate for the DNS names and IPs
// with a new CA of its own, for a test server such as the rexec gateway,
// and returns that CA's PEM (an APIService's caBundle).
func IssueServingCert(dir, name string, dnsNames []string, ips []net.IP) (certFile, keyFile string, caPEM []byte, err error) {
	caFile, caKeyFile := filepath.Join(dir, name+"-ca.crt"), filepath.Join(dir, name+"-ca.key")
	ca, caKey, err := writeCert(caFile, caKeyFile, &x509.Certificate{
		Subject:               pkix.Name{CommonName: name + "-ca"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}, nil, nil)
	if err != nil {
		return "", "", nil, err
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		DNSNames:    dnsNames,
		IPAddresses: ips,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if _, _, err := writeCert(certFile, keyFile, tmpl, ca, caKey); err != nil {
		return "", "", nil, err
	}
	caPEM, err = os.ReadFile(caFile)
	return certFile, keyFile, caPEM, err
}

func clientTemplate(user string, groups ...string) x509.Certificate {
	return x509.Certificate{
		Subject:     pkix.Name{CommonName: user, Organization: groups},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

// writeCert signs tmpl with parent (self-signed when parent is nil) using a
// fresh P-256 key and writes both as PEM.
func writeCert(certFile, keyFile string, tmpl *x509.Certificate, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("generating serial: %w", err)
	}
	tmpl.SerialNumber = serial
	// Backdated so a clock that is a little behind still accepts it.
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(10 * 365 * 24 * time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, nil, fmt.Errorf("signing certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding key: %w", err)
	}
	if err := writePEM(keyFile, "PRIVATE KEY", keyDER, 0o600); err != nil {
		return nil, nil, err
	}
	if err := writePEM(certFile, "CERTIFICATE", der, 0o644); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing certificate just made: %w", err)
	}
	return cert, key, nil
}

func loadPair(certFile, keyFile string) (*x509.Certificate, crypto.Signer, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", certFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", keyFile, err)
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, fmt.Errorf("no PEM data in %s or %s", certFile, keyFile)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing %s: %w", certFile, err)
	}
	if time.Now().After(cert.NotAfter.Add(-24 * time.Hour)) {
		return nil, nil, fmt.Errorf("%s expires %s", certFile, cert.NotAfter)
	}
	key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing %s: %w", keyFile, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("%s does not hold a signing key", keyFile)
	}
	return cert, signer, nil
}

// ensureSAKeys makes the RSA pair kube-apiserver signs service-account
// tokens with (--service-account-signing-key-file) and verifies them with
// (--service-account-key-file).
func ensureSAKeys(keyFile, pubFile string) error {
	if _, err := os.Stat(keyFile); err == nil {
		if _, err := os.Stat(pubFile); err == nil {
			return nil
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generating service-account key: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encoding service-account key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return fmt.Errorf("encoding service-account public key: %w", err)
	}
	if err := writePEM(keyFile, "PRIVATE KEY", keyDER, 0o600); err != nil {
		return err
	}
	return writePEM(pubFile, "PUBLIC KEY", pubDER, 0o644)
}

// ensureToken writes the static-token file: one token, for TokenUser in
// system:masters, used by token.kubeconfig to exercise bearer-token auth.
func ensureToken(p *PKI) error {
	if b, err := os.ReadFile(p.TokenFile); err == nil {
		if tok, _, ok := strings.Cut(string(b), ","); ok && tok != "" {
			p.Token = tok
			return nil
		}
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("generating token: %w", err)
	}
	p.Token = hex.EncodeToString(raw)
	line := fmt.Sprintf("%s,%s,%s,\"%s\"\n", p.Token, TokenUser, TokenUser, MastersGrp)
	if err := os.WriteFile(p.TokenFile, []byte(line), 0o600); err != nil {
		return fmt.Errorf("writing token file: %w", err)
	}
	return nil
}

func writePEM(file, typ string, der []byte, mode os.FileMode) error {
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if data == nil {
		return errors.New("encoding PEM")
	}
	if err := os.WriteFile(file, data, mode); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	return nil
}
