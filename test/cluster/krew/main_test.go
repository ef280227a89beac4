package krew

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/test/cluster/cluster"
)

// KrewVersion is the krew release the tests install with.
const KrewVersion = "v0.4.3"

// Pods the cluster runs, for completion: "multi" has containers web and
// sidecar, the others one container "main".
var pods = []struct{ ns, name string }{
	{"default", "alpha"}, {"default", "beta"}, {"default", "multi"}, {"team-a", "delta"},
}

var (
	tc       *cluster.Cluster
	repoRoot string
	krewBin  string // krew, run as kubectl-krew through a symlink
	validate string // validate-krew-manifest
	dist     distResult
	distEnv  []string // VERSION, COMMIT, SOURCE_DATE_EPOCH for dist.sh
	tmp      string   // removed at the end
)

// distResult is what one hack/dist.sh run for this platform made.
type distResult struct {
	dir       string // DIST_DIR
	archive   string // path of the one archive
	manifest  string // DIST_DIR/plugin.yaml
	sums      []byte // SHA256SUMS
	version   string
	commit    string
	epoch     int64 // SOURCE_DATE_EPOCH
	buildTime time.Duration
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "krew: "+format+"\n", args...)
		return 1
	}
	var err error
	if repoRoot, err = filepath.Abs(filepath.Join("..", "..", "..")); err != nil {
		return fail("%v", err)
	}
	if b, err := os.ReadFile(filepath.Join(repoRoot, "go.mod")); err != nil ||
		!bytes.Contains(b, []byte("module github.com/kubectl-rexec/kubectl-rexec\n")) {
		return fail("%s is not the plugin's repository root", repoRoot)
	}
	begin := time.Now()

	// The cluster binaries (kubectl among them): build.sh builds what is
	// missing and holds a flock, so parallel packages do not build twice.
	build := exec.Command("bash", filepath.Join("..", "build.sh"))
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fail("build.sh failed: %v", err)
	}
	binDir := cluster.BinDir()
	if krewBin, validate, err = ensureKrew(binDir); err != nil {
		return fail("building krew %s: %v", KrewVersion, err)
	}

	if tmp, err = os.MkdirTemp("", "rexec-krew-"); err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(tmp)
	// dist.sh runs on a snapshot of the source, so that the archive and the
	// second build of TestDistReproducible see the same tree even while the
	// work tree is being edited; the version stamps come from the work tree.
	distEnv = gitStamps()
	if err := copyTree(repoRoot, filepath.Join(tmp, "src")); err != nil {
		return fail("snapshot of the source: %v", err)
	}
	if dist, err = runDist(filepath.Join(tmp, "src"), filepath.Join(tmp, "dist")); err != nil {
		return fail("hack/dist.sh: %v", err)
	}
	fmt.Fprintf(os.Stderr, "krew: dist %s (%s, commit %s) in %v\n", filepath.Base(dist.archive), dist.version, dist.commit, dist.buildTime.Round(time.Millisecond))

	opts := cluster.Options{}
	for _, p := range pods {
		if p.name != "multi" {
			opts.Pods = append(opts.Pods, p.ns+"/"+p.name)
		}
	}
	c, err := cluster.Start(context.Background(), opts)
	if err != nil {
		return fail("starting cluster: %v", err)
	}
	defer c.Stop()
	tc = c
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.CreatePod(ctx, "default", "multi", "web", "sidecar"); err != nil {
		return fail("%v", err)
	}
	fmt.Fprintf(os.Stderr, "krew: ready in %v (cluster %v)\n", time.Since(begin).Round(time.Millisecond), c.StartupTime.Round(time.Millisecond))
	return m.Run()
}

