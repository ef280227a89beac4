package cmd

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/catalog"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/source"
)

type grepOptions struct {
	ignoreCase   bool
	input        bool
	files        bool
	withName     bool
	noName       bool
	output       string
	context      int
	user         string
	pod          string
	namespace    string
	since, until string
	streams      genericiooptions.IOStreams
	now          func() time.Time
}

// errStopFile ends the search of one file early (-l).
var errStopFile = errors.New("stop")

func newGrepCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := &grepOptions{streams: streams, now: time.Now}
	cmd := &cobra.Command{
		Use:   "grep PATTERN [FILE|DIR...]",
		Short: "Search what recorded sessions showed on screen, or what was typed",
		Long: "Search recordings for lines matching PATTERN (a Go regular expression, RE2 syntax). Output is " +
			"searched as the terminal showed it: escape sequences removed, carriage returns and backspaces " +
			"applied, lines joined across writes; while a full-screen program runs (vi, less, top), the rows of its " +
			"screen are searched, each reported when a hit appears in it. With --input, the lines the user typed are " +
			"searched instead (Backspace, ^U, ^W applied). Each match prints FILE:OFFSET:LINE; OFFSET is when the hit " +
			"appeared (rounded up to the millisecond), ready for `replay --from OFFSET FILE`, which shows it on the " +
			"screen. With --context N, N lines around each match print as FILE-OFFSET-LINE, groups apart by --. " +
			"--user, --pod, -n, --since and --until select sessions as `ls` does. Without FILE or DIR the recording " +
			"directory is searched. Exits 1 when nothing matched.",
		Example: `  # Where did "disk full" appear?
  kubectl rexec grep 'disk full' 

  # Who typed rm -rf, case-insensitively, in one recording
  kubectl rexec grep -i --input 'rm +-rf' FILE

  # Then watch it happen
  kubectl rexec replay --from 1m2.5s FILE

  # Three lines around each OOMKilled in bob's sessions of the last week
  kubectl rexec grep -C 3 --user bob --since 7d OOMKilled`,
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
			if o.context < 0 {
				return cmdutil.UsageErrorf(cmd, "--context must not be negative")
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
	f.StringVarP(&o.output, "output", "o", "", "Output format: json (one object per match per line; offset in seconds)")
	f.IntVarP(&o.context, "context", "C", 0, "Print N lines of context before and after each match")
	f.StringVar(&o.user, "user", "", "Only sessions of this user (a shell pattern such as 'dev-*' works)")
	f.StringVar(&o.pod, "pod", "", "Only sessions in this pod (a shell pattern works)")
	f.StringVarP(&o.namespace, "namespace", "n", "", "Only sessions in this namespace (a shell pattern works)")
	f.StringVar(&o.since, "since", "", "Only sessions started since: a duration back from now (2h, 3d), a date (2026-11-27) or an RFC 3339 time")
	f.StringVar(&o.until, "until", "", "Only sessions started before: same forms as --since")
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
	now := o.now()
	since, err := catalog.ParseTime(o.since, now)
	if err != nil {
		return fmt.Errorf("--since: %w", err)
	}
	until, err := catalog.ParseTime(o.until, now)
	if err != nil {
		return fmt.Errorf("--until: %w", err)
	}
	filter := catalog.Filter{User: o.user, Pod: o.pod, Namespace: o.namespace, Since: since, Until: until}
	filtered := filter != (catalog.Filter{})
	var files []string
	if listDefault {
		if files, err = catalog.Files(args); err != nil {
			return err
		}
	}
	files = uniqueFiles(files)
	// Oldest session first, as ls lists them.
	entries := catalog.List(files)
	showName := (len(files) > 1 || len(args) > 1 || isDirArg(args)) && !o.noName || o.withName
	matched, failed := false, 0
	for _, e := range entries {
		if e.Header == nil {
			if (len(files) == 1 || !isDirArg(args)) && !filtered {
				fmt.Fprintf(o.streams.ErrOut, "kubectl-rexec grep: %s: %s\n", safe(e.Path), safe(e.Problem))
				failed++
			}
			continue
		}
		if !filter.Match(&e) {
			continue
		}
		pr := grepPrinter{o: o, showName: showName}
		err := catalog.Grep(e.Path, re, catalog.GrepOptions{Input: o.input, Context: o.context}, func(m catalog.Match) error {
			if !m.Context {
				matched = true
			}
			if o.files {
				if m.Context {
					return nil
				}
				fmt.Fprintln(o.streams.Out, safeFor(o.streams.Out, m.Path))
				return errStopFile
			}
			return pr.print(m)
		})
		if err != nil && !errors.Is(err, errStopFile) {
			fmt.Fprintf(o.streams.ErrOut, "kubectl-rexec grep: %s: %s\n", safe(e.Path), safe(err.Error()))
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

// grepPrinter prints one file's matches: FILE:OFFSET:LINE for a match,
// FILE-OFFSET-LINE for context, -- between groups that are not adjacent,
// as grep does.
type grepPrinter struct {
	o        *grepOptions
	showName bool
	last     catalog.Match
	printed  bool
}

func (p *grepPrinter) print(m catalog.Match) error {
	if p.o.output == "json" {
		return writeJSONLine(p.o.streams.Out, m)
	}
	w := p.o.streams.Out
	if p.o.context > 0 && p.printed && (m.Stream != p.last.Stream || m.Seq == 0 || m.Seq != p.last.Seq+1) {
		fmt.Fprintln(w, "--")
	}
	p.last, p.printed = m, true
	sep := ":"
	if m.Context {
		sep = "-"
	}
	if p.showName {
		fmt.Fprint(w, safe(m.Path), sep)
	}
	_, err := fmt.Fprint(w, catalog.Offset(m.Offset.Duration()), sep, safe(m.Line), "\n")
	return err
}

// uniqueFiles drops a file named twice (a directory and a file in it, a
// symbolic link to one already named), keeping the first.
func uniqueFiles(files []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range files {
		key := f
		if !source.IsRemote(f) {
			if real, err := filepath.EvalSymlinks(f); err == nil {
				key = real
			}
			if abs, err := filepath.Abs(key); err == nil {
				key = abs
			}
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, f)
		}
	}
	return out
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
