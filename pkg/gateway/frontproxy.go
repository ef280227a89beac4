package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/request/headerrequest"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/client-go/kubernetes"
)

// The ConfigMap in which kube-apiserver publishes how it authenticates to
// aggregated API servers, and its keys.
const (
	authConfigMapNamespace = "kube-system"
	authConfigMapName      = "extension-apiserver-authentication"
	keyClientCA            = "requestheader-client-ca-file"
	keyUsernameHeaders     = "requestheader-username-headers"
	keyUIDHeaders          = "requestheader-uid-headers"
	keyGroupHeaders        = "requestheader-group-headers"
	keyExtraPrefixes       = "requestheader-extra-headers-prefix"
	keyAllowedNames        = "requestheader-allowed-names"
)

// frontProxy authenticates the API server's proxied requests: the user in
// the X-Remote-* headers counts only when the connection's client
// certificate chains to the request-header CA and names an allowed proxy.
// Both come from the ConfigMap and follow its changes (CA rotation), with
// the API server's own controllers.
type frontProxy struct {
	ca      *dynamiccertificates.ConfigMapCAController
	headers *headerrequest.RequestHeaderAuthRequestController
	authn   authenticator.Request
}

func newFrontProxy(client kubernetes.Interface) (*frontProxy, error) {
	ca, err := dynamiccertificates.NewDynamicCAFromConfigMapController("request-header", authConfigMapNamespace, authConfigMapName, keyClientCA, client)
	if err != nil {
		return nil, fmt.Errorf("request-header CA: %w", err)
	}
	headers := headerrequest.NewRequestHeaderAuthRequestController(authConfigMapName, authConfigMapNamespace, client,
		keyUsernameHeaders, keyUIDHeaders, keyGroupHeaders, keyExtraPrefixes, keyAllowedNames)
	fp := &frontProxy{ca: ca, headers: headers}
	fp.authn = headerrequest.NewDynamicVerifyOptionsSecure(ca.VerifyOptions,
		headerrequest.StringSliceProviderFunc(headers.AllowedClientNames),
		headerrequest.StringSliceProviderFunc(headers.UsernameHeaders),
		headerrequest.StringSliceProviderFunc(headers.UIDHeaders),
		headerrequest.StringSliceProviderFunc(headers.GroupHeaders),
		headerrequest.StringSliceProviderFunc(headers.ExtraHeaderPrefixes))
	return fp, nil
}

// start follows the ConfigMap until ctx ends, and returns once it has been
// read: the gateway never serves before it knows whom to trust.
func (fp *frontProxy) start(ctx context.Context) error {
	if err := fp.headers.RunOnce(ctx); err != nil {
		return fmt.Errorf("reading %s/%s: %w", authConfigMapNamespace, authConfigMapName, err)
	}
	go fp.headers.Run(ctx, 1)
	go fp.ca.Run(ctx, 1) // its informer fills what CurrentCABundleContent reads
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, caWait, true, func(context.Context) (bool, error) {
		return len(fp.ca.CurrentCABundleContent()) > 0, nil
	})
	if err != nil {
		return fmt.Errorf("%s/%s has no %s after %v: start kube-apiserver with --requestheader-client-ca-file (and --proxy-client-cert-file) so that it can authenticate to aggregated API servers, and let the gateway read that ConfigMap (role extension-apiserver-authentication-reader)",
			authConfigMapNamespace, authConfigMapName, keyClientCA, caWait)
	}
	return nil
}

// caWait bounds how long start waits for the request-header CA.
const caWait = 30 * time.Second

// errUnauthenticated is any request the API server did not vouch for.
var errUnauthenticated = errors.New("not authenticated: the rexec gateway serves only requests proxied by the Kubernetes API server (a front-proxy client certificate with X-Remote-User); use kubectl rexec or the API server's /apis/rexec.kubectl-rexec.io path")

// authenticate returns the user the API server vouched for. The request's
// X-Remote-* headers are removed either way.
func (fp *frontProxy) authenticate(r *http.Request) (user.Info, error) {
	resp, ok, err := fp.authn.AuthenticateRequest(r)
	if err != nil || !ok || resp == nil || resp.User == nil || resp.User.GetName() == "" {
		return nil, errUnauthenticated
	}
	return resp.User, nil
}
