// Command kubectl-rexec is the kubectl (and oc) plugin `kubectl rexec`:
// kubectl exec with every session recorded.
package main

import "github.com/kubectl-rexec/kubectl-rexec/pkg/cmd"

func main() {
	cmd.Execute()
}
