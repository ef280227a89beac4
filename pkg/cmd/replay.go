package cmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/catalog"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/replay"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/source"
)

const (
	minSpeed = 0.25
	maxSpeed = 64.0
)

type replayOptions struct {
	speed     float64
	idle      time.Duration
	noWait    bool
	quiet     bool
	from, to  string
	follow    bool
	raw       bool
	safe      bool
	showInput bool
	commands  bool
	jump      int
	keys      bool
	noStatus  bool
	streams   genericiooptions.IOStreams

	fromAt, toAt time.Duration
	// The recorded terminal's initial size, from the header.
	headerCols, headerRows int
}

func newReplayCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := &replayOptions{speed: 1, streams: streams, keys: true}
	cmd := &cobra.Command{
		Use:   "replay FILE",
		Short: "Play a recorded session back with its original timing",
		Long: "Play a recorded session back with its original timing. Starting at --from redraws the screen as it " +
			"was at that moment (through a terminal emulator in memory) when the output is a terminal. What the " +
			"recording sends to the terminal is filtered by default: sequences that act outside the screen " +
			"(clipboard writes, queries the terminal would answer on stdin, mouse reporting) are dropped on a " +
			"terminal unless --raw; into a file or pipe the exact bytes are written unless --safe. Stdin is not shown (the terminal's echo is in the output) unless --show-input.",
		Example: `  # Play a session in real time
  kubectl rexec replay 20261127T061500Z_prod_default_web_1a2b3c4d.cast.zst

  # Twice as fast, pauses capped at 2s
  kubectl rexec replay --speed 2 --idle-time-limit 2s FILE

  # The two minutes from 1h2m on, where grep found something
  kubectl rexec replay --from 1h2m --to 1h4m FILE

  # The screen as the session left it
  kubectl rexec replay --from end FILE

  # Watch a session that is still going on
  kubectl rexec replay --follow FILE

  # Dump the output at once (for grep, less -R, ...)
  kubectl rexec replay --no-wait FILE`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return cmdutil.UsageErrorf(cmd, "replay takes exactly one recording file, got %d arguments", len(args))
			}
			return nil
		},
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.speed < minSpeed || o.speed > maxSpeed {
				return cmdutil.UsageErrorf(cmd, "--speed must be between %g and %g, got %g", minSpeed, maxSpeed, o.speed)
			}
			if o.idle < 0 {
				return cmdutil.UsageErrorf(cmd, "--idle-time-limit must not be negative")
			}
			var err error
			if o.fromAt, err = parseOffset(o.from, 0); err != nil {
				return cmdutil.UsageErrorf(cmd, "--from: %v", err)
			}
			if o.toAt, err = parseOffset(o.to, 0); err != nil {
				return cmdutil.UsageErrorf(cmd, "--to: %v", err)
			}
			if o.toAt == replay.End {
				o.toAt = 0 // to the end: no limit
			}
			if o.jump < 0 || (o.jump > 0 && o.from != "") {
				return cmdutil.UsageErrorf(cmd, "--jump takes a command number from 1 and does not go with --from")
			}
			if o.toAt > 0 && o.fromAt != replay.End && o.toAt < o.fromAt {
				return cmdutil.UsageErrorf(cmd, "--to %s is before --from %s", o.to, o.from)
			}
			return o.run(args[0])
		},
		ValidArgsFunction: completeRecordings(1),
	}
	cmd.Flags().Float64Var(&o.speed, "speed", o.speed, fmt.Sprintf("Playback speed factor (%g to %g)", minSpeed, maxSpeed))
	cmd.Flags().DurationVar(&o.idle, "idle-time-limit", 0, "Cap every pause at this duration (e.g. 2s); 0 keeps the original pauses")
	cmd.Flags().BoolVar(&o.noWait, "no-wait", false, "Write the whole session at once, without its timing")
	cmd.Flags().BoolVarP(&o.quiet, "quiet", "q", false, "Print only the session's output, no closing notes")
	cmd.Flags().StringVar(&o.from, "from", "", "Start at this session time: a duration (90s, 1h2m, 1m2.5s), seconds (90), h:mm:ss, or end")
	cmd.Flags().StringVar(&o.to, "to", "", "Stop at this session time (same forms as --from)")
	cmd.Flags().BoolVarP(&o.follow, "follow", "f", false, "Follow a recording that is still being written: show it as it is now, then live, until the session ends (with --from: catch up from there)")
	cmd.Flags().BoolVar(&o.safe, "safe", false, "Filter sequences that act outside the screen even when output is not a terminal (it is filtered on a terminal by default)")
	cmd.Flags().BoolVar(&o.raw, "raw", false, "Write the recorded bytes unfiltered, including sequences that act outside the screen (clipboard, terminal queries)")
	cmd.Flags().BoolVar(&o.showInput, "show-input", false, "Overlay what was typed (stdin) at the top right of the screen")
	cmd.Flags().BoolVar(&o.commands, "commands", false, "List the session's commands (its markers) with their time offsets, and exit")
	cmd.Flags().IntVar(&o.jump, "jump", 0, "Start at command N (as numbered by --commands)")
	cmd.Flags().BoolVar(&o.keys, "keys", o.keys, "Take keys when stdin and stdout are a terminal: space pause, . step, arrows seek 5s (Shift: 1m), ] [ next/previous command, + - speed, s status bar, q quit")
	cmd.Flags().BoolVar(&o.noStatus, "no-status", false, "Start with the status bar hidden (s shows it)")
	completeNothingElse(cmd)
	return cmd
}

