package gateway

import (
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The API group the gateway serves through its APIService.
const (
	Group   = "rexec.kubectl-rexec.io"
	Version = "v1alpha1"
)

// resources is the group's discovery document. The pods resource exists so
// that `kubectl api-resources` lists the group (it never lists
// subresources): a GET returns the core pod, read as the user.
var resources = metav1.APIResourceList{
	TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
	GroupVersion: Group + "/" + Version,
	APIResources: []metav1.APIResource{
		{Name: "pods", SingularName: "pod", Namespaced: true, Kind: "Pod", Verbs: metav1.Verbs{"get"}},
		{Name: "pods/exec", Namespaced: true, Kind: "PodExecOptions", Verbs: metav1.Verbs{"create", "get"}},
		{Name: "pods/attach", Namespaced: true, Kind: "PodAttachOptions", Verbs: metav1.Verbs{"create", "get"}},
	},
}

var groupVersion = metav1.GroupVersionForDiscovery{GroupVersion: Group + "/" + Version, Version: Version}

var group = metav1.APIGroup{
	TypeMeta:         metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"},
	Name:             Group,
	Versions:         []metav1.GroupVersionForDiscovery{groupVersion},
	PreferredVersion: groupVersion,
}

// serveDiscovery answers the discovery paths; false for any other path.
func (g *Gateway) serveDiscovery(w http.ResponseWriter, r *http.Request) bool {
	switch r.URL.Path {
	case "/apis", "/apis/":
		writeJSON(w, http.StatusOK, metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: []metav1.APIGroup{group}})
	case "/apis/" + Group, "/apis/" + Group + "/":
		writeJSON(w, http.StatusOK, group)
	case "/apis/" + Group + "/" + Version, "/apis/" + Group + "/" + Version + "/":
		writeJSON(w, http.StatusOK, resources)
	case "/openapi/v2":
		// The aggregator merges every APIService's OpenAPI document into
		// the API server's; the gateway's group has no schema of its own.
		writeJSON(w, http.StatusOK, map[string]any{
			"swagger": "2.0",
			"info":    map[string]string{"title": "rexec-gateway", "version": Version},
			"paths":   map[string]any{},
		})
	case "/openapi/v3":
		writeJSON(w, http.StatusOK, map[string]any{"paths": map[string]any{}})
	default:
		return false
	}
	return true
}
