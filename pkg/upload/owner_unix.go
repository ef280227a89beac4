//go:build unix

package upload

import (
	"errors"
	"syscall"
)

// processAlive probes pid with signal 0: no error or EPERM means a process
// with that id exists.
func processAlive(pid int) (alive, known bool) {
	if pid <= 0 {
		return false, true
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM), true
}
