package krew

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

// TestKrewInstall installs the dist archive with the real krew, then uses it
// through the real kubectl: plugin list, version, a recorded exec, plugin
// completion of pods, TYPE/NAME, containers, namespaces, contexts, flags and
// recordings; then uninstalls it.
func TestKrewInstall(t *testing.T) {
	k := newKrewEnv(t)

	r := k.must(t, "kubectl", "krew", "install", "--manifest="+dist.manifest, "--archive="+dist.archive)
	t.Logf("kubectl krew install:\n%s%s", r.stdout, r.stderr)
	if !strings.Contains(r.stdout+r.stderr, `Installed plugin: rexec`) {
		t.Errorf("krew install did not report the plugin installed")
	}
	receipt, err := os.ReadFile(filepath.Join(k.root, "receipts", "rexec.yaml"))
	if err != nil || !regexp.MustCompile(`(?m)^  version: `+regexp.QuoteMeta(dist.version)+`$`).Match(receipt) {
		t.Errorf("krew receipt for rexec %s: %v\n%s", dist.version, err, receipt)
	}
	// `krew list` and `uninstall` want a local plugin index, which `krew
	// update` clones from GitHub (not reachable here): an empty git
	// repository stands in for krew-index, which has no rexec either.
	index := filepath.Join(k.root, "index", "default")
	if out, err := exec.Command("git", "init", "-q", index).CombinedOutput(); err != nil {
		t.Fatalf("git init %s: %v\n%s", index, err, out)
	}
	if err := os.MkdirAll(filepath.Join(index, "plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	r = k.must(t, "kubectl", "krew", "list")
	t.Logf("kubectl krew list:\n%s", r.stdout)
	// Off a terminal krew lists names only; a plugin installed from a
	// manifest rather than an index is "detached".
	if !slices.Contains(lines(r.stdout), "detached/rexec") {
		t.Errorf("kubectl krew list does not show detached/rexec:\n%s", r.stdout)
	}

	// What krew unpacked: the binary, LICENSE and the completion helper.
	store := filepath.Join(k.root, "store", "rexec", dist.version)
	for _, f := range []string{"kubectl-rexec", "LICENSE", "kubectl_complete-rexec"} {
		if _, err := os.Stat(filepath.Join(store, f)); err != nil {
			t.Errorf("installed plugin lacks %s: %v", f, err)
		}
	}
	link := filepath.Join(k.root, "bin", "kubectl-rexec")
	if target, err := os.Readlink(link); err != nil || target != filepath.Join(store, "kubectl-rexec") {
		t.Errorf("%s -> %q (%v), want the store's binary", link, target, err)
	}

	// kubectl's plugin discovery finds it on PATH (as oc's does).
	r = k.must(t, "kubectl", "plugin", "list")
	t.Logf("kubectl plugin list:\n%s%s", r.stdout, r.stderr)
	if !slices.Contains(lines(r.stdout), link) {
		t.Errorf("kubectl plugin list does not list %s", link)
	}
	if strings.Contains(r.stderr, "kubectl-rexec") {
		t.Errorf("kubectl plugin list warns about kubectl-rexec: %s", r.stderr)
	}

	// kubectl dispatches `kubectl rexec version` to the installed binary.
	r = k.must(t, "kubectl", "rexec", "version")
	t.Logf("kubectl rexec version: %s", strings.TrimSpace(r.stdout))
	want := fmt.Sprintf("kubectl-rexec %s (commit %s, %s, client-go v", dist.version, dist.commit, runtime.Version())
	if !strings.HasPrefix(r.stdout, want) {
		t.Errorf("kubectl rexec version = %q, want it to start with %q", r.stdout, want)
	}
	r = k.must(t, "kubectl", "rexec", "version", "-o", "json")
	var v struct{ Version, Commit, GoVersion, ClientGoVersion, Platform string }
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("version -o json: %v\n%s", err, r.stdout)
	}
	if v.Version != dist.version || v.Commit != dist.commit || v.GoVersion != runtime.Version() ||
		!strings.HasPrefix(v.ClientGoVersion, "v0.") || v.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("version -o json = %+v", v)
	}

	// And a real recorded session through the krew-installed binary.
	recDir := filepath.Join(t.TempDir(), "rec")
	if err := os.Mkdir(recDir, 0o700); err != nil {
		t.Fatal(err)
	}
	r = k.run(t, "", []string{"KUBECTL_REXEC_DIR=" + recDir}, "kubectl", "rexec", "alpha", "--", "sh", "-c", "echo hello from $POD_NAME")
	if r.code != 0 || r.stdout != "hello from alpha\n" || !strings.Contains(r.stderr, "Session recorded to "+recDir) {
		t.Errorf("kubectl rexec alpha: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	recs, _ := filepath.Glob(filepath.Join(recDir, "*.cast.zst"))
	if len(recs) != 1 {
		t.Errorf("recordings in %s: %q, want one", recDir, recs)
	}

	// Completion. Without the helper on PATH kubectl has nothing to ask.
	r = k.must(t, "kubectl", "__complete", "rexec", "")
	if c, _ := completions(r.stdout); len(c) != 0 {
		t.Errorf("without kubectl_complete-rexec on PATH, completions %q", c)
	}
	// The caveats' step: copy the helper next to the krew-linked binary.
	copyFile(t, filepath.Join(store, "kubectl_complete-rexec"), filepath.Join(k.root, "bin", "kubectl_complete-rexec"))
	r = k.must(t, "kubectl", "plugin", "list")
	if strings.Contains(r.stdout+r.stderr, "kubectl_complete-rexec") {
		t.Errorf("kubectl plugin list mentions the completion helper:\n%s%s", r.stdout, r.stderr)
	}

	contexts := kubeconfigContexts(t)
	recHome := t.TempDir()
	stateRecs := filepath.Join(recHome, "kubectl-rexec", "recordings")
	if err := os.MkdirAll(stateRecs, 0o700); err != nil {
		t.Fatal(err)
	}
	touch(t, filepath.Join(stateRecs, "20261127T061500Z_ctx_default_alpha_1a2b3c4d.cast.zst"))
	cwd := t.TempDir()
	touch(t, filepath.Join(cwd, "here.cast.zst"))
	touch(t, filepath.Join(cwd, "notes.txt"))
	if err := os.Mkdir(filepath.Join(cwd, "old"), 0o755); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name      string
		args      []string
		want      []string // exactly these completions (descriptions cut), in any order
		contains  []string // at least these
		directive string   // ":N", when checked
	}{
		{name: "pods, resource types and subcommands", args: []string{""},
			contains: []string{"alpha", "beta", "multi", "deployments/", "statefulsets/", "pods/", "replay", "version", "help"}, directive: ":4"},
		{name: "pod prefix", args: []string{"al"}, want: []string{"alpha"}, directive: ":4"},
		{name: "TYPE/NAME", args: []string{"pods/"}, want: []string{"pods/alpha", "pods/beta", "pods/multi"}},
		{name: "another namespace", args: []string{"-n", "team-a", ""}, want: []string{"delta", "daemonsets/", "deployments/", "pods/", "jobs/", "replicasets/", "replicationcontrollers/", "services/", "statefulsets/"}},
		{name: "containers", args: []string{"multi", "-c", ""}, want: []string{"web", "sidecar"}, directive: ":4"},
		{name: "containers of TYPE/NAME", args: []string{"pods/alpha", "-c", ""}, want: []string{"main"}},
		{name: "namespaces", args: []string{"-n", ""}, contains: []string{"default", "kube-system", "team-a"}, directive: ":4"},
		{name: "contexts", args: []string{"--context", ""}, want: contexts, directive: ":4"},
		{name: "flags", args: []string{"--std"}, want: []string{"--stdin"}},
		{name: "no files for a timeout", args: []string{"--pod-running-timeout", ""}, want: nil, directive: ":4"},
		{name: "version -o", args: []string{"version", "-o", ""}, want: []string{"json"}},
		{name: "replay flags", args: []string{"replay", "--"}, contains: []string{"--speed", "--idle-time-limit", "--no-wait", "--quiet"}},
		{name: "recordings", args: []string{"replay", ""},
			want: []string{"here.cast.zst", "old/", filepath.Join(stateRecs, "20261127T061500Z_ctx_default_alpha_1a2b3c4d.cast.zst")}},
		{name: "recordings, one only", args: []string{"replay", "here.cast.zst", ""}, want: nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := k.run(t, cwd, []string{"XDG_STATE_HOME=" + recHome}, "kubectl", append([]string{"__complete", "rexec"}, tt.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
			}
			got, directive := completions(r.stdout)
			t.Logf("kubectl __complete rexec %q -> %q %s", tt.args, got, directive)
			if tt.want != nil || tt.contains == nil {
				if !sameSet(got, tt.want) {
					t.Errorf("completions %q, want %q", got, tt.want)
				}
			}
			for _, w := range tt.contains {
				if !slices.Contains(got, w) {
					t.Errorf("completions %q lack %q", got, w)
				}
			}
			if tt.directive != "" && directive != tt.directive {
				t.Errorf("directive %s, want %s", directive, tt.directive)
			}
		})
	}

	r = k.must(t, "kubectl", "krew", "uninstall", "rexec")
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Errorf("after uninstall, %s: %v", link, err)
	}
}

