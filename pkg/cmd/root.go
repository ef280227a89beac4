// Package cmd owns the command line: the cobra commands, their flags, and
// turning flags into the plain configuration the engines (session, replay)
// run with. It holds no session or format logic of its own.
package cmd

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/klog/v2"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/session"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/termsafe"
)

// Version is stamped at build time with -ldflags "-X .../pkg/cmd.Version=...".
var Version = "dev"

// Commit is stamped at build time like Version.
var Commit = "unknown"

// NewRootCmd builds `kubectl rexec`: the root runs a recorded exec, the
// subcommands (replay, version, ...) hang off it. A pod literally named like
// a subcommand is reachable as pod/NAME.
func NewRootCmd(streams genericiooptions.IOStreams) *cobra.Command {
	configFlags := genericclioptions.NewConfigFlags(true).WithDiscoveryBurst(300).WithDiscoveryQPS(50.0)
	f := cmdutil.NewFactory(cmdutil.NewMatchVersionFlags(configFlags))

	root := newExecCmd(f, configFlags, streams)
	root.AddCommand(newReplayCmd(streams), newVersionCmd(streams))
	// Evidence: verify recordings; the config file and its policy.
	root.AddCommand(newVerifyCmd(streams), newConfigCmd(streams))
	root.AddCommand(newUploadCmd(streams)) // central storage: the upload spool
	root.AddCommand(newDoctorCmd(streams)) // doctor: the path of an exec session, hop by hop
	// The catalog: ls, info, grep, export.
	root.AddCommand(newLsCmd(streams), newInfoCmd(streams), newGrepCmd(streams), newExportCmd(streams))

	// -v like kubectl, so `kubectl rexec -v 6 ...` shows the round trips.
	gofs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(gofs)
	root.PersistentFlags().AddGoFlag(gofs.Lookup("v"))
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return cmdutil.UsageErrorf(c, "%s", err.Error())
	})
	registerCompletions(root, f)
	return root
}

// Execute runs the command line and exits with kubectl's conventions: the
// remote command's exit code, 1 for other errors with an "error: ..." line.
func Execute() {
	// As kubectl's logs.InitLogs does: plain klog lines, without the
	// contextual logger="UnhandledError" suffix kubectl does not print.
	klog.EnableContextualLogging(false)
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	if len(os.Args) > 1 && (os.Args[1] == cobra.ShellCompRequestCmd || os.Args[1] == cobra.ShellCompNoDescRequestCmd) {
		// A completion answers what it can, quietly: without a cluster in
		// reach, client-go's discovery logs each failed attempt through
		// klog (memcache.go lines), which would land amid the completions.
		defer quietKlog()()
	}
	stop := startProfile(os.Getenv("KUBECTL_REXEC_CPUPROFILE"))
	err := NewRootCmd(streams).Execute()
	stop()
	if err == nil {
		return
	}
	var ie *session.InterruptedError
	if errors.As(err, &ie) {
		exitBySignal(ie)
	}
	cmdutil.BehaviorOnFatal(fatal)
	cmdutil.CheckErr(err)
}

// fatal is kubectl's way out (cmdutil.CheckErr's): the message on stderr,
// then the exit code; but an error may quote a file name, an S3 key or a
// recording, so controls in it are escaped.
func fatal(msg string, code int) {
	writeFatal(os.Stderr, msg)
	os.Exit(code)
}

func writeFatal(w io.Writer, msg string) {
	if msg != "" {
		if !strings.HasSuffix(msg, "\n") {
			msg += "\n"
		}
		fmt.Fprint(w, termsafe.Text(msg))
	}
}

// exitBySignal ends the process the way kubectl ends when a signal stops a
// session without a terminal: killed by that signal. The recording is closed
// by now. Under a raw terminal kubectl exits 1 instead, and so do we.
func exitBySignal(ie *session.InterruptedError) {
	if ie.Terminal {
		os.Exit(1)
	}
	if sig, ok := ie.Signal.(syscall.Signal); ok {
		signalResetAndRaise(sig)
	}
	os.Exit(1)
}

// startProfile writes a CPU profile of the whole run to path, when set: how
// docs/BENCHMARKS.md finds where a real session's client time goes. It
// returns the function that ends the profile.
func startProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "warning: KUBECTL_REXEC_CPUPROFILE: %v\n", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}
