//go:build !windows

package cmd

import (
	"os"
	"os/signal"
	"syscall"
	"time"
)

// signalResetAndRaise restores the default action for sig and sends it to
// ourselves, so the parent shell sees "killed by signal" as with kubectl.
func signalResetAndRaise(sig syscall.Signal) {
	signal.Reset(sig)
	_ = syscall.Kill(os.Getpid(), sig)
	time.Sleep(time.Second)
}
