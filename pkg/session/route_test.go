package session

import (
	"net/url"
	"testing"
)

func TestRouteApply(t *testing.T) {
	u, _ := url.Parse("https://api:6443/api/v1/namespaces/ns/pods/p/exec?command=id&stdout=true")
	got := Route{Prefix: "/apis/rexec.kubectl-rexec.io/v1alpha1", Query: url.Values{"reason": {"a b"}}}.apply(u)
	if got.Path != "/apis/rexec.kubectl-rexec.io/v1alpha1/namespaces/ns/pods/p/exec" {
		t.Errorf("path %q", got.Path)
	}
	if q := got.Query(); q.Get("reason") != "a b" || q.Get("command") != "id" || q.Get("stdout") != "true" {
		t.Errorf("query %v", q)
	}
	// A server URL with a path prefix (a proxy in front of the API) keeps it.
	u, _ = url.Parse("https://proxy/k8s/clusters/c1/api/v1/namespaces/ns/pods/p/exec")
	if got := (Route{Prefix: "/apis/g/v1"}).apply(u); got.Path != "/k8s/clusters/c1/apis/g/v1/namespaces/ns/pods/p/exec" {
		t.Errorf("prefixed path %q", got.Path)
	}
	if got := (Route{}).apply(u); got != u {
		t.Errorf("the zero route changed the URL")
	}
}
