package cmd

import (
	"context"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kexec "k8s.io/kubectl/pkg/cmd/exec"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/completion"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/session"
)

const defaultPodExecTimeout = 60 * time.Second

var execExample = templates.Examples(`
	# Open a recorded shell in mypod (first container, or the one the
	# kubectl.kubernetes.io/default-container annotation names)
	kubectl rexec -it mypod -- bash

	# Run a command in a named container
	kubectl rexec mypod -c ruby-container -- date

	# Exec into the first pod of a deployment
	kubectl rexec deploy/web -- ls /

	# Reach a pod named like a subcommand
	kubectl rexec pod/replay -- date

	# Play a session back
	kubectl rexec replay ~/.local/state/kubectl-rexec/recordings/FILE.cast.zst`)

// execOptions wraps kubectl's own exec options: kubectl resolves the pod,
// the container and the terminal; rexec supplies the executor that records.
type execOptions struct {
	*kexec.ExecOptions
	configFlags *genericclioptions.ConfigFlags
	recordDir   string
	ping        time.Duration
	via         string
	policy      policyFlags // policy.go: --record, --record-input, --sign-key, --reason, --ticket
}

func newExecCmd(f cmdutil.Factory, configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &execOptions{
		ExecOptions: &kexec.ExecOptions{StreamOptions: kexec.StreamOptions{IOStreams: streams}},
		configFlags: configFlags,
	}
	cmd := &cobra.Command{
		Use:                   "kubectl-rexec (POD | TYPE/NAME) [-c CONTAINER] [flags] -- COMMAND [args...]",
		DisableFlagsInUseLine: true,
		Short:                 "Execute a command in a container and record the session",
		Long: "Execute a command in a container, exactly as kubectl exec does, and record every byte of the " +
			"session (stdin, stdout, stderr, resizes, exit status, who and where) into a compressed, " +
			"tamper-evident asciicast v3 recording.",
		Example:           execExample,
		Args:              cobra.ArbitraryArgs,
		SilenceErrors:     true,
		SilenceUsage:      true,
		ValidArgsFunction: completion.PodResourceNameCompletionFunc(f),
		Annotations:       map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl rexec"},
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(f, cmd, args)
		},
	}
	cmdutil.AddPodRunningTimeoutFlag(cmd, defaultPodExecTimeout)
	cmdutil.AddJsonFilenameFlag(cmd.Flags(), &o.FilenameOptions.Filenames, "Filename, directory, or URL to files identifying the resource to exec into")
	cmdutil.AddContainerVarFlags(cmd, &o.ContainerName, o.ContainerName)
	cmdutil.CheckErr(cmd.RegisterFlagCompletionFunc("container", completion.ContainerCompletionFunc(f)))
	cmd.Flags().BoolVarP(&o.Stdin, "stdin", "i", o.Stdin, "Pass stdin to the container")
	cmd.Flags().BoolVarP(&o.TTY, "tty", "t", o.TTY, "Stdin is a TTY")
	cmd.Flags().BoolVarP(&o.Quiet, "quiet", "q", o.Quiet, "Only print output from the remote session")
	cmd.Flags().StringVar(&o.recordDir, "record-dir", "", "Directory for recordings (default $"+session.EnvRecordDir+", else ${XDG_STATE_HOME:-~/.local/state}/kubectl-rexec/recordings)")
	cmd.Flags().DurationVar(&o.ping, "ping-interval", session.DefaultPingInterval,
		"How often to ping the API server to keep the stream alive and notice a dead connection, on WebSocket and SPDY "+
			"(over WebSocket the connection is given up after twelve intervals and a second without a reply)")
	cmd.Flags().StringVar(&o.via, "via", viaAuto, "How to reach the pod: gateway (through the cluster's rexec gateway, which records the session on the server side and signs it), direct (the core pods/exec), or auto (the gateway when the cluster has one)")
	cmdutil.CheckErr(cmd.RegisterFlagCompletionFunc("via", cobra.FixedCompletions([]string{viaAuto, viaGateway, viaDirect}, cobra.ShellCompDirectiveNoFileComp)))
	o.policy.addFlags(cmd)
	configFlags.AddFlags(cmd.Flags())
	return cmd
}

