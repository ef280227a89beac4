//go:build windows

package cmd

import "syscall"

// signalResetAndRaise has no equivalent on Windows; the caller exits 1.
func signalResetAndRaise(syscall.Signal) {}
