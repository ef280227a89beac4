//go:build linux

package testexec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// Exit codes a shell gives for a command it cannot run; a runtime that
// fails to start the process reports the same to kubectl users.
const (
	codeNotExecutable = 126
	codeNotFound      = 127
)

// eot is what a terminal sends for Ctrl-D.
const eot = 0x04

// ExecInContainer runs cmd as a local process, wired to the client's
// streams. Its signature is the upstream Executor's: name and uid identify
// the pod, container the container; they are recorded, not interpreted.
// The returned error is a k8s.io/utils/exec.CodeExitError for any exit
// status other than 0, so ServeExec reports the real code to the client.
func (e *Executor) ExecInContainer(ctx context.Context, name, uid, container string, cmd []string, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize, timeout time.Duration) error {
	e.record(Call{Name: name, UID: uid, Container: container, Cmd: slices.Clone(cmd), TTY: tty, Stdin: in != nil})
	// Closing our ends of the output streams before ServeExec writes the
	// status tells the client all output has been sent, as a runtime does.
	defer closeIfSet(out)
	defer closeIfSet(errOut)

	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if len(cmd) == 0 {
		return errors.New("no command given")
	}
	// Where a shell would print why a command cannot run: stderr, or the
	// terminal when there is no separate stderr.
	diag := io.Writer(io.Discard)
	if errOut != nil {
		diag = errOut
	} else if out != nil {
		diag = out
	}

	env := e.env()
	path, err := lookPath(cmd[0], e.Dir, env)
	if err != nil {
		return notRunnable(diag, err)
	}
	c := exec.Command(path, cmd[1:]...)
	c.Args[0] = cmd[0] // argv[0] as the client wrote it, like execve in a container
	c.Dir = e.Dir
	c.Env = env
	if tty {
		return e.runTTY(ctx, c, in, out, diag, resize)
	}
	return e.runPipes(ctx, c, in, out, errOut, diag)
}

// runPipes runs c without a terminal, in its own process group.
func (e *Executor) runPipes(ctx context.Context, c *exec.Cmd, in io.Reader, out, errOut io.Writer, diag io.Writer) error {
	// Left nil, os/exec connects /dev/null, which is what a container
	// process gets for a stream the client did not ask for.
	if out != nil {
		c.Stdout = out
	}
	if errOut != nil {
		c.Stderr = errOut
	}
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Bounds how long Wait drains output once the process is gone, in case
	// something that escaped the group still holds a pipe.
	c.WaitDelay = e.outputGrace()

	var stdin io.WriteCloser
	if in != nil {
		// A pipe of our own rather than c.Stdin = in: with c.Stdin, Wait
		// would wait for the client's stdin to end even after the process
		// exited.
		var err error
		if stdin, err = c.StdinPipe(); err != nil {
			return err
		}
	}
	if err := c.Start(); err != nil {
		return notRunnable(diag, startError(c.Args[0], err))
	}
	pid := c.Process.Pid
	e.track(pid, false)
	defer e.untrack(pid)

	if stdin != nil {
		go func() {
			// The client's EOF becomes the command's EOF, so `cat` ends.
			_, _ = io.Copy(stdin, in)
			_ = stdin.Close()
		}()
	}
	waitAndKill(ctx, pid, false)
	return exitResult(c, c.Wait())
}

// runTTY runs c on a new pseudo-terminal as the leader of a new session
// whose controlling terminal it is, as a runtime does for `exec -t`.
func (e *Executor) runTTY(ctx context.Context, c *exec.Cmd, in io.Reader, out io.Writer, diag io.Writer, resize <-chan remotecommand.TerminalSize) error {
	size := e.firstSize(ctx, resize)
	ptmx, err := pty.StartWithAttrs(c, size, &syscall.SysProcAttr{Setsid: true, Setctty: true})
	if err != nil {
		return notRunnable(diag, startError(c.Args[0], err))
	}
	pid := c.Process.Pid
	e.track(pid, true)
	defer e.untrack(pid)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	if resize != nil {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				case sz, ok := <-resize:
					if !ok {
						return
					}
					// The kernel sends SIGWINCH to the terminal's foreground
					// process group, just as in a container.
					_ = pty.Setsize(ptmx, winsize(sz))
				}
			}
		})
	}

	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		// Read even when nobody listens, or a chatty command blocks on a
		// full terminal buffer.
		dst := io.Discard
		if out != nil {
			dst = out
		}
		// Ends with EIO once no process holds the terminal's other side.
		_, _ = io.Copy(dst, ptmx)
	}()

	if in != nil {
		go func() {
			// A terminal has no end of input; when the client's stdin ends,
			// send what a user would type to end it: Ctrl-D.
			if _, err := io.Copy(ptmx, in); err == nil {
				_, _ = ptmx.Write([]byte{eot})
			}
		}()
	}

	waitAndKill(ctx, pid, true)
	waitErr := c.Wait()
	select {
	case <-outDone:
	case <-time.After(e.outputGrace()):
	}
	close(stop)
	wg.Wait()
	_ = ptmx.Close()
	<-outDone
	return exitResult(c, waitErr)
}