func (o *execOptions) run(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	if o.ping <= 0 {
		return cmdutil.UsageErrorf(cmd, "--ping-interval must be positive, got %v", o.ping)
	}
	if err := checkVia(cmd, o.via); err != nil {
		return err
	}
	if err := o.policy.resolve(cmd, o.recordDir); err != nil {
		return err
	}
	if err := o.Complete(f, cmd, args, cmd.ArgsLenAtDash()); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return err
	}
	clientset, err := f.KubernetesClientSet()
	if err != nil {
		return err
	}
	// Who the user is goes into the header; ask now, in parallel with the
	// pod lookup that Run does next, so it costs no extra round trip.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	identity := session.LookupIdentity(ctx, clientset)
	route := lookupGateway(ctx, clientset, o.via, o.policy.eff.Reason, o.policy.eff.Ticket)

	contextName, clusterName := o.kubeContext(f)
	cfg := session.Config{
		Quiet:      o.Quiet,
		ErrOut:     o.ErrOut,
		Context:    contextName,
		Cluster:    clusterName,
		ClientArgv: RedactArgs(os.Args),
		Version:    Version,
		WebSocket:  !cmdutil.RemoteCommandWebsockets.IsDisabled(),
		Identity:   identity,
		Pod:        func() *corev1.Pod { return o.Pod },

		PingInterval: o.ping,
		Route:        route,
	}
	o.policy.apply(&cfg, o.Quiet, o.ErrOut)
	up, err := newUploader(o.policy.eff, o.Quiet, o.ErrOut)
	if err != nil {
		return err
	}
	if up != nil {
		cfg.OnBegin = up.begin
	}
	ex := session.NewExecutor(cfg)
	o.Executor = ex
	o.InterruptParent = ex.InterruptParent()
	err = o.Run()
	err = explainDirectRefusal(o.via, err)
	ex.ReportPath()
	if up != nil && ex.Path() != "" {
		up.finish(ex.Path())
	}
	return err
}

// kubeContext names the kubeconfig context and cluster in use, for the
// header and the file name.
func (o *execOptions) kubeContext(f cmdutil.Factory) (string, string) {
	raw, err := f.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return "", ""
	}
	name := raw.CurrentContext
	if o.configFlags.Context != nil && *o.configFlags.Context != "" {
		name = *o.configFlags.Context
	}
	cluster := ""
	if c, ok := raw.Contexts[name]; ok {
		cluster = c.Cluster
	}
	if o.configFlags.ClusterName != nil && *o.configFlags.ClusterName != "" {
		cluster = *o.configFlags.ClusterName
	}
	return name, cluster
}

// What goes into a recording of rexec's own command line (client_argv) is
// redacted before it is written (RedactArgs). The list is deliberate:
//
//   - secretFlags carry a credential as their value: --token (a bearer
//     token) and --password (basic auth). Their value is replaced, in the
//     forms --flag=value and --flag value (pflag has no other form for
//     them: they have no shorthand).
//   - Any URL-looking text in any argument, in any form (--server=URL,
//     -s URL, -sURL, --proxy-url URL, --upload URL, ...), has its user
//     info ("user:password@", or a token as "token@") replaced: a URL may
//     carry a credential whatever the flag.
//   - Kept, as they are no secret: --username (who logs in, like the
//     header's user), --as, --as-group, --as-uid and --as-user-extra (an
//     identity), and the paths of --kubeconfig, --client-key,
//     --client-certificate, --certificate-authority and --sign-key (a path
//     names a secret, it does not hold it).
//   - The remote command after "--" is kept verbatim: it is what the
//     session ran, recorded in the header's argv as well, and part of the
//     evidence; what it prints is recorded too.
var secretFlags = map[string]bool{"--token": true, "--password": true}

// urlUserinfo matches the user info of a URL anywhere in an argument: the
// scheme, "://", then anything up to "@" that holds no "/", "?", "#" or "@".
var urlUserinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@\s]*@`)

// RedactArgs returns argv with credentials replaced by REDACTED, so that
// the client command line can go into a recording (see secretFlags).
func RedactArgs(argv []string) []string {
	out := make([]string, len(argv))
	copy(out, argv)
	for i := 0; i < len(out); i++ {
		a := out[i]
		if a == "--" {
			break
		}
		out[i] = urlUserinfo.ReplaceAllString(a, "${1}REDACTED@")
		name, _, hasValue := strings.Cut(a, "=")
		if !secretFlags[name] {
			continue
		}
		if hasValue {
			out[i] = name + "=REDACTED"
		} else if i+1 < len(out) {
			out[i+1] = "REDACTED"
			i++
		}
	}
	return out
}
