package cmd

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	utilexec "k8s.io/client-go/util/exec"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/sign"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/termsafe"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/verify"
)

type verifyOptions struct {
	output   string
	pubs     []string
	auditLog string
	streams  genericiooptions.IOStreams
}

func newVerifyCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := &verifyOptions{streams: streams}
	cmd := &cobra.Command{
		Use:   "verify FILE...",
		Short: "Check that recordings are complete, unaltered and authentic (hash chain, checkpoints, trailer, signature, audit log)",
		Long: `Check recordings as evidence: recompute the SHA-256 hash chain over every data frame, check every
checkpoint and the trailer against what the frames hold, check the trailer's ed25519 signature
against the --pub keys, and check the recording against the anchors its session left in the
cluster's audit log (--audit-log). One line per file, from best to worst:

  OK                      authenticated: intact, and signed by one of the --pub keys, or witnessed
                          by the audit log up to its close; every requirement given is met
  CONSISTENT              intact, but nothing authenticates it: unsigned, or its signature not
                          checked (no --pub), and no --audit-log. Whoever can write the file could
                          have rewritten it consistently
  UNSIGNED                with --pub: intact, but not signed by any of the given keys
  UNWITNESSED             with --audit-log: intact, but the audit log does not witness it up to
                          its close (no anchor of its session, or the last ones are missing)
  ABRUPT                  no trailer: the recorder was killed or the disk filled up; the chain
                          holds up to the time shown, the rest is missing (never authenticated)
  ERROR                   the file could not be read, or its format version is unknown
  NOT A RECORDING         not zstd-compressed asciicast v3, or a plain one with nothing to verify
  TAMPERED                something does not match: the check and the frame are named

Exit status: the worst verdict's, in the order above:
  0 OK, 6 CONSISTENT, 5 UNSIGNED, 7 UNWITNESSED, 2 ABRUPT, 1 ERROR (or a usage error),
  4 NOT A RECORDING, 3 TAMPERED.

A signature proves who wrote the recording, not that its writer is honest: the recorded user's
own key signs a rewrite of their own session as well. The audit log is a witness that user cannot
rewrite: during the session the client sends each checkpoint's chain head, and a digest of the
trailer at the close, as the Audit-ID of a request the API server logs. docs/FORMAT.md section 6
lists what is checked and what the audit policy must log.`,
		Example: `  # Check every recording
  kubectl rexec verify ~/.local/state/kubectl-rexec/recordings/*.cast.zst

  # Require a signature by this key (an OpenSSH .pub file or a PKIX PEM public key)
  kubectl rexec verify --pub ~/.config/kubectl-rexec/sign.pub FILE

  # Require the API server's audit log to witness the recording ("-" reads it from stdin)
  kubectl rexec verify --pub sign.pub --audit-log /var/log/kubernetes/audit.log FILE

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
	cmd.Flags().StringVar(&o.auditLog, "audit-log", "", "The API server's audit log (JSON lines; - for stdin) that must witness the recordings")
	cmdutil.CheckErr(cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]cobra.Completion{"json"}, cobra.ShellCompDirectiveNoFileComp)))
	cmdutil.CheckErr(cmd.RegisterFlagCompletionFunc("pub", completeFiles))
	cmdutil.CheckErr(cmd.RegisterFlagCompletionFunc("audit-log", completeFiles))
	return cmd
}

// readAuditLog reads the --audit-log file for the sessions of files.
func (o *verifyOptions) readAuditLog(files []string) (*verify.AuditLog, error) {
	ids := make([]string, 0, len(files))
	for _, f := range files {
		ids = append(ids, verify.SessionID(f))
	}
	in := o.streams.In
	if o.auditLog != "-" {
		f, err := os.Open(o.auditLog)
		if err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		defer f.Close()
		in = f
	}
	l, err := verify.ReadAuditLog(in, ids)
	if err != nil {
		return nil, fmt.Errorf("audit log %s: %w", o.auditLog, err)
	}
	if l.Unreadable > 0 {
		fmt.Fprintf(o.streams.ErrOut, "warning: %d lines of the audit log about these sessions could not be read (not JSON, or over 4 MiB); they were not used\n", l.Unreadable)
	}
	return l, nil
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
	opts := verify.Options{Keys: keys}
	if o.auditLog != "" {
		l, err := o.readAuditLog(files)
		if err != nil {
			return err
		}
		opts.Witness = l
	}
	results := make([]verify.Result, 0, len(files))
	for _, f := range files {
		r := verify.File(f, opts)
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
