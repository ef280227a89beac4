package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is one process of the cluster. Processes are started in their own
// process group with output to a log file in the state directory, so they
// outlive `rexec-cluster up` and can be stopped by PID from another process.
type proc struct {
	name    string
	pid     int
	cmd     *exec.Cmd     // nil when loaded from a PID file
	exited  chan struct{} // closed when cmd is reaped; nil without cmd
	logFile string
}

func startProc(stateDir, name, bin string, args ...string) (*proc, error) {
	logFile := filepath.Join(stateDir, "logs", name+".log")
	if err := os.MkdirAll(filepath.Dir(logFile), 0o755); err != nil {
		return nil, fmt.Errorf("creating log directory: %w", err)
	}
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening %s log: %w", name, err)
	}
	defer func() { _ = f.Close() }()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = stateDir
	// Its own group: a ^C at the terminal that ran `rexec-cluster up` does
	// not reach it, and Stop can signal everything it forked at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, pid: cmd.Process.Pid, cmd: cmd, exited: make(chan struct{}), logFile: logFile}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	if err := os.WriteFile(pidFile(stateDir, name), []byte(strconv.Itoa(p.pid)+"\n"), 0o644); err != nil {
		p.stop(time.Second)
		return nil, fmt.Errorf("writing %s PID file: %w", name, err)
	}
	return p, nil
}

func pidFile(stateDir, name string) string {
	return filepath.Join(stateDir, "pids", name+".pid")
}

// loadProc reads name's PID file; ok is false when there is no live process
// of that name (no file, or the PID now belongs to something else).
func loadProc(stateDir, name, bin string) (*proc, bool) {
	b, err := os.ReadFile(pidFile(stateDir, name))
	if err != nil {
		return nil, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return nil, false
	}
	p := &proc{name: name, pid: pid, logFile: filepath.Join(stateDir, "logs", name+".log")}
	if !p.alive() || !p.runs(bin) {
		return nil, false
	}
	return p, true
}

// runs reports whether the process executes bin, so a stale PID file whose
// PID was reused is never signalled.
func (p *proc) runs(bin string) bool {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.pid))
	if err != nil {
		return false
	}
	return filepath.Base(strings.TrimSuffix(exe, " (deleted)")) == filepath.Base(bin)
}

// alive reports whether the process exists and is not a zombie: a process
// whose parent exited may sit unreaped where PID 1 does not reap.
func (p *proc) alive() bool {
	if p.exited != nil {
		select {
		case <-p.exited:
			return false
		default:
			return true
		}
	}
	if err := syscall.Kill(p.pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if err != nil {
		return false
	}
	if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

// stop sends SIGTERM to the process group, waits up to grace, then SIGKILL.
func (p *proc) stop(grace time.Duration) {
	if !p.alive() {
		return
	}
	_ = syscall.Kill(-p.pid, syscall.SIGTERM)
	if p.wait(grace) {
		return
	}
	_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	p.wait(5 * time.Second)
}

func (p *proc) wait(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !p.alive() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return !p.alive()
}

// rss is the resident set size in bytes, from /proc/<pid>/status.
func (p *proc) rss() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid))
	if err != nil {
		return 0, fmt.Errorf("reading %s status: %w", p.name, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parsing VmRSS %q: %w", rest, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// logTail is the end of the process's log, for error messages.
func (p *proc) logTail() string {
	b, err := os.ReadFile(p.logFile)
	if err != nil {
		return ""
	}
	const max = 3000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// freePort asks the kernel for a free loopback port. The port is released
// before use, so another process could take it first; the window is a few
// milliseconds and a component that loses the race fails start-up loudly.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
