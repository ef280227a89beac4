// Package sign loads the ed25519 keys that sign recordings (the trailer
// signature of docs/FORMAT.md, section 3.3) and verify them. Private keys
// are PKCS#8 PEM ("BEGIN PRIVATE KEY", as `openssl genpkey -algorithm
// ed25519` writes) or OpenSSH ("BEGIN OPENSSH PRIVATE KEY", as `ssh-keygen
// -t ed25519` writes), unencrypted; public keys are PKIX PEM ("BEGIN PUBLIC
// KEY") or OpenSSH lines ("ssh-ed25519 AAAA... comment", a .pub file or an
// authorized_keys file). Key ids are SHA-256 fingerprints, as `ssh-keygen
// -l` prints them (record.KeyID).
//
// No error from this package quotes key material.
package sign

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"

	"golang.org/x/crypto/ssh"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// maxKeyFile bounds what is read from a key file.
const maxKeyFile = 1 << 20

// ErrKeyPermissions is returned (wrapped) for a private key file that group
// or others may access.
var ErrKeyPermissions = errors.New("private key is accessible by group or others")

// LoadPrivateKey reads an ed25519 private key from path. It refuses a file
// that group or others may read or write (like ssh does), one owned by
// another user or kept in a directory others can write (checkKeyPlace), a
// key protected by a passphrase, and any key that is not ed25519.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("signing key %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("signing key %s has mode %04o: %w; it must be readable by its owner only (chmod 600 %s)", path, perm, ErrKeyPermissions, path)
	}
	if err := checkKeyPlace(path, fi); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile))
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	k, err := ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return k, nil
}

// ParsePrivateKey parses a PKCS#8 PEM or OpenSSH ed25519 private key.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found: want an ed25519 key in PKCS#8 PEM (openssl genpkey -algorithm ed25519) or OpenSSH format (ssh-keygen -t ed25519)")
	}
	switch block.Type {
	case "PRIVATE KEY", "OPENSSH PRIVATE KEY":
	case "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("the key is passphrase-protected; rexec signs unattended and needs an unencrypted key, readable by its owner only")
	default:
		return nil, fmt.Errorf("a %q PEM block is not an ed25519 private key in PKCS#8 or OpenSSH format", block.Type)
	}
	raw, err := ssh.ParseRawPrivateKey(data)
	if err != nil {
		var pm *ssh.PassphraseMissingError
		if errors.As(err, &pm) {
			return nil, errors.New("the key is passphrase-protected; rexec signs unattended and needs an unencrypted key, readable by its owner only (ssh-keygen -p -N '' -f KEY removes the passphrase)")
		}
		return nil, errors.New("the key does not parse as PKCS#8 or OpenSSH")
	}
	switch k := raw.(type) {
	case ed25519.PrivateKey:
		return k, nil
	case *ed25519.PrivateKey:
		return *k, nil
	}
	return nil, fmt.Errorf("the key is %s, not ed25519", keyKind(raw))
}

func keyKind(k any) string {
	switch fmt.Sprintf("%T", k) {
	case "*rsa.PrivateKey":
		return "RSA"
	case "*ecdsa.PrivateKey", "*ecdh.PrivateKey":
		return "ECDSA"
	case "*dsa.PrivateKey":
		return "DSA"
	}
	return "another type"
}

// LoadPublicKeys reads the ed25519 public keys in path: PKIX PEM blocks
// ("BEGIN PUBLIC KEY") or OpenSSH lines (authorized_keys format; lines of
// other key types are refused, comments and blank lines skipped).
func LoadPublicKeys(path string) ([]ed25519.PublicKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile))
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	keys, err := ParsePublicKeys(data)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", path, err)
	}
	return keys, nil
}

// ParsePublicKeys parses PKIX PEM or OpenSSH ed25519 public keys.
func ParsePublicKeys(data []byte) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	if bytes.Contains(data, []byte("-----BEGIN")) {
		rest := data
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			if block.Type != "PUBLIC KEY" {
				if bytes.Contains([]byte(block.Type), []byte("PRIVATE")) {
					return nil, errors.New("this is a private key; give the public key (openssl pkey -pubout, or the .pub file ssh-keygen wrote)")
				}
				return nil, fmt.Errorf("a %q PEM block is not a PKIX public key", block.Type)
			}
			k, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, errors.New("the PEM public key does not parse as PKIX")
			}
			pub, ok := k.(ed25519.PublicKey)
			if !ok {
				return nil, fmt.Errorf("the public key is %T, not ed25519", k)
			}
			keys = append(keys, pub)
		}
	} else {
		var rest []byte
		for _, l := range bytes.Split(data, []byte("\n")) {
			if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
				rest = append(append(rest, t...), '\n')
			}
		}
		for len(rest) > 0 {
			pk, _, _, next, err := ssh.ParseAuthorizedKey(rest)
			if err != nil {
				return nil, errors.New("no OpenSSH public key line (ssh-ed25519 AAAA...) or PKIX PEM block found")
			}
			rest = next
			if pk.Type() != ssh.KeyAlgoED25519 {
				return nil, fmt.Errorf("an OpenSSH %s key is not ed25519", pk.Type())
			}
			cp, ok := pk.(ssh.CryptoPublicKey)
			if !ok {
				return nil, errors.New("the OpenSSH key does not expose its ed25519 key")
			}
			pub, ok := cp.CryptoPublicKey().(ed25519.PublicKey)
			if !ok {
				return nil, errors.New("the OpenSSH key is not ed25519")
			}
			keys = append(keys, pub)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no ed25519 public key found")
	}
	return keys, nil
}

// KeyID is record.KeyID: the key's SHA-256 fingerprint as ssh-keygen -l
// prints it.
func KeyID(pub ed25519.PublicKey) string { return record.KeyID(pub) }
