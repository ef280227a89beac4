package audit

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/test/cluster/cluster"
	"github.com/kubectl-rexec/kubectl-rexec/test/cluster/clustertest"
)

var (
	tc       *cluster.Cluster
	rexecBin string
	auditLog string
)

// pod is created at start-up with one container, "main"; witnessPod is the
// pod of the witness test's sessions, so that the join test counts its own.
const (
	pod        = "audited"
	witnessPod = "witnessed"
)

// policy logs every pods/exec request at Metadata level (who, what, when,
// the request URI with the command), and the SelfSubjectReviews that carry
// the recordings' anchors (docs/FORMAT.md section 6.2), and nothing else.
const policy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  resources:
  - group: ""
    resources: ["pods/exec"]
- level: Metadata
  resources:
  - group: "authentication.k8s.io"
    resources: ["selfsubjectreviews"]
- level: None
`

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	bin, cleanup, err := clustertest.RexecBinary()
	if err != nil {
		fmt.Fprintln(os.Stderr, "audit:", err)
		return 1
	}
	defer cleanup()
	rexecBin = bin

	if err := clustertest.BuildClusterBinaries(); err != nil {
		fmt.Fprintln(os.Stderr, "audit:", err)
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
		Pods: []string{pod, witnessPod},
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
