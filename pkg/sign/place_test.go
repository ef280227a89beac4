//go:build unix

package sign

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeyInDirectoryOthersCanWrite: a key kept in a directory others can
// write (without the sticky bit) is refused, as ssh refuses such keys:
// anyone could have replaced it.
func TestKeyInDirectoryOthersCanWrite(t *testing.T) {
	_, priv := keyPair(t)
	for _, mode := range []os.FileMode{0o777, 0o703, 0o757} {
		dir := filepath.Join(t.TempDir(), "keys")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "sign.key")
		if err := os.WriteFile(p, pkcs8PEM(t, priv), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadPrivateKey(p)
		if err == nil || !strings.Contains(err.Error(), "which others can write") || !strings.Contains(err.Error(), "chmod go-w "+dir) {
			t.Errorf("directory mode %o: %v", mode, err)
		}
		// Through a symbolic link from a safe place, the same.
		link := filepath.Join(t.TempDir(), "link.key")
		if err := os.Symlink(p, link); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadPrivateKey(link); err == nil {
			t.Errorf("directory mode %o, through a link: accepted", mode)
		}
	}
	// The sticky bit stops others replacing what is not theirs: accepted.
	dir := filepath.Join(t.TempDir(), "sticky")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "sign.key")
	if err := os.WriteFile(p, pkcs8PEM(t, priv), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPrivateKey(p); err != nil {
		t.Errorf("sticky directory: %v", err)
	}
}
