package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"regexp"
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

type replayOptions struct {
	speed     float64
	idle      string
	noWait    bool
	quiet     bool
	from, to  string
	follow    bool
	raw       bool
	safe      bool
	showInput bool
	commands  bool
	output    string
	jump      int
	keys      bool
	noStatus  bool
	exitAtEnd bool
	streams   genericiooptions.IOStreams

	idleAt       time.Duration
	fromAt, toAt time.Duration
	// The recorded terminal's initial size, from the header.
	headerCols, headerRows int
}

func newReplayCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := &replayOptions{speed: 1, streams: streams, keys: true, idle: replay.DefaultIdleTimeLimit.String()}
	cmd := &cobra.Command{
		Use:   "replay FILE",
		Short: "Play a recorded session back with its original timing",
		Long: "Play a recorded session back with its original timing; pauses longer than --idle-time-limit (" +
			replay.DefaultIdleTimeLimit.String() + " unless told otherwise) are cut to it. Starting at --from redraws the " +
			"screen as it was at that moment (through a terminal emulator in memory) when the output is a terminal. " +
			"FILE is a recording, a plain asciicast v2 or v3 file (asciinema's, or from export), or - for standard input. " +
			"On a terminal, with keys, the player draws the session from its emulator with a status bar on a row of its " +
			"own (press ? for the keys): nothing the recording sends reaches the terminal, and quitting restores it as it " +
			"was. Without keys (a pipe, --keys=false, --no-wait), what the recording sends to the terminal is filtered: " +
			"only what acts on the screen passes (text, cursor movement, colors, erasing, scrolling, titles, links); " +
			"clipboard writes, queries the terminal would answer on stdin, mouse and keyboard modes and the rest are " +
			"dropped unless --raw. Stdout and stderr are each filtered when they go to a terminal; into a file or pipe " +
			"the exact bytes are written unless --safe. Stdin is not shown (the terminal's echo is in the output) unless --show-input.",
		Example: `  # Play a session in real time (keys: space pause, arrows seek, / search, g go to, ? help)
  kubectl rexec replay 20261127T061500Z_prod_default_web_1a2b3c4d.cast.zst

  # Twice as fast, pauses cut to 2 seconds (off: keep every pause)
  kubectl rexec replay --speed 2 --idle-time-limit 2 FILE

  # The two minutes from 1h2m on, where grep found something
  kubectl rexec replay --from 1h2m --to 1h4m FILE

  # The screen as the session left it
  kubectl rexec replay --from end FILE

  # Watch a session that is still going on
  kubectl rexec replay --follow FILE

  # The commands, for a script
  kubectl rexec replay --commands -o json FILE

  # Dump the output at once (for grep, less -R, ...)
  kubectl rexec replay --no-wait FILE

  # Play asciinema's files, or one from a pipe
  kubectl rexec replay demo.cast
  curl -s https://example.com/demo.cast | kubectl rexec replay -`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return cmdutil.UsageErrorf(cmd, "replay takes exactly one recording file, got %d arguments", len(args))
			}
			return nil
		},
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.complete(cmd); err != nil {
				return err
			}
			return o.run(args[0])
		},
		ValidArgsFunction: completeRecordings(1),
	}
	f := cmd.Flags()
	f.Float64Var(&o.speed, "speed", o.speed, "Playback speed factor: 2 is twice as fast, 0.5 half as fast (any factor above 0)")
	f.StringVar(&o.idle, "idle-time-limit", o.idle, "Cut every pause longer than this to this long: seconds (2, 0.5) or a duration (2s, 1m); 0 or off keeps the pauses as recorded")
	f.BoolVar(&o.noWait, "no-wait", false, "Write the whole session at once, without its timing")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Print only the session's output, no closing notes")
	f.StringVar(&o.from, "from", "", "Start at this session time: a duration (90s, 1h2m, 1m2.5s), seconds (90), h:mm:ss, or end")
	f.StringVar(&o.to, "to", "", "Stop at this session time (same forms as --from)")
	f.BoolVarP(&o.follow, "follow", "f", false, "Follow a recording that is still being written: show it as it is now, then live, until the session ends (with --from: catch up from there)")
	f.BoolVar(&o.safe, "safe", false, "Filter sequences that act outside the screen even when output is not a terminal (it is filtered on a terminal by default)")
	f.BoolVar(&o.raw, "raw", false, "Write the recorded bytes unfiltered, including sequences that act outside the screen (clipboard, terminal queries); not with keys")
	f.BoolVar(&o.showInput, "show-input", false, "Show what was typed (stdin): in the status bar with keys, else at the top right of the screen")
	f.BoolVar(&o.commands, "commands", false, "List the session's commands (its markers) with their time offsets, and exit")
	f.StringVarP(&o.output, "output", "o", "", "With --commands: json for a CommandList")
	f.IntVar(&o.jump, "jump", 0, "Start at command N (as numbered by --commands)")
	f.BoolVar(&o.keys, "keys", o.keys, "Take keys when stdin and stdout are a terminal (? shows them): space pause, . step, arrows seek 5s (Shift: 1m), Home/End, g go to a time, ] [ next/previous command, / search with n/N, + - speed, s status bar, q quit")
	f.BoolVar(&o.noStatus, "no-status", false, "Start with the status bar hidden (s shows it)")
	f.BoolVar(&o.exitAtEnd, "exit-at-end", false, "With keys: quit at the end of the recording instead of waiting there")
	completeNothingElse(cmd)
	return cmd
}

