package cmd

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/catalog"
)

type grepOptions struct {
	ignoreCase bool
	input      bool
	files      bool
	withName   bool
	noName     bool
	output     string
	streams    genericiooptions.IOStreams
}

// errStopFile ends the search of one file early (-l).
var errStopFile = errors.New("stop")

func newGrepCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := &grepOptions{streams: streams}
	cmd := &cobra.Command{
		Use:   "grep PATTERN [FILE|DIR...]",
		Short: "Search what recorded sessions showed on screen, or what was typed",
		Long: "Search recordings for lines matching PATTERN (a Go regular expression, RE2 syntax). Output is " +
			"searched as the terminal showed it: escape sequences removed, carriage returns and backspaces " +
			"applied, lines joined across writes. With --input, the lines the user typed are searched instead " +
			"(Backspace, ^U, ^W applied). Each match prints FILE:OFFSET:LINE; OFFSET is when the line began, " +
			"ready for `replay --from OFFSET FILE`. Without FILE or DIR the recording directory is searched. " +
			"Exits 1 when nothing matched.",
		Example: `  # Where did "disk full" appear?
  kubectl rexec grep 'disk full' 

  # Who typed rm -rf, case-insensitively, in one recording
  kubectl rexec grep -i --input 'rm +-rf' FILE

  # Then watch it happen
  kubectl rexec replay --from 1m2.5s FILE`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 {
				return cmdutil.UsageErrorf(cmd, "grep takes a PATTERN and optional files or directories")
			}
			return nil
		},
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch o.output {
			case "", "json":
			default:
				return cmdutil.UsageErrorf(cmd, "--output must be json; got %q", o.output)
			}
			return o.run(args[0], args[1:])
		},
		ValidArgsFunction: func(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return completeRecordings(0)(nil, args, toComplete)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.ignoreCase, "ignore-case", "i", false, "Match case-insensitively")
	f.BoolVar(&o.input, "input", false, "Search what the user typed instead of the output")
	f.BoolVarP(&o.files, "files-with-matches", "l", false, "Print only the names of recordings with a match")
	f.BoolVarP(&o.withName, "with-filename", "H", false, "Print the file name for each match (the default with several files)")
	f.BoolVar(&o.noName, "no-filename", false, "Never print file names")
	f.StringVarP(&o.output, "output", "o", "", "Output format: json (one object per match per line)")
	return cmd
}

func (o *grepOptions) run(pattern string, args []string) error {
	if o.ignoreCase {
		pattern = "(?i)" + pattern
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return fmt.Errorf("bad PATTERN: %w", err)
	}
	listDefault := true
	if len(args) == 0 {
		dir, exists, err := defaultRecordDir()
		if err != nil {
			return err
		}
		args, listDefault = []string{dir}, exists
	}
	var files []string
	if listDefault {
		if files, err = catalog.Files(args); err != nil {
			return err
		}
	}
	// Oldest session first, as ls lists them.
	entries := catalog.List(files)
	showName := (len(files) > 1 || len(args) > 1 || isDirArg(args)) && !o.noName || o.withName
	matched, failed := false, 0
	for _, e := range entries {
		if e.Header == nil {
			if len(files) == 1 || !isDirArg(args) {
				fmt.Fprintf(o.streams.ErrOut, "kubectl-rexec grep: %s: %s\n", e.Path, e.Problem)
				failed++
			}
			continue
		}
		err := catalog.Grep(e.Path, re, catalog.GrepOptions{Input: o.input}, func(m catalog.Match) error {
			matched = true
			switch {
			case o.files:
				fmt.Fprintln(o.streams.Out, m.Path)
				return errStopFile
			case o.output == "json":
				return writeJSONLine(o.streams.Out, m)
			case showName:
				fmt.Fprintf(o.streams.Out, "%s:%s:%s\n", m.Path, m.Offset, m.Line)
			default:
				fmt.Fprintf(o.streams.Out, "%s:%s\n", m.Offset, m.Line)
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopFile) {
			fmt.Fprintf(o.streams.ErrOut, "kubectl-rexec grep: %s: %v\n", e.Path, err)
			failed++
		}
	}
	switch {
	case matched:
		return nil
	case failed > 0:
		return fmt.Errorf("no match; %d file(s) could not be searched fully", failed)
	}
	return cmdutil.ErrExit
}

func isDirArg(args []string) bool {
	for _, a := range args {
		if isDir(a) {
			return true
		}
	}
	return false
}

func writeJSONLine(w interface{ Write([]byte) (int, error) }, v any) error {
	return writeJSONCompact(w, v)
}
