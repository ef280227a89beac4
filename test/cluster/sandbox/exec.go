package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// Exit codes a container runtime reports when it cannot start the command.
// containerd surfaces a missing executable as an internal error (kubectl exits
// 1) and dockershim as exit 126; we follow the shell convention, 127 for "not
// found" and 126 for "found but not executable", so tests can tell a missing
// binary from a command that ran and failed.
const (
	exitNotFound      = 127
	exitNotExecutable = 126
)

// drainTimeout bounds how long output is drained after the command exited:
// a process that escaped its group (setsid) and still holds the pipe or the
// terminal would otherwise hold the exec open forever.
const drainTimeout = 2 * time.Second

// initialSizeWait is how long a tty exec waits for the client's first
// terminal size before starting the command without one. Clients send it
// right after the streams open and the wait ends as soon as it arrives, so
// it is long: on a loaded machine the size may take seconds to come
// through the API server, and `stty size` as the first command must see it.
const initialSizeWait = 30 * time.Second

// ContainerInfo is what the executor needs to know about the "container" a
// command runs in.
type ContainerInfo struct {
	Namespace string
	Pod       string
	Container string
	// Env is added after POD_NAME and friends.
	Env []string
	// Dir is the container's root filesystem in a sandbox, else the
	// working directory of commands on the host; created on first use.
	Dir string
}

// Executor runs exec requests in a sandbox (see Sandbox) or, without one, as
// local processes. It implements remotecommand.Executor so upstream
// ServeExec drives it exactly as it drives a container runtime, and it
// tracks every child so that none outlives the request or the node.
type Executor struct {
	// Lookup resolves the pod and container named in a request. The executor
	// is handed pod names by ServeExec, so this is how it finds the rest.
	Lookup func(podKey, container string) (ContainerInfo, error)
	// Sandbox isolates the commands; nil (or IsolationHost) runs them on
	// the host as the node's user.
	Runtime *Runtime

	mu       sync.Mutex
	children map[int]struct{} // process group ids of running commands
	closed   bool
}

var _ remotecommand.Executor = (*Executor)(nil)

// ExecInContainer runs cmd and copies its streams. It returns nil on exit 0
// and a utilexec.CodeExitError (not wrapped: ServeExec type-asserts it) for any
// other exit, so the client sees the real exit code.
func (e *Executor) ExecInContainer(ctx context.Context, name, _ string, container string, cmd []string,
	in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize, _ time.Duration) error {
	if len(cmd) == 0 {
		return errors.New("no command given")
	}
	info, err := e.Lookup(name, container)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(info.Dir, 0o755); err != nil {
		return fmt.Errorf("creating working directory for %s/%s: %w", name, container, err)
	}
	var build func(ttyPath string) (*exec.Cmd, error)
	if e.Runtime != nil && e.Runtime.Isolation != IsolationHost {
		build = func(ttyPath string) (*exec.Cmd, error) {
			return e.Runtime.command(info.Dir, info.Pod, cmd, sandboxEnvFor(info, tty), ttyPath)
		}
	} else {
		c, err := hostCommand(info, cmd, tty, out, errOut)
		if err != nil {
			return err
		}
		build = func(string) (*exec.Cmd, error) { return c, nil }
	}
	if tty {
		return e.runTTY(ctx, build, in, out, resize)
	}
	c, err := build("")
	if err != nil {
		return err
	}
	return e.runPipes(ctx, c, in, out, errOut)
}

// sandboxEnvFor is a container's environment: an image's usual PATH and HOME,
// the pod's names, and the container's own variables; nothing of the host's.
func sandboxEnvFor(info ContainerInfo, tty bool) []string {
	env := []string{
		"PATH=" + containerPath,
		"HOME=/root",
		"HOSTNAME=" + info.Pod,
		"POD_NAME=" + info.Pod,
		"POD_NAMESPACE=" + info.Namespace,
		"CONTAINER=" + info.Container,
	}
	if tty {
		env = append(env, "TERM=xterm")
	}
	return append(env, info.Env...)
}

