package cmd

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
)

type versionInfo struct {
	Version         string `json:"version"`
	Commit          string `json:"commit"`
	GoVersion       string `json:"goVersion"`
	ClientGoVersion string `json:"clientGoVersion"`
	Platform        string `json:"platform"`
}

// A binary built without the Makefile's -X stamps (`go install ...@v0.1.0`,
// `go build` in a checkout) still knows its module version and, from a
// checkout, its VCS revision: use them, so `version` and recording headers do
// not say "dev"/"unknown" when they need not.
func init() {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	if Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		Version = bi.Main.Version
	}
	if Commit == "unknown" {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				Commit = s.Value
			}
		}
	}
}

func currentVersion() versionInfo {
	v := versionInfo{Version: Version, Commit: Commit, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "k8s.io/client-go" {
				v.ClientGoVersion = d.Version
				if d.Replace != nil && d.Replace.Version != "" {
					v.ClientGoVersion = d.Replace.Version
				}
			}
		}
	}
	if v.ClientGoVersion == "" {
		v.ClientGoVersion = "unknown"
	}
	return v
}

func newVersionCmd(streams genericiooptions.IOStreams) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:           "version",
		Short:         "Print the version of kubectl-rexec",
		Args:          cobra.NoArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := currentVersion()
			switch output {
			case "":
				fmt.Fprintf(streams.Out, "kubectl-rexec %s (commit %s, %s, client-go %s, %s)\n", v.Version, v.Commit, v.GoVersion, v.ClientGoVersion, v.Platform)
			case "json":
				b, _ := json.MarshalIndent(v, "", "  ")
				fmt.Fprintln(streams.Out, string(b))
			default:
				return cmdutil.UsageErrorf(cmd, "--output must be 'json' or empty, got %q", output)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Output format: json")
	cmdutil.CheckErr(cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]cobra.Completion{"json"}, cobra.ShellCompDirectiveNoFileComp)))
	return cmd
}
