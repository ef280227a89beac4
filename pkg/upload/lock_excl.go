//go:build (!unix || aix) && !windows

package upload

import (
	"os"
	"path/filepath"
	"time"
)

// On platforms without flock or LockFileEx the claim is a second file,
// created with O_EXCL, beside the lock file. A claim older than staleLock is
// taken for the leftover of a process that died.
const staleLock = 10 * time.Minute

func claimPath(f *os.File) string { return f.Name() + ".claim" }

func lockFile(f *os.File) error {
	p := claimPath(f)
	for range 2 {
		c, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			c.Close()
			return nil
		}
		if !os.IsExist(err) {
			return &os.PathError{Op: "claim", Path: filepath.Base(p), Err: err}
		}
		fi, serr := os.Stat(p)
		if serr != nil || time.Since(fi.ModTime()) < staleLock {
			return ErrBusy
		}
		_ = os.Remove(p)
	}
	return ErrBusy
}

func unlockFile(f *os.File) error { return os.Remove(claimPath(f)) }

func releaseLock(f *os.File, path string) {
	_ = os.Remove(path)
	_ = unlockFile(f)
	_ = f.Close()
}
