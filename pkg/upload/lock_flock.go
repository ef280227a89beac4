//go:build unix && !aix

package upload

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// lockFile takes a non-blocking flock on f. flock locks belong to the open
// file, so two claims in one process exclude each other too, and the kernel
// drops the lock of a process that dies.
func lockFile(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EWOULDBLOCK):
			return ErrBusy
		default:
			return &os.PathError{Op: "flock", Path: f.Name(), Err: err}
		}
	}
}

func unlockFile(f *os.File) error {
	return unix.Flock(int(f.Fd()), unix.LOCK_UN)
}

// releaseLock removes the name while still holding the lock, so that whoever
// locks next finds either no file or a new one.
func releaseLock(f *os.File, path string) {
	_ = os.Remove(path)
	_ = unlockFile(f)
	_ = f.Close()
}
