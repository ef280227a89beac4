// Command rexec-cluster starts and stops the end-to-end test cluster for
// shell scripts and `make demo`:
//
//	rexec-cluster up   [--state-dir DIR] [--pod NAME]... [--haproxy] [--haproxy-timeout-tunnel D] ...
//	rexec-cluster env  [--state-dir DIR]     print the env file (source it)
//	rexec-cluster down [--state-dir DIR]
//
// `up` returns once the cluster is ready and leaves it running; everything is
// recorded in the state directory ($REXEC_E2E_STATE_DIR, else
// ${XDG_CACHE_HOME:-~/.cache}/kubectl-rexec-e2e/state).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/kubectl-rexec/kubectl-rexec/test/cluster/cluster"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "rexec-cluster:", err)
		os.Exit(1)
	}
}

func defaultStateDir() string {
	if d := os.Getenv("REXEC_E2E_STATE_DIR"); d != "" {
		return d
	}
	return filepath.Join(filepath.Dir(filepath.Dir(cluster.BinDir())), "state")
}

type podList []string

func (p *podList) String() string     { return strings.Join(*p, ",") }
func (p *podList) Set(v string) error { *p = append(*p, v); return nil }

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: rexec-cluster up|down|env [flags]")
	}
	fs := flag.NewFlagSet("rexec-cluster "+args[0], flag.ContinueOnError)
	stateDir := fs.String("state-dir", defaultStateDir(), "state directory (PIDs, logs, kubeconfigs, env)")
	switch args[0] {
	case "up":
		var pods podList
		binDir := fs.String("bin-dir", cluster.BinDir(), "directory with kube-apiserver, etcd, kubectl, rexec-node (see build.sh)")
		fs.Var(&pods, "pod", "pod to create and wait for, NAME or NAMESPACE/NAME (repeatable; default: demo)")
		withProxy := fs.Bool("haproxy", false, "put HAProxy (TCP passthrough) in front of kube-apiserver and write proxy.kubeconfig")
		var hp cluster.HAProxyOptions
		fs.StringVar(&hp.Binary, "haproxy-binary", "", "haproxy executable (default: haproxy on PATH or /usr/sbin/haproxy)")
		fs.DurationVar(&hp.TimeoutTunnel, "haproxy-timeout-tunnel", 0, "HAProxy timeout tunnel (default 1h)")
		fs.DurationVar(&hp.TimeoutClient, "haproxy-timeout-client", 0, "HAProxy timeout client (default 1m)")
		fs.DurationVar(&hp.TimeoutServer, "haproxy-timeout-server", 0, "HAProxy timeout server (default 1m)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if len(pods) == 0 {
			pods = podList{"demo"}
		}
		opts := cluster.Options{StateDir: *stateDir, BinDir: *binDir, Pods: pods}
		if *withProxy {
			opts.HAProxy = &hp
		}
		// ^C during start-up stops what was started; afterwards we exit and
		// the cluster keeps running in its own process groups.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		c, err := cluster.Start(ctx, opts)
		if err != nil {
			return err
		}
		// Start has logged "cluster up in ..." with the apiserver's RSS.
		fmt.Printf("  server      %s\n", c.Server)
		if c.ProxyServer != "" {
			fmt.Printf("  haproxy     %s (%s)\n", c.ProxyServer, c.ProxyKubeconfig)
		}
		fmt.Printf("  kubeconfigs %s, %s, %s\n", c.AdminKubeconfig, c.ViewerKubeconfig, c.TokenKubeconfig)
		fmt.Printf("  logs        %s\n", filepath.Join(c.StateDir, "logs"))
		fmt.Printf("use it:       source %s\n", c.EnvFile)
		return nil
	case "down":
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		c, err := cluster.Load(*stateDir)
		if errors.Is(err, os.ErrNotExist) {
			fmt.Println("no cluster state in", *stateDir)
			return nil
		}
		if err != nil {
			return err
		}
		running := c.Running()
		c.Stop()
		if len(running) == 0 {
			fmt.Println("nothing was running in", *stateDir)
		} else {
			fmt.Println("stopped", strings.Join(running, ", "))
		}
		return nil
	case "env":
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		c, err := cluster.Load(*stateDir)
		if err != nil {
			return err
		}
		if len(c.Running()) == 0 {
			return fmt.Errorf("cluster in %s is not running (rexec-cluster up)", *stateDir)
		}
		b, err := os.ReadFile(c.EnvFile)
		if err != nil {
			return fmt.Errorf("reading env file: %w", err)
		}
		_, err = os.Stdout.Write(b)
		return err
	default:
		return fmt.Errorf("unknown command %q: want up, down or env", args[0])
	}
}
