//go:build linux || darwin || freebsd || netbsd || openbsd

package replay

import (
	"golang.org/x/sys/unix"
)

// keyMode puts the terminal on fd in a mode for single-key commands: no
// line buffering and no echo, but output processing and signals (^C, ^Z)
// kept, unlike a fully raw mode, so the recording's output shows as it did.
// It returns the function that restores the terminal.
func keyMode(fd int) (func(), error) {
	old, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		return nil, err
	}
	t := *old
	t.Lflag &^= unix.ICANON | unix.ECHO | unix.IEXTEN
	t.Iflag &^= unix.IXON | unix.ICRNL
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(fd, ioctlSetTermios, &t); err != nil {
		return nil, err
	}
	return func() { _ = unix.IoctlSetTermios(fd, ioctlSetTermios, old) }, nil
}
