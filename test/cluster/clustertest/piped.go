package clustertest

import (
	"bytes"
	"io"
	"os/exec"
	"sync"
)

// SyncBuffer collects a process's output while a test reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// StartPiped starts cmd with a pipe to its stdin, which the caller writes
// and closes as a user would, and its stdout and stderr collected.
func StartPiped(cmd *exec.Cmd) (stdin io.WriteCloser, stdout, stderr *SyncBuffer, err error) {
	stdin, err = cmd.StdinPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	stdout, stderr = &SyncBuffer{}, &SyncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, err
	}
	return stdin, stdout, stderr, nil
}
