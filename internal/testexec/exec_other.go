//go:build !linux

package testexec

import (
	"context"
	"errors"
	"io"
	"time"

	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

// ExecInContainer refuses to run anything: the process handling (waitid
// without reaping, sessions from /proc) exists only for Linux.
func (e *Executor) ExecInContainer(ctx context.Context, name, uid, container string, cmd []string, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize, timeout time.Duration) error {
	e.record(Call{Name: name, UID: uid, Container: container, Cmd: cmd, TTY: tty, Stdin: in != nil})
	return errors.New("testexec: commands run only on Linux")
}

func killGroup(pid int, session bool) {}
