package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/sign"
)

// Bootstrap makes `kubectl apply -k deploy/` the whole installation: the
// first gateway replica to start creates the signing key and the serving
// certificate as Secrets in its namespace (the others find them there),
// publishes the public key in a ConfigMap that every user may read, and
// puts the certificate's CA into its APIService's caBundle. Keys an admin
// created beforehand are used as they are.
type Bootstrap struct {
	Namespace  string // the gateway's namespace
	Service    string // its Service: the certificate is for <Service>.<Namespace>.svc
	APIService string // the APIService whose caBundle to set; empty leaves it
}

// Names of what Bootstrap keeps in the namespace.
const (
	SigningSecret    = "rexec-gateway-signing" // sign.key (PKCS#8 PEM), sign.pub
	SigningConfigMap = "rexec-gateway-signing" // sign.pub, key-id: for `kubectl rexec verify --pub`
	ServingSecret    = "rexec-gateway-tls"     // tls.crt, tls.key, ca.crt
)

// Run ensures the key and certificate and returns them.
func (b Bootstrap) Run(ctx context.Context, client kubernetes.Interface, config *rest.Config) (ed25519.PrivateKey, *tls.Certificate, error) {
	key, err := b.signingKey(ctx, client)
	if err != nil {
		return nil, nil, err
	}
	cert, caPEM, err := b.servingCert(ctx, client)
	if err != nil {
		return nil, nil, err
	}
	if b.APIService != "" {
		if err := b.setCABundle(ctx, config, caPEM); err != nil {
			return nil, nil, err
		}
	}
	return key, cert, nil
}

// ensureSecret returns the Secret, creating it from make() when it does not
// exist yet. When two replicas race, the loser reads the winner's.
func (b Bootstrap) ensureSecret(ctx context.Context, client kubernetes.Interface, name string, typ corev1.SecretType, make func() (map[string][]byte, error)) (*corev1.Secret, error) {
	secrets := client.CoreV1().Secrets(b.Namespace)
	s, err := secrets.Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		return s, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("reading secret %s/%s: %w", b.Namespace, name, err)
	}
	data, err := make()
	if err != nil {
		return nil, err
	}
	s = &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: b.Namespace, Labels: map[string]string{"app.kubernetes.io/name": "rexec-gateway"}},
		Type:       typ,
		Data:       data,
	}
	created, err := secrets.Create(ctx, s, metav1.CreateOptions{FieldManager: "rexec-gateway"})
	if apierrors.IsAlreadyExists(err) {
		return secrets.Get(ctx, name, metav1.GetOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("creating secret %s/%s: %w", b.Namespace, name, err)
	}
	return created, nil
}

func (b Bootstrap) signingKey(ctx context.Context, client kubernetes.Interface) (ed25519.PrivateKey, error) {
	s, err := b.ensureSecret(ctx, client, SigningSecret, corev1.SecretTypeOpaque, func() (map[string][]byte, error) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, err
		}
		pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
		if err != nil {
			return nil, err
		}
		return map[string][]byte{
			"sign.key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
			"sign.pub": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}),
		}, nil
	})
	if err != nil {
		return nil, err
	}
	key, err := sign.ParsePrivateKey(s.Data["sign.key"])
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s, sign.key: %w", b.Namespace, SigningSecret, err)
	}
	return key, b.publishPublicKey(ctx, client, key.Public().(ed25519.PublicKey))
}

// publishPublicKey keeps the public half where users can read it.
func (b Bootstrap) publishPublicKey(ctx context.Context, client kubernetes.Interface, pub ed25519.PublicKey) error {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: SigningConfigMap, Namespace: b.Namespace, Labels: map[string]string{"app.kubernetes.io/name": "rexec-gateway"}},
		Data: map[string]string{
			"sign.pub": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
			"key-id":   sign.KeyID(pub),
		},
	}
	cms := client.CoreV1().ConfigMaps(b.Namespace)
	old, err := cms.Get(ctx, cm.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: "rexec-gateway"})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
	case err == nil && (old.Data["sign.pub"] != cm.Data["sign.pub"] || old.Data["key-id"] != cm.Data["key-id"]):
		old.Data = cm.Data
		_, err = cms.Update(ctx, old, metav1.UpdateOptions{FieldManager: "rexec-gateway"})
	}
	if err != nil {
		return fmt.Errorf("publishing the public key in configmap %s/%s: %w", b.Namespace, SigningConfigMap, err)
	}
	return nil
}

func (b Bootstrap) servingCert(ctx context.Context, client kubernetes.Interface) (*tls.Certificate, []byte, error) {
	s, err := b.ensureSecret(ctx, client, ServingSecret, corev1.SecretTypeTLS, b.newServingCert)
	if err != nil {
		return nil, nil, err
	}
	cert, err := tls.X509KeyPair(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		return nil, nil, fmt.Errorf("secret %s/%s: %w", b.Namespace, ServingSecret, err)
	}
	caPEM := s.Data["ca.crt"]
	if len(caPEM) == 0 {
		return nil, nil, fmt.Errorf("secret %s/%s has no ca.crt: the APIService's caBundle needs it", b.Namespace, ServingSecret)
	}
	return &cert, caPEM, nil
}

// newServingCert makes a CA of the gateway's own and a certificate for the
// Service's names, valid ten years: the API server trusts it only through
// this APIService's caBundle.
func (b Bootstrap) newServingCert() (map[string][]byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "rexec-gateway-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	svc := b.Service + "." + b.Namespace
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano() + 1),
		Subject:      pkix.Name{CommonName: svc + ".svc"},
		DNSNames:     []string{b.Service, svc, svc + ".svc", svc + ".svc.cluster.local"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		corev1.TLSCertKey:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		corev1.TLSPrivateKeyKey: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		"ca.crt":                pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
	}, nil
}

var apiServices = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// setCABundle points the APIService's trust at the serving certificate's
// CA, unless it already does.
func (b Bootstrap) setCABundle(ctx context.Context, config *rest.Config, caPEM []byte) error {
	dyn, err := dynamic.NewForConfig(config)
	if err != nil {
		return err
	}
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"caBundle": caPEM}})
	if err != nil {
		return err
	}
	_, err = dyn.Resource(apiServices).Patch(ctx, b.APIService, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "rexec-gateway"})
	if err != nil {
		return fmt.Errorf("setting the caBundle of APIService %s: %w", b.APIService, err)
	}
	return nil
}
