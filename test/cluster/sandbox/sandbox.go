package sandbox

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
)

// Isolation says how the commands the node runs are kept apart from the host.
type Isolation string

const (
	// IsolationUserNS: each command runs in a root filesystem of its own
	// (a static busybox), in new mount, PID, UTS and IPC namespaces, and in
	// a user namespace where its root is an unprivileged user of the host.
	IsolationUserNS Isolation = "userns"
	// IsolationNoUserNS: the same without a user namespace (the kernel
	// refused one): root in the container is root on the host.
	IsolationNoUserNS Isolation = "no-userns"
	// IsolationHost: commands run on the host as the node's user, with its
	// files: what is left when there is no static busybox or no namespaces.
	IsolationHost Isolation = "host"
)

// hostImage is the image a node reports when commands run on the host.
const hostImage = "rexec-node/host"

// Image is the image name a node with this isolation runs: what it puts in
// container statuses, and what pods created for it should name, so that
// everything that shows an image (kubectl, recording headers) tells the truth.
func (i Isolation) Image(busyboxVersion string) string {
	if i == IsolationHost || i == "" {
		return hostImage
	}
	img := "rexec-node/busybox-static:" + busyboxVersion
	if i == IsolationNoUserNS {
		img += "-no-userns"
	}
	return img
}

// Container IDs are mapped to this range on the host when the node runs as
// root: container root is host uid 100000, far from real users. A node that
// is not root can only map its own uid.
const (
	rootlessBase = 100000
	rootlessSize = 65536
)

// containerPath is PATH inside the sandbox, as in most images.
const containerPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// sandboxEnv carries the sandbox spec to the re-executed node binary, whose
// argv[0] is sandboxArg0; see init.
const (
	sandboxEnv  = "REXEC_NODE_SANDBOX"
	sandboxArg0 = "rexec-node-init"
)

// Sandbox is where and how commands are isolated: a static busybox to build
// root filesystems from and the isolation the machine allows.
type Runtime struct {
	Isolation Isolation
	// Busybox is the static busybox copied into each root filesystem.
	Busybox string
	// Version is busybox's version, e.g. "1.35.0".
	Version string
	// Reason says why the isolation is not the strongest, for the log.
	Reason string

	mu sync.Mutex // one root filesystem built at a time
}

// rootfsMarker, appended to a root filesystem's path, names the file that
// says it is complete.
const rootfsMarker = ".ready"

// Image is what the sandbox runs, as an image name.
func (s *Runtime) Image() string {
	if s == nil {
		return hostImage
	}
	return s.Isolation.Image(s.Version)
}

// sandboxSpec is what the init process needs to set up one command.
type sandboxSpec struct {
	Root     string   `json:"root"`
	Hostname string   `json:"hostname"`
	Argv     []string `json:"argv"`
	Env      []string `json:"env"`
	// UserNS asks init to start the command in a user namespace of its own
	// (the node is root; a node that is not starts init in one already).
	UserNS bool `json:"userns,omitempty"`
	// TTY is the host path of the pty's secondary device the command's
	// stdio is on, bound to the same path inside so that `tty` names it.
	TTY string `json:"tty,omitempty"`
}

// FindBusybox returns a statically linked busybox and its version: path
// when given, else the first static one of: busybox next to this binary
// (where build.sh puts one it fetched), busybox on PATH, /bin/busybox. A
// dynamically linked one is refused, since it could not run inside a root
// filesystem without the host's libraries.
func FindBusybox(path string) (string, string, error) {
	candidates := []string{path}
	if path == "" {
		candidates = nil
		if exe, err := os.Executable(); err == nil {
			candidates = append(candidates, filepath.Join(filepath.Dir(exe), "busybox"))
		}
		if p, err := exec.LookPath("busybox"); err == nil {
			candidates = append(candidates, p)
		}
		candidates = append(candidates, "/bin/busybox")
	}
	var errs []error
	for _, c := range candidates {
		version, err := staticBusybox(c)
		if err == nil {
			return c, version, nil
		}
		errs = append(errs, err)
	}
	return "", "", fmt.Errorf("no static busybox (apt-get install busybox-static): %w", errors.Join(errs...))
}

// staticBusybox checks that path is a static busybox and returns its version.
func staticBusybox(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", fmt.Errorf("busybox %s: %w", path, err)
	}
	defer func() { _ = f.Close() }()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", fmt.Errorf("busybox %s is dynamically linked", path)
		}
	}
	out, err := exec.Command(path).CombinedOutput() // prints its banner, exit status 0 or 1
	m := regexp.MustCompile(`BusyBox v([0-9][0-9A-Za-z.+-]*)`).FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("busybox %s: no version in its banner (%v): %q", path, err, firstLine(out))
	}
	return string(m[1]), nil
}

func firstLine(b []byte) string {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return string(line)
}