// firstSize waits a little for the client's first terminal size so the
// command starts with it; `stty size` as the first command then sees it.
func (e *Executor) firstSize(ctx context.Context, resize <-chan remotecommand.TerminalSize) *pty.Winsize {
	wait := e.firstResizeWait()
	if resize == nil || wait < 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case sz, ok := <-resize:
		if ok {
			return winsize(sz)
		}
	case <-t.C:
	case <-ctx.Done():
	}
	return nil
}

func winsize(sz remotecommand.TerminalSize) *pty.Winsize {
	return &pty.Winsize{Rows: sz.Height, Cols: sz.Width}
}

// waitAndKill returns once the process pid has exited, killing its group
// first if ctx ends (the client went away). Whatever the command left
// running in its group is killed too, before the leader is reaped: its
// unreaped zombie keeps the group id from being reused, so no unrelated
// process can be hit.
func waitAndKill(ctx context.Context, pid int, session bool) {
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		waitExited(pid)
	}()
	select {
	case <-exited:
	case <-ctx.Done():
		killGroup(pid, session)
		<-exited
	}
	killGroup(pid, session)
}

// waitExited waits for pid to exit without reaping it (WNOWAIT), so the
// caller can still kill its group safely and os/exec can reap it after.
func waitExited(pid int) {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return
		}
	}
}

// killGroup kills the process group led by pid and, for a session leader,
// every process of its session: an interactive shell on a terminal puts
// each job in a group of its own.
func killGroup(pid int, session bool) {
	_ = unix.Kill(-pid, unix.SIGKILL)
	if !session {
		return
	}
	// Twice, to catch what was forked while the first pass ran.
	for range 2 {
		for _, p := range sessionMembers(pid) {
			_ = unix.Kill(p, unix.SIGKILL)
		}
	}
}

// sessionMembers lists the processes whose session id is sid, from /proc.
func sessionMembers(sid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil || pid == sid {
			continue
		}
		stat, err := os.ReadFile("/proc/" + ent.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name may hold spaces and parentheses; fields after
		// its last ')' are: state ppid pgrp session ...
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 3 && f[3] == strconv.Itoa(sid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// exitResult turns the result of Wait into what ServeExec expects.
func exitResult(c *exec.Cmd, err error) error {
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code := ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal()) // as a shell reports a killed command
		}
		return utilexec.CodeExitError{Err: fmt.Errorf("error executing command %q, exit code %d", c.Args, code), Code: code}
	}
	if errors.Is(err, exec.ErrWaitDelay) {
		// The command succeeded; only something it left behind kept the
		// output open past the grace period.
		return nil
	}
	return err
}

// runError is a command that could not be started, with the exit code a
// shell gives for it.
type runError struct {
	code int
	err  error
}

func (r *runError) Error() string { return r.err.Error() }
func (r *runError) Unwrap() error { return r.err }

// notRunnable reports err where the user sees it and turns a runError into
// its exit code.
func notRunnable(diag io.Writer, err error) error {
	var re *runError
	if !errors.As(err, &re) {
		return err
	}
	_, _ = fmt.Fprintln(diag, re.err)
	return utilexec.CodeExitError{Err: re.err, Code: re.code}
}

// startError classifies a failed start the way a shell would.
func startError(name string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &runError{codeNotFound, fmt.Errorf("exec: %q: %w", name, err)}
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.ENOEXEC), errors.Is(err, syscall.EISDIR):
		return &runError{codeNotExecutable, fmt.Errorf("exec: %q: %w", name, err)}
	}
	return err
}

// lookPath finds name like a shell does, in the PATH of env (not of the
// test process), and relative to dir for names with a slash. The result
// is what to give exec.Command: it always holds a slash, so os/exec does
// not search again.
func lookPath(name, dir string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, checkExecutable(name, inDir(dir, name))
	}
	var denied error
	for _, d := range strings.Split(pathOf(env), ":") {
		if d == "" {
			d = "." // an empty PATH entry means the working directory
		}
		p := d + "/" + name
		err := checkExecutable(name, inDir(dir, p))
		if err == nil {
			return p, nil
		}
		var re *runError
		if errors.As(err, &re) && re.code == codeNotExecutable && denied == nil {
			denied = err
		}
	}
	if denied != nil {
		return "", denied
	}
	return "", &runError{codeNotFound, fmt.Errorf("exec: %q: executable file not found in $PATH", name)}
}

// checkExecutable tells whether p (shown to users as name) can be run.
func checkExecutable(name, p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return &runError{codeNotFound, fmt.Errorf("exec: %q: %w", name, fs.ErrNotExist)}
	}
	if fi.IsDir() {
		return &runError{codeNotExecutable, fmt.Errorf("exec: %q: is a directory", name)}
	}
	if err := unix.Access(p, unix.X_OK); err != nil {
		return &runError{codeNotExecutable, fmt.Errorf("exec: %q: %w", name, fs.ErrPermission)}
	}
	return nil
}

func inDir(dir, p string) string {
	if dir == "" || strings.HasPrefix(p, "/") {
		return p
	}
	return dir + "/" + p
}

// defaultPath is the PATH container runtimes give a process whose image
// sets none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func pathOf(env []string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], "PATH="); ok {
			return v
		}
	}
	return defaultPath
}

func closeIfSet(w io.WriteCloser) {
	if w != nil {
		_ = w.Close()
	}
}
