package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/podopts"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/session"
)

// request is one exec or attach request, as the client asked for it.
type request struct {
	ns, pod, sub   string // sub: "exec" or "attach"
	opts           streamOptions
	query          url.Values // the upstream query: the options the gateway understood
	reason, ticket string
}

// parseRequest reads the PodExecOptions (or PodAttachOptions) query and
// makes the checks kube-apiserver makes before it connects anything.
func parseRequest(ns, pod, sub string, q url.Values) (*request, *apierrors.StatusError) {
	req := &request{ns: ns, pod: pod, sub: sub, reason: q.Get("reason"), ticket: q.Get("ticket")}
	switch sub {
	case "exec":
		o, err := podopts.Exec(q)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		if len(o.Command) == 0 {
			return nil, apierrors.NewBadRequest("you must specify at least one command for the container")
		}
		req.opts = streamOptions{stdin: o.Stdin, stdout: o.Stdout, stderr: o.Stderr, tty: o.TTY}
		req.query = execQuery(o)
	case "attach":
		o, err := podopts.Attach(q)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		req.opts = streamOptions{stdin: o.Stdin, stdout: o.Stdout, stderr: o.Stderr, tty: o.TTY}
		req.query = attachQuery(o)
	}
	if !req.opts.stdin && !req.opts.stdout && !req.opts.stderr {
		return nil, apierrors.NewBadRequest("you must specify at least 1 of stdin, stdout, stderr")
	}
	return req, nil
}

// serveSession runs one recorded session for user u: upstream first, then
// the client's upgrade, then the streams until either side ends.
func (g *Gateway) serveSession(w http.ResponseWriter, r *http.Request, u user.Info, req *request) {
	if g.cfg.RequireReason && strings.TrimSpace(req.reason) == "" {
		writeStatus(w, apierrors.NewForbidden(podsResource(req.sub), req.pod,
			errors.New("this cluster's rexec gateway requires a reason for every session: kubectl rexec --reason 'WHY' [--ticket ID] POD -- COMMAND")))
		return
	}
	if !g.admit() {
		writeStatus(w, apierrors.NewServiceUnavailable("the rexec gateway is shutting down; try again (another replica will take the session)"))
		return
	}
	defer g.leave()
	if err := g.uploads.ready(r.Context()); err != nil {
		writeStatus(w, apierrors.NewServiceUnavailable(err.Error()+"; the session was not started"))
		return
	}

	id := uuid.NewString()
	upCfg := impersonate(g.cfg.Upstream, u, id)
	target, err := upstreamURL(g.cfg.Upstream, req.ns, req.pod, req.sub, req.query)
	if err != nil {
		writeStatus(w, apierrors.NewInternalError(err))
		return
	}
	ctx, cancel := context.WithCancelCause(g.ctx)
	defer cancel(nil)
	pod := g.lookupPod(ctx, upCfg, req)

	b := newBridge(ctx)
	upgraded := make(chan struct{})
	var upgradeOnce sync.Once
	var upl *sessionUpload
	ex := session.NewExecutor(session.Config{
		RecordDir: g.cfg.RecordDir,
		Quiet:     true,
		Context:   g.cfg.Cluster,
		Cluster:   g.cfg.Cluster,
		Version:   g.cfg.Version,
		WebSocket: g.cfg.UpstreamProtocol != UpstreamSPDY,
		Identity:  session.KnownIdentity(recordUser(u)),
		Pod:       func() *corev1.Pod { return pod },
		Record:    record.Options{Signer: g.cfg.SignKey},
		Mode:      session.RecordRequired,
		Reason:    req.reason,
		Ticket:    req.ticket,
		OnBegin: func(path string, h record.Header) {
			if g.uploads != nil {
				upl = g.uploads.begin(path, h)
			}
		},
		SessionID:     id,
		IgnoreSignals: true,
		OnUpgrade:     func(session.Upgrade) { upgradeOnce.Do(func() { close(upgraded) }) },
		AmendHeader:   func(h *record.Header) { g.amendHeader(h, r, req) },
	})
	done := make(chan struct{})
	var result error
	go func() {
		defer close(done)
		result = ex.ExecuteWithContext(ctx, target, upCfg, pickIn(req.opts.stdin, b), pickOut(req.opts.stdout, b.stdout()),
			pickOut(req.opts.stderr, b.stderr()), req.opts.tty, pickSizes(req.opts.tty, b))
	}()
	defer func() {
		<-done
		if upl != nil {
			upl.finish(context.Background())
		}
		g.logf("session %s %s %s/%s by %s: %s (%s)", id, req.sub, req.ns, req.pod, u.GetName(), outcomeOf(result), ex.Path())
	}()

	select {
	case <-upgraded:
	case <-done:
		// No upgrade: the API server refused (its answer goes back as
		// it is), or the recording could not be created.
		if up, ok := ex.LastUpgrade(); ok && relayRefusal(w, up, u) {
			return
		}
		writeStatus(w, refusal(result))
		return
	}
	serveStreams(ctx, w, r, req.sub == "attach", req.opts, func(cctx context.Context, cs clientStreams) error {
		b.attach(cs)
		select {
		case <-done:
		case <-cctx.Done():
			cancel(context.Cause(cctx))
			<-done
		}
		return result
	})
	// The client's upgrade failed, or the session is over.
	cancel(errClientGone)
}