// parseOffset reads a session time: "end", a Go duration ("90s", "1h2m"),
// a number of seconds ("90", "2.5"), or h:mm:ss / m:ss ("1:02:03", "2:03").
func parseOffset(s string, dflt time.Duration) (time.Duration, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return dflt, nil
	case strings.EqualFold(s, "end"):
		return replay.End, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 {
		return time.Duration(f * float64(time.Second)), nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return 0, fmt.Errorf("%q is negative", s)
		}
		return d, nil
	}
	if parts := strings.Split(s, ":"); len(parts) >= 2 && len(parts) <= 3 {
		if d, err := hmsToDuration(parts); err == nil {
			return d, nil
		}
	}
	return 0, fmt.Errorf("%q is not a session time: use a duration (90s, 1h2m), seconds, h:mm:ss, or end", s)
}

// hmsToDuration reads h:mm:ss or m:ss (seconds may have decimals).
func hmsToDuration(parts []string) (time.Duration, error) {
	var total float64
	for i, p := range parts {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f < 0 || (i > 0 && f >= 60) || (i < len(parts)-1 && f != float64(int(f))) {
			return 0, fmt.Errorf("bad h:mm:ss")
		}
		total = total*60 + f
	}
	return time.Duration(total * float64(time.Second)), nil
}

// terminalSize returns the size of the terminal f is, if it is one.
func terminalSize(w any) (cols, rows int, ok bool) {
	f, isFile := w.(*os.File)
	if !isFile || !term.IsTerminal(int(f.Fd())) {
		return 0, 0, false
	}
	c, r, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0, 0, true
	}
	return c, r, true
}

