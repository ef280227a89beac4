// Command kubectl-rexec is the kubectl (and oc) plugin `kubectl rexec`:
// kubectl exec with every session recorded.
package main

import (
	_ "github.com/kubectl-rexec/kubectl-rexec/internal/lang" // before kubectl's packages initialise
	"github.com/kubectl-rexec/kubectl-rexec/pkg/cmd"
)

func main() {
	cmd.Execute()
}
