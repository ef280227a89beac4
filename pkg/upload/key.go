package upload

import (
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// Unknown stands for a key element or a metadata value that the recording
// does not give.
const Unknown = "unknown"

// maxElement bounds one key element, in bytes; S3 keys are at most 1024.
const maxElement = 128

// Key returns the object key of the recording whose header is h:
//
//	PREFIX/YYYY/MM/DD/<cluster>/<namespace>/<pod>/<session id>.cast.zst
//
// The date is the session start in UTC (the header timestamp when the rexec
// metadata has none). The cluster is the kubeconfig cluster name, else the
// host of the API server URL, else "unknown". Every element, the prefix's
// included, is reduced to letters, digits, '.', '_' and '-' (anything else
// becomes '-'), holds no "..", is at most 128 bytes, and is "unknown" when
// empty; an empty prefix, or one ending in "/", gives no empty element.
func Key(prefix string, h record.Header) string {
	m := h.Rexec
	if m == nil {
		m = &record.Meta{}
	}
	start := m.Start
	if start.IsZero() && h.Timestamp != 0 {
		start = time.Unix(h.Timestamp, 0)
	}
	var parts []string
	for _, p := range strings.Split(prefix, "/") {
		if p != "" {
			parts = append(parts, sanitizeElement(p))
		}
	}
	if start.IsZero() {
		parts = append(parts, Unknown, Unknown, Unknown)
	} else {
		start = start.UTC()
		parts = append(parts,
			strconv.Itoa(start.Year()),
			twoDigits(int(start.Month())),
			twoDigits(start.Day()))
	}
	parts = append(parts,
		sanitizeElement(clusterName(m)),
		sanitizeElement(m.Namespace),
		sanitizeElement(m.Pod),
		sanitizeElement(m.SessionID)+".cast.zst")
	return strings.Join(parts, "/")
}

func twoDigits(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// clusterName is the kubeconfig cluster name, else the API server's host
// (never its user information or path), else "".
func clusterName(m *record.Meta) string {
	if m.Cluster != "" {
		return m.Cluster
	}
	return serverHost(m.Server)
}

// serverHost returns the host of an API server URL without port, user
// information or path; "" when there is none.
func serverHost(server string) string {
	if server == "" {
		return ""
	}
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		// "host:6443" without a scheme parses as scheme "host".
		u, err = url.Parse("https://" + server)
		if err != nil {
			return ""
		}
	}
	return u.Hostname()
}

// sanitizeElement makes s safe as one element of an object key.
func sanitizeElement(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := b.String()
	for strings.Contains(out, "..") {
		out = strings.ReplaceAll(out, "..", "-")
	}
	if len(out) > maxElement {
		out = out[:maxElement]
	}
	if out == "" || out == "." {
		return Unknown
	}
	return out
}

// Metadata keys. S3 returns user metadata as x-amz-meta-<key> headers.
const (
	MetaSessionID  = "session-id"
	MetaUser       = "user"
	MetaGroups     = "groups"
	MetaContext    = "context"
	MetaCluster    = "cluster"
	MetaServer     = "server"
	MetaNamespace  = "namespace"
	MetaPod        = "pod"
	MetaContainer  = "container"
	MetaNode       = "node"
	MetaCommand    = "command"
	MetaStart      = "start"
	MetaTTY        = "tty"
	MetaReason     = "reason"
	MetaTicket     = "ticket"
	MetaClientUser = "client-user"
	MetaClientHost = "client-host"
	MetaVersion    = "rexec-version"
	MetaEndReason  = "end-reason"
	MetaExitCode   = "exit-code"
	MetaDuration   = "duration"
	MetaEnd        = "end"
	// MetaSHA256 is the base64 SHA-256 of the whole object as the uploader
	// computed it (set by the spool, not by Metadata).
	MetaSHA256 = "sha256"
	// MetaLiveOffset is the byte offset in the recording of a live segment.
	MetaLiveOffset = "live-offset"
)

// Value bounds, in bytes: S3 allows 2 KB of user metadata in all.
const (
	maxValue   = 256
	maxCommand = 512
)

// Metadata returns the object metadata for a recording with header h and
// trailer t (nil for a recording without one, which ended abruptly: its
// end-reason is then "abrupt"). Keys are lower case with dashes; values
// have no control characters and are bounded so that the whole stays under
// S3's 2 KB (storage.Put makes non-ASCII values header-safe). Nothing that could hold a credential is included: not the
// environment, not the API server URL's user information or path (only its
// host), not the client's command line.
func Metadata(h record.Header, t *record.Trailer) map[string]string {
	md := map[string]string{}
	set := func(k, v string, limit int) {
		if v = metaValue(v, limit); v != "" {
			md[k] = v
		}
	}
	if m := h.Rexec; m != nil {
		set(MetaSessionID, m.SessionID, maxValue)
		set(MetaUser, m.User.Username, maxValue)
		set(MetaGroups, strings.Join(m.User.Groups, ","), maxValue)
		set(MetaContext, m.Context, maxValue)
		set(MetaCluster, clusterName(m), maxValue)
		set(MetaServer, serverHost(m.Server), maxValue)
		set(MetaNamespace, m.Namespace, maxValue)
		set(MetaPod, m.Pod, maxValue)
		set(MetaContainer, m.Container, maxValue)
		set(MetaNode, m.Node, maxValue)
		set(MetaCommand, strings.Join(m.Argv, " "), maxCommand)
		if !m.Start.IsZero() {
			md[MetaStart] = m.Start.UTC().Format(time.RFC3339)
		}
		md[MetaTTY] = strconv.FormatBool(m.TTY)
		set(MetaReason, m.Reason, maxValue)
		set(MetaTicket, m.Ticket, maxValue)
		set(MetaClientUser, m.ClientUser, maxValue)
		set(MetaClientHost, m.ClientHost, maxValue)
		set(MetaVersion, m.Version, maxValue)
	} else if h.Timestamp != 0 {
		md[MetaStart] = time.Unix(h.Timestamp, 0).UTC().Format(time.RFC3339)
	}
	if t == nil {
		md[MetaEndReason] = "abrupt"
		return md
	}
	set(MetaEndReason, t.Reason, maxValue)
	if t.ExitCode != nil {
		md[MetaExitCode] = strconv.Itoa(*t.ExitCode)
	}
	md[MetaDuration] = strconv.FormatFloat(t.Duration.Duration().Seconds(), 'f', 3, 64)
	if !t.End.IsZero() {
		md[MetaEnd] = t.End.UTC().Format(time.RFC3339)
	}
	return md
}

// metaValue makes v a metadata value of at most limit bytes: control
// characters become spaces, surrounding space goes, and a longer value is
// cut on a character boundary and ends in "...". Non-ASCII text is kept;
// storage.Put encodes it for the HTTP header (RFC 2047, as AWS does) and
// Stat decodes it.
func metaValue(v string, limit int) string {
	v = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(v, "\uFFFD"))
	v = strings.TrimSpace(v)
	if len(v) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(v[cut]) {
			cut--
		}
		v = v[:cut] + "..."
	}
	return v
}