func pickIn(asked bool, b *bridge) io.Reader {
	if !asked {
		return nil
	}
	return b.stdin()
}

func pickOut(asked bool, w io.Writer) io.Writer {
	if !asked {
		return nil
	}
	return w
}

func pickSizes(tty bool, b *bridge) remotecommand.TerminalSizeQueue {
	if !tty {
		return nil
	}
	return b.sizes()
}

// lookupPod reads the pod as the user, for the header (UID, node, image).
// It is best effort: the exec itself is what is authorized.
func (g *Gateway) lookupPod(ctx context.Context, upCfg *rest.Config, req *request) *corev1.Pod {
	client, err := kubernetes.NewForConfig(upCfg)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	pod, err := client.CoreV1().Pods(req.ns).Get(ctx, req.pod, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return pod
}

// amendHeader makes the header the gateway's: the user is the one the API
// server vouched for (already in it), the client is known only by address
// and audit ID, and the terminal size comes with the first resize event.
func (g *Gateway) amendHeader(h *record.Header, r *http.Request, req *request) {
	m := h.Rexec
	m.Gateway = g.cfg.Instance
	m.Context = ""
	m.ClientHost = clientAddr(r)
	m.ClientUser = ""
	m.ClientArgv = nil
	m.ClientAuditID = r.Header.Get("Audit-ID")
	if req.sub == "attach" {
		m.Argv = nil
		h.Command = "(attach)"
	}
	h.Term = record.Term{Cols: 80, Rows: 24}
	h.Env = nil
}

// clientAddr is the address the API server saw the client at, when it
// says so, else empty: the connection itself comes from the API server.
func clientAddr(r *http.Request) string {
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
		first, _, _ := strings.Cut(xff, ",")
		if ip := net.ParseIP(strings.TrimSpace(first)); ip != nil {
			return ip.String()
		}
	}
	return ""
}

func recordUser(u user.Info) record.User {
	ru := record.User{Username: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups()}
	if ex := u.GetExtra(); len(ex) > 0 {
		ru.Extra = make(map[string][]string, len(ex))
		for k, v := range ex {
			ru.Extra[k] = v
		}
	}
	return ru
}

// relayRefusal answers the client with the API server's own refusal of the
// upstream upgrade (forbidden, not found...), status code and Status body
// as they were, so that kubectl prints what it would have printed for a
// direct exec. False when there is no such answer to relay.
func relayRefusal(w http.ResponseWriter, up session.Upgrade, u user.Info) bool {
	if up.Status < 400 || len(up.Body) == 0 {
		return false
	}
	var st metav1.Status
	if err := json.Unmarshal(up.Body, &st); err != nil || st.Kind != "Status" {
		return false
	}
	if _, _, err := serviceaccount.SplitUsername(u.GetName()); err == nil && up.Status == http.StatusForbidden &&
		strings.Contains(st.Message, "cannot impersonate") {
		// Constrained impersonation takes a ServiceAccount by name only,
		// with no room for the marker: the gateway needs the component
		// that grants it legacy impersonation of ServiceAccounts.
		st.Message += "; the rexec gateway can record ServiceAccounts only when the cluster admin applies deploy/components/serviceaccounts (see README, Make recording mandatory)"
	}
	writeJSON(w, up.Status, st)
	return true
}

// refusal is the answer to a session that never got its upgrade.
func refusal(err error) *apierrors.StatusError {
	if st := upstreamStatus(err); st != nil {
		return st
	}
	var open *session.OpenError
	if errors.As(err, &open) {
		return apierrors.NewServiceUnavailable("the rexec gateway cannot record this session, so it was not started: " + open.Error())
	}
	if err == nil {
		err = errors.New("the upstream stream ended before it started")
	}
	st := apierrors.NewInternalError(fmt.Errorf("the rexec gateway could not open the exec stream upstream: %w", err))
	st.ErrStatus.Code = http.StatusBadGateway
	st.ErrStatus.Reason = metav1.StatusReasonServiceUnavailable
	return st
}

// upstreamStatus finds the API server's own answer in err: client-go
// reports a refused WebSocket upgrade as an UpgradeFailureError around it.
func upstreamStatus(err error) *apierrors.StatusError {
	var st *apierrors.StatusError
	if errors.As(err, &st) {
		return st
	}
	var uf *httpstream.UpgradeFailureError
	if errors.As(err, &uf) && errors.As(uf.Cause, &st) {
		return st
	}
	return nil
}

func outcomeOf(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

func podsResource(sub string) schema.GroupResource {
	return schema.GroupResource{Group: Group, Resource: "pods/" + sub}
}
