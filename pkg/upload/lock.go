package upload

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// ErrBusy is returned when another process (or another Drain in this one)
// is uploading the entry right now.
var ErrBusy = errors.New("another kubectl-rexec process is uploading this recording")

// entryLock is the exclusive claim on one spool entry.
type entryLock struct {
	f    *os.File
	path string
}

// lockEntry claims the lock file at path without waiting: ErrBusy when it is
// held. The holder removes the lock file when it releases it, so a claimant
// that opened the file just before it was removed could lock a file that no
// longer has a name; it checks, after locking, that the name still leads to
// the file it locked, and otherwise starts over.
func lockEntry(path string) (*entryLock, error) {
	for range 8 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open lock %s: %w", path, err)
		}
		if err := lockFile(f); err != nil {
			f.Close()
			return nil, err
		}
		held, err1 := f.Stat()
		named, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, named) {
			// Informational only: who holds it, since when.
			_ = f.Truncate(0)
			_, _ = fmt.Fprintf(f, "pid %d since %s\n", os.Getpid(), time.Now().UTC().Format(time.RFC3339))
			return &entryLock{f: f, path: path}, nil
		}
		_ = unlockFile(f)
		f.Close()
	}
	return nil, ErrBusy
}

// release removes the lock file and unlocks it.
func (l *entryLock) release() {
	releaseLock(l.f, l.path)
}
