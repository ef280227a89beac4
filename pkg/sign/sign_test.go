package sign

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

func keyPair(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func write(t *testing.T, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func pkcs8PEM(t *testing.T, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func opensshPEM(t *testing.T, k ed25519.PrivateKey) []byte {
	t.Helper()
	b, err := ssh.MarshalPrivateKey(k, "test")
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(b)
}

func TestLoadPrivateKeyFormats(t *testing.T) {
	_, priv := keyPair(t)
	for name, data := range map[string][]byte{"pkcs8": pkcs8PEM(t, priv), "openssh": opensshPEM(t, priv)} {
		k, err := LoadPrivateKey(write(t, name, data, 0o600))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !k.Equal(priv) {
			t.Errorf("%s: a different key", name)
		}
	}
}

func TestPrivateKeyReadableByOthersIsRefused(t *testing.T) {
	_, priv := keyPair(t)
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o644, 0o700 | 0o001} {
		p := write(t, "key", pkcs8PEM(t, priv), mode)
		_, err := LoadPrivateKey(p)
		if !errors.Is(err, ErrKeyPermissions) || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %o: %v", mode, err)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		if _, err := LoadPrivateKey(write(t, "key", pkcs8PEM(t, priv), mode)); err != nil {
			t.Errorf("mode %o: %v", mode, err)
		}
	}
}

func TestRefusedPrivateKeys(t *testing.T) {
	_, priv := keyPair(t)
	enc, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "c", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"passphrase": {pem.EncodeToMemory(enc), "passphrase-protected"},
		"rsa":        {pkcs8PEM(t, rk), "RSA, not ed25519"},
		"garbage":    {[]byte("not a key"), "no PEM block"},
		"public":     {[]byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl x"), "no PEM block"},
	} {
		_, err := LoadPrivateKey(write(t, name, tc.data, 0o600))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

// TestErrorsHoldNoKeyMaterial: a key file with a damaged body gives an
// error that quotes none of it.
func TestErrorsHoldNoKeyMaterial(t *testing.T) {
	_, priv := keyPair(t)
	data := opensshPEM(t, priv)
	lines := strings.Split(string(data), "\n")
	body := lines[2]
	lines[2] = body[:10] + "!!!!" + body[14:]
	_, err := LoadPrivateKey(write(t, "k", []byte(strings.Join(lines, "\n")), 0o600))
	if err == nil {
		t.Fatal("damaged key loaded")
	}
	for i := 0; i+8 <= len(body); i += 8 {
		if strings.Contains(err.Error(), body[i:i+8]) {
			t.Fatalf("error %q quotes the key", err)
		}
	}
}

func TestLoadPublicKeys(t *testing.T) {
	pub, priv := keyPair(t)
	pub2, _ := keyPair(t)
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pkix := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	sp2, _ := ssh.NewPublicKey(pub2)
	line := ssh.MarshalAuthorizedKey(sp)
	two := append(append([]byte("# trusted recorders\n\n"), line...), ssh.MarshalAuthorizedKey(sp2)...)
	for name, tc := range map[string]struct {
		data []byte
		n    int
	}{"pkix": {pkix, 1}, "openssh": {line, 1}, "authorized_keys": {two, 2}} {
		keys, err := LoadPublicKeys(write(t, name, tc.data, 0o644))
		if err != nil || len(keys) != tc.n || !keys[0].Equal(pub) {
			t.Errorf("%s: %d keys, %v", name, len(keys), err)
		}
	}
	if _, err := LoadPublicKeys(write(t, "priv", pkcs8PEM(t, priv), 0o600)); err == nil || !strings.Contains(err.Error(), "private key") {
		t.Errorf("private key as public: %v", err)
	}
	rk, _ := rsa.GenerateKey(rand.Reader, 1024)
	rsp, _ := ssh.NewPublicKey(&rk.PublicKey)
	if _, err := LoadPublicKeys(write(t, "rsa", ssh.MarshalAuthorizedKey(rsp), 0o644)); err == nil || !strings.Contains(err.Error(), "not ed25519") {
		t.Errorf("rsa: %v", err)
	}
}

// TestKeyIDIsSSHFingerprint: the key id is what ssh-keygen -l prints.
func TestKeyIDIsSSHFingerprint(t *testing.T) {
	pub, _ := keyPair(t)
	sp, _ := ssh.NewPublicKey(pub)
	if got, want := KeyID(pub), ssh.FingerprintSHA256(sp); got != want {
		t.Fatalf("KeyID %s, ssh fingerprint %s", got, want)
	}
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Skip("ssh-keygen not installed")
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "k")
	if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	out, err := exec.Command(keygen, "-l", "-f", key+".pub").Output()
	if err != nil {
		t.Fatal(err)
	}
	priv, err := LoadPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pubs, err := LoadPublicKeys(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	id := record.KeyID(priv.Public().(ed25519.PublicKey))
	if !bytes.Contains(out, []byte(" "+id+" ")) || record.KeyID(pubs[0]) != id {
		t.Fatalf("ssh-keygen -l says %q, KeyID %s", out, id)
	}
}
