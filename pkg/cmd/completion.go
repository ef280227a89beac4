package cmd

import (
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/completion"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/session"
)

// Shell completion. Cobra answers `kubectl-rexec __complete ARGS...`; the
// kubectl_complete-rexec helper on PATH (kubectl >= 1.26) forwards
// `kubectl rexec <TAB>` to it, and `kubectl-rexec completion SHELL` prints a
// script for the binary itself. What completes:
//
//	kubectl rexec <TAB>            pods, TYPE/ (deployments/, jobs/, ...), subcommands
//	kubectl rexec deploy/<TAB>     TYPE/NAME
//	kubectl rexec POD -c <TAB>     the pod's containers
//	-n/--namespace, --context, --cluster, --user   from the cluster / kubeconfig
//	--kubeconfig, --certificate-authority, --client-*, -f   files; --record-dir, --cache-dir   directories
//	replay <TAB> (and info, verify)                *.cast.zst recordings
//	every other flag value of exec, replay, version   nothing (no stray file names)

// recordingSuffix ends every recording's file name.
const recordingSuffix = ".cast.zst"

// localDirFlags take a directory on this machine.
var localDirFlags = []string{"cache-dir", "record-dir"}

// registerCompletions wires completion for the root (exec) command's flags:
// kubectl's completions for -n/--namespace, --context, --cluster and --user,
// directories for --record-dir and --cache-dir, files for --kubeconfig and
// the certificate flags (cobra's default), and nothing for the other value
// flags (see completeNothingElse). Call it once the tree is complete.
func registerCompletions(root *cobra.Command, f cmdutil.Factory) {
	// kubectl's helpers for --context, --cluster and --user read the
	// kubeconfig through this package-level factory.
	completion.SetFactoryForCompletion(f)
	registerKubeconfigCompletions(root, f)
	completeNothingElse(root)
}

// registerKubeconfigCompletions completes the kubeconfig flags that cmd got
// from genericclioptions.ConfigFlags.AddFlags, with the factory built on
// those flags: what kubectl registers for its global flags
// (k8s.io/kubectl/pkg/cmd.registerCompletionFuncForGlobalFlags). Only for a
// command whose -n/--user are kubectl's, not filters of its own.
func registerKubeconfigCompletions(cmd *cobra.Command, f cmdutil.Factory) {
	register(cmd, "namespace", func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return completion.CompGetResource(f, "namespace", toComplete), cobra.ShellCompDirectiveNoFileComp
	})
	register(cmd, "context", func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return completion.ListContextsInConfig(toComplete), cobra.ShellCompDirectiveNoFileComp
	})
	register(cmd, "cluster", func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return completion.ListClustersInConfig(toComplete), cobra.ShellCompDirectiveNoFileComp
	})
	register(cmd, "user", func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return completion.ListUsersInConfig(toComplete), cobra.ShellCompDirectiveNoFileComp
	})
	for _, name := range localDirFlags {
		fl := cmd.LocalFlags().Lookup(name)
		if fl == nil || fl.Annotations[cobra.BashCompSubdirsInDir] != nil {
			continue
		}
		if _, ok := cmd.GetFlagCompletionFunc(name); !ok {
			cmdutil.CheckErr(cmd.MarkFlagDirname(name))
		}
	}
}

// localFileFlags take a path on this machine: left to the shell's file
// completion.
var localFileFlags = map[string]bool{"kubeconfig": true, "certificate-authority": true, "client-certificate": true, "client-key": true}

// completeNothingElse makes every value flag of cmd that has no completion
// yet (and no file/directory annotation) complete nothing, rather than the
// shell's default of local file names, which are never the answer for a
// duration, a token or a server URL. Boolean flags take no value and are
// left alone.
func completeNothingElse(cmd *cobra.Command) {
	cmd.LocalFlags().VisitAll(func(fl *pflag.Flag) {
		if fl.NoOptDefVal != "" || localFileFlags[fl.Name] || len(fl.Annotations[cobra.BashCompFilenameExt]) > 0 || fl.Annotations[cobra.BashCompSubdirsInDir] != nil {
			return
		}
		register(cmd, fl.Name, cobra.NoFileCompletions)
	})
}

