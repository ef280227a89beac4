//go:build unix

package session

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRecordDirOthersCanWrite: a recording directory that every user can
// write (0777, or 1777 like /tmp) is refused, whoever owns it: others could
// remove, replace or plant recordings in it. Nothing is changed.
func TestRecordDirOthersCanWrite(t *testing.T) {
	for _, mode := range []os.FileMode{0o777, 0o777 | os.ModeSticky} {
		dir := filepath.Join(t.TempDir(), "shared")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		for _, owned := range []bool{false, true} {
			w, err := ensureDir(dir, owned)
			if err == nil || !strings.Contains(err.Error(), "writable by every user") || !strings.Contains(err.Error(), dir) {
				t.Errorf("mode %v, owned %v: warning %q, error %v; want a refusal", mode, owned, w, err)
			}
		}
		if fi, _ := os.Stat(dir); fi.Mode()&(os.ModePerm|os.ModeSticky) != mode {
			t.Errorf("mode changed to %v", fi.Mode())
		}
	}
}

// TestDefaultRecordDirSymlinkNotFollowed: the default recording directory,
// when it is a symbolic link, is used without changing the mode of what it
// points to; a warning says the mode was left as it is.
func TestDefaultRecordDirSymlinkNotFollowed(t *testing.T) {
	base := t.TempDir()
	target := filepath.Join(base, "elsewhere")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(target, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "recordings")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	w, err := ensureDir(link, true)
	if err != nil || !strings.Contains(w, "symbolic link") || !strings.Contains(w, "0755") {
		t.Errorf("warning %q, error %v", w, err)
	}
	if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o755 {
		t.Errorf("the link's target was changed to %o", fi.Mode().Perm())
	}
}
