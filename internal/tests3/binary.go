package tests3

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// Version is the versitygw release the tests run against.
const Version = "v1.8.0"

const module = "github.com/versity/versitygw/cmd/versitygw"

// Binary returns the path of the versitygw executable: $REXEC_VERSITYGW if set, otherwise
// ${XDG_CACHE_HOME:-~/.cache}/kubectl-rexec-s3/VERSION/bin/versitygw, built with
// `go install github.com/versity/versitygw/cmd/versitygw@v1.8.0` if it is not there yet (about
// three minutes cold). The build holds a file lock, so that test packages running in parallel
// build it once. It fails the test if there is no binary and it cannot be built; it never skips.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("REXEC_VERSITYGW"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("REXEC_VERSITYGW=%s: %v", p, err)
		}
		return p
	}
	dir, err := cacheDir()
	if err != nil {
		t.Fatalf("versitygw: %v", err)
	}
	bin := filepath.Join(dir, "bin", exe("versitygw"))
	if isFile(bin) {
		return bin
	}
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatalf("versitygw: %v", err)
	}
	unlock, err := lockFile(filepath.Join(dir, "build.lock"))
	if err != nil {
		t.Fatalf("versitygw: lock: %v", err)
	}
	defer unlock()
	if isFile(bin) { // built by another package while we waited
		return bin
	}
	t.Logf("building versitygw %s into %s (once; about 3 minutes)", Version, bin)
	start := time.Now()
	gobin, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		t.Fatalf("versitygw: %v", err)
	}
	defer os.RemoveAll(gobin)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool(), "install", module+"@"+Version)
	cmd.Dir = gobin // outside any module: go install pkg@version ignores it anyway
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("building versitygw %s failed (%v):\n%s", Version, err, out)
	}
	if err := os.Rename(filepath.Join(gobin, exe("versitygw")), bin); err != nil {
		t.Fatalf("versitygw: %v", err)
	}
	t.Logf("built versitygw in %s", time.Since(start).Round(time.Second))
	return bin
}

func cacheDir() (string, error) {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "kubectl-rexec-s3", Version), nil // a new version builds anew
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Size() > 0
}

func exe(name string) string {
	if runtime.GOOS == "windows" {
		return name + ".exe"
	}
	return name
}

// goTool is the go command on PATH, else the one of the toolchain that built the test.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if p := filepath.Join(runtime.GOROOT(), "bin", exe("go")); isFile(p) {
		return p
	}
	return "go"
}
