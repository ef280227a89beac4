// Command rexec-gateway serves the aggregated API that makes every exec a
// recorded one; see package gateway and deploy/.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/gateway"
)

// version is set by the build (-ldflags -X main.version=...).
var version = "dev"

func main() {
	var o gateway.Options
	fs := pflag.NewFlagSet("rexec-gateway", pflag.ExitOnError)
	o.AddFlags(fs)
	showVersion := fs.Bool("version", false, "Print the version and exit")
	_ = fs.Parse(os.Args[1:])
	if *showVersion {
		fmt.Println("rexec-gateway", version)
		return
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "rexec-gateway:", err)
		os.Exit(1)
	}
}

func run(o gateway.Options) error {
	drain, err := time.ParseDuration(o.DrainTimeout)
	if err != nil {
		return fmt.Errorf("--drain-timeout: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg, err := o.Config(ctx, version)
	if err != nil {
		return err
	}
	g, err := gateway.New(cfg)
	if err != nil {
		return err
	}
	return g.Run(ctx, drain)
}