// complete checks and reads the flags.
func (o *replayOptions) complete(cmd *cobra.Command) error {
	if !(o.speed > 0) || math.IsInf(o.speed, 0) {
		return cmdutil.UsageErrorf(cmd, "--speed must be a factor above 0 (0.5 half as fast, 2 twice as fast), got %g", o.speed)
	}
	switch strings.ToLower(strings.TrimSpace(o.idle)) {
	case "off", "none", "no", "":
		o.idleAt = 0
	default:
		d, err := replay.ParseSeconds(o.idle)
		if err != nil {
			return cmdutil.UsageErrorf(cmd, "--idle-time-limit: %v; 0 or off keeps every pause", err)
		}
		o.idleAt = d
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
	switch {
	case o.output != "" && !o.commands:
		return cmdutil.UsageErrorf(cmd, "--output goes with --commands")
	case o.output != "" && o.output != "json":
		return cmdutil.UsageErrorf(cmd, "--output must be json; got %q", o.output)
	}
	return nil
}

// parseOffset reads a session time as replay.ParseOffset does; "" is dflt.
func parseOffset(s string, dflt time.Duration) (time.Duration, error) {
	if strings.TrimSpace(s) == "" {
		return dflt, nil
	}
	return replay.ParseOffset(s)
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

// recording is a recording opened for replay: a zstd recording or a plain
// asciicast file, from a path or standard input.
type recording struct {
	path  string
	r     replay.Seekable
	plain *replay.Plain
	// ra holds the file when it is read here rather than through
	// source (a plain file, standard input): reopen reads it again.
	ra    io.ReaderAt
	size  int64
	close func()
}

// openRecording opens path ("-": standard input, kept in a temporary file
// so that it can be seeked) as a recording or a plain asciicast file.
func (o *replayOptions) openRecording(path string) (*recording, error) {
	rec := &recording{path: path, close: func() {}}
	if path == "-" {
		f, err := spoolStdin(o.streams.In)
		if err != nil {
			return nil, err
		}
		rec.ra, rec.size, rec.close = f, fileSize(f), func() { f.Close() }
	} else {
		f, err := source.OpenFile(path)
		if err != nil {
			if !source.IsRemote(path) {
				return nil, fmt.Errorf("open recording: %w", err)
			}
			return nil, err
		}
		if !isPlainFile(f) {
			// A recording: source reads it (and a remote one) best.
			f.Close()
			r, err := source.Open(path)
			if err != nil {
				return nil, err
			}
			rec.r, rec.close = r, func() { r.Close() }
			return rec, nil
		}
		rec.ra, rec.size, rec.close = f, f.Size(), func() { f.Close() }
	}
	r, err := rec.reopen()
	if err != nil {
		rec.close()
		return nil, err
	}
	rec.r = r
	rec.plain, _ = r.(*replay.Plain)
	return rec, nil
}

func isPlainFile(f io.ReaderAt) bool {
	head := make([]byte, 16)
	n, _ := f.ReadAt(head, 0)
	return replay.IsPlain(head[:n])
}

func fileSize(f *os.File) int64 {
	fi, err := f.Stat()
	if err != nil {
		return 0
	}
	return fi.Size()
}

// reopen returns another reader of the same recording, for work in the
// background (commands, search).
func (rec *recording) reopen() (replay.Seekable, error) {
	if rec.ra == nil {
		return source.Open(rec.path)
	}
	if isPlainFile(rec.ra) {
		p, err := replay.OpenPlain(rec.ra, rec.size)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rec.path, err)
		}
		return p, nil
	}
	r, err := record.NewReader(rec.ra, rec.size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rec.path, err)
	}
	return r, nil
}