// hostCommand is cmd as a process on the host, in the container's working
// directory with the host's environment. The executable is resolved first
// so a missing one gets the runtime-style message on the stream the user is
// watching and a distinct exit code, instead of a Go error string that
// ServeExec would turn into a 500.
func hostCommand(info ContainerInfo, cmd []string, tty bool, out, errOut io.Writer) (*exec.Cmd, error) {
	path, code, msg := resolve(cmd[0], info.Dir)
	if code != 0 {
		w := errOut
		if tty || w == nil {
			w = out
		}
		if w != nil {
			_, _ = io.WriteString(w, msg)
		}
		return nil, utilexec.CodeExitError{Err: errors.New(msg), Code: code}
	}
	c := exec.Command(path, cmd[1:]...)
	c.Args[0] = cmd[0]
	c.Dir = info.Dir
	c.Env = append(os.Environ(),
		"HOSTNAME="+info.Pod,
		"POD_NAME="+info.Pod,
		"POD_NAMESPACE="+info.Namespace,
		"CONTAINER="+info.Container,
	)
	c.Env = append(c.Env, info.Env...)
	if tty {
		c.Env = append(c.Env, "TERM=xterm")
	}
	return c, nil
}

// resolve finds an executable the way execve would (through PATH for a bare
// name, relative to the working directory for a path) and, when that fails,
// returns the exit code and message a runtime would report.
func resolve(arg0, dir string) (path string, code int, msg string) {
	var err error
	if strings.Contains(arg0, "/") {
		path = arg0
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		var st os.FileInfo
		if st, err = os.Stat(path); err == nil && (st.IsDir() || st.Mode()&0o111 == 0) {
			err = fs.ErrPermission
		}
	} else {
		path, err = exec.LookPath(arg0)
	}
	switch {
	case err == nil:
		return path, 0, ""
	case errors.Is(err, fs.ErrPermission):
		return "", exitNotExecutable, fmt.Sprintf("exec failed: unable to start container process: exec: %q: permission denied\n", arg0)
	default:
		return "", exitNotFound, fmt.Sprintf("exec failed: unable to start container process: exec: %q: executable file not found in $PATH\n", arg0)
	}
}

func (e *Executor) runPipes(ctx context.Context, c *exec.Cmd, in io.Reader, out, errOut io.WriteCloser) error {
	// Its own process group, so one signal reaches everything the command
	// started; Pdeathsig is a backstop should the node die without cleanup.
	attr := procAttr(c)
	attr.Setpgid = true
	// Output goes through pipes we own rather than exec.Cmd's: its Wait would
	// not return while a background job holds stdout, whereas ours returns at
	// exit, the group is killed, and then the pipes drain to EOF.
	var copies sync.WaitGroup
	var closers []io.Closer
	defer func() {
		for _, cl := range closers {
			_ = cl.Close()
		}
	}()
	for _, s := range []struct {
		dst io.Writer
		set *io.Writer
	}{{out, &c.Stdout}, {errOut, &c.Stderr}} {
		if s.dst == nil {
			continue
		}
		r, w, err := os.Pipe()
		if err != nil {
			return fmt.Errorf("creating output pipe: %w", err)
		}
		closers = append(closers, r, w)
		*s.set = w
		copies.Add(1)
		go func(dst io.Writer) {
			defer copies.Done()
			_, _ = io.Copy(dst, r)
		}(s.dst)
	}
	var stdin io.WriteCloser
	if in != nil {
		p, err := c.StdinPipe()
		if err != nil {
			return fmt.Errorf("creating stdin pipe: %w", err)
		}
		stdin = p
	}
	if err := e.start(c); err != nil {
		return err
	}
	defer e.forget(c.Process.Pid)
	// The child has its copies of the write ends; ours must go for EOF to come.
	for _, w := range []io.Writer{c.Stdout, c.Stderr} {
		if f, ok := w.(*os.File); ok {
			_ = f.Close()
		}
	}
	if stdin != nil {
		// Closing the pipe when the client's stdin ends is what lets
		// `exec -i pod -- cat` finish at EOF. Not waited for: a command may
		// exit without reading its input.
		go func() {
			_, _ = io.Copy(stdin, in)
			_ = stdin.Close()
		}()
	}
	werr := e.wait(ctx, c)
	drained := make(chan struct{})
	go func() { copies.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(drainTimeout):
		// Something left the process group and still holds the pipe.
	}
	return werr
}

