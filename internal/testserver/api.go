package testserver

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/google/uuid"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/kubernetes/scheme"
)

// The API version the server claims, the one the module builds against.
const (
	serverMajor   = "1"
	serverMinor   = "37"
	serverVersion = "v1.37.2"
)

var (
	allVerbs     = metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	connectVerbs = metav1.Verbs{"create", "get"}
	statusVerbs  = metav1.Verbs{"get", "patch", "update"}
)

// discovery is what each group version serves, as kube-apiserver lists it.
// Only pods and deployments hold objects; the other resources exist so
// that kubectl's REST mapping and type/name resolution behave as against a
// real cluster (and answer NotFound or empty lists).
var discovery = map[schema.GroupVersion][]metav1.APIResource{
	{Version: "v1"}: {
		{Name: "namespaces", SingularName: "namespace", Kind: "Namespace", Verbs: allVerbs, ShortNames: []string{"ns"}},
		{Name: "nodes", SingularName: "node", Kind: "Node", Verbs: allVerbs, ShortNames: []string{"no"}},
		{Name: "pods", SingularName: "pod", Namespaced: true, Kind: "Pod", Verbs: allVerbs, ShortNames: []string{"po"}, Categories: []string{"all"}},
		{Name: "pods/attach", Namespaced: true, Kind: "PodAttachOptions", Verbs: connectVerbs},
		{Name: "pods/exec", Namespaced: true, Kind: "PodExecOptions", Verbs: connectVerbs},
		{Name: "pods/log", Namespaced: true, Kind: "Pod", Verbs: metav1.Verbs{"get"}},
		{Name: "pods/portforward", Namespaced: true, Kind: "PodPortForwardOptions", Verbs: connectVerbs},
		{Name: "pods/status", Namespaced: true, Kind: "Pod", Verbs: statusVerbs},
		{Name: "services", SingularName: "service", Namespaced: true, Kind: "Service", Verbs: allVerbs, ShortNames: []string{"svc"}, Categories: []string{"all"}},
	},
	{Group: "apps", Version: "v1"}: {
		{Name: "daemonsets", SingularName: "daemonset", Namespaced: true, Kind: "DaemonSet", Verbs: allVerbs, ShortNames: []string{"ds"}, Categories: []string{"all"}},
		{Name: "deployments", SingularName: "deployment", Namespaced: true, Kind: "Deployment", Verbs: allVerbs, ShortNames: []string{"deploy"}, Categories: []string{"all"}},
		{Name: "deployments/scale", Namespaced: true, Group: "autoscaling", Version: "v1", Kind: "Scale", Verbs: statusVerbs},
		{Name: "deployments/status", Namespaced: true, Kind: "Deployment", Verbs: statusVerbs},
		{Name: "replicasets", SingularName: "replicaset", Namespaced: true, Kind: "ReplicaSet", Verbs: allVerbs, ShortNames: []string{"rs"}, Categories: []string{"all"}},
		{Name: "statefulsets", SingularName: "statefulset", Namespaced: true, Kind: "StatefulSet", Verbs: allVerbs, ShortNames: []string{"sts"}, Categories: []string{"all"}},
	},
	{Group: "authentication.k8s.io", Version: "v1"}: {
		{Name: "selfsubjectreviews", SingularName: "selfsubjectreview", Kind: "SelfSubjectReview", Verbs: metav1.Verbs{"create"}},
		{Name: "tokenreviews", SingularName: "tokenreview", Kind: "TokenReview", Verbs: metav1.Verbs{"create"}},
	},
	{Group: "authorization.k8s.io", Version: "v1"}: {
		{Name: "selfsubjectaccessreviews", SingularName: "selfsubjectaccessreview", Kind: "SelfSubjectAccessReview", Verbs: metav1.Verbs{"create"}},
	},
}

// groupOrder is the order of /apis, as kube-apiserver sorts its groups.
var groupOrder = []string{"apps", "authentication.k8s.io", "authorization.k8s.io"}

// apiHandler is the API server: authentication, then routing.
func (s *Server) apiHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// kube-apiserver echoes the client's Audit-ID, or makes one up.
		auditID := r.Header.Get("Audit-ID")
		if auditID != "" {
			w.Header().Set("Audit-ID", auditID)
		} else {
			w.Header().Set("Audit-ID", uuid.NewString())
		}
		s.recordRequest(Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, AuditID: auditID})
		if !s.authenticated(r) {
			writeStatus(w, apierrors.NewUnauthorized("Unauthorized"))
			return
		}
		s.route(w, r)
	})
}

func (s *Server) authenticated(r *http.Request) bool {
	if s.opts.Token == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.Token)) == 1
}

