package cmd

import (
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
