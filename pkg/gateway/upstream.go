package gateway

import (
	"fmt"
	"net/url"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// MarkerExtra is the user extra the gateway adds to every upstream request
// it makes for a user, with the session ID as its value. Only the gateway
// is allowed to impersonate it (RBAC on userextras/<key>), and the shipped
// ValidatingAdmissionPolicy refuses pods/exec and pods/attach without it:
// that is what makes a recorded session the only kind of exec.
const MarkerExtra = "rexec.kubectl-rexec.io/session"

// dropGroups cannot be impersonated under constrained impersonation
// (system:masters), or are added by the API server itself.
var dropGroups = map[string]bool{
	user.SystemPrivilegedGroup: true,
	user.AllAuthenticated:      true,
}

// impersonate returns base acting as u, with the session marker unless
// session is empty (reads need none). The
// gateway's own rights never reach the pod: every upstream request is
// authorized, and admitted, as the user.
func impersonate(base *rest.Config, u user.Info, session string) *rest.Config {
	c := rest.CopyConfig(base)
	imp := rest.ImpersonationConfig{UserName: u.GetName(), UID: u.GetUID(), Extra: map[string][]string{}}
	// A service account's groups follow from its name, and constrained
	// impersonation refuses them given explicitly.
	if _, _, err := serviceaccount.SplitUsername(u.GetName()); err != nil {
		for _, g := range u.GetGroups() {
			if !dropGroups[g] {
				imp.Groups = append(imp.Groups, g)
			}
		}
	}
	for k, v := range u.GetExtra() {
		// The user's own claim to the marker is never passed on.
		if strings.EqualFold(k, MarkerExtra) || len(v) == 0 {
			continue
		}
		imp.Extra[k] = v
	}
	if session != "" {
		imp.Extra[MarkerExtra] = []string{session}
	}
	c.Impersonate = imp
	return c
}

// upstreamURL is the core pods/exec (or attach) URL for the same request.
func upstreamURL(base *rest.Config, ns, pod, sub string, q url.Values) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSuffix(base.Host, "/"))
	if err != nil || u.Host == "" {
		// rest.Config.Host may be a bare host:port.
		u, err = url.Parse("https://" + strings.TrimSuffix(base.Host, "/"))
		if err != nil {
			return nil, fmt.Errorf("API server address %q: %w", base.Host, err)
		}
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/namespaces/" + url.PathEscape(ns) + "/pods/" + url.PathEscape(pod) + "/" + sub
	u.RawQuery = q.Encode()
	return u, nil
}

// execQuery and attachQuery re-encode the options the gateway understood,
// and nothing else, for the upstream request.
func execQuery(o *corev1.PodExecOptions) url.Values {
	q, _ := scheme.ParameterCodec.EncodeParameters(o, corev1.SchemeGroupVersion)
	return q
}

func attachQuery(o *corev1.PodAttachOptions) url.Values {
	q, _ := scheme.ParameterCodec.EncodeParameters(o, corev1.SchemeGroupVersion)
	return q
}
