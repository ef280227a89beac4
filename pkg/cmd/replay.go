package cmd

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/replay"
)

const (
	minSpeed = 0.25
	maxSpeed = 64.0
)

type replayOptions struct {
	speed   float64
	idle    time.Duration
	noWait  bool
	quiet   bool
	streams genericiooptions.IOStreams
}

func newReplayCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := &replayOptions{speed: 1, streams: streams}
	cmd := &cobra.Command{
		Use:   "replay FILE",
		Short: "Play a recorded session back with its original timing",
		Example: `  # Play a session in real time
  kubectl rexec replay 20261127T061500Z_prod_default_web_1a2b3c4d.cast.zst

  # Twice as fast, pauses capped at 2s
  kubectl rexec replay --speed 2 --idle-time-limit 2s FILE

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
			return o.run(args[0])
		},
	}
	cmd.Flags().Float64Var(&o.speed, "speed", o.speed, fmt.Sprintf("Playback speed factor (%g to %g)", minSpeed, maxSpeed))
	cmd.Flags().DurationVar(&o.idle, "idle-time-limit", 0, "Cap every pause at this duration (e.g. 2s); 0 keeps the original pauses")
	cmd.Flags().BoolVar(&o.noWait, "no-wait", false, "Write the whole session at once, without its timing")
	cmd.Flags().BoolVarP(&o.quiet, "quiet", "q", false, "Print only the session's output, no closing notes")
	return cmd
}

func (o *replayOptions) run(path string) error {
	r, err := record.Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := replay.Play(ctx, r, replay.Options{
		Speed: o.speed, IdleTimeLimit: o.idle, NoWait: o.noWait,
		Out: o.streams.Out, ErrOut: o.streams.ErrOut,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil // the viewer stopped it
		}
		return fmt.Errorf("replay %s: %w", path, err)
	}
	if res.Abrupt != nil && !o.quiet {
		fmt.Fprintf(o.streams.ErrOut, "\nwarning: %v; everything recorded up to then was played\n", res.Abrupt)
	}
	return nil
}