// register adds a completion function for a flag cmd defines (not one it
// inherits) when nothing completes it yet.
func register(cmd *cobra.Command, name string, fn cobra.CompletionFunc) {
	if cmd.LocalFlags().Lookup(name) == nil {
		return
	}
	if _, ok := cmd.GetFlagCompletionFunc(name); ok {
		return
	}
	cmdutil.CheckErr(cmd.RegisterFlagCompletionFunc(name, fn))
}

// completeRecordings completes recording files for the first max arguments
// (every argument when max <= 0): what matches in the directory being typed
// (the current one by default), its subdirectories to descend into, and,
// while the word is empty or a prefix of their path, the recordings in the
// recording directory by absolute path. For replay, info, verify.
func completeRecordings(max int) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if max > 0 && len(args) >= max {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		recDir, _, err := session.RecordDir("")
		if err != nil {
			recDir = ""
		}
		comps, dirs := recordingCompletions(toComplete, recDir)
		directive := cobra.ShellCompDirectiveNoFileComp
		if dirs {
			// Let the user go on typing inside a directory.
			directive |= cobra.ShellCompDirectiveNoSpace
		}
		return comps, directive
	}
}

// recordingCompletions lists the completions of toComplete as a recording
// path, and whether any of them is a directory (ending in a separator).
func recordingCompletions(toComplete, recDir string) ([]cobra.Completion, bool) {
	seen := map[string]bool{}
	var comps []cobra.Completion
	hasDir := false

	// The directory part as typed, kept verbatim in the completions so they
	// extend the word; "~/" is read as the home directory.
	typedDir, prefix := "", toComplete
	if i := strings.LastIndexAny(toComplete, pathSeparators); i >= 0 {
		typedDir, prefix = toComplete[:i+1], toComplete[i+1:]
	}
	readDir := typedDir
	if readDir == "" {
		readDir = "."
	} else if rest, ok := strings.CutPrefix(readDir, "~"); ok && (rest == "" || strings.ContainsAny(rest[:1], pathSeparators)) {
		if home, err := os.UserHomeDir(); err == nil {
			readDir = home + rest
		}
	}
	if entries, err := os.ReadDir(readDir); err == nil {
		for _, e := range entries {
			name := e.Name()
			if !strings.HasPrefix(name, prefix) || (strings.HasPrefix(name, ".") && !strings.HasPrefix(prefix, ".")) {
				continue
			}
			full := filepath.Join(readDir, name)
			if isDir(full) {
				comps = append(comps, typedDir+name+string(filepath.Separator))
				hasDir = true
			} else if strings.HasSuffix(name, recordingSuffix) {
				comps = append(comps, typedDir+name)
			}
			if abs, err := filepath.Abs(full); err == nil {
				seen[abs] = true
			}
		}
	}

	// The recording directory, by absolute path, when the word could still
	// become one of them.
	if recDir != "" {
		if abs, err := filepath.Abs(recDir); err == nil {
			recDir = abs
		}
		if entries, err := os.ReadDir(recDir); err == nil {
			for _, e := range entries {
				full := filepath.Join(recDir, e.Name())
				if e.IsDir() || !strings.HasSuffix(e.Name(), recordingSuffix) || seen[full] || !strings.HasPrefix(full, toComplete) {
					continue
				}
				comps = append(comps, full)
			}
		}
	}
	sort.Strings(comps)
	return comps, hasDir
}

// pathSeparators are the characters that end a directory in a typed path.
var pathSeparators = func() string {
	if filepath.Separator == '/' {
		return "/"
	}
	return "/" + string(filepath.Separator)
}()

func isDir(path string) bool {
	fi, err := os.Stat(path) // follows symlinks, so a linked directory counts
	return err == nil && fi.IsDir()
}
