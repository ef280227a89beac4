package gateway

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/rest"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/session"
)

func TestParsePath(t *testing.T) {
	pre := "/apis/" + Group + "/" + Version + "/namespaces/"
	cases := []struct {
		path         string
		ns, pod, sub string
		ok           bool
	}{
		{pre + "ns1/pods/p1/exec", "ns1", "p1", "exec", true},
		{pre + "ns1/pods/p1/attach", "ns1", "p1", "attach", true},
		{pre + "ns1/pods/p1", "ns1", "p1", "", true},
		{pre + "ns1/pods/p1/portforward", "", "", "", false},
		{pre + "ns1/pods//exec", "", "", "", false},
		{pre + "ns1/services/p1/exec", "", "", "", false},
		{"/api/v1/namespaces/ns1/pods/p1/exec", "", "", "", false},
		{pre + "ns1/pods/p1/exec/extra", "", "", "", false},
	}
	for _, c := range cases {
		ns, pod, sub, ok := parsePath(c.path)
		if ns != c.ns || pod != c.pod || sub != c.sub || ok != c.ok {
			t.Errorf("parsePath(%q) = %q %q %q %v; want %q %q %q %v", c.path, ns, pod, sub, ok, c.ns, c.pod, c.sub, c.ok)
		}
	}
}

// TestImpersonateNeverPassesTheUsersMarker: whatever extras the API server
// says the user has, the upstream request carries exactly one marker, the
// gateway's own session ID; and groups that cannot or need not be
// impersonated are left out.
func TestImpersonateNeverPassesTheUsersMarker(t *testing.T) {
	u := &user.DefaultInfo{
		Name:   "mallory",
		UID:    "u-1",
		Groups: []string{"devs", user.SystemPrivilegedGroup, user.AllAuthenticated},
		Extra: map[string][]string{
			MarkerExtra:                  {"forged"},
			strings.ToUpper(MarkerExtra): {"forged-too"},
			"scopes.example.com/scope":   {"read-only"},
		},
	}
	c := impersonate(&rest.Config{Host: "https://api"}, u, "session-1")
	imp := c.Impersonate
	if got := imp.Extra[MarkerExtra]; !slices.Equal(got, []string{"session-1"}) {
		t.Errorf("marker %v, want only the gateway's session", got)
	}
	for k := range imp.Extra {
		if strings.EqualFold(k, MarkerExtra) && k != MarkerExtra {
			t.Errorf("a case variant of the marker passed: %q", k)
		}
	}
	if got := imp.Extra["scopes.example.com/scope"]; !slices.Equal(got, []string{"read-only"}) {
		t.Errorf("the user's other extras must pass on (they may narrow rights): %v", got)
	}
	if !slices.Equal(imp.Groups, []string{"devs"}) || imp.UserName != "mallory" || imp.UID != "u-1" {
		t.Errorf("impersonation %+v", imp)
	}
	if read := impersonate(&rest.Config{Host: "https://api"}, u, ""); read.Impersonate.Extra[MarkerExtra] != nil {
		t.Errorf("a read carries the marker: %v", read.Impersonate.Extra)
	}
}

func TestImpersonateServiceAccountSendsNoGroups(t *testing.T) {
	u := &user.DefaultInfo{Name: "system:serviceaccount:ci:bot", Groups: []string{"system:serviceaccounts", "system:serviceaccounts:ci"}}
	if g := impersonate(&rest.Config{}, u, "s").Impersonate.Groups; len(g) != 0 {
		t.Errorf("groups %v for a ServiceAccount: the API server derives them", g)
	}
}

func TestParseRequest(t *testing.T) {
	q := url.Values{"command": {"sh", "-c", "echo hi"}, "stdin": {"true"}, "stdout": {"1"}, "tty": {"false"}, "container": {"main"},
		"reason": {"why"}, "ticket": {"T-1"}, "unknown": {"dropped"}}
	req, st := parseRequest("ns", "p", "exec", q)
	if st != nil {
		t.Fatal(st)
	}
	if !req.opts.stdin || !req.opts.stdout || req.opts.stderr || req.opts.tty || req.reason != "why" || req.ticket != "T-1" {
		t.Errorf("request %+v", req)
	}
	if req.query.Get("unknown") != "" || req.query.Get("reason") != "" {
		t.Errorf("upstream query carries what the gateway did not understand: %v", req.query)
	}
	if got := req.query["command"]; !slices.Equal(got, []string{"sh", "-c", "echo hi"}) {
		t.Errorf("command %v", got)
	}
	if _, st := parseRequest("ns", "p", "exec", url.Values{"stdout": {"true"}}); st == nil || st.ErrStatus.Code != http.StatusBadRequest {
		t.Errorf("exec without a command: %v", st)
	}
	if _, st := parseRequest("ns", "p", "attach", url.Values{}); st == nil || !strings.Contains(st.Error(), "stdin, stdout, stderr") {
		t.Errorf("attach without streams: %v", st)
	}
}

func TestStatusOfExitCode(t *testing.T) {
	st := statusOf(exitError(3))
	if st.Reason != "NonZeroExitCode" || st.Details == nil || st.Details.Causes[0].Message != "3" {
		t.Errorf("status %+v", st)
	}
	if st := statusOf(nil); st.Status != "Success" {
		t.Errorf("status %+v", st)
	}
}

func TestRelayRefusalHintsServiceAccounts(t *testing.T) {
	body := `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"serviceaccounts \"bot\" is forbidden: User \"system:serviceaccount:rexec-system:rexec-gateway\" cannot impersonate resource \"serviceaccounts\"","reason":"Forbidden","code":403}`
	up := session.Upgrade{Status: 403, Body: []byte(body)}
	w := httptest.NewRecorder()
	if !relayRefusal(w, up, &user.DefaultInfo{Name: "system:serviceaccount:ci:bot"}) {
		t.Fatal("not relayed")
	}
	if w.Code != 403 || !strings.Contains(w.Body.String(), "deploy/components/serviceaccounts") {
		t.Errorf("relayed %d %s", w.Code, w.Body.String())
	}
	w = httptest.NewRecorder()
	relayRefusal(w, session.Upgrade{Status: 403, Body: []byte(strings.ReplaceAll(body, "serviceaccounts", "pods/exec"))}, &user.DefaultInfo{Name: "alice"})
	if strings.Contains(w.Body.String(), "components/serviceaccounts") {
		t.Errorf("hint for a user: %s", w.Body.String())
	}
	if relayRefusal(httptest.NewRecorder(), session.Upgrade{Status: 502, Body: []byte("<html>bad gateway</html>")}, &user.DefaultInfo{Name: "a"}) {
		t.Error("a non-Status body was relayed as a Status")
	}
}

func TestLoadPolicyIsStrict(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := dir + "/p.yaml"
		if err := writeFile(p, s); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, err := LoadPolicy(write("cluster: x\nrequireReasons: true\n")); err == nil || !strings.Contains(err.Error(), "requireReasons") {
		t.Errorf("a misspelt key must be an error: %v", err)
	}
	p, err := LoadPolicy(write("cluster: prod\nrequireReason: true\nstoreDown: queue\nupload: s3://b/p\n"))
	if err != nil || !p.RequireReason || p.StoreDown != StoreQueue || p.Upload.URL != "s3://b/p" || p.Cluster != "prod" {
		t.Errorf("policy %+v, %v", p, err)
	}
}
