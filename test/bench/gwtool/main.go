// Command gwtool does the parts of test/bench/gateway-bench.sh that need
// the cluster's PKI or client-go: installing the rexec gateway on a bench
// cluster, holding many idle sessions open through it while its memory is
// measured, and printing the final table. It is its own module (client-go
// and the test cluster package), so that benchtool stays small.
//
//	gwtool setup  -state DIR -deploy DIR -out DIR    deploy/, users, RBAC, the gateway's kubeconfig
//	gwtool wait   -kubeconfig K -pid PID             until the API server routes to the gateway
//	gwtool idle   -kubeconfig K -pod P -n 200 -pid PID -debug URL
//	                                                 N idle sessions, the gateway's memory per session
//	gwtool report RESULTS.tsv                        medians, ratios and targets
//
// setup prints shell assignments (source them); idle prints one JSON object.
package main

import (
	"encoding/json"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fatalf("usage: gwtool setup|wait|idle|report ...")
	}
	var err error
	switch os.Args[1] {
	case "setup":
		err = setupCmd(os.Args[2:])
	case "wait":
		err = waitCmd(os.Args[2:])
	case "idle":
		err = idleCmd(os.Args[2:])
	case "report":
		err = reportCmd(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fatalf("gwtool %s: %v", os.Args[1], err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func emit(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Printf("%s\n", b)
	return err
}