// spoolStdin copies standard input into an unlinked temporary file.
func spoolStdin(in io.Reader) (*os.File, error) {
	f, err := os.CreateTemp("", "kubectl-rexec-replay-*")
	if err != nil {
		return nil, fmt.Errorf("keep standard input: %w", err)
	}
	_ = os.Remove(f.Name()) // only this process sees it, and only while it runs
	if _, err := io.Copy(f, in); err != nil {
		f.Close()
		return nil, fmt.Errorf("read standard input: %w", err)
	}
	return f, nil
}

// printCommands lists the recording's commands. A local recording's are
// read from its events, checked as they are decoded; a remote one's come
// from its index, which nothing authenticates: that is said.
func (o *replayOptions) printCommands(rec *recording) error {
	var (
		marks   []catalog.Marker
		checked = true
		err     error
	)
	if rec.plain == nil && rec.ra == nil {
		marks, checked, err = catalog.Commands(rec.path)
	} else {
		marks, err = rec.markers()
	}
	if err != nil {
		return err
	}
	if err := printCommands(o.streams.Out, marks, o.output == "json"); err != nil {
		return err
	}
	if !checked && len(marks) > 0 {
		fmt.Fprintln(o.streams.ErrOut, "note: listed from the index at the end of the recording, which is not checked against its events; `kubectl rexec verify` checks them")
	}
	return nil
}

// markers returns the recording's commands.
func (rec *recording) markers() ([]catalog.Marker, error) {
	var ms []catalog.Marker
	switch {
	case rec.plain != nil:
		for _, m := range rec.plain.Markers() {
			ms = append(ms, catalog.Marker{Time: record.Seconds(m.Time), Label: m.Label})
		}
		return ms, nil
	case rec.ra == nil:
		return catalog.Markers(rec.path) // from the index when it has them
	}
	r, err := rec.reopen()
	if err != nil {
		return nil, err
	}
	for {
		ev, err := r.Next()
		if err != nil {
			return ms, nil
		}
		if ev.Code == 'm' {
			ms = append(ms, catalog.Marker{Time: record.Seconds(ev.Time), Label: string(ev.Data)})
		}
	}
}

