package cmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/catalog"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/replay"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/source"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/termsafe"
)

type exportOptions struct {
	format    string
	out       string
	overwrite bool
	streams   genericiooptions.IOStreams
}

func newExportCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := &exportOptions{streams: streams, format: catalog.FormatV2}
	cmd := &cobra.Command{
		Use:   "export FILE",
		Short: "Convert a recording for other players and tools",
		Long: "Convert a recording. Formats: asciicast-v2 (the default; for asciinema 2.x, e.g. Debian's: stderr folded " +
			"into the output, bytes that are not UTF-8 replaced), asciicast-v3 (the recording's own lossless text, " +
			"as zstd -dc gives it, for asciinema 3.x and asciinema-player), txt (the transcript: what the terminal " +
			"showed, line by line, without escape sequences), json (header, trailer and every event) and html (one " +
			"self-contained web page that plays the session in any browser: seek bar with the commands as markers, UTC " +
			"wall-clock time, speed; nothing to install, nothing fetched). The final " +
			"screen alone is `replay --from end FILE`. Everything streams; a progress line goes to stderr for long " +
			"recordings when stderr is a terminal.",
		Example: `  # Play it with Debian's asciinema 2.2
  kubectl rexec export FILE > session.cast && asciinema play session.cast

  # Read the session as text
  kubectl rexec export --format txt FILE | less

  # A page to send to someone who has only a browser
  kubectl rexec export --format html -O session.html FILE`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return cmdutil.UsageErrorf(cmd, "export takes exactly one recording file, got %d arguments", len(args))
			}
			return nil
		},
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch o.format {
			case "v2", "asciicast", "cast":
				o.format = catalog.FormatV2
			case "v3":
				o.format = catalog.FormatV3
			case "text":
				o.format = catalog.FormatText
			}
			ok := false
			for _, f := range catalog.Formats {
				ok = ok || f == o.format
			}
			if !ok {
				return cmdutil.UsageErrorf(cmd, "--format must be one of %s; got %q", strings.Join(catalog.Formats, ", "), o.format)
			}
			return o.run(args[0])
		},
		ValidArgsFunction: completeRecordings(1),
	}
	cmd.Flags().StringVar(&o.format, "format", o.format, "Output format: "+strings.Join(catalog.Formats, ", "))
	cmd.Flags().StringVarP(&o.out, "output-file", "O", "", "Write to this file instead of stdout (a new file, mode 0600; see --overwrite)")
	cmd.Flags().BoolVar(&o.overwrite, "overwrite", false, "Let -O replace an existing file (never the recording being exported)")
	_ = cmd.RegisterFlagCompletionFunc("format", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return catalog.Formats, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

func (o *exportOptions) run(path string) error {
	var w io.Writer = o.streams.Out
	if o.out == "" && !notTerminal(w) {
		// On a terminal, what the recording holds is shown, not acted on:
		// controls are escaped (in JSON's way for the JSON formats).
		tw := &termsafe.Writer{W: w, JSON: o.format != catalog.FormatText}
		defer tw.Close()
		w = tw
	}
	if o.out != "" {
		f, err := o.createOut(path)
		if err != nil {
			return err
		}
		// Written under a temporary name and renamed into place when
		// complete: a failed export never leaves a half file, nor
		// destroys the file --overwrite was to replace.
		defer func() {
			if f != nil {
				f.Close()
				os.Remove(f.Name())
			}
		}()
		w = f
		err = o.export(path, w)
		if err != nil && !errors.Is(err, record.ErrCorrupt) {
			return err
		}
		// A damaged recording is exported up to the damage: keep that.
		if cerr := f.Close(); cerr != nil {
			return cerr
		}
		if rerr := os.Rename(f.Name(), o.out); rerr != nil {
			return rerr
		}
		f = nil
		return err
	}
	return o.export(path, w)
}

// createOut checks that -O names neither the recording nor, without
// --overwrite, any existing file, and creates the temporary file the
// export goes to, next to it.
func (o *exportOptions) createOut(path string) (*os.File, error) {
	fi, err := os.Stat(o.out)
	switch {
	case err == nil && fi.IsDir():
		return nil, fmt.Errorf("-O %s is a directory: name a file", o.out)
	case err == nil && !source.IsRemote(path) && sameFile(path, fi):
		return nil, fmt.Errorf("-O %s is the recording being exported: name another file", o.out)
	case err == nil && !o.overwrite:
		return nil, fmt.Errorf("-O %s exists: add --overwrite to replace it, or name another file", o.out)
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("-O %s: %w", o.out, err)
	}
	f, err := os.CreateTemp(filepath.Dir(o.out), "."+filepath.Base(o.out)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", o.out, err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// sameFile tells whether the file at path is fi (another name for it too).
func sameFile(path string, fi os.FileInfo) bool {
	pi, err := os.Stat(path)
	return err == nil && os.SameFile(pi, fi)
}

func (o *exportOptions) export(path string, w io.Writer) error {
	var opts catalog.ExportOptions
	if f, ok := o.streams.ErrOut.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if total, big := exportTotal(path); big {
			name := safe(filepath.Base(path))
			opts.Progress = func(at time.Duration) {
				pct := 100 * float64(at) / float64(total)
				fmt.Fprintf(f, "\rexporting %s: %3.0f%% (%s of %s)\x1b[K", name, min(pct, 100), catalog.HumanDuration(at), catalog.HumanDuration(total))
			}
			defer fmt.Fprint(f, "\r\x1b[K")
		}
	}
	err := catalog.Export(path, w, o.format, opts)
	if errors.Is(err, record.ErrAbrupt) {
		fmt.Fprintf(o.streams.ErrOut, "warning: %s; everything recorded up to then was exported\n", safe(err.Error()))
		return nil
	}
	if errors.Is(err, record.ErrCorrupt) {
		return fmt.Errorf("%w; the recording was altered or damaged: what was exported is not what was recorded, do not rely on it (kubectl rexec verify %s)", err, path)
	}
	return err
}

// exportTotal is the recording's duration, and whether it is large enough
// (over 8 MiB) to show progress.
func exportTotal(path string) (time.Duration, bool) {
	fi, err := source.StatFile(path)
	if err != nil || fi.Size < 8<<20 {
		return 0, false
	}
	r, err := source.Open(path)
	if err != nil {
		return 0, false
	}
	defer r.Close()
	d := replay.Duration(r.Index())
	return d, d > 0
}
