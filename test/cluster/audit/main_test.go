package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/test/cluster/cluster"
)

var (
	tc       *cluster.Cluster
	rexecBin string
	auditLog string
)

// pod is created at start-up with one container, "main".
const pod = "audited"

// policy logs every pods/exec request at Metadata level (who, what, when,
// the request URI with the command) and nothing else.
const policy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  resources:
  - group: ""
    resources: ["pods/exec"]
- level: None
`

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	bin, cleanup, err := findRexec(os.Getenv("CI") == "true")
	if err != nil {
		fmt.Fprintln(os.Stderr, "audit:", err)
		return 1
	}
	defer cleanup()
	rexecBin = bin

	build := exec.Command("bash", filepath.Join("..", "build.sh"))
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "audit: build.sh failed:", err)
		return 1
	}

	dir, err := os.MkdirTemp("", "rexec-audit-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "audit:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	policyFile := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policyFile, []byte(policy), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "audit:", err)
		return 1
	}
	auditLog = filepath.Join(dir, "audit.log")
	c, err := cluster.Start(context.Background(), cluster.Options{
		Pods: []string{pod},
		ExtraAPIServerArgs: []string{
			"--audit-policy-file=" + policyFile,
			"--audit-log-path=" + auditLog,
			"--audit-log-format=json",
			// Written before the response: the event is in the file by the
			// time the client has its answer.
			"--audit-log-mode=blocking",
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "audit: starting cluster:", err)
		return 1
	}
	tc = c
	fmt.Fprintf(os.Stderr, "audit: cluster up in %v (state %s), audit log %s, kubectl-rexec %s\n",
		c.StartupTime.Round(time.Millisecond), c.StateDir, auditLog, rexecBin)
	code := m.Run()
	c.Stop()
	return code
}

// findRexec returns $REXEC_BIN, or outside CI a fresh build of the plugin.
func findRexec(ci bool) (string, func(), error) {
	nop := func() {}
	if bin := os.Getenv("REXEC_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			return "", nop, err
		}
		if _, err := os.Stat(abs); err != nil {
			return "", nop, fmt.Errorf("REXEC_BIN=%s: %w (run make build)", bin, err)
		}
		return abs, nop, nil
	}
	if ci {
		return "", nop, errors.New("CI=true and REXEC_BIN is not set: run `make e2e`, which builds the plugin and passes it")
	}
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		return "", nop, err
	}
	if b, err := os.ReadFile(filepath.Join(root, "go.mod")); err != nil ||
		!bytes.Contains(b, []byte("module github.com/kubectl-rexec/kubectl-rexec\n")) {
		return "", nop, fmt.Errorf("REXEC_BIN is not set and %s is not the plugin's repository root", root)
	}
	dir, err := os.MkdirTemp("", "rexec-audit-bin-")
	if err != nil {
		return "", nop, err
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	bin := filepath.Join(dir, "kubectl-rexec")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/kubectl-rexec")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		cleanup()
		return "", nop, fmt.Errorf("building kubectl-rexec: %w", err)
	}
	return bin, cleanup, nil
}