// ensureKrew builds krew and validate-krew-manifest KrewVersion into binDir
// unless they are there: `go install …@v0.4.3` (the module has no replace
// directives, so no tool module is needed), stamped with the version krew's
// own release build sets. A lock keeps parallel runs from building twice.
func ensureKrew(binDir string) (string, string, error) {
	krew := filepath.Join(binDir, "krew")
	val := filepath.Join(binDir, "validate-krew-manifest")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", "", err
	}
	lock, err := os.OpenFile(filepath.Join(binDir, ".krew.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", "", err
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()

	if krewVersion(krew) == KrewVersion && executable(val) {
		return krew, val, nil
	}
	gobin, err := os.MkdirTemp(binDir, ".krew-build-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(gobin)
	start := time.Now()
	cmd := exec.Command("go", "install", "-trimpath",
		"-ldflags", "-s -w -X sigs.k8s.io/krew/internal/version.gitTag="+KrewVersion,
		"sigs.k8s.io/krew/cmd/krew@"+KrewVersion,
		"sigs.k8s.io/krew/cmd/validate-krew-manifest@"+KrewVersion)
	cmd.Dir = gobin // outside any module
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOFLAGS=", "GOWORK=off", "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	fmt.Fprintf(os.Stderr, "krew: building krew %s and validate-krew-manifest into %s\n", KrewVersion, binDir)
	if err := cmd.Run(); err != nil {
		return "", "", err
	}
	for _, n := range []string{"krew", "validate-krew-manifest"} {
		if err := os.Rename(filepath.Join(gobin, n), filepath.Join(binDir, n)); err != nil {
			return "", "", err
		}
	}
	if v := krewVersion(krew); v != KrewVersion {
		return "", "", fmt.Errorf("built krew reports version %q", v)
	}
	fmt.Fprintf(os.Stderr, "krew: built in %v\n", time.Since(start).Round(time.Second))
	return krew, val, nil
}

var krewTagLine = regexp.MustCompile(`(?m)^GitTag\s+(\S+)`)

// krewVersion is the GitTag `krew version` reports ("" if it does not run),
// asked with a throw-away KREW_ROOT: krew creates its directories on start.
func krewVersion(bin string) string {
	if !executable(bin) {
		return ""
	}
	root, err := os.MkdirTemp("", "krew-version-")
	if err != nil {
		return ""
	}
	defer os.RemoveAll(root)
	cmd := exec.Command(bin, "version")
	cmd.Env = append(os.Environ(), "KREW_ROOT="+root, "HOME="+root, "KREW_NO_UPGRADE_CHECK=1")
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	if m := krewTagLine.FindSubmatch(out); m != nil {
		return string(m[1])
	}
	return ""
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode().Perm()&0o111 != 0
}

var distLine = regexp.MustCompile(`dist: version (\S+), commit (\S+), SOURCE_DATE_EPOCH (\d+),`)

// gitStamps are the version stamps `make dist` would use for the work tree
// (the Makefile's VERSION and COMMIT, the last commit's time); dist.sh
// turns a VERSION that is not semver into v0.0.0-VERSION.
func gitStamps() []string {
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = repoRoot
		out, err := cmd.Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	var env []string
	for _, kv := range [][2]string{
		{"VERSION", git("describe", "--tags", "--always", "--dirty")},
		{"COMMIT", git("rev-parse", "--short", "HEAD")},
		{"SOURCE_DATE_EPOCH", git("log", "-1", "--format=%ct")},
	} {
		if kv[1] != "" {
			env = append(env, kv[0]+"="+kv[1])
		}
	}
	return env
}

// copyTree copies the regular files under from to to, leaving out what the
// build of the plugin does not read: .git, build outputs and test/.
func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch rel {
			case ".git", "_output", "dist", "test":
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, fi.Mode().Perm())
	})
}