// TestDistArchive checks the archive's entries: exactly the binary, LICENSE
// and the helper, owned by 0:0, with fixed modes and mtimes.
func TestDistArchive(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the windows archive is a zip; this test runs on linux")
	}
	f, err := os.Open(dist.archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("gzip header has name %q, time %v: not gzip -n", zr.Name, zr.ModTime)
	}
	tr := tar.NewReader(zr)
	want := map[string]int64{"LICENSE": 0o644, "kubectl-rexec": 0o755, "kubectl_complete-rexec": 0o755}
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if mode, ok := want[h.Name]; !ok || h.Mode != mode {
			t.Errorf("%s: mode %o, want %o", h.Name, h.Mode, mode)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: owner %d:%d (%q:%q), want 0:0 numeric", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if h.ModTime.Unix() != dist.epoch {
			t.Errorf("%s: mtime %v, want SOURCE_DATE_EPOCH %d", h.Name, h.ModTime, dist.epoch)
		}
		if h.Name == "LICENSE" {
			b, _ := io.ReadAll(tr)
			if !bytes.Contains(b, []byte("Apache License\n                           Version 2.0, January 2004")) {
				t.Errorf("LICENSE is not the Apache-2.0 text")
			}
		}
	}
	if !slices.Equal(names, []string{"LICENSE", "kubectl-rexec", "kubectl_complete-rexec"}) {
		t.Errorf("entries %q", names)
	}
}