// NewSandbox finds a static busybox and the strongest isolation this
// machine allows, trying each for real in a scratch root under workDir.
// It never fails: without busybox or namespaces it returns IsolationHost
// and says why in Reason.
func Detect(busybox, workDir string) *Runtime {
	path, version, err := FindBusybox(busybox)
	if err != nil {
		return &Runtime{Isolation: IsolationHost, Reason: err.Error()}
	}
	var reasons []string
	for _, iso := range []Isolation{IsolationUserNS, IsolationNoUserNS} {
		if iso == IsolationNoUserNS && os.Geteuid() != 0 {
			continue // without a user namespace only root can mount
		}
		s := &Runtime{Isolation: iso, Busybox: path, Version: version}
		if err := s.probe(filepath.Join(workDir, ".probe")); err != nil {
			reasons = append(reasons, fmt.Sprintf("%s: %v", iso, err))
			continue
		}
		s.Reason = strings.Join(reasons, "; ")
		return s
	}
	return &Runtime{Isolation: IsolationHost, Reason: strings.Join(reasons, "; ")}
}

// probe runs `true` in a sandbox, the whole way a command goes.
func (s *Runtime) probe(root string) error {
	c, err := s.command(root, "probe", []string{"true"}, nil, "")
	if err != nil {
		return err
	}
	c.SysProcAttr.Setpgid = true
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// owner is the host uid and gid that own a root filesystem: the ones its
// root maps to.
func (s *Runtime) owner() (int, int) {
	if s.Isolation == IsolationUserNS && os.Geteuid() == 0 {
		return rootlessBase, rootlessBase
	}
	return os.Geteuid(), os.Getegid()
}

// command returns the node binary re-executed as the sandbox's init, which
// sets up root and runs argv in it; see sandboxInit. The caller adds stdio
// and the session or process group flags to its SysProcAttr.
func (s *Runtime) command(root, hostname string, argv, env []string, tty string) (*exec.Cmd, error) {
	if err := s.prepare(root); err != nil {
		return nil, err
	}
	spec, err := json.Marshal(sandboxSpec{Root: root, Hostname: hostname, Argv: argv, Env: env, TTY: tty,
		UserNS: s.Isolation == IsolationUserNS && os.Geteuid() == 0})
	if err != nil {
		return nil, fmt.Errorf("encoding sandbox spec: %w", err)
	}
	c := exec.Command("/proc/self/exe")
	c.Args = []string{sandboxArg0}
	c.Env = []string{sandboxEnv + "=" + string(spec)}
	c.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
		Pdeathsig:  syscall.SIGKILL,
	}
	if s.Isolation == IsolationUserNS && os.Geteuid() != 0 {
		// Only our own ids can be mapped; init is root in the namespace
		// and may mount there.
		c.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
		c.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		c.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		c.SysProcAttr.GidMappingsEnableSetgroups = false
	}
	return c, nil
}

// prepare builds the root filesystem in dir unless it is there (a marker
// next to it, written last, says so): busybox with its applets linked,
// /etc/passwd and /etc/group for root, and empty mount points. It persists
// across exec sessions like a container's writable layer, and goes with
// the pod (a pod made again under the same name gets a new one).
func (s *Runtime) prepare(dir string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Beside dir, not in it: in a directory the container cannot write, so
	// that the node never walks (and chowns) a tree the container has had
	// its hands on.
	marker := filepath.Clean(dir) + rootfsMarker
	if _, err := os.Lstat(marker); err == nil {
		return nil
	}
	if err := buildRootfs(dir, s.Busybox); err != nil {
		return fmt.Errorf("building the root filesystem in %s: %w", dir, err)
	}
	if uid, gid := s.owner(); uid != os.Geteuid() || gid != os.Getegid() {
		err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, uid, gid)
		})
		if err != nil {
			return fmt.Errorf("handing the root filesystem in %s to uid %d: %w", dir, uid, err)
		}
	}
	if err := os.WriteFile(marker, []byte("busybox "+s.Version+"\n"), 0o644); err != nil {
		return fmt.Errorf("marking the root filesystem in %s: %w", dir, err)
	}
	return nil
}

func buildRootfs(dir, busybox string) error {
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "home", "proc", "dev", "sys", "var/tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		return err
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		return err
	}
	bin := filepath.Join(dir, "bin", "busybox")
	if _, err := os.Stat(bin); errors.Is(err, os.ErrNotExist) {
		b, err := os.ReadFile(busybox)
		if err != nil {
			return err
		}
		if err := os.WriteFile(bin+".tmp", b, 0o755); err != nil {
			return err
		}
		if err := os.Rename(bin+".tmp", bin); err != nil {
			return err
		}
	}
	list, err := exec.Command(busybox, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("listing busybox applets: %w", err)
	}
	for _, applet := range strings.Fields(string(list)) {
		if !strings.Contains(applet, "/") || applet == "bin/busybox" {
			continue // linuxrc belongs to an initrd
		}
		link := filepath.Join(dir, applet)
		target, err := filepath.Rel(filepath.Dir(link), bin)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, link); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}