// route dispatches /version, discovery and resource paths:
// /api/v1[/namespaces/NS]/RESOURCE[/NAME[/SUBRESOURCE]] and the same under
// /apis/GROUP/VERSION.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(r.URL.Path, "/")
	parts := strings.Split(path, "/")
	var gv schema.GroupVersion
	var rest []string
	switch {
	case path == "version":
		s.getOnly(w, r, func() any { return versionInfo() })
		return
	case path == "readyz" || path == "livez" || path == "healthz":
		s.health(w, r)
		return
	case path == "api":
		s.getOnly(w, r, func() any { return s.apiVersions(r) })
		return
	case path == "apis":
		s.getOnly(w, r, func() any { return apiGroupList() })
		return
	case parts[0] == "api" && len(parts) >= 2:
		gv, rest = schema.GroupVersion{Version: parts[1]}, parts[2:]
	case parts[0] == "apis" && len(parts) == 2:
		if g, ok := apiGroup(parts[1]); ok {
			s.getOnly(w, r, func() any { return g })
			return
		}
		writeStatus(w, notFoundPath())
		return
	case parts[0] == "apis" && len(parts) >= 3:
		gv, rest = schema.GroupVersion{Group: parts[1], Version: parts[2]}, parts[3:]
	default:
		writeStatus(w, notFoundPath())
		return
	}
	resources, ok := discovery[gv]
	if !ok {
		writeStatus(w, notFoundPath())
		return
	}
	if len(rest) == 0 {
		s.getOnly(w, r, func() any {
			return &metav1.APIResourceList{
				TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
				GroupVersion: gv.String(),
				APIResources: resources,
			}
		})
		return
	}

	namespace := ""
	if rest[0] == "namespaces" && len(rest) >= 3 {
		namespace, rest = rest[1], rest[2:]
	}
	resource, name, sub := rest[0], "", ""
	if len(rest) > 1 {
		name = rest[1]
	}
	if len(rest) > 2 {
		sub = strings.Join(rest[2:], "/")
	}
	full := resource
	if sub != "" {
		full += "/" + sub
	}
	var res *metav1.APIResource
	for i := range resources {
		if resources[i].Name == full {
			res = &resources[i]
		}
	}
	// A namespaced resource is reachable without a namespace only for
	// listing across all namespaces.
	if res == nil || (res.Namespaced && namespace == "" && name != "") || (!res.Namespaced && namespace != "") {
		writeStatus(w, notFoundPath())
		return
	}
	gr := schema.GroupResource{Group: gv.Group, Resource: resource}

	switch {
	case gv.Group == "" && full == "pods/exec":
		s.serveExec(w, r, namespace, name)
	case sub != "":
		// Other subresources are listed for discovery only.
		writeStatus(w, notFoundPath())
	case gv.Group == "authentication.k8s.io" && resource == "selfsubjectreviews" && name == "" && r.Method == http.MethodPost:
		s.selfSubjectReview(w)
	case gv.Group == "authorization.k8s.io" && resource == "selfsubjectaccessreviews" && name == "" && r.Method == http.MethodPost:
		s.selfSubjectAccessReview(w, r)
	case r.Method != http.MethodGet:
		writeStatus(w, apierrors.NewMethodNotSupported(gr, strings.ToLower(r.Method)))
	case name != "":
		if obj := s.store.get(resource, namespace, name); obj != nil {
			writeJSON(w, http.StatusOK, obj)
			return
		}
		writeStatus(w, apierrors.NewNotFound(gr, name))
	default:
		s.list(w, r, gv, res, namespace)
	}
}

// list answers a LIST, or a watch with an empty stream that ends at once:
// nothing here ever changes, and watchers such as kubectl's wait for a pod
// then fail fast instead of hanging.
func (s *Server) list(w http.ResponseWriter, r *http.Request, gv schema.GroupVersion, res *metav1.APIResource, namespace string) {
	q := r.URL.Query()
	ls, err := labels.Parse(q.Get("labelSelector"))
	if err != nil {
		writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err)))
		return
	}
	fs, err := fields.ParseSelector(q.Get("fieldSelector"))
	if err != nil {
		writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err)))
		return
	}
	if q.Get("watch") == "true" || q.Get("watch") == "1" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"kind":       res.Kind + "List",
		"apiVersion": gv.String(),
		"metadata":   map[string]string{"resourceVersion": "1"},
		"items":      s.store.list(res.Name, namespace, ls, fs),
	})
}

