package upload

import (
	"strings"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testrec"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

var start = time.Date(2026, 11, 27, 23, 15, 0, 0, time.FixedZone("EST", -5*3600)) // 2026-11-28 04:15 UTC

func header(mut func(m *record.Meta)) record.Header {
	h := testrec.Header("alice", "prod-ctx", "default", "web-0", "app", start, "bash", "-l")
	h.Rexec.SessionID = "2e8a7e00-0000-4000-8000-000000000000"
	h.Rexec.Cluster = "prod"
	h.Rexec.Server = "https://api.prod.example:6443"
	if mut != nil {
		mut(h.Rexec)
	}
	return h
}

func TestKey(t *testing.T) {
	const id = "2e8a7e00-0000-4000-8000-000000000000.cast.zst"
	tests := []struct {
		name   string
		prefix string
		mut    func(m *record.Meta)
		want   string
	}{
		{"plain", "recordings", nil, "recordings/2026/11/28/prod/default/web-0/" + id},
		{"empty prefix", "", nil, "2026/11/28/prod/default/web-0/" + id},
		{"prefix with slashes", "/a//b/", nil, "a/b/2026/11/28/prod/default/web-0/" + id},
		{"server host when no cluster", "r", func(m *record.Meta) { m.Cluster = "" }, "r/2026/11/28/api.prod.example/default/web-0/" + id},
		{"server userinfo never used", "r", func(m *record.Meta) { m.Cluster = ""; m.Server = "https://user:secret@10.0.0.1:6443/path" }, "r/2026/11/28/10.0.0.1/default/web-0/" + id},
		{"server without scheme", "r", func(m *record.Meta) { m.Cluster = ""; m.Server = "api.x:6443" }, "r/2026/11/28/api.x/default/web-0/" + id},
		{"unknown cluster", "r", func(m *record.Meta) { m.Cluster = ""; m.Server = "" }, "r/2026/11/28/unknown/default/web-0/" + id},
		{"eks arn", "r", func(m *record.Meta) { m.Cluster = "arn:aws:eks:us-east-1:123:cluster/prod" }, "r/2026/11/28/arn-aws-eks-us-east-1-123-cluster-prod/default/web-0/" + id},
		{"dot dot", "..", func(m *record.Meta) { m.Namespace = ".."; m.Pod = "../../etc"; m.Cluster = "." }, "-/2026/11/28/unknown/-/----etc/" + id},
		{"control chars", "r", func(m *record.Meta) { m.Pod = "a\x00b\nc\x7f" }, "r/2026/11/28/prod/default/a-b-c-/" + id},
		{"empty", "r", func(m *record.Meta) { m.Namespace = ""; m.Pod = ""; m.SessionID = "" }, "r/2026/11/28/prod/unknown/unknown/unknown.cast.zst"},
		{"unicode", "r", func(m *record.Meta) { m.Pod = "pöd" }, "r/2026/11/28/prod/default/p-d/" + id},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Key(tt.prefix, header(tt.mut))
			if got != tt.want {
				t.Errorf("Key = %q\n      want %q", got, tt.want)
			}
			checkKey(t, got)
		})
	}
}

func checkKey(t *testing.T, k string) {
	t.Helper()
	if strings.Contains(k, "//") || strings.HasPrefix(k, "/") || strings.HasSuffix(k, "/") {
		t.Errorf("key %q has an empty element", k)
	}
	for _, el := range strings.Split(k, "/") {
		if el == "." || strings.Contains(el, "..") {
			t.Errorf("key %q has element %q", k, el)
		}
	}
	for _, r := range k {
		if r < 0x20 || r == 0x7f || r > 0x7e {
			t.Errorf("key %q has character %q", k, r)
		}
	}
	if len(k) > 1024 {
		t.Errorf("key is %d bytes", len(k))
	}
}

func TestKeyLongAndNoMeta(t *testing.T) {
	long := strings.Repeat("x", 300)
	k := Key(strings.Repeat("p/", 3), header(func(m *record.Meta) { m.Pod = long; m.Namespace = long; m.Cluster = long }))
	checkKey(t, k)
	if !strings.Contains(k, "/"+strings.Repeat("x", 128)+"/") || strings.Contains(k, strings.Repeat("x", 129)) {
		t.Errorf("long elements not cut at 128: %q", k)
	}
	// No rexec metadata: the asciicast timestamp gives the date.
	k = Key("r", record.Header{Timestamp: start.Unix()})
	if want := "r/2026/11/28/unknown/unknown/unknown/unknown.cast.zst"; k != want {
		t.Errorf("Key = %q, want %q", k, want)
	}
	if k := Key("", record.Header{}); k != "unknown/unknown/unknown/unknown/unknown/unknown/unknown.cast.zst" {
		t.Errorf("Key of an empty header = %q", k)
	}
}

