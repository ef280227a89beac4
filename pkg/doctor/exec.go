package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/session"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/wsexec"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"
)

const (
	kindWebSocket = "websocket"
	kindSPDY      = "spdy"

	// webSocketProtocol is the only protocol offered over WebSocket, as
	// kubectl and rexec do.
	webSocketProtocol = wsexec.Protocol

	hopUpgrade = "the exec upgrade (the API server, or a proxy in front of it that does not pass upgrades)"
	hopStream  = "the exec stream (API server to kubelet to container runtime)"
)

// execURL is the pods/exec URL kubectl builds.
func (r *run) execURL(command []string, stdin bool) *url.URL {
	return r.client.CoreV1().RESTClient().Post().
		Resource("pods").Namespace(r.pod.Namespace).Name(r.pod.Name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: r.container,
			Command:   command,
			Stdin:     stdin,
			Stdout:    true,
			Stderr:    true,
		}, scheme.ParameterCodec).URL()
}

// executor returns the executor rexec itself streams with, for one
// protocol, with w watching its upgrade: WebSocket through pkg/wsexec
// (offering v5 only), SPDY through client-go's (offering v5 to v1). The
// checks then speak for the client the user runs.
func (r *run) executor(kind string, command []string, stdin bool, w *session.UpgradeWatcher) (remotecommand.Executor, error) {
	u := r.execURL(command, stdin)
	cfg := w.Wrap(r.restConfig)
	if kind == kindWebSocket {
		ex, err := wsexec.New(cfg, http.MethodGet, u.String())
		if err != nil {
			return nil, err
		}
		return ex, nil
	}
	return remotecommand.NewSPDYExecutor(cfg, http.MethodPost, u)
}

// handshake is what one protocol's upgrade did in step 5.
type handshake struct {
	kind     string
	works    bool // the server switched protocols
	status   int
	protocol string
	took     time.Duration
	err      error
	// fallback: the failure is one rexec (like kubectl) answers by
	// trying SPDY: an upgrade failure or an HTTPS proxy error.
	fallback bool
	// command is how `true` ended after a successful upgrade.
	command error
}

func (h *handshake) label() string {
	if h.kind == kindWebSocket {
		return "WebSocket"
	}
	return "SPDY"
}

var statusInMessage = regexp.MustCompile(`\((\d{3}) [^)]*\)`)

func (r *run) doHandshake(ctx context.Context, kind string) *handshake {
	h := &handshake{kind: kind}
	w := &session.UpgradeWatcher{}
	ex, err := r.executor(kind, []string{"true"}, false, w)
	if err != nil {
		h.err = err
		return h
	}
	var out limitedBuffer
	_, err = bounded(ctx, func() (struct{}, error) {
		return struct{}{}, ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &out})
	})
	up, seen := w.Last()
	h.status, h.protocol, h.took = up.Status, up.Protocol, up.Took
	h.works = up.Status == http.StatusSwitchingProtocols
	if !h.works {
		h.err = err
		if h.err == nil {
			h.err = errors.New("the upgrade did not happen")
		}
		h.fallback = httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
		if h.status == 0 {
			cause := err
			var ufe *httpstream.UpgradeFailureError
			if errors.As(err, &ufe) && ufe.Cause != nil {
				cause = ufe.Cause // it has no Unwrap
			}
			var se *apierrors.StatusError
			if errors.As(cause, &se) {
				h.status = int(se.ErrStatus.Code)
			} else if m := statusInMessage.FindStringSubmatch(fmt.Sprint(err)); m != nil {
				h.status, _ = strconv.Atoi(m[1])
			}
		}
		if !seen && ctx.Err() != nil {
			h.err = fmt.Errorf("no answer before the timeout (--timeout): %w", err)
		}
		return h
	}
	if h.protocol == "" {
		h.protocol = "channel.k8s.io"
	}
	h.command = err
	return h
}

// handshakes is step 5: the WebSocket and the SPDY upgrade, each on its own,
// with a trivial command.
func (r *run) handshakes(s *stepRun) {
	run := func(kind string) *handshake {
		ctx, cancel := context.WithTimeout(s.ctx, r.cfg.StepTimeout)
		defer cancel()
		return r.doHandshake(ctx, kind)
	}
	start := time.Now()
	r.ws = run(kindWebSocket)
	wsTook := time.Since(start)
	start = time.Now()
	r.spdy = run(kindSPDY)
	spdyTook := time.Since(start)

	wsUsed, spdyUsed := !r.cfg.PreferSPDY, true // does a session depend on it?
	if !r.cfg.PreferSPDY && r.ws.works {
		spdyUsed = false
	}
	if r.cfg.PreferSPDY {
		wsUsed = false
	}
	c := s.add(r.handshakeCheck(r.ws, r.spdy, wsUsed))
	c.Name, c.Took = "websocket", Millis(wsTook)
	c = s.add(r.handshakeCheck(r.spdy, r.ws, spdyUsed))
	c.Name, c.Took = "spdy", Millis(spdyTook)

	if h := r.preferred(); h != nil {
		r.report.Protocol = h.protocol + " (" + h.kind + ")"
	} else {
		r.stop = "no exec upgrade that rexec would use works"
	}
}