func (s *Server) selfSubjectReview(w http.ResponseWriter) {
	u := s.opts.User
	if s.opts.ForbidSelfSubjectReview {
		writeStatus(w, apierrors.NewForbidden(
			schema.GroupResource{Group: "authentication.k8s.io", Resource: "selfsubjectreviews"}, "",
			fmt.Errorf("User %q cannot create resource \"selfsubjectreviews\" in API group \"authentication.k8s.io\" at the cluster scope", u.Username)))
		return
	}
	extra := map[string]authenticationv1.ExtraValue{}
	for k, v := range u.Extra {
		extra[k] = v
	}
	writeJSON(w, http.StatusCreated, &authenticationv1.SelfSubjectReview{
		TypeMeta:   metav1.TypeMeta{Kind: "SelfSubjectReview", APIVersion: "authentication.k8s.io/v1"},
		ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(time.Now())},
		Status: authenticationv1.SelfSubjectReviewStatus{UserInfo: authenticationv1.UserInfo{
			Username: u.Username,
			UID:      u.UID,
			Groups:   u.Groups,
			Extra:    extra,
		}},
	})
}

// selfSubjectAccessReview answers with Options.Authorize's verdict on the
// resource attributes asked about; without it everything is allowed.
func (s *Server) selfSubjectAccessReview(w http.ResponseWriter, r *http.Request) {
	// Clients send protobuf or JSON; the clientset's codecs read both.
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeStatus(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	var review authorizationv1.SelfSubjectAccessReview
	if _, _, err := scheme.Codecs.UniversalDeserializer().Decode(body, nil, &review); err != nil {
		writeStatus(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	attrs := review.Spec.ResourceAttributes
	if attrs == nil {
		writeStatus(w, apierrors.NewBadRequest("only resourceAttributes are supported"))
		return
	}
	review.TypeMeta = metav1.TypeMeta{Kind: "SelfSubjectAccessReview", APIVersion: "authorization.k8s.io/v1"}
	review.Status = authorizationv1.SubjectAccessReviewStatus{Allowed: true}
	if s.opts.Authorize != nil {
		allowed, reason := s.opts.Authorize(*attrs)
		review.Status = authorizationv1.SubjectAccessReviewStatus{Allowed: allowed, Denied: !allowed, Reason: reason}
	}
	writeJSON(w, http.StatusCreated, &review)
}

// health answers /readyz, /livez and /healthz as a healthy kube-apiserver.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeStatus(w, apierrors.NewMethodNotSupported(schema.GroupResource{}, strings.ToLower(r.Method)))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("ok"))
}

func (s *Server) getOnly(w http.ResponseWriter, r *http.Request, body func() any) {
	if r.Method != http.MethodGet {
		writeStatus(w, apierrors.NewMethodNotSupported(schema.GroupResource{}, strings.ToLower(r.Method)))
		return
	}
	writeJSON(w, http.StatusOK, body())
}

func versionInfo() *version.Info {
	return &version.Info{
		Major:      serverMajor,
		Minor:      serverMinor,
		GitVersion: serverVersion,
		GoVersion:  runtime.Version(),
		Compiler:   runtime.Compiler,
		Platform:   runtime.GOOS + "/" + runtime.GOARCH,
	}
}

func (s *Server) apiVersions(r *http.Request) *metav1.APIVersions {
	return &metav1.APIVersions{
		TypeMeta: metav1.TypeMeta{Kind: "APIVersions"},
		Versions: []string{"v1"},
		ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{
			{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host},
		},
	}
}

func apiGroup(name string) (metav1.APIGroup, bool) {
	gv := schema.GroupVersion{Group: name, Version: "v1"}
	if _, ok := discovery[gv]; !ok || name == "" {
		return metav1.APIGroup{}, false
	}
	v := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
	return metav1.APIGroup{
		TypeMeta:         metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"},
		Name:             name,
		Versions:         []metav1.GroupVersionForDiscovery{v},
		PreferredVersion: v,
	}, true
}

func apiGroupList() *metav1.APIGroupList {
	l := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	for _, name := range groupOrder {
		g, _ := apiGroup(name)
		g.TypeMeta = metav1.TypeMeta{}
		l.Groups = append(l.Groups, g)
	}
	return l
}

// notFoundPath is kube-apiserver's answer to a path it does not serve.
func notFoundPath() *apierrors.StatusError {
	return apierrors.NewGenericServerResponse(http.StatusNotFound, "", schema.GroupResource{}, "", "", 0, false)
}

// writeStatus writes err as the metav1.Status body kube-apiserver sends,
// which clients turn back into the same StatusError.
func writeStatus(w http.ResponseWriter, err *apierrors.StatusError) {
	st := err.ErrStatus
	st.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	st.Status = metav1.StatusFailure
	writeJSON(w, int(st.Code), &st)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}

// statusFor turns any error into a StatusError, keeping one that is.
func statusFor(err error) *apierrors.StatusError {
	var se *apierrors.StatusError
	if errors.As(err, &se) {
		return se
	}
	return apierrors.NewInternalError(err)
}
