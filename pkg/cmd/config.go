package cmd

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/config"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/session"
)

func newConfigCmd(streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show the configuration file's effective settings",
		Long: `kubectl rexec reads ${XDG_CONFIG_HOME:-~/.config}/kubectl-rexec/config.yaml:

  recordDir: ~/recordings        # where recordings go ($KUBECTL_REXEC_DIR and --record-dir override it)
  recordInput: true              # record stdin (--record-input)
  recordUnechoedInput: false     # record typed input the terminal did not echo in full (--record-unechoed-input)
  allowUnechoedInput: true       # permit recordUnechoedInput / --record-unechoed-input
  recordMode: required           # required | best-effort | off (--record)
  allowBestEffort: true          # permit --record=best-effort
  allowRecordOff: false          # permit --record=off
  requireReason: false           # make --reason mandatory
  requireTicket: false           # make --ticket mandatory
  signKey: ~/.config/kubectl-rexec/sign.key   # ed25519 key signing every recording (--sign-key)
  upload:                        # or just: upload: s3://BUCKET/PREFIX
    url: s3://audit-recordings/rexec   # where recordings go ($KUBECTL_REXEC_UPLOAD and --upload override it)
    endpoint: https://s3.example.com   # self-hosted store; default: the AWS SDK's (AWS_ENDPOINT_URL_S3 ...)
    region: eu-west-1                  # default: the AWS SDK's chain
    profile: audit                     # shared-config profile; credentials always come from the SDK's chain
    pathStyle: true                    # path-style addressing (most self-hosted stores; automatic for an IP or localhost endpoint)
    retention: {mode: COMPLIANCE, days: 365}   # S3 Object Lock on every recording
    removeLocal: false                 # delete the local copy once the upload is confirmed
    live: false                        # upload segments during the session
    liveInterval: 10s                  # how often live segments go up
    required: false                    # forbid --upload=off

Unknown keys are an error. Flags override the environment, which overrides the file.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newConfigViewCmd(streams))
	return cmd
}

func newConfigViewCmd(streams genericiooptions.IOStreams) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "view",
		Short: "Print the effective settings and where each comes from",
		Example: `  kubectl rexec config view
  kubectl rexec config view -o yaml`,
		Args:          cobra.NoArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "" && output != "json" && output != "yaml" {
				return cmdutil.UsageErrorf(cmd, "--output must be json or yaml, got %q", output)
			}
			return configView(streams, output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Output format: json or yaml")
	cmdutil.CheckErr(cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]cobra.Completion{"json", "yaml"}, cobra.ShellCompDirectiveNoFileComp)))
	return cmd
}

// configViewOutput is what config view -o json|yaml prints.
type configViewOutput struct {
	ConfigFile string           `json:"configFile"`
	Found      bool             `json:"found"`
	Settings   []config.Setting `json:"settings"`
}

func configView(streams genericiooptions.IOStreams, output string) error {
	l, err := config.Load()
	if err != nil {
		return err
	}
	eff := config.Resolve(l, config.Flags{}, os.Getenv)
	def, _, err := session.RecordDir("")
	if err != nil {
		def = "(unknown: " + err.Error() + ")"
	}
	out := configViewOutput{ConfigFile: l.Path, Found: l.Found, Settings: eff.Settings(def)}
	switch output {
	case "json":
		enc := json.NewEncoder(streams.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	case "yaml":
		b, err := yaml.Marshal(out)
		if err != nil {
			return err
		}
		_, err = streams.Out.Write(b)
		return err
	}
	state := "found"
	if !l.Found {
		state = "not found: the defaults apply"
	}
	fmt.Fprintf(streams.Out, "Config file: %s (%s)\n\n", l.Path, state)
	tw := tabwriter.NewWriter(streams.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tVALUE\tSOURCE")
	for _, s := range out.Settings {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, s.Value, s.Source)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(streams.Out, "\nFlags (--record-dir, --record, --record-input, --sign-key, --reason, --ticket) override these for one session.")
	return nil
}