// runDist runs hack/dist.sh of the source tree src for this machine's
// platform into dir, as `make dist PLATFORMS=...` does, at low priority so
// that it steals little CPU from the end-to-end tests running beside it.
func runDist(src, dir string) (distResult, error) {
	r := distResult{dir: dir}
	args := []string{"bash", filepath.Join(src, "hack", "dist.sh")}
	if nice, err := exec.LookPath("nice"); err == nil {
		args = append([]string{nice, "-n", "10"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = src
	cmd.Env = append(append(os.Environ(), distEnv...),
		"PLATFORMS="+runtime.GOOS+"/"+runtime.GOARCH,
		"DIST_DIR="+dir,
		"UPDATE_MANIFEST=0", // never touch the committed plugin.yaml
	)
	var stderr bytes.Buffer
	cmd.Stdout = os.Stderr
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	r.buildTime = time.Since(start)
	os.Stderr.Write(stderr.Bytes())
	if err != nil {
		return r, err
	}
	m := distLine.FindStringSubmatch(stderr.String())
	if m == nil {
		return r, fmt.Errorf("no version line in its output")
	}
	r.version, r.commit = m[1], m[2]
	fmt.Sscan(m[3], &r.epoch)
	ext := ".tar.gz"
	if runtime.GOOS == "windows" {
		ext = ".zip"
	}
	r.archive = filepath.Join(dir, fmt.Sprintf("kubectl-rexec_%s_%s_%s%s", r.version, runtime.GOOS, runtime.GOARCH, ext))
	r.manifest = filepath.Join(dir, "plugin.yaml")
	for _, f := range []string{r.archive, r.manifest} {
		if _, err := os.Stat(f); err != nil {
			return r, err
		}
	}
	if r.sums, err = os.ReadFile(filepath.Join(dir, "SHA256SUMS")); err != nil {
		return r, err
	}
	return r, nil
}

// krewEnv is one user's machine: an empty HOME, a fresh KREW_ROOT, and a
// PATH of KREW_ROOT/bin, a directory with kubectl and kubectl-krew, and the
// system directories, so that no other kubectl-rexec can be picked up.
type krewEnv struct {
	root, home, tools string
	env               []string
}

func newKrewEnv(t *testing.T) *krewEnv {
	t.Helper()
	base := t.TempDir()
	k := &krewEnv{root: filepath.Join(base, "krew"), home: filepath.Join(base, "home"), tools: filepath.Join(base, "tools")}
	for _, d := range []string{k.root, k.home, k.tools} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range map[string]string{"kubectl": tc.Kubectl(), "kubectl-krew": krewBin} {
		if err := os.Symlink(target, filepath.Join(k.tools, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "PATH", "HOME", "KUBECONFIG", "KUBERC", "KREW_ROOT", "KREW_OS", "KREW_ARCH", "KUBECTL_REXEC_DIR", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME":
			continue
		}
		k.env = append(k.env, kv)
	}
	k.env = append(k.env,
		"PATH="+strings.Join([]string{filepath.Join(k.root, "bin"), k.tools, "/usr/local/bin", "/usr/bin", "/bin"}, string(os.PathListSeparator)),
		"HOME="+k.home,
		"KUBECONFIG="+tc.AdminKubeconfig,
		"KUBERC=off",
		"KREW_ROOT="+k.root,
		"KREW_NO_UPGRADE_CHECK=1",
	)
	return k
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs name (looked up in the environment's PATH) in dir ("" for a
// temporary one) with extra environment variables.
func (k *krewEnv) run(t *testing.T, dir string, extraEnv []string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := name
	if !filepath.IsAbs(name) {
		for _, d := range []string{filepath.Join(k.root, "bin"), k.tools} {
			if p := filepath.Join(d, name); executable(p) {
				bin = p
				break
			}
		}
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(append([]string{}, k.env...), extraEnv...)
	cmd.Dir = dir
	if dir == "" {
		cmd.Dir = t.TempDir()
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ctx.Err() != nil {
		t.Fatalf("%s %q hung; stderr %q", name, args, r.stderr)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %q: %v", name, args, err)
	}
	return r
}

// must runs like run and fails the test on a non-zero exit.
func (k *krewEnv) must(t *testing.T, name string, args ...string) result {
	t.Helper()
	r := k.run(t, "", nil, name, args...)
	if r.code != 0 {
		t.Fatalf("%s %s: exit %d\nstdout: %s\nstderr: %s", name, strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}
