package cmd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/catalog"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/session"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/termsafe"
)

type lsOptions struct {
	output       string
	user         string
	pod          string
	namespace    string
	since, until string
	noHeaders    bool
	streams      genericiooptions.IOStreams
	now          func() time.Time
}

func newLsCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := &lsOptions{streams: streams, now: time.Now}
	cmd := &cobra.Command{
		Use:     "ls [DIR|FILE...]",
		Aliases: []string{"list"},
		Short:   "List recorded sessions",
		Long: "List recordings, oldest first: when, who, where, what, how long, how it ended and whether the file is " +
			"complete. Only each file's header and trailer are read. DIR defaults to the recording directory " +
			"($" + session.EnvRecordDir + ", else ${XDG_STATE_HOME:-~/.local/state}/kubectl-rexec/recordings).",
		Example: `  # Every recording in the recording directory
  kubectl rexec ls

  # Sessions by alice in pods web-* of the last two days, with file paths
  kubectl rexec ls --user alice --pod 'web-*' --since 2d -o wide

  # Play the latest session in namespace prod
  kubectl rexec replay "$(kubectl rexec ls -n prod -o name | tail -1)"`,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch o.output {
			case "", "wide", "json", "yaml", "name":
			default:
				return cmdutil.UsageErrorf(cmd, "--output must be one of wide, json, yaml, name; got %q", o.output)
			}
			return o.run(args)
		},
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return nil, cobra.ShellCompDirectiveFilterDirs
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "", "Output format: wide, json, yaml or name (the file paths)")
	f.StringVar(&o.user, "user", "", "Only sessions of this user (a shell pattern such as 'dev-*' works)")
	f.StringVar(&o.pod, "pod", "", "Only sessions in this pod (a shell pattern works)")
	f.StringVarP(&o.namespace, "namespace", "n", "", "Only sessions in this namespace (a shell pattern works)")
	f.StringVar(&o.since, "since", "", "Only sessions started since: a duration back from now (2h, 3d), a date (2026-11-27) or an RFC 3339 time")
	f.StringVar(&o.until, "until", "", "Only sessions started before: same forms as --since")
	f.BoolVar(&o.noHeaders, "no-headers", false, "Do not print the column headers")
	return cmd
}

func (o *lsOptions) run(args []string) error {
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
	var files []string
	if listDefault {
		if files, err = catalog.Files(args); err != nil {
			return err
		}
	}
	filter := catalog.Filter{User: o.user, Pod: o.pod, Namespace: o.namespace, Since: since, Until: until}
	var entries []catalog.Entry
	for _, e := range catalog.List(files) {
		if filter.Match(&e) {
			entries = append(entries, e)
		}
	}
	switch o.output {
	case "json":
		return writeJSON(o.streams.Out, listOf(entries))
	case "yaml":
		return writeYAML(o.streams.Out, listOf(entries))
	case "name":
		for _, e := range entries {
			fmt.Fprintln(o.streams.Out, safeFor(o.streams.Out, e.Path))
		}
		return nil
	}
	if len(entries) == 0 {
		fmt.Fprintf(o.streams.ErrOut, "No recordings found in %s.\n", safe(strings.Join(args, ", ")))
		return nil
	}
	return printTable(o.streams.Out, entries, o.output == "wide", o.noHeaders)
}

// defaultRecordDir is the recording directory, for a command given no DIR
// or FILE, and whether it exists: before the first session it does not,
// which means no recordings, not an error.
func defaultRecordDir() (string, bool, error) {
	dir, _, err := session.RecordDir("")
	if err != nil {
		return "", false, err
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return dir, false, nil
	}
	return dir, true, nil
}

// recordingList is what -o json and -o yaml print: kubectl's List shape.
type recordingList struct {
	Kind  string          `json:"kind"`
	Items []catalog.Entry `json:"items"`
}

func listOf(es []catalog.Entry) recordingList {
	if es == nil {
		es = []catalog.Entry{}
	}
	return recordingList{Kind: "RecordingList", Items: es}
}

// writeJSON prints v indented. Text such as command lines is written as
// it is, not HTML-escaped (< as \u003c): this JSON goes to people and
// scripts, not into web pages. The controls that encoding/json leaves raw
// (C1, DEL) are escaped (termsafe.JSON).
func writeJSON(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "    ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(termsafe.JSON(b.Bytes()))
	return err
}

// writeYAML prints v as YAML, controls escaped: the YAML library refuses a
// raw C1 control, so a hostile recording would make it fail.
func writeYAML(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if b, err = yaml.JSONToYAML(termsafe.JSON(b)); err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func printTable(out io.Writer, entries []catalog.Entry, wide, noHeaders bool) error {
	tw := printers.GetNewTabWriter(out)
	cols := []string{"STARTED", "USER", "CONTEXT", "NAMESPACE/POD/CONTAINER", "COMMAND", "DURATION", "EXIT", "SIZE", "STATE"}
	if wide {
		cols = append(cols, "NODE", "CLIENT", "SESSION", "FILE", "PROBLEM")
	}
	if !noHeaders {
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
	}
	for _, e := range entries {
		row := entryRow(&e, wide)
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

func entryRow(e *catalog.Entry, wide bool) []string {
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return tabless(s)
	}
	where, started, dur := "-", e.Start.Local().Format("2006-01-02 15:04:05 MST"), "-"
	if e.Header != nil {
		where = dash(e.Namespace()) + "/" + dash(e.Pod()) + "/" + dash(e.Container())
		dur = catalog.HumanDuration(e.Duration.Duration())
	}
	if e.Header == nil || e.Header.Rexec == nil {
		where = "-"
	}
	command := dash(e.Command())
	if !wide {
		command = ellipsis(command, 32)
	}
	exit := "-"
	if e.ExitCode != nil {
		exit = strconv.Itoa(*e.ExitCode)
	}
	row := []string{started, dash(e.User()), dash(e.Context()), where, command, dur, exit, catalog.HumanSize(e.Size), string(e.State)}
	if wide {
		node, client, id := "-", "-", "-"
		if e.Header != nil && e.Header.Rexec != nil {
			m := e.Header.Rexec
			node = dash(m.Node)
			if m.ClientUser != "" || m.ClientHost != "" {
				client = tabless(m.ClientUser + "@" + m.ClientHost)
			}
			id = dash(m.SessionID)
		}
		row = append(row, node, client, id, tabless(e.Path), dash(e.Problem))
	}
	return row
}

// tabless keeps a value on one table cell, safe for a terminal: tabs,
// newlines and every other control are escaped (termsafe.String).
func tabless(s string) string { return safe(s) }

func ellipsis(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func writeJSONCompact(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(termsafe.JSON(b.Bytes()))
	return err
}