func (o *replayOptions) run(path string) error {
	if o.follow && (source.IsRemote(path) || path == "-") {
		return fmt.Errorf("--follow plays a recording that this machine is writing; replay %s without --follow", path)
	}
	if o.follow {
		return o.runFollow(path)
	}
	rec, err := o.openRecording(path)
	if err != nil {
		return err
	}
	defer rec.close()
	if o.commands {
		return o.printCommands(rec)
	}
	if o.jump > 0 {
		// The index's markers are enough to find where to start: what is
		// played from there is read from the frames, and checked.
		marks, err := rec.markers()
		if err != nil {
			return err
		}
		if o.jump > len(marks) {
			return fmt.Errorf("%s has %d commands; there is no command %d (see --commands)", safe(path), len(marks), o.jump)
		}
		o.fromAt = marks[o.jump-1].Time.Duration()
		if o.toAt > 0 && o.toAt < o.fromAt {
			return fmt.Errorf("--to %s is before command %d at %s", o.to, o.jump, catalog.Offset(o.fromAt))
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	vcols, vrows, isTerm := terminalSize(o.streams.Out)
	opts := o.playOptions(isTerm)
	o.headerCols, o.headerRows = rec.r.Header().Term.Cols, rec.r.Header().Term.Rows
	var res replay.Result
	if keys, restore := o.keyInput(isTerm); keys != nil {
		res, err = o.interactive(ctx, rec, keys, restore, opts)
	} else {
		o.sizeNote(rec.r.Header(), vcols, vrows, isTerm)
		res, err = replay.Play(ctx, rec.r, opts)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil // the viewer stopped it
		}
		return fmt.Errorf("replay %s: %w", safe(path), err)
	}
	o.closingNotes(res, vcols, vrows, isTerm)
	return nil
}

func (o *replayOptions) playOptions(isTerm bool) replay.Options {
	return replay.Options{
		Speed: o.speed, IdleTimeLimit: o.idleAt, NoWait: o.noWait,
		Out: o.streams.Out, ErrOut: o.streams.ErrOut,
		// Filtering protects a viewer's terminal; output going to a file or a
		// pipe gets the session's exact bytes unless --safe asks otherwise.
		// Each stream is judged by where it goes: stdout may be a file while
		// stderr is the terminal.
		From: o.fromAt, To: o.toAt, ShowInput: o.showInput, Terminal: isTerm,
		Raw:    o.raw || (!o.safe && notTerminal(o.streams.Out)),
		RawErr: o.raw || (!o.safe && notTerminal(o.streams.ErrOut)),
	}
}

// keyInput returns where the viewer's keys come from (stdin, or the
// controlling terminal when the recording comes on stdin) in single-key
// mode, and how to restore it; nil when play is not interactive.
func (o *replayOptions) keyInput(isTerm bool) (*os.File, func()) {
	if !isTerm || !o.keys || o.noWait || o.raw {
		return nil, nil
	}
	in, ok := o.streams.In.(*os.File)
	if !ok {
		return nil, nil
	}
	closeIn := func() {}
	if !term.IsTerminal(int(in.Fd())) {
		tty, err := os.Open("/dev/tty")
		if err != nil {
			return nil, nil
		}
		in, closeIn = tty, func() { tty.Close() }
	}
	restore, err := replay.KeyMode(int(in.Fd()))
	if err != nil {
		closeIn()
		return nil, nil
	}
	return in, func() { restore(); closeIn() }
}

// interactive plays under the viewer's keys.
func (o *replayOptions) interactive(ctx context.Context, rec *recording, in *os.File, restore func(), opts replay.Options) (replay.Result, error) {
	defer restore()
	// The commands load in the background: a long recording starts at once.
	var (
		mu    sync.Mutex
		marks []replay.Marker
	)
	go func() {
		ms, _ := rec.markers()
		ts := make([]replay.Marker, len(ms))
		for i, m := range ms {
			ts[i] = replay.Marker{Time: m.Time.Duration(), Label: m.Label}
		}
		mu.Lock()
		marks = ts
		mu.Unlock()
	}()
	return replay.Interactive(ctx, rec.r, opts, replay.InteractiveOptions{
		Keys: replay.ReadKeys(in),
		Size: func() (int, int) {
			c, r, _ := terminalSize(o.streams.Out)
			return c, r
		},
		Markers: func() []replay.Marker {
			mu.Lock()
			defer mu.Unlock()
			return marks
		},
		Total:      replay.Duration(rec.r.Index()),
		Start:      catalog.StartTime(rec.r.Header()),
		HideStatus: o.noStatus,
		ExitAtEnd:  o.exitAtEnd,
		Search:     o.searcher(rec),
	})
}

// searcher searches the recording again from its start, in the background.
func (o *replayOptions) searcher(rec *recording) func(context.Context, *regexp.Regexp, func(time.Duration) bool) error {
	return func(ctx context.Context, re *regexp.Regexp, hit func(time.Duration) bool) error {
		r, err := rec.reopen()
		if err != nil {
			return err
		}
		if c, ok := r.(io.Closer); ok {
			defer c.Close()
		}
		r = ctxEvents{r, ctx} // a search the viewer replaced stops reading
		stop := errors.New("stop")
		err = catalog.GrepEvents(r, rec.path, re, catalog.GrepOptions{}, func(m catalog.Match) error {
			if ctx.Err() != nil || !hit(m.Time) {
				return stop
			}
			return nil
		})
		if errors.Is(err, stop) {
			return ctx.Err()
		}
		return err
	}
}

// ctxEvents stops reading when its context ends.
type ctxEvents struct {
	replay.Seekable
	ctx context.Context
}

func (c ctxEvents) Next() (record.Event, error) {
	if err := c.ctx.Err(); err != nil {
		return record.Event{}, err
	}
	return c.Seekable.Next()
}

func (o *replayOptions) runFollow(path string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	vcols, vrows, isTerm := terminalSize(o.streams.Out)
	opts := o.playOptions(isTerm)
	if o.from == "" {
		opts.From = replay.End
	}
	if h, herr := peekHeader(path); herr == nil {
		o.sizeNote(h, vcols, vrows, isTerm)
	}
	res, err := replay.Follow(ctx, path, opts, replay.FollowOptions{})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("replay %s: %w", path, err)
	}
	o.closingNotes(res, vcols, vrows, isTerm)
	if t := res.Trailer; t != nil && !o.quiet {
		code := "unknown"
		if t.ExitCode != nil {
			code = fmt.Sprint(*t.ExitCode)
		}
		fmt.Fprintf(o.streams.ErrOut, "\nThe session ended (%s, exit code %s) after %s.\n", safe(t.Reason), code, catalog.HumanDuration(t.Duration.Duration()))
	}
	return nil
}

