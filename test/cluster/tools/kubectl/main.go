// Command kubectl is the stock kubectl, built from k8s.io/kubectl at the
// version pinned in go.mod, so the end-to-end tests drive exec exactly as a
// user's kubectl would, including kubectl-* plugin dispatch from PATH.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"

	// Registers the client-go auth providers (exec, oidc) a kubeconfig may name.
	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

func main() {
	// -v must take effect before the command is built, because building it
	// already logs (plugin lookup, kuberc loading).
	_, _ = logs.GlogSetter(cmd.GetLogVerbosity(os.Args))
	// NewDefaultKubectlCommand is what dispatches "kubectl foo" to kubectl-foo.
	if err := cli.RunNoErrOutput(cmd.NewDefaultKubectlCommand()); err != nil {
		util.CheckErr(err)
	}
}
