package cmd

import (
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestCheckVia(t *testing.T) {
	cmd := &cobra.Command{Use: "kubectl-rexec"}
	for _, v := range []string{viaAuto, viaGateway, viaDirect} {
		if err := checkVia(cmd, v); err != nil {
			t.Errorf("checkVia(%q): %v", v, err)
		}
	}
	if err := checkVia(cmd, "sideways"); err == nil || !strings.Contains(err.Error(), "auto, gateway or direct") {
		t.Errorf("checkVia: %v", err)
	}
}

// TestExplainDirectRefusal: the shipped policy's refusal, met with --via
// direct, says the flag is what went around the gateway; nothing else is
// touched.
func TestExplainDirectRefusal(t *testing.T) {
	refused := errors.New("unable to upgrade connection: pods \"demo\" is forbidden: ValidatingAdmissionPolicy 'rexec-require-recording.kubectl-rexec.io' with binding 'rexec-require-recording.kubectl-rexec.io' denied request: exec and attach in this cluster are recorded: use `kubectl rexec` (the same flags as kubectl exec; it goes through the rexec gateway). Plain kubectl exec and attach are refused.")
	got := explainDirectRefusal(viaDirect, refused)
	if !errors.Is(got, refused) || !strings.HasPrefix(got.Error(), refused.Error()+"\n") || !strings.Contains(got.Error(), "without --via direct") {
		t.Errorf("--via direct, refused by the policy: %q", got)
	}
	rbac := errors.New(`unable to upgrade connection: pods "demo" is forbidden: User "bob" cannot create resource "pods/exec"`)
	for _, c := range []struct {
		via string
		err error
	}{{viaAuto, refused}, {viaGateway, refused}, {viaDirect, rbac}, {viaDirect, nil}} {
		if got := explainDirectRefusal(c.via, c.err); got != c.err {
			t.Errorf("--via %s, %v: changed to %v", c.via, c.err, got)
		}
	}
}
