package doctor

import (
	"context"
	"fmt"
	"strings"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	hopAuthn = "authentication (the kubeconfig's credentials)"
	hopAuthz = "authorization (RBAC)"
)

// identity is step 3: who the API server says we are, and whether we may
// get pods and create pods/exec in the namespace.
func (r *run) identity(s *stepRun) {
	ns := r.report.Namespace
	authenticated := true
	s.timed("user", func(ctx context.Context) Check {
		review, err := bounded(ctx, func() (*authnv1.SelfSubjectReview, error) {
			return r.client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
		})
		switch {
		case err == nil:
			u := review.Status.UserInfo
			data := map[string]any{"username": u.Username, "uid": u.UID, "groups": u.Groups}
			detail := fmt.Sprintf("%s (groups %s)", orNone(u.Username), orNone(strings.Join(u.Groups, ", ")))
			return okCheck(detail, data)
		case apierrors.IsUnauthorized(err):
			authenticated = false
			return failCheck("the API server rejects the credentials (401 Unauthorized)", hopAuthn, r.unauthorizedHint())
		case apierrors.IsForbidden(err):
			return warnCheck("SelfSubjectReview not allowed (403): the user cannot be named",
				"the cluster does not grant authentication.k8s.io selfsubjectreviews to this user; rexec records the user as unknown")
		case apierrors.IsNotFound(err):
			return warnCheck("SelfSubjectReview is not served (Kubernetes older than 1.28?)", "rexec records the user as unknown")
		}
		if d := timeoutDetail(ctx, "SelfSubjectReview"); d != "" {
			return failCheck(d, hopAPIServer, "the API server answers too slowly")
		}
		return failCheck("SelfSubjectReview: "+err.Error(), hopAPIServer, "the API server failed the request")
	})
	if !authenticated {
		r.stop = "the credentials are rejected"
		return
	}
	for _, a := range []authzv1.ResourceAttributes{
		{Namespace: ns, Verb: "create", Resource: "pods", Subresource: "exec"},
		{Namespace: ns, Verb: "get", Resource: "pods"},
	} {
		s.timed(permName(a), func(ctx context.Context) Check { return r.access(ctx, a) })
	}
}

func permName(a authzv1.ResourceAttributes) string {
	res := a.Resource
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	return a.Verb + " " + res
}

// access asks a SelfSubjectAccessReview.
func (r *run) access(ctx context.Context, a authzv1.ResourceAttributes) Check {
	review, err := bounded(ctx, func() (*authzv1.SelfSubjectAccessReview, error) {
		return r.client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authzv1.SelfSubjectAccessReview{
			Spec: authzv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &a},
		}, metav1.CreateOptions{})
	})
	where := "in namespace " + a.Namespace
	if err != nil {
		switch {
		case apierrors.IsForbidden(err), apierrors.IsNotFound(err):
			return warnCheck("cannot ask (SelfSubjectAccessReview: "+err.Error()+")", "the exec handshake below shows whether it is allowed")
		}
		if d := timeoutDetail(ctx, "SelfSubjectAccessReview"); d != "" {
			return failCheck(d, hopAPIServer, "the API server answers too slowly")
		}
		return failCheck("SelfSubjectAccessReview: "+err.Error(), hopAPIServer, "the API server failed the request")
	}
	st := review.Status
	data := map[string]any{"namespace": a.Namespace, "verb": a.Verb, "resource": a.Resource, "subresource": a.Subresource,
		"allowed": st.Allowed, "reason": st.Reason}
	if st.Allowed {
		return okCheck("allowed "+where, data)
	}
	detail := "denied " + where
	if st.Reason != "" {
		detail += ": " + st.Reason
	}
	if st.EvaluationError != "" {
		detail += " (evaluation error: " + st.EvaluationError + ")"
	}
	canI := fmt.Sprintf("kubectl auth can-i %s %s -n %s", a.Verb, a.Resource, a.Namespace)
	if a.Subresource != "" {
		canI = fmt.Sprintf("kubectl auth can-i %s %s --subresource=%s -n %s", a.Verb, a.Resource, a.Subresource, a.Namespace)
	}
	permission := fmt.Sprintf("%q on %q", a.Verb, permName(a)[len(a.Verb)+1:])
	c := failCheck(detail, hopAuthz+" in namespace "+a.Namespace,
		fmt.Sprintf("ask for a Role (or ClusterRole) bound to you in namespace %s that allows %s; check with: %s", a.Namespace, permission, canI))
	c.Data = data
	return c
}

func (r *run) unauthorizedHint() string {
	switch {
	case strings.Contains(r.authKind, "exec plugin"), strings.Contains(r.authKind, "auth provider"):
		return "the credentials from the login plugin are not accepted: log in again, and check the plugin targets this cluster"
	case strings.Contains(r.authKind, "bearer token"):
		return "the token is expired, revoked or for another cluster: get a new one"
	case strings.Contains(r.authKind, "client certificate"):
		return "the client certificate is not signed by a CA this API server trusts (or expired): get a new kubeconfig for this cluster"
	case r.authKind == "none":
		return "the kubeconfig user has no credentials and the API server refuses anonymous requests"
	}
	return "the credentials are expired, revoked or for another cluster"
}