// closingNotes tells what the viewer may have missed.
func (o *replayOptions) closingNotes(res replay.Result, vcols, vrows int, isTerm bool) {
	if o.quiet {
		return
	}
	if res.Abrupt != nil && !o.follow {
		fmt.Fprintf(o.streams.ErrOut, "\nwarning: %s; everything recorded up to then was played\n", safe(res.Abrupt.Error()))
	}
	if res.IdleCut > 0 {
		fmt.Fprintf(o.streams.ErrOut, "note: %d pause(s) longer than %s were cut to %s (the longest was %s); --idle-time-limit off keeps them\n",
			res.IdleCut, o.idleAt, o.idleAt, catalog.HumanDuration(res.IdleLongest))
	}
	grew := res.MaxCols > o.headerCols || res.MaxRows > o.headerRows
	if isTerm && grew && (res.MaxCols > vcols || res.MaxRows > vrows) && vcols > 0 && !o.keysUsed(isTerm) {
		fmt.Fprintf(o.streams.ErrOut, "\nnote: the session's terminal grew to %dx%d during playback; this one is %dx%d, so some lines may have wrapped\n", res.MaxCols, res.MaxRows, vcols, vrows)
	}
}

// keysUsed tells whether play was interactive (its status bar told about
// sizes).
func (o *replayOptions) keysUsed(isTerm bool) bool {
	return isTerm && o.keys && !o.noWait && !o.raw && !o.follow
}

// sizeNote tells the viewer when the recorded terminal is larger than
// theirs, before playing.
// A screen is rebuilt at most MaxCols x MaxRows: that is said too when a
// screen will be rebuilt.
func (o *replayOptions) sizeNote(h record.Header, vcols, vrows int, isTerm bool) {
	o.headerCols, o.headerRows = h.Term.Cols, h.Term.Rows
	if o.quiet {
		return
	}
	rebuilt := o.fromAt != 0 || o.jump > 0 || o.follow || isTerm
	if rebuilt && (h.Term.Cols > replay.MaxCols || h.Term.Rows > replay.MaxRows) {
		fmt.Fprintf(o.streams.ErrOut, "note: the session's terminal was %dx%d; a screen redrawn after a seek is at most %dx%d, the rest is left out\n", h.Term.Cols, h.Term.Rows, replay.MaxCols, replay.MaxRows)
	}
	if !isTerm || vcols <= 0 {
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

// commandItem is one command in `--commands -o json`.
type commandItem struct {
	Number  int            `json:"number"`
	Offset  record.Seconds `json:"offset"`
	From    string         `json:"from"`
	Command string         `json:"command"`
}

// printCommands lists the markers: number, offset for --from, label.
func printCommands(out io.Writer, marks []catalog.Marker, asJSON bool) error {
	if asJSON {
		items := []commandItem{}
		for i, m := range marks {
			items = append(items, commandItem{Number: i + 1, Offset: m.Time, From: catalog.Offset(m.Time.Duration()), Command: m.Label})
		}
		return writeJSON(out, struct {
			Kind  string        `json:"kind"`
			Items []commandItem `json:"items"`
		}{"CommandList", items})
	}
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