func (o *replayOptions) run(path string) error {
	if o.commands {
		marks, checked, err := catalog.Commands(path)
		if err != nil {
			return err
		}
		if err := printCommands(o.streams.Out, marks); err != nil {
			return err
		}
		if !checked && len(marks) > 0 {
			fmt.Fprintln(o.streams.ErrOut, "note: listed from the index at the end of the recording, which is not checked against its events; `kubectl rexec verify` checks them")
		}
		return nil
	}
	if o.jump > 0 {
		// The index's markers are enough to find where to start: what is
		// played from there is read from the frames, and checked.
		marks, err := catalog.Markers(path)
		if err != nil {
			return err
		}
		if o.jump > len(marks) {
			return fmt.Errorf("%s has %d commands; there is no command %d (see --commands)", path, len(marks), o.jump)
		}
		o.fromAt = marks[o.jump-1].Time.Duration()
		if o.toAt > 0 && o.toAt < o.fromAt {
			return fmt.Errorf("--to %s is before command %d at %s", o.to, o.jump, catalog.Offset(o.fromAt))
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	vcols, vrows, isTerm := terminalSize(o.streams.Out)
	opts := replay.Options{
		Speed: o.speed, IdleTimeLimit: o.idle, NoWait: o.noWait,
		Out: o.streams.Out, ErrOut: o.streams.ErrOut,
		// Filtering protects a viewer's terminal; output going to a file or a
		// pipe gets the session's exact bytes unless --safe asks otherwise.
		From: o.fromAt, To: o.toAt, Raw: o.raw || (!isTerm && !o.safe), ShowInput: o.showInput, Terminal: isTerm,
	}
	var (
		res replay.Result
		err error
	)
	if o.follow && source.IsRemote(path) {
		return fmt.Errorf("--follow plays a recording that this machine is writing; %s is in object storage: replay it without --follow", path)
	}
	if o.follow {
		if o.from == "" {
			opts.From = replay.End
		}
		if h, herr := peekHeader(path); herr == nil {
			o.sizeNote(h, vcols, vrows, isTerm)
		}
		res, err = replay.Follow(ctx, path, opts, replay.FollowOptions{})
	} else {
		var r *record.Reader
		r, err = source.Open(path)
		if err != nil {
			return err
		}
		defer r.Close()
		o.sizeNote(r.Header(), vcols, vrows, isTerm)
		if in, ok := o.streams.In.(*os.File); ok && isTerm && o.keys && !o.noWait && term.IsTerminal(int(in.Fd())) {
			res, err = o.interactive(ctx, path, r, in, opts)
		} else {
			res, err = replay.Play(ctx, r, opts)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil // the viewer stopped it
		}
		return fmt.Errorf("replay %s: %w", path, err)
	}
	if o.quiet {
		return nil
	}
	if res.Abrupt != nil && !o.follow {
		fmt.Fprintf(o.streams.ErrOut, "\nwarning: %v; everything recorded up to then was played\n", res.Abrupt)
	}
	grew := res.MaxCols > o.headerCols || res.MaxRows > o.headerRows
	if isTerm && grew && (res.MaxCols > vcols || res.MaxRows > vrows) && vcols > 0 {
		fmt.Fprintf(o.streams.ErrOut, "\nnote: the session's terminal grew to %dx%d during playback; this one is %dx%d, so some lines may have wrapped\n", res.MaxCols, res.MaxRows, vcols, vrows)
	}
	if o.follow && res.Trailer != nil {
		fmt.Fprintf(o.streams.ErrOut, "\nThe session ended (%s) after %s.\n", res.Trailer.Reason, catalog.HumanDuration(res.Trailer.Duration.Duration()))
	}
	return nil
}

// interactive plays under the viewer's keys.
func (o *replayOptions) interactive(ctx context.Context, path string, r *record.Reader, in *os.File, opts replay.Options) (replay.Result, error) {
	restore, err := replay.KeyMode(int(in.Fd()))
	if err != nil {
		return replay.Play(ctx, r, opts)
	}
	defer restore()
	// The commands load in the background: a long recording starts at once.
	var (
		mu    sync.Mutex
		marks []time.Duration
	)
	go func() {
		ms, _ := catalog.Markers(path)
		ts := make([]time.Duration, len(ms))
		for i, m := range ms {
			ts[i] = m.Time.Duration()
		}
		mu.Lock()
		marks = ts
		mu.Unlock()
	}()
	return replay.Interactive(ctx, r, opts, replay.InteractiveOptions{
		Keys: replay.ReadKeys(in),
		Size: func() (int, int) {
			c, r, _ := terminalSize(o.streams.Out)
			return c, r
		},
		Markers: func() []time.Duration {
			mu.Lock()
			defer mu.Unlock()
			return marks
		},
		Total:      replay.Duration(r.Index()),
		HideStatus: o.noStatus,
	})
}

// sizeNote tells the viewer when the recorded terminal is larger than
// theirs, before playing.
func (o *replayOptions) sizeNote(h record.Header, vcols, vrows int, isTerm bool) {
	o.headerCols, o.headerRows = h.Term.Cols, h.Term.Rows
	if o.quiet || !isTerm || vcols <= 0 {
		return
	}
	if h.Term.Cols > vcols || h.Term.Rows > vrows {
		fmt.Fprintf(o.streams.ErrOut, "note: the session's terminal was %dx%d, this one is %dx%d; enlarge it or lines will wrap\n", h.Term.Cols, h.Term.Rows, vcols, vrows)
	}
}

func peekHeader(path string) (record.Header, error) {
	r, err := source.Open(path)
	if err != nil {
		return record.Header{}, err
	}
	defer r.Close()
	return r.Header(), nil
}

// printCommands lists the markers: number, offset for --from, label.
func printCommands(out io.Writer, marks []catalog.Marker) error {
	if len(marks) == 0 {
		fmt.Fprintln(out, "No commands marked in this recording (markers are written for interactive TTY sessions).")
		return nil
	}
	tw := printers.GetNewTabWriter(out)
	fmt.Fprintln(tw, "#\tAT\tCOMMAND")
	for i, m := range marks {
		fmt.Fprintf(tw, "%d\t%s\t%s\n", i+1, catalog.Offset(m.Time.Duration()), tabless(m.Label))
	}
	return tw.Flush()
}