// TestDistReproducible builds the archive a second time, from a copy of
// the same source in another directory: same bytes.
func TestDistReproducible(t *testing.T) {
	src := filepath.Join(t.TempDir(), "elsewhere", "src")
	if err := copyTree(filepath.Join(tmp, "src"), src); err != nil {
		t.Fatal(err)
	}
	again, err := runDist(src, filepath.Join(t.TempDir(), "dist"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first:  %s", dist.sums)
	t.Logf("second: %s", again.sums)
	if !bytes.Equal(again.sums, dist.sums) {
		t.Errorf("two builds of the same source differ:\n%s\n%s", dist.sums, again.sums)
	}
}

// TestManifests runs krew's validate-krew-manifest on the manifest dist
// rendered and on the committed plugin.yaml (every platform), and checks
// that plugin.yaml is hack/plugin.yaml.tmpl rendered, not hand-edited.
func TestManifests(t *testing.T) {
	committed := filepath.Join(repoRoot, "plugin.yaml")
	for _, m := range []string{dist.manifest, committed} {
		// The validator takes the plugin's name from the file's.
		dir := t.TempDir()
		copyFile(t, m, filepath.Join(dir, "rexec.yaml"))
		out, err := exec.Command(validate, "-manifest", filepath.Join(dir, "rexec.yaml"), "-skip-install").CombinedOutput()
		t.Logf("validate-krew-manifest %s:\n%s", m, out)
		if err != nil {
			t.Errorf("validate-krew-manifest %s: %v", m, err)
		}
	}

	b, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	version := regexp.MustCompile(`(?m)^  version: (\S+)$`).FindSubmatch(b)
	if version == nil {
		t.Fatalf("no spec.version in plugin.yaml")
	}
	// The checksums in plugin.yaml, as the SHA256SUMS that rendered them.
	var sums strings.Builder
	oses := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^    uri: \S+/(kubectl-rexec_\S+_(\w+)_(\w+)\.(?:tar\.gz|zip))\n    sha256: ([0-9a-f]{64})$`).FindAllSubmatch(b, -1) {
		fmt.Fprintf(&sums, "%s  %s\n", m[4], m[1])
		oses[string(m[2])+"/"+string(m[3])] = true
	}
	for _, p := range []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64"} {
		if !oses[p] {
			t.Errorf("plugin.yaml has no %s platform", p)
		}
	}
	sumsFile := filepath.Join(t.TempDir(), "SHA256SUMS")
	if err := os.WriteFile(sumsFile, []byte(sums.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "run", "./hack/krew-manifest", "-template", "hack/plugin.yaml.tmpl", "-sums", sumsFile, "-version", string(version[1]))
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	rendered, err := cmd.Output()
	if err != nil {
		t.Fatalf("rendering the template: %v\n%s", err, stderr.String())
	}
	if !bytes.Equal(rendered, b) {
		t.Errorf("plugin.yaml is not hack/plugin.yaml.tmpl rendered for %s (edit the template and run make dist VERSION=%s):\n--- rendered\n%s", version[1], version[1], rendered)
	}
}

// completions splits `kubectl __complete` output into the completions
// (descriptions cut) and the directive line.
func completions(out string) ([]string, string) {
	var comps []string
	directive := ""
	for _, l := range lines(out) {
		if strings.HasPrefix(l, ":") {
			directive = l
			continue
		}
		name, _, _ := strings.Cut(l, "\t")
		comps = append(comps, name)
	}
	return comps, directive
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimRight(l, "\r"); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	sort.Strings(a)
	sort.Strings(b)
	return slices.Equal(a, b)
}

func kubeconfigContexts(t *testing.T) []string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(tc.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range cfg.Contexts {
		names = append(names, n)
	}
	if len(names) == 0 {
		t.Fatal("admin kubeconfig has no context")
	}
	return names
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, fi.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(path, time.Now(), time.Now())
}
