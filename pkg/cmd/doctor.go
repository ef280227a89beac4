package cmd

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/klog/v2"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/completion"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/doctor"
)

var doctorExample = templates.Examples(`
	# Walk the path of an exec session to mypod, hop by hop
	kubectl rexec doctor mypod

	# A container of a deployment's pod, in another namespace, as JSON
	kubectl rexec doctor -n shop deploy/web -c app -o json

	# Also hold a silent session for 30s to find an idle timeout on a proxy
	kubectl rexec doctor mypod --idle 30s`)

const doctorLong = `Walk the path of an exec session to a pod, hop by hop, and report every check,
timed and marked ✓ (passed), ! (worth a look) or ✗ (failed), with a one-line hint:

  1. kubeconfig: the file(s), context, server URL, auth kind (never the
     credential itself) and the proxy in effect (proxy-url, HTTPS_PROXY/NO_PROXY)
  2. reachability: DNS, TCP, TLS (version, certificate expiry and SANs, checked
     against the kubeconfig's CA), GET /version, /readyz, round-trip latency
  3. identity and permission: SelfSubjectReview, and SelfSubjectAccessReviews
     for "create pods/exec" and "get pods" in the namespace
  4. the pod: phase, node, container states and restarts, the container exec picks
  5. the exec handshake on WebSocket (v5.channel.k8s.io) and SPDY, each on its
     own: HTTP status, negotiated protocol, time to upgrade
  6. the stream: echo round trips through a remote cat (--rtt-samples) and
     throughput from a remote head -c (--throughput-mib)
  7. with --idle: a silent session on each protocol, to find idle timeouts of
     proxies and load balancers in the path

and a closing summary naming the first broken hop. The stream checks need sh,
cat and head in the container. Each step is bounded by --timeout.

Exit status: 0 when no check failed (warnings allowed), 1 when one did or
doctor could not run.`

type doctorOptions struct {
	cfg     doctor.Config
	output  string
	streams genericiooptions.IOStreams
}

// newDoctorCmd builds `kubectl rexec doctor`. It has kubectl's kubeconfig
// flags of its own (the root's are local to the exec command); --password
// is left out so that doctor never prompts for one.
func newDoctorCmd(streams genericiooptions.IOStreams) *cobra.Command {
	configFlags := genericclioptions.NewConfigFlags(true).WithDiscoveryBurst(300).WithDiscoveryQPS(50.0)
	configFlags.Password = nil
	f := cmdutil.NewFactory(cmdutil.NewMatchVersionFlags(configFlags))
	o := &doctorOptions{streams: streams, cfg: doctor.Config{
		Flags:         configFlags,
		StepTimeout:   doctor.DefaultStepTimeout,
		RTTSamples:    doctor.DefaultRTTSamples,
		ThroughputMiB: doctor.DefaultThroughputMiB,
	}}
	cmd := &cobra.Command{
		Use:                   "doctor (POD | TYPE/NAME) [-c CONTAINER] [flags]",
		DisableFlagsInUseLine: true,
		Short:                 "Check, hop by hop, why exec into a pod fails or drops",
		Long:                  doctorLong,
		Example:               doctorExample,
		SilenceErrors:         true,
		SilenceUsage:          true,
		ValidArgsFunction:     completion.PodResourceNameCompletionFunc(f),
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return cmdutil.UsageErrorf(cmd, "doctor takes exactly one POD or TYPE/NAME, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(cmd); err != nil {
				return err
			}
			o.cfg.Target = args[0]
			o.cfg.PreferSPDY = cmdutil.RemoteCommandWebsockets.IsDisabled()
			return o.run()
		},
	}
	cmd.Flags().StringVarP(&o.cfg.Container, "container", "c", "", "Container name; by default the one kubectl exec would pick")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "Output format: empty for text, or json")
	cmd.Flags().DurationVar(&o.cfg.StepTimeout, "timeout", o.cfg.StepTimeout, "Time limit of each step (the stream step: of each measurement)")
	cmd.Flags().IntVar(&o.cfg.RTTSamples, "rtt-samples", o.cfg.RTTSamples, "Echo round trips to time through a remote cat; 0 skips them")
	cmd.Flags().IntVar(&o.cfg.ThroughputMiB, "throughput-mib", o.cfg.ThroughputMiB, "MiB to read from a remote head -c to measure throughput; 0 skips it")
	cmd.Flags().DurationVar(&o.cfg.Idle, "idle", 0, "Hold a silent session open this long (plus 5s) on each protocol and report whether it is cut; 0 skips it")
	configFlags.AddFlags(cmd.Flags())
	cmdutil.CheckErr(cmd.RegisterFlagCompletionFunc("container", completion.ContainerCompletionFunc(f)))
	return cmd
}

func (o *doctorOptions) validate(cmd *cobra.Command) error {
	switch {
	case o.output != "" && o.output != "json":
		return cmdutil.UsageErrorf(cmd, "--output must be empty (text) or json, got %q", o.output)
	case o.cfg.StepTimeout <= 0:
		return cmdutil.UsageErrorf(cmd, "--timeout must be positive")
	case o.cfg.RTTSamples < 0 || o.cfg.RTTSamples > 10000:
		return cmdutil.UsageErrorf(cmd, "--rtt-samples must be between 0 and 10000")
	case o.cfg.ThroughputMiB < 0 || o.cfg.ThroughputMiB > 4096:
		return cmdutil.UsageErrorf(cmd, "--throughput-mib must be between 0 and 4096")
	case o.cfg.Idle < 0:
		return cmdutil.UsageErrorf(cmd, "--idle must not be negative")
	}
	return nil
}

func (o *doctorOptions) run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// client-go logs the errors of broken streams (the idle step breaks
	// some on purpose); the report already names them. -v 1 and up keeps
	// them, with the request logs.
	if !klog.V(1).Enabled() {
		defer quietKlog()()
	}
	text := o.output == ""
	if text {
		fmt.Fprintf(o.streams.Out, "kubectl rexec doctor %s (started %s)\n", o.cfg.Target, time.Now().Format(time.RFC3339))
		o.cfg.Progress = func(s doctor.Step) { _ = doctor.WriteStepText(o.streams.Out, s) }
	}
	report, err := doctor.Run(ctx, o.cfg)
	if err != nil {
		return err
	}
	if text {
		err = report.WriteSummaryText(o.streams.Out)
	} else {
		err = report.WriteJSON(o.streams.Out)
	}
	if err != nil {
		return err
	}
	if report.ExitCode() != 0 {
		return cmdutil.ErrExit
	}
	return nil
}

// quietKlog discards klog's output, errors included, until the returned
// function restores it.
func quietKlog() (restore func()) {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs) // shares klog's settings: setting these sets klog's
	threshold := fs.Lookup("stderrthreshold").Value.String()
	toStderr := fs.Lookup("logtostderr").Value.String()
	_ = fs.Set("stderrthreshold", "FATAL")
	klog.SetOutput(io.Discard)
	klog.LogToStderr(false)
	return func() {
		klog.Flush()
		_ = fs.Set("stderrthreshold", threshold)
		_ = fs.Set("logtostderr", toStderr)
		klog.SetOutput(os.Stderr)
	}
}
