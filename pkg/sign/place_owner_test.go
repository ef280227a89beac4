//go:build unix

package sign

import (
	"os"
	"strings"
	"testing"
)

// TestKeyOwnedByAnother: a key file another user owns is refused, even
// when it is readable by its owner only.
func TestKeyOwnedByAnother(t *testing.T) {
	_, priv := keyPair(t)
	p := write(t, "sign.key", pkcs8PEM(t, priv), 0o600)
	if os.Getuid() == 0 {
		if err := os.Chown(p, 54321, 54321); err != nil {
			t.Fatal(err)
		}
	} else {
		getuid = func() int { return os.Getuid() + 1 }
		t.Cleanup(func() { getuid = os.Getuid })
	}
	_, err := LoadPrivateKey(p)
	if err == nil || !strings.Contains(err.Error(), "is owned by") || !strings.Contains(err.Error(), "not by you") {
		t.Errorf("got %v", err)
	}
}