// preferred is the protocol a rexec session would use, nil when none works.
func (r *run) preferred() *handshake {
	first, second := r.ws, r.spdy
	if r.cfg.PreferSPDY {
		first, second = r.spdy, r.ws
	}
	switch {
	case first != nil && first.works:
		return first
	case second != nil && second.works && (r.cfg.PreferSPDY || r.ws.fallback):
		return second
	}
	return nil
}

// handshakeCheck judges one protocol knowing how the other fared. used
// says whether sessions depend on h (it is tried first, or it is the
// fallback that is needed).
func (r *run) handshakeCheck(h, other *handshake, used bool) Check {
	offered := map[string][]string{kindWebSocket: {webSocketProtocol}, kindSPDY: {"v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"}}[h.kind]
	data := map[string]any{"status": h.status, "protocol": h.protocol, "offered": offered, "upgradeMs": Millis(h.took)}
	if h.works {
		detail := fmt.Sprintf("101 Switching Protocols, %s in %v", h.protocol, Millis(h.took))
		c := okCheck(detail, data)
		var ee utilexec.ExitError
		switch {
		case h.command == nil:
			c.Detail += "; `true` exited 0"
			data["commandExit"] = 0
		case errors.As(h.command, &ee):
			c.Detail += fmt.Sprintf("; `true` exited %d", ee.ExitStatus())
			data["commandExit"] = ee.ExitStatus()
			c.Status, c.Hint = StatusWarn, "the upgrade works, but `true` failed in the container (not installed?); the stream checks need sh, cat and head"
		default:
			c.Detail += "; then: " + h.command.Error()
			data["commandError"] = h.command.Error()
			c.Status, c.Hint = StatusWarn, "the upgrade works, but the command did not complete cleanly"
		}
		return c
	}
	data["error"] = errString(h.err)
	statusText := "no HTTP answer"
	if h.status != 0 {
		statusText = fmt.Sprintf("%d %s", h.status, http.StatusText(h.status))
	}
	detail := fmt.Sprintf("%s upgrade failed (%s): %s", h.label(), statusText, oneLine(errString(h.err)))
	if h.kind == kindWebSocket && r.serverURL != nil && r.serverURL.User != nil {
		// No proxy is to blame: the dialer refuses the URL itself.
		c := failCheck(detail, hopKubeconfig, "the server URL holds a user name and password, which the WebSocket exec stream does not allow: "+
			"remove them from the cluster's server URL and give the credentials in the kubeconfig's user entry")
		c.Data = data
		return c
	}
	switch {
	case h.kind == kindWebSocket && other.works && h.fallback && h.status == http.StatusForbidden:
		c := warnCheck(fmt.Sprintf("WebSocket upgrade refused (403), SPDY works: OpenShift does this on some versions; rexec falls back automatically (%s)", oneLine(errString(h.err))),
			"nothing to do; KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false skips the WebSocket attempt, and a proxy in front of the API server that refuses WebSocket upgrades causes the same")
		c.Data = data
		return c
	case h.kind == kindWebSocket && other.works && h.fallback:
		c := warnCheck(detail+"; SPDY works and rexec falls back to it automatically",
			"a proxy in front of the API server that does not pass WebSocket upgrades causes this")
		c.Data = data
		return c
	case h.kind == kindWebSocket && other.works && used:
		c := failCheck(detail+"; SPDY works, but rexec (like kubectl) falls back only when the upgrade is refused, not on this error",
			hopUpgrade, "set KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false to use SPDY, and look at the proxy or load balancer in front of the API server")
		c.Data = data
		return c
	case h.kind == kindSPDY && other.works && !used:
		c := warnCheck(detail+"; WebSocket works, and rexec uses it",
			"clients that use SPDY (KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false, older kubectl) would fail: a proxy that drops the Upgrade header for SPDY/3.1 causes this")
		c.Data = data
		return c
	case !used && other.works:
		c := warnCheck(detail, "sessions use the other protocol, which works")
		c.Data = data
		return c
	}
	hop, hint := hopUpgrade, "the API server or a proxy refused the upgrade; a proxy that drops the Upgrade and Connection headers causes this"
	switch {
	case h.status == http.StatusForbidden:
		hop, hint = hopAuthz+" or "+hopUpgrade, "forbidden: RBAC must allow \"create\" on pods/exec (WebSocket also \"get\"; see the identity step), else a proxy in front refuses upgrades"
	case h.status == http.StatusUnauthorized:
		hop, hint = hopAuthn, r.unauthorizedHint()
	case h.status == http.StatusNotFound:
		hop, hint = "the pod "+r.pod.Namespace+"/"+r.pod.Name, "the pod or container is gone, or the URL does not reach a Kubernetes API server"
	case h.status == http.StatusBadRequest:
		hop, hint = "the exec request", "the API server refused the request itself (container name, command): the message says why"
	case h.status >= 500:
		hop, hint = "the API server or the kubelet", "the API server could not reach the kubelet or the runtime: check the node and the API server's logs"
	case httpstream.IsHTTPSProxyError(h.err):
		hop, hint = "the HTTPS proxy "+redactedProxy(r.proxyURL), "the proxy refused or failed the connection: check HTTPS_PROXY / proxy-url and NO_PROXY"
	case h.status == 0:
		hint = "the connection failed before an HTTP answer: see the reachability step"
	}
	c := failCheck(detail, hop, hint)
	c.Data = data
	return c
}

func redactedProxy(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.Redacted()
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// limitedBuffer keeps the first 64 KiB written to it; it is written by the
// stream goroutines while read by the caller.
type limitedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := 64<<10 - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