func (e *Executor) runTTY(ctx context.Context, build func(ttyPath string) (*exec.Cmd, error), in io.Reader, out io.WriteCloser, resize <-chan remotecommand.TerminalSize) error {
	ptmx, tty, err := pty.Open()
	if err != nil {
		return fmt.Errorf("opening pty: %w", err)
	}
	defer func() { _ = ptmx.Close() }()
	c, err := build(tty.Name())
	if err != nil {
		_ = tty.Close()
		return err
	}
	c.Stdin, c.Stdout, c.Stderr = tty, tty, tty
	// Clients send the terminal size right after the streams open. Applying
	// it before the command starts means `stty size` or a full-screen
	// program sees the real size at once rather than 0x0 and a SIGWINCH.
	if resize != nil {
		select {
		case size, ok := <-resize:
			if ok {
				_ = pty.Setsize(ptmx, &pty.Winsize{Rows: size.Height, Cols: size.Width})
			}
		case <-time.After(initialSizeWait):
		case <-ctx.Done():
			_ = tty.Close()
			return fmt.Errorf("waiting for terminal size: %w", ctx.Err())
		}
	}
	// A new session with the pty as controlling terminal, as a runtime gives
	// `exec -t`: job control and ^C reach the foreground job, and the session
	// id doubles as the process group we kill.
	attr := procAttr(c)
	attr.Setsid, attr.Setctty, attr.Ctty = true, true, 0
	err = e.start(c)
	_ = tty.Close() // the child holds its own copy
	if err != nil {
		return err
	}
	defer e.forget(c.Process.Pid)

	if resize != nil {
		// Ends when ServeExec closes the channel with the connection.
		go func() {
			for size := range resize {
				_ = pty.Setsize(ptmx, &pty.Winsize{Rows: size.Height, Cols: size.Width})
			}
		}()
	}
	if in != nil {
		go func() { _, _ = io.Copy(ptmx, in) }()
	}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		if out == nil {
			_, _ = io.Copy(io.Discard, ptmx)
			return
		}
		_, _ = io.Copy(out, ptmx) // ends with EIO once no process holds the tty
	}()

	werr := e.wait(ctx, c)
	select {
	case <-drained:
	case <-time.After(drainTimeout):
	}
	return werr
}

// procAttr returns c's SysProcAttr, made if need be, with the Pdeathsig
// every command gets.
func procAttr(c *exec.Cmd) *syscall.SysProcAttr {
	if c.SysProcAttr == nil {
		c.SysProcAttr = &syscall.SysProcAttr{}
	}
	c.SysProcAttr.Pdeathsig = syscall.SIGKILL
	return c.SysProcAttr
}

// start starts c and records its process group, refusing once the node stops.
func (e *Executor) start(c *exec.Cmd) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errors.New("node is shutting down")
	}
	if err := c.Start(); err != nil {
		return fmt.Errorf("starting %q: %w", c.Path, err)
	}
	if e.children == nil {
		e.children = map[int]struct{}{}
	}
	e.children[c.Process.Pid] = struct{}{}
	return nil
}

func (e *Executor) forget(pgid int) {
	e.mu.Lock()
	delete(e.children, pgid)
	e.mu.Unlock()
}

// wait waits for c; if ctx ends first (the client went away) it kills the
// whole process group, because a command that neither reads nor writes would
// otherwise never notice the closed connection.
func (e *Executor) wait(ctx context.Context, c *exec.Cmd) error {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		case <-done:
		}
	}()
	err := c.Wait()
	// Whatever the command left behind in its group goes with it, as when a
	// container runtime tears down an exec session.
	_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code := ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal()) // what runtimes report, e.g. 137
		}
		return utilexec.CodeExitError{Err: err, Code: code}
	}
	return fmt.Errorf("waiting for %q: %w", c.Path, err)
}

// Close kills every running command's process group and refuses new ones.
func (e *Executor) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	for pgid := range e.children {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// Running reports how many commands are running; tests use it to check that
// a dropped client does not leave processes behind.
func (e *Executor) Running() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.children)
}
