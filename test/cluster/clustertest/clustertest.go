// Package clustertest holds what the end-to-end test packages of this module
// share: before their first test, the plugin binary under test, the cluster
// binaries, and whether Debian's HAProxy is there; in a test, a process
// started with a stdin pipe and its output collected (piped.go).
package clustertest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// CI is true in the CI run, where nothing may be skipped or built on the
// side: what is missing is an error.
func CI() bool { return os.Getenv("CI") == "true" }

// moduleDir is test/cluster, found from this file so that callers in any
// package directory agree on it.
func moduleDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// BuildClusterBinaries runs build.sh, which builds whatever is missing
// (kube-apiserver takes minutes the first time; it holds a flock, so test
// packages running side by side do not build twice) and keeps rexec-node in
// step with its source.
func BuildClusterBinaries() error {
	build := exec.Command("bash", filepath.Join(moduleDir(), "build.sh"))
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build.sh failed: %w", err)
	}
	return nil
}

// HaveHAProxy says whether Debian's haproxy is installed (it lives in
// /usr/sbin, which is not always on PATH).
func HaveHAProxy() bool {
	if _, err := exec.LookPath("haproxy"); err == nil {
		return true
	}
	_, err := os.Stat("/usr/sbin/haproxy")
	return err == nil
}

// RexecBinary returns the plugin binary: $REXEC_BIN, which must be an
// executable file; without it, a fresh build from the repository root,
// except in CI where that would test something other than what the pipeline
// built. cleanup removes a binary built here.
func RexecBinary() (bin string, cleanup func(), err error) {
	return binary("REXEC_BIN", "kubectl-rexec", "./cmd/kubectl-rexec")
}

// GatewayBinary is RexecBinary for the rexec gateway ($REXEC_GATEWAY_BIN).
func GatewayBinary() (bin string, cleanup func(), err error) {
	return binary("REXEC_GATEWAY_BIN", "rexec-gateway", "./cmd/rexec-gateway")
}

func binary(env, name, pkg string) (bin string, cleanup func(), err error) {
	nop := func() {}
	if bin := os.Getenv(env); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			return "", nop, err
		}
		if fi, err := os.Stat(abs); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return "", nop, fmt.Errorf("%s=%s is not an executable file (run make build)", env, bin)
		}
		return abs, nop, nil
	}
	if CI() {
		return "", nop, fmt.Errorf("CI=true and %s is not set: run `make e2e`, which builds it and passes it", env)
	}
	root := filepath.Dir(filepath.Dir(moduleDir()))
	if b, err := os.ReadFile(filepath.Join(root, "go.mod")); err != nil ||
		!bytes.Contains(b, []byte("module github.com/kubectl-rexec/kubectl-rexec\n")) {
		return "", nop, fmt.Errorf("%s is not set and %s is not the plugin's repository root", env, root)
	}
	dir, err := os.MkdirTemp("", "rexec-e2e-bin-")
	if err != nil {
		return "", nop, err
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	bin = filepath.Join(dir, name)
	fmt.Fprintf(os.Stderr, "%s not set; building %s from %s\n", env, name, root)
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		cleanup()
		return "", nop, fmt.Errorf("building %s: %w", name, err)
	}
	return bin, cleanup, nil
}

// RepoRoot is the plugin's repository root (deploy/, the Makefile...).
func RepoRoot() string { return filepath.Dir(filepath.Dir(moduleDir())) }
