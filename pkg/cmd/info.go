package cmd

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/catalog"
)

type infoOptions struct {
	output  string
	streams genericiooptions.IOStreams
}

func newInfoCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := &infoOptions{streams: streams}
	cmd := &cobra.Command{
		Use:   "info FILE",
		Short: "Describe a recording: who, where, what, how it ended, counts",
		Long: "Describe a recording: its header (who ran what in which pod, from where), how the session ended " +
			"(reason, exit code, message), its duration and the events and bytes of each stream. The file is read " +
			"to its end, so a damaged frame is reported.",
		Example: `  kubectl rexec info 20261127T061500Z_prod_default_web_1a2b3c4d.cast.zst
  kubectl rexec info -o json FILE | jq .header.rexec.user`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return cmdutil.UsageErrorf(cmd, "info takes exactly one recording file, got %d arguments", len(args))
			}
			return nil
		},
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch o.output {
			case "", "json", "yaml":
			default:
				return cmdutil.UsageErrorf(cmd, "--output must be json or yaml; got %q", o.output)
			}
			return o.run(args[0])
		},
		ValidArgsFunction: completeRecordings(1),
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "Output format: json or yaml (default: text)")
	return cmd
}

func (o *infoOptions) run(path string) error {
	info, err := catalog.Inspect(path)
	if info.Header == nil {
		if err == nil {
			err = fmt.Errorf("%s: %s", safe(path), safe(info.Problem))
		}
		return err
	}
	switch o.output {
	case "json":
		return writeJSON(o.streams.Out, info)
	case "yaml":
		return writeYAML(o.streams.Out, info)
	}
	return printInfo(o.streams.Out, &info)
}

func printInfo(out io.Writer, info *catalog.Info) error {
	w := printers.GetNewTabWriter(out)
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%s:\t%s\n", k, tabless(v))
		}
	}
	line("File", info.Path)
	line("Size", fmt.Sprintf("%s (%d bytes), %d frames", catalog.HumanSize(info.Size), info.Size, info.Frames))
	state := string(info.State)
	if info.Problem != "" {
		state += ": " + info.Problem
	}
	line("State", state)
	h := info.Header
	line("Started", info.Start.Local().Format(time.RFC3339))
	if m := h.Rexec; m != nil {
		user := m.User.Username
		if len(m.User.Groups) > 0 {
			user += " (groups " + strings.Join(m.User.Groups, ", ") + ")"
		}
		if m.User.Error != "" {
			user += " (" + m.User.Error + ")"
		}
		line("User", user)
		line("Session", m.SessionID)
		line("Audit ID", m.AuditID)
		line("Context", m.Context)
		line("Cluster", m.Cluster)
		line("Server", m.Server)
		line("Namespace", m.Namespace)
		line("Pod", m.Pod)
		line("Pod UID", m.PodUID)
		line("Container", m.Container)
		line("Node", m.Node)
		line("Image", m.Image)
		line("Command", quoteArgv(m.Argv))
		line("TTY", fmt.Sprintf("%t, stdin %t", m.TTY, m.Stdin))
		line("Protocol", m.Protocol)
		if m.Gateway != "" {
			// Recorded on the server side: the user is the API server's
			// word, the client is known by address only.
			line("Recorded by", "rexec gateway "+m.Gateway+" "+m.Version)
			line("Client", m.ClientHost)
			line("Client audit ID", m.ClientAuditID)
		} else {
			line("Client", m.ClientUser+"@"+m.ClientHost+", kubectl-rexec "+m.Version)
		}
		if m.Via != "" {
			line("Via", "the rexec gateway (which keeps its own, signed recording)")
		}
		if len(m.Reason) > 0 || len(m.Ticket) > 0 {
			line("Reason", m.Reason)
			line("Ticket", m.Ticket)
		}
		if len(m.ClientArgv) > 0 {
			line("Client command", quoteArgv(m.ClientArgv))
		}
	} else {
		line("Command", h.Command)
	}
	line("Terminal", fmt.Sprintf("%dx%d %s", h.Term.Cols, h.Term.Rows, h.Term.Type))
	if t := info.Trailer; t != nil {
		line("Ended", t.End.Local().Format(time.RFC3339))
		end := t.Reason
		if t.ExitCode != nil {
			end += ", exit code " + strconv.Itoa(*t.ExitCode)
		} else {
			end += ", exit code unknown"
		}
		line("End", end)
		line("Message", t.Message)
	} else {
		end := "no end record (" + string(info.State) + ")"
		if info.ExitCode != nil {
			end += ", exit code " + strconv.Itoa(*info.ExitCode)
		}
		line("End", end)
	}
	dur := catalog.HumanDuration(info.Duration.Duration())
	if exact := info.Duration.Duration().String(); exact != dur {
		dur += " (" + exact + ")"
	}
	line("Duration", dur)
	var codes []string
	var total int64
	for c, n := range info.Events {
		codes = append(codes, fmt.Sprintf("%s %d", c, n))
		total += n
	}
	sort.Strings(codes)
	line("Events", fmt.Sprintf("%d (%s)", total, strings.Join(codes, ", ")))
	line("Bytes", fmt.Sprintf("stdout %d, stderr %d, stdin %d", info.Bytes.O, info.Bytes.E, info.Bytes.I))
	if len(info.Markers) > 0 {
		line("Markers", strconv.Itoa(len(info.Markers)))
	}
	if info.Read != "" && info.Read != info.Problem {
		line("Reading", info.Read)
	}
	return w.Flush()
}

func quoteArgv(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`|&;<>()*?[]{}~#!") {
			a = strconv.Quote(a)
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}
