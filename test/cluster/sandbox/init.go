package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

// init turns a process into the sandbox's init when the node re-executed
// its own binary for one (Sandbox.command): any binary that links this
// package, rexec-node and test binaries alike, can play the part, and no
// other code of that binary runs.
func init() {
	if len(os.Args) == 0 || os.Args[0] != sandboxArg0 {
		return
	}
	raw, ok := os.LookupEnv(sandboxEnv)
	if !ok {
		return
	}
	os.Exit(sandboxInit(raw))
}

// exitSetupFailed is init's exit status when the sandbox cannot be set up;
// what went wrong is on stderr.
const exitSetupFailed = 1

// sandboxInit is PID 1 of a new PID namespace, in new mount, UTS and IPC
// namespaces (and a user namespace when the node is not root). It moves into
// the root filesystem, starts the command as its child and reaps until the
// command exits, then exits with the command's status; the kernel then kills
// whatever the command left behind, as a runtime tears down an exec session.
// The command is not PID 1 itself so that signals reach it as they would in
// a container (PID 1 ignores those it has no handler for).
func sandboxInit(raw string) int {
	var spec sandboxSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil || len(spec.Argv) == 0 {
		fmt.Fprintf(os.Stderr, "rexec-node: bad sandbox spec (%v)\n", err)
		return exitSetupFailed
	}
	if err := enterRoot(spec); err != nil {
		fmt.Fprintf(os.Stderr, "rexec-node: setting up the container: %v\n", err)
		return exitSetupFailed
	}
	// resolve looks through PATH; this process is ours alone to change.
	_ = os.Setenv("PATH", envValue(spec.Env, "PATH", containerPath))
	path, code, msg := resolve(spec.Argv[0], "/")
	if code != 0 {
		_, _ = os.Stderr.WriteString(msg)
		return code
	}
	return runChild(path, spec)
}

func envValue(env []string, key, def string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return def
}

// enterRoot makes spec.Root the root directory: private mounts, a fresh
// /proc for the new PID namespace, a small /dev of bound host devices (and
// the session's terminal), the hostname, then pivot_root so the host's
// files are out of reach.
func enterRoot(spec sandboxSpec) error {
	root := spec.Root
	steps := []struct {
		what string
		do   func() error
	}{
		{"making mounts private", func() error { return syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, "") }},
		{"binding the root filesystem", func() error { return syscall.Mount(root, root, "", syscall.MS_BIND|syscall.MS_REC, "") }},
		{"mounting /proc", func() error {
			return syscall.Mount("proc", filepath.Join(root, "proc"), "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, "")
		}},
		{"mounting /dev", func() error {
			return syscall.Mount("tmpfs", filepath.Join(root, "dev"), "tmpfs", syscall.MS_NOSUID|syscall.MS_NOEXEC, "mode=755,size=1m")
		}},
		{"populating /dev", func() error { return populateDev(filepath.Join(root, "dev"), spec.TTY) }},
		{"setting the hostname", func() error { return syscall.Sethostname([]byte(spec.Hostname)) }},
		{"entering the root filesystem", func() error { return pivot(root) }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
	}
	return nil
}

// populateDev binds the host's harmless character devices into dev (a new
// tmpfs: device nodes cannot be made in a user namespace), and the
// session's terminal at the path it has on the host, so that ttyname finds
// it.
func populateDev(dev, tty string) error {
	binds := []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"}
	if tty != "" {
		if !strings.HasPrefix(tty, "/dev/pts/") || strings.Contains(tty[len("/dev/pts/"):], "/") {
			return fmt.Errorf("terminal %q is not under /dev/pts", tty)
		}
		binds = append(binds, tty)
	}
	for _, d := range []string{"pts", "shm"} {
		if err := os.Mkdir(filepath.Join(dev, d), 0o755); err != nil {
			return err
		}
	}
	for _, src := range binds {
		dst := filepath.Join(dev, strings.TrimPrefix(src, "/dev/"))
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
		if err != nil {
			return err
		}
		_ = f.Close()
		if err := syscall.Mount(src, dst, "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding %s: %w", src, err)
		}
	}
	for name, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			return err
		}
	}
	return nil
}

// pivot makes root the root of this mount namespace and detaches the old
// one (pivot_root with both arguments ".", then unmounting what is stacked
// on top, as runc does), so that no path leads back to the host.
func pivot(root string) error {
	if err := syscall.Chdir(root); err != nil {
		return err
	}
	if err := syscall.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := syscall.Unmount(".", syscall.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the host's root: %w", err)
	}
	return syscall.Chdir("/")
}

// runChild starts the command and waits for it as PID 1 does: reaping every
// orphan that comes its way. The exit status is the command's, 128+N when a
// signal killed it.
func runChild(path string, spec sandboxSpec) int {
	// Caught, so that they are not ignored in the command (exec resets
	// caught signals, not ignored ones); the terminal sends them to the
	// command's process group itself. TERM and HUP from the node are passed on.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU)

	sys := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if spec.UserNS {
		// Container root is an unprivileged host uid, with no power over
		// the namespaces init made (they belong to the host's user namespace).
		sys.Cloneflags = syscall.CLONE_NEWUSER
		sys.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: rootlessBase, Size: rootlessSize}}
		sys.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: rootlessBase, Size: rootlessSize}}
		sys.GidMappingsEnableSetgroups = true
		sys.Credential = &syscall.Credential{Uid: 0, Gid: 0}
	}
	pid, err := syscall.ForkExec(path, spec.Argv, &syscall.ProcAttr{
		Dir: "/", Env: spec.Env, Files: []uintptr{0, 1, 2}, Sys: sys,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "exec failed: unable to start container process: %v\n", err)
		return exitSetupFailed
	}
	go func() {
		for s := range sigs {
			if s == syscall.SIGTERM || s == syscall.SIGHUP {
				_ = syscall.Kill(pid, s.(syscall.Signal))
			}
		}
	}()
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "rexec-node: waiting for the command: %v\n", err)
			return exitSetupFailed
		}
		if got != pid {
			continue // an orphan, reaped
		}
		if ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ws.ExitStatus()
	}
}
