// Command rexec-node is the kubelet stand-in of the end-to-end test cluster:
// it registers a Node, runs pods bound to it, and serves the kubelet's exec
// endpoint by running each command in a busybox root filesystem and
// namespaces of its own (on the host when the machine allows neither). See
// package node.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubectl-rexec/kubectl-rexec/test/cluster/node"

	"github.com/kubectl-rexec/kubectl-rexec/test/cluster/sandbox"
)

func main() {
	var cfg node.Config
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig to reach kube-apiserver (needs to manage nodes, bindings and pod status)")
	flag.StringVar(&cfg.Name, "name", "rexec-node", "name of the Node object")
	flag.StringVar(&cfg.Listen, "listen", "127.0.0.1:0", "address of the kubelet API; port 0 picks a free one, which is published in the Node status")
	flag.StringVar(&cfg.TLSCertFile, "tls-cert-file", "", "serving certificate (kube-apiserver verifies it with --kubelet-certificate-authority)")
	flag.StringVar(&cfg.TLSKeyFile, "tls-private-key-file", "", "serving key")
	flag.StringVar(&cfg.ClientCAFile, "client-ca-file", "", "if set, callers must present a client certificate signed by this CA")
	flag.StringVar(&cfg.WorkDir, "work-dir", "", "parent of the containers' root filesystems")
	flag.StringVar(&cfg.Busybox, "busybox", "", "static busybox the containers run (default: busybox on PATH, else /bin/busybox)")
	host := flag.Bool("host-processes", false, "run commands on the host as this user, without a root filesystem or namespaces of their own")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	if *host {
		cfg.Isolation = sandbox.IsolationHost
	}

	if err := run(*kubeconfig, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "rexec-node:", err)
		os.Exit(1)
	}
}

func run(kubeconfig string, cfg node.Config) error {
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("loading kubeconfig %q: %w", kubeconfig, err)
	}
	rc.UserAgent = "rexec-node"
	if cfg.Client, err = kubernetes.NewForConfig(rc); err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	n, err := node.New(cfg)
	if err != nil {
		return err
	}
	// SIGTERM (rexec-cluster down, Cluster.Stop) must still kill the
	// commands we started, so it cancels Run rather than ending the process.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return n.Run(ctx)
}