func TestMetadata(t *testing.T) {
	h := header(func(m *record.Meta) {
		m.User.Groups = []string{"system:authenticated", "devs"}
		m.Node = "node-1"
		m.Reason = "INC-42 restart\nthe cache"
		m.Ticket = "JIRA-7"
		m.Server = "https://admin:hunter2@api.prod.example:6443/k8s?token=abc"
		m.Argv = []string{"sh", "-c", strings.Repeat("echo hi; ", 200)}
	})
	h.Env = map[string]string{"TERM": "xterm", "AWS_SECRET_ACCESS_KEY": "s3cr3t"}
	code := 3
	tr := &record.Trailer{Reason: "exited", ExitCode: &code, Duration: record.Seconds(62500 * time.Millisecond),
		End: start.Add(62 * time.Second)}
	md := Metadata(h, tr)
	want := map[string]string{
		MetaSessionID: "2e8a7e00-0000-4000-8000-000000000000",
		MetaUser:      "alice",
		MetaGroups:    "system:authenticated,devs",
		MetaContext:   "prod-ctx",
		MetaCluster:   "prod",
		MetaServer:    "api.prod.example",
		MetaNamespace: "default",
		MetaPod:       "web-0",
		MetaContainer: "app",
		MetaNode:      "node-1",
		MetaStart:     "2026-11-28T04:15:00Z",
		MetaTTY:       "true",
		MetaReason:    "INC-42 restart the cache",
		MetaTicket:    "JIRA-7",
		MetaEndReason: "exited",
		MetaExitCode:  "3",
		MetaDuration:  "62.500",
		MetaEnd:       "2026-11-28T04:16:02Z",
	}
	for k, v := range want {
		if md[k] != v {
			t.Errorf("%s = %q, want %q", k, md[k], v)
		}
	}
	if c := md[MetaCommand]; !strings.HasPrefix(c, "sh -c echo hi; ") || !strings.HasSuffix(c, "...") || len(c) > maxCommand+3 {
		t.Errorf("command not truncated: %d bytes %q", len(c), c)
	}
	total := 0
	for k, v := range md {
		total += len(k) + len(v)
		if k != strings.ToLower(k) || strings.ContainsAny(k, "_ ") {
			t.Errorf("key %q is not lower-case-with-dashes", k)
		}
		for _, bad := range []string{"hunter2", "admin", "token", "s3cr3t", "AWS_"} {
			if strings.Contains(v, bad) {
				t.Errorf("%s = %q holds %q", k, v, bad)
			}
		}
		for _, r := range v {
			if r < 0x20 || r == 0x7f {
				t.Errorf("%s = %q has control characters", k, v)
			}
		}
	}
	if total > 2048 {
		t.Errorf("metadata is %d bytes, S3 allows 2 KB", total)
	}

	// Without a trailer the recording ended abruptly; unset fields are absent.
	md = Metadata(header(func(m *record.Meta) { m.Reason = ""; m.Node = "" }), nil)
	if md[MetaEndReason] != "abrupt" {
		t.Errorf("end-reason = %q, want abrupt", md[MetaEndReason])
	}
	for _, k := range []string{MetaReason, MetaTicket, MetaNode, MetaExitCode, MetaDuration, MetaGroups} {
		if v, ok := md[k]; ok {
			t.Errorf("%s = %q, want it absent", k, v)
		}
	}
	// Non-ASCII is kept (storage.Put encodes it), invalid UTF-8 replaced.
	md = Metadata(header(func(m *record.Meta) { m.User.Username = "jürgen\xff" }), nil)
	if got := md[MetaUser]; got != "jürgen\uFFFD" {
		t.Errorf("user = %q", got)
	}
}

func TestBackoff(t *testing.T) {
	for _, tt := range []struct {
		n      int
		lo, hi time.Duration
	}{
		{1, 24 * time.Second, 36 * time.Second},
		{2, 48 * time.Second, 72 * time.Second},
		{3, 96 * time.Second, 144 * time.Second},
		{7, 1536 * time.Second, time.Hour},
		{8, 48 * time.Minute, time.Hour},
		{100, 48 * time.Minute, time.Hour},
	} {
		for _, j := range []float64{0, 0.5, 0.999} {
			if d := Backoff(tt.n, j); d < tt.lo || d > tt.hi {
				t.Errorf("Backoff(%d, %v) = %v, want in [%v, %v]", tt.n, j, d, tt.lo, tt.hi)
			}
		}
	}
}

func TestOneLineRedacts(t *testing.T) {
	for _, tt := range []struct{ in, bad string }{
		{"GET https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIAABCDEFGHIJKLMNOP%2F2026&X-Amz-Signature=deadbeef: 403", "deadbeef"},
		{"dial https://bob:pa55@minio:9000/: refused", "pa55"},
		{"key AKIAABCDEFGHIJKLMNOP rejected\nsecond line", "AKIAABCDEFGHIJKLMNOP"},
	} {
		got := oneLine(errorString(tt.in))
		if strings.Contains(got, tt.bad) || strings.Contains(got, "\n") {
			t.Errorf("oneLine(%q) = %q", tt.in, got)
		}
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }
