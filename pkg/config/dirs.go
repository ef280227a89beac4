package config

import (
	"fmt"
	"os"
)

// PrivateDir makes dir (described as what: "recording directory") ready to keep the user's recordings (or the upload
// spool) in: it creates it 0700 when it is missing, and refuses one that
// someone else controls, where recordings could be removed or replaced
// behind the user's back:
//
//   - a directory every user can write (mode o+w, such as 0777, or 1777
//     like /tmp: the sticky bit stops others deleting files, not creating
//     them nor its owner deleting them);
//   - a directory owned by another user than the user or root;
//   - a directory others can write through its group, unless it is the
//     user's own directory and private group.
//
// owned is true for a location rexec chooses (the default under the state
// directory): it is tightened to 0700 when others may read it, unless it is
// a symbolic link, which is used as it is (rexec never changes the mode of
// a directory it was pointed to) with a warning. A directory the user chose
// is never changed; a warning says when others may list it.
func PrivateDir(dir, what string, owned bool) (warning string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create %s %s: %w", what, dir, err)
	}
	lfi, err := os.Lstat(dir)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", what, dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", what, dir, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("%s %s is not a directory", what, dir)
	}
	if err := dirOwnedSafely(what+" "+dir, fi); err != nil {
		return "", err
	}
	perm := fi.Mode().Perm()
	if perm&0o077 == 0 {
		return "", nil
	}
	link := lfi.Mode()&os.ModeSymlink != 0
	if owned && !link {
		if err := chmodPrivate(dir); err != nil {
			return "", fmt.Errorf("restrict %s %s to 0700: %w", what, dir, err)
		}
		return "", nil
	}
	if link {
		return fmt.Sprintf("warning: %s %s is a symbolic link to a directory with mode %04o, left as it is; others may list it (the files themselves are 0600): chmod 700 it", what, dir, perm), nil
	}
	return fmt.Sprintf("warning: %s %s has mode %04o; others may list it (the files themselves are 0600)", what, dir, perm), nil
}
