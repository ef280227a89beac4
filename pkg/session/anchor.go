package session

import (
	"context"
	"errors"
	"sync"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	authclient "k8s.io/client-go/kubernetes/typed/authentication/v1"
	"k8s.io/client-go/rest"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// The audit-log witness (docs/FORMAT.md, section 6.2): at each checkpoint
// of the recording, and at its close, the session sends the chain head (at
// the close, a digest of the trailer) to the API server as the Audit-ID of
// a SelfSubjectReview, a request every authenticated user may make and that
// changes nothing. kube-apiserver takes a caller's Audit-ID as the auditID
// of the request's audit events as it is (k8s.io/apiserver
// pkg/endpoints/filters/audit_init.go: no check, no truncation), so with an
// audit policy that logs selfsubjectreviews at level Metadata the audit log
// holds what the recording was while it was written, out of the recorded
// user's reach. `verify --audit-log` checks a recording against it.
//
// It must never delay or break the session: anchors go out from one
// goroutine, one at a time, at most one per anchorGap; a checkpoint that
// comes while one is in flight replaces the one waiting (the chain is
// cumulative: the newer anchor vouches for everything the older did); each
// request is bounded by anchorTimeout, and the close waits at most
// anchorCloseWait. The trailer counts what was sent, failed and skipped.
const (
	anchorGap       = time.Second
	anchorTimeout   = 5 * time.Second
	anchorCloseWait = 2 * time.Second
)

// anchorer implements record.Witness for one session.
type anchorer struct {
	session string
	send    func(ctx context.Context, auditID string) error
	gap     time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	wake   chan struct{}
	done   chan struct{}

	mu      sync.Mutex
	pending string // the anchor waiting to be sent, "" if none
	counts  record.Anchors
	stopped bool
}

// newAnchorer starts the goroutine that sends the anchors of session
// through send.
func newAnchorer(session string, send func(ctx context.Context, auditID string) error) *anchorer {
	ctx, cancel := context.WithCancel(context.Background())
	a := &anchorer{session: session, send: send, gap: anchorGap, ctx: ctx, cancel: cancel,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	go a.run()
	return a
}

// auditAnchorSender sends an anchor as the Audit-ID header of a
// SelfSubjectReview made with the session's own credentials.
func auditAnchorSender(config *rest.Config) (func(ctx context.Context, auditID string) error, error) {
	c := rest.CopyConfig(config)
	client, err := authclient.NewForConfig(c)
	if err != nil {
		return nil, err
	}
	rc := client.RESTClient()
	return func(ctx context.Context, auditID string) error {
		err := rc.Post().Resource("selfsubjectreviews").SetHeader("Audit-ID", auditID).
			Body(&authv1.SelfSubjectReview{}).Do(ctx).Error()
		var status apierrors.APIStatus
		if err != nil && errors.As(err, &status) {
			// The API server answered: the request went through its audit
			// filter, whatever it thought of it.
			return nil
		}
		return err
	}, nil
}

// Checkpoint implements record.Witness: it queues the checkpoint's anchor
// and returns at once.
func (a *anchorer) Checkpoint(cp record.Checkpoint) {
	a.queue(record.CheckpointAnchor(a.session, cp.Seq, cp.Chain))
}

func (a *anchorer) queue(id string) {
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return
	}
	if a.pending != "" {
		a.counts.Skipped++
	}
	a.pending = id
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

func (a *anchorer) run() {
	defer close(a.done)
	for {
		select {
		case <-a.wake:
		case <-a.ctx.Done():
			return
		}
		a.mu.Lock()
		id := a.pending
		a.pending = ""
		a.mu.Unlock()
		if id == "" {
			continue
		}
		a.sendOne(a.ctx, id, anchorTimeout)
		select {
		case <-time.After(a.gap):
		case <-a.ctx.Done():
			return
		}
	}
}

// sendOne sends one anchor and counts the outcome.
func (a *anchorer) sendOne(ctx context.Context, id string, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	err := a.send(ctx, id)
	cancel()
	a.mu.Lock()
	if err != nil {
		a.counts.Failed++
	} else {
		a.counts.Sent++
	}
	a.mu.Unlock()
}

// Close implements record.Witness: it sends the anchor of the close (which
// supersedes a checkpoint anchor still waiting), waits for it at most
// anchorCloseWait, stops, and counts the anchors into the trailer.
func (a *anchorer) Close(t *record.Trailer) {
	id := record.EndAnchor(a.session, t)
	a.mu.Lock()
	if a.pending != "" {
		a.counts.Skipped++
		a.pending = ""
	}
	a.mu.Unlock()
	a.sendOne(context.Background(), id, anchorCloseWait)
	counts := a.stop()
	t.Anchors = &counts
}

// stop ends the sending goroutine (an anchor in flight is abandoned and
// counts as failed; one waiting, as skipped) and returns the counts. It
// may be called more than once.
func (a *anchorer) stop() record.Anchors {
	a.mu.Lock()
	a.stopped = true
	if a.pending != "" {
		a.counts.Skipped++
		a.pending = ""
	}
	a.mu.Unlock()
	a.cancel()
	<-a.done
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.counts
}
