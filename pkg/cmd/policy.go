package cmd

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/config"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/session"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/sign"
)

// policyFlags are the exec flags that the config file can set or constrain:
// the record mode, input recording, the signing key, reason and ticket.
type policyFlags struct {
	mode        string
	recordInput bool
	unechoed    bool
	signKey     string
	reason      string
	ticket      string
	upload      string

	eff    config.Effective
	signer ed25519.PrivateKey
}

func (p *policyFlags) addFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&p.mode, "record", config.ModeRequired, "Recording policy: required (no recording, no session; a recording failure ends it), best-effort (a recording failure prints a warning and the session goes on unrecorded), off (only where the config file allows it)")
	fs.BoolVar(&p.recordInput, "record-input", true, "Record what is sent to stdin; false leaves it out (the header says so; the remote echo is still recorded)")
	fs.BoolVar(&p.unechoed, "record-unechoed-input", false, "Record typed input that the remote terminal did not echo (passwords at prompts, keys sent to full-screen programs) in full; by default a TTY session records it as its length only. The config file can forbid this (allowUnechoedInput: false)")
	fs.StringVar(&p.signKey, "sign-key", "", "ed25519 private key (PKCS#8 PEM or OpenSSH, unencrypted, mode 0600) that signs the recording")
	fs.StringVar(&p.reason, "reason", "", "Why this session is opened; stored in the recording header")
	fs.StringVar(&p.ticket, "ticket", "", "Change or incident ticket for this session; stored in the recording header")
	fs.StringVar(&p.upload, "upload", "", "Upload the recording when the session ends to s3://BUCKET/PREFIX (default: the config file's upload.url or $"+config.EnvUpload+"; off: not this time, unless the config file requires it)")
	cmdutil.CheckErr(cmd.RegisterFlagCompletionFunc("upload", cobra.NoFileCompletions))
	cmdutil.CheckErr(cmd.RegisterFlagCompletionFunc("record", cobra.FixedCompletions(config.Modes, cobra.ShellCompDirectiveNoFileComp)))
	cmdutil.CheckErr(cmd.RegisterFlagCompletionFunc("reason", cobra.NoFileCompletions))
	cmdutil.CheckErr(cmd.RegisterFlagCompletionFunc("ticket", cobra.NoFileCompletions))
	cmdutil.CheckErr(cmd.RegisterFlagCompletionFunc("sign-key", completeFiles))
}

// completeFiles leaves a flag's value to the shell's file completion.
func completeFiles(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveDefault
}

// resolve reads the config file, lets the flags that were given override
// it, enforces the policy and loads the signing key. It runs before
// anything is sent to the cluster.
func (p *policyFlags) resolve(cmd *cobra.Command, recordDir string) error {
	l, err := config.Load()
	if err != nil {
		return err
	}
	var fl config.Flags
	changed := func(name string) bool { return cmd.Flags().Changed(name) }
	if changed("record-dir") {
		fl.RecordDir = &recordDir
	}
	if changed("record-input") {
		fl.RecordInput = &p.recordInput
	}
	if changed("record") {
		fl.Mode = &p.mode
	}
	if changed("record-unechoed-input") {
		fl.RecordUnechoedInput = &p.unechoed
	}
	if changed("sign-key") {
		fl.SignKey = &p.signKey
	}
	if changed("reason") {
		fl.Reason = &p.reason
	}
	if changed("ticket") {
		fl.Ticket = &p.ticket
	}
	if changed("upload") {
		fl.Upload = &p.upload
	}
	p.eff = config.Resolve(l, fl, os.Getenv)
	if err := p.eff.Check(); err != nil {
		return err
	}
	if p.eff.SignKey != "" && p.eff.Mode != config.ModeOff {
		if p.signer, err = sign.LoadPrivateKey(p.eff.SignKey); err != nil {
			return fmt.Errorf("%w; the session was not started", err)
		}
	}
	return nil
}

// apply puts the effective settings into the session's configuration.
func (p *policyFlags) apply(cfg *session.Config, quiet bool, errOut io.Writer) {
	cfg.RecordDir = p.eff.RecordDir
	cfg.Mode = session.RecordMode(p.eff.Mode)
	cfg.Reason, cfg.Ticket = p.eff.Reason, p.eff.Ticket
	cfg.OmitInput = !p.eff.RecordInput
	cfg.RecordUnechoedInput = p.eff.RecordUnechoedInput
	if p.signer != nil {
		cfg.Record.Signer = p.signer
	}
	if p.eff.Mode == config.ModeOff && !quiet && errOut != nil {
		fmt.Fprintf(errOut, "warning: this session is NOT recorded (--record=off, allowed by %s)\n", p.eff.ConfigPath)
	}
}
