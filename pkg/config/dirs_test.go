//go:build unix

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// otherUser makes p owned by another user than the one the code checks
// for: as root by giving it away, otherwise by making the check stand for
// another uid.
func otherUser(t *testing.T, p string) {
	t.Helper()
	if os.Getuid() == 0 {
		if err := os.Chown(p, 54321, 54321); err != nil {
			t.Fatal(err)
		}
		return
	}
	getuid = func() int { return os.Getuid() + 1 }
	t.Cleanup(func() { getuid = os.Getuid })
}

// TestPrivateDirOwnedByAnother: a directory another user owns is refused,
// even when only its owner can write it: its owner could remove or
// replace the recordings.
func TestPrivateDirOwnedByAnother(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "theirs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	otherUser(t, dir)
	_, err := PrivateDir(dir, "recording directory", false)
	if err == nil || !strings.Contains(err.Error(), "is owned by") || !strings.Contains(err.Error(), "not by you") {
		t.Errorf("got %v", err)
	}
}

// TestPrivateDirGroupWritable: a directory others can write through its
// group is refused when it is not the user's own.
func TestPrivateDirGroupWritable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "group")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o770); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() == 0 {
		// root's dir and group: allowed; the same mode on another user's
		// dir is not.
		if err := os.Chown(dir, 0, 54321); err != nil {
			t.Fatal(err)
		}
	} else {
		otherUser(t, dir)
	}
	_, err := PrivateDir(dir, "recording directory", false)
	if err == nil || !(strings.Contains(err.Error(), "group") || strings.Contains(err.Error(), "owned by")) {
		t.Errorf("got %v", err)
	}
}
