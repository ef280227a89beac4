package cmd

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	utilexec "k8s.io/client-go/util/exec"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/sign"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/termsafe"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/verify"
)

type verifyOptions struct {
	output  string
	pubs    []string
	streams genericiooptions.IOStreams
}

func newVerifyCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := &verifyOptions{streams: streams}
	cmd := &cobra.Command{
		Use:   "verify FILE...",
		Short: "Check that recordings are complete and unaltered (hash chain, checkpoints, trailer, signature)",
		Long: `Check recordings as evidence: recompute the SHA-256 hash chain over every data frame, check every
checkpoint and the trailer against what the frames hold, and check the trailer's ed25519
signature against the --pub keys. One line per file:

  OK                      the chain, every checkpoint and the trailer check out
  OK (signed by KEY-ID)   ... and the signature is valid for one of the --pub keys
  ABRUPT                  no trailer: the recorder was killed or the disk filled up; the chain
                          holds up to the time shown, the rest is missing
  TAMPERED                something does not match: the check and the frame are named
  NOT A RECORDING         not zstd-compressed asciicast v3, or a plain one with nothing to verify
  UNSIGNED                with --pub: intact, but not signed by any of the given keys
  ERROR                   the file could not be read

Exit status: the worst verdict's, in this order of severity:
  3 TAMPERED, 4 NOT A RECORDING, 5 UNSIGNED, 1 ERROR (or a usage error), 2 ABRUPT, 0 all OK.

Without a signature the trailer's end time, duration and message are not protected (everything
else is, through the chain or by cross-checks); docs/FORMAT.md section 6 lists what is checked.`,
		Example: `  # Check every recording
  kubectl rexec verify ~/.local/state/kubectl-rexec/recordings/*.cast.zst

  # Require a signature by this key (an OpenSSH .pub file or a PKIX PEM public key)
  kubectl rexec verify --pub ~/.config/kubectl-rexec/sign.pub FILE

  # Machine-readable
  kubectl rexec verify -o json FILE | jq '.[] | select(.verdict != "OK")'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmdutil.UsageErrorf(cmd, "verify takes one or more recording files")
			}
			return nil
		},
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.output != "" && o.output != "json" {
				return cmdutil.UsageErrorf(cmd, "--output must be json, got %q", o.output)
			}
			return o.run(args)
		},
		ValidArgsFunction: completeRecordings(0),
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "Output format: json")
	cmd.Flags().StringArrayVar(&o.pubs, "pub", nil, "Public key that must have signed the recordings (OpenSSH or PKIX PEM ed25519; repeatable, or several keys in one file)")
	cmdutil.CheckErr(cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]cobra.Completion{"json"}, cobra.ShellCompDirectiveNoFileComp)))
	cmdutil.CheckErr(cmd.RegisterFlagCompletionFunc("pub", completeFiles))
	return cmd
}

func (o *verifyOptions) run(files []string) error {
	var keys []ed25519.PublicKey
	for _, p := range o.pubs {
		ks, err := sign.LoadPublicKeys(p)
		if err != nil {
			return err
		}
		keys = append(keys, ks...)
	}
	results := make([]verify.Result, 0, len(files))
	for _, f := range files {
		r := verify.File(f, verify.Options{Keys: keys})
		results = append(results, r)
		if o.output == "" {
			// The summary quotes the recording (the exit status event, say).
			fmt.Fprintf(o.streams.Out, "%s: %s\n", safe(f), safe(r.Summary))
		}
	}
	if o.output == "json" {
		b, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			return err
		}
		if _, err := o.streams.Out.Write(append(termsafe.JSON(b), '\n')); err != nil {
			return err
		}
	}
	if code := verify.ExitCode(results); code != 0 {
		// kubectl's error handling exits with an ExitError's code and
		// prints its (empty) message: the verdicts are already printed.
		return utilexec.CodeExitError{Err: errSilent, Code: code}
	}
	return nil
}

// errSilent is an error with nothing to add to what was printed.
var errSilent = errors.New("")
