package cmd

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/session"
)

// The rexec gateway's API group (package gateway serves it; the plugin
// only needs its path).
const (
	gatewayGroupVersion = "rexec.kubectl-rexec.io/v1alpha1"
	gatewayPrefix       = "/apis/" + gatewayGroupVersion
)

// --via values.
const (
	viaAuto    = "auto"
	viaGateway = "gateway"
	viaDirect  = "direct"
)

func checkVia(cmd *cobra.Command, via string) error {
	switch via {
	case viaAuto, viaGateway, viaDirect:
		return nil
	}
	return cmdutil.UsageErrorf(cmd, "--via %q: want auto, gateway or direct", via)
}

// lookupGateway starts asking the API server whether the rexec gateway is
// installed, alongside kubectl's pod lookup, and returns the route to use
// once the stream is about to open.
func lookupGateway(ctx context.Context, client kubernetes.Interface, via, reason, ticket string) func() (session.Route, error) {
	if via == viaDirect {
		return nil
	}
	type answer struct {
		found bool
		err   error
	}
	ch := make(chan answer, 1)
	go func() {
		found, err := gatewayInstalled(ctx, client)
		ch <- answer{found, err}
	}()
	return func() (session.Route, error) {
		a := <-ch
		switch {
		case a.found:
			q := url.Values{}
			if reason != "" {
				q.Set("reason", reason)
			}
			if ticket != "" {
				q.Set("ticket", ticket)
			}
			return session.Route{Prefix: gatewayPrefix, Query: q}, nil
		case apierrors.IsServiceUnavailable(a.err) || apierrors.IsInternalError(a.err) || apierrors.IsTimeout(a.err):
			// The APIService is there but nothing answers behind it:
			// going direct would only meet the policy's refusal.
			return session.Route{}, fmt.Errorf("the rexec gateway is installed in this cluster but does not answer (%v); check its pods: kubectl -n rexec-system get pods,events", a.err)
		case via == viaGateway && a.err != nil:
			return session.Route{}, fmt.Errorf("--via gateway: cannot tell whether the rexec gateway is installed: %w", a.err)
		case via == viaGateway:
			return session.Route{}, errors.New("--via gateway: this cluster has no rexec gateway (APIService v1alpha1.rexec.kubectl-rexec.io); use --via direct, or ask the cluster admin to install it (deploy/)")
		}
		return session.Route{}, nil
	}
}

// gatewayInstalled is a GET of the gateway's discovery document: found when
// the API server serves it, not found on 404. One uncached request, so a
// gateway installed a minute ago is used at once.
func gatewayInstalled(ctx context.Context, client kubernetes.Interface) (bool, error) {
	err := client.Discovery().RESTClient().Get().AbsPath(gatewayPrefix).Do(ctx).Error()
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err):
		return false, nil
	}
	return false, err
}

// explainDirectRefusal adds what to do to the API server's refusal of an
// exec upgrade under the shipped policy (deploy/base/policy.yaml), whose
// message tells the user to use kubectl rexec: one who ran it with --via
// direct needs to hear that the flag is what went around the gateway.
func explainDirectRefusal(via string, err error) error {
	if via != viaDirect || err == nil {
		return err
	}
	if msg := err.Error(); !strings.Contains(msg, "forbidden") || !strings.Contains(msg, "use `kubectl rexec`") {
		return err
	}
	return fmt.Errorf("%w\n--via direct goes around the rexec gateway, which this cluster requires: run the command again without --via direct", err)
}
