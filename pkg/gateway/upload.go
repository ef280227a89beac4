package gateway

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/source"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/storage"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/upload"
)

// uploads sends the gateway's recordings to the object store: each is
// queued in the spool when its session begins (so a killed gateway leaves
// it queued, and the restarted one uploads it), goes up in live segments
// while the session runs, and whole when it ends. A background drain
// retries whatever failed.
type uploads struct {
	cfg    *Config
	prefix storage.URL
	spool  *upload.Spool
	logf   func(string, ...any)

	mu        sync.Mutex
	store     *storage.Store
	probedAt  time.Time
	probedErr error
}

func newUploads(cfg *Config) (*uploads, error) {
	if cfg.Upload.URL == "" {
		return nil, nil
	}
	prefix, err := storage.ParseURL(cfg.Upload.URL)
	if err != nil {
		return nil, fmt.Errorf("upload URL: %w", err)
	}
	return &uploads{cfg: cfg, prefix: prefix, spool: &upload.Spool{Dir: cfg.SpoolDir}, logf: cfg.Logf}, nil
}

func (u *uploads) storeFor(ctx context.Context) (*storage.Store, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.store == nil {
		st, err := storage.New(ctx, source.Settings(u.cfg.Upload))
		if err != nil {
			return nil, err
		}
		u.store = st
	}
	return u.store, nil
}

// ready says whether a new session may start as far as the store is
// concerned: with StoreRefuse, only while the bucket answers. The answer
// is kept for ProbeStoreEvery so that a busy gateway does not ask per
// session.
func (u *uploads) ready(ctx context.Context) error {
	if u == nil || u.cfg.StoreDown == StoreQueue {
		return nil
	}
	u.mu.Lock()
	if time.Since(u.probedAt) < u.cfg.ProbeStoreEvery {
		err := u.probedErr
		u.mu.Unlock()
		return err
	}
	u.mu.Unlock()
	err := u.probe(ctx)
	u.mu.Lock()
	u.probedAt, u.probedErr = time.Now(), err
	u.mu.Unlock()
	return err
}

func (u *uploads) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := u.storeFor(ctx)
	if err == nil {
		_, err = st.Client().HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(u.prefix.Bucket)})
	}
	if err != nil {
		return fmt.Errorf("the object store %s cannot be reached (%s), and this gateway refuses sessions it cannot upload (--store-down=refuse)", u.prefix, storage.Explain(err))
	}
	return nil
}

// session is one recording's upload.
type sessionUpload struct {
	u     *uploads
	entry upload.Entry
	live  *upload.Live
}

// begin runs once the header is in the file: queue the upload, owned by
// this process, and start the live segments when configured.
func (u *uploads) begin(path string, h record.Header) *sessionUpload {
	target := storage.URL{Bucket: u.prefix.Bucket, Key: upload.Key(u.prefix.Key, h)}
	e := upload.Entry{Recording: path, Target: target.String(), RemoveLocal: u.cfg.Upload.RemoveLocal}
	if r := u.cfg.Upload.Retention; r != nil {
		e.RetentionMode, e.RetentionDays = r.Mode, r.Days
	}
	s := &sessionUpload{u: u, entry: e}
	queued := e
	queued.Owner = upload.Self()
	if _, err := u.spool.Enqueue(queued); err != nil {
		u.logf("session %s: the upload could not be queued: %v", h.Rexec.SessionID, err)
	}
	if !u.cfg.Upload.Live {
		return s
	}
	st, err := u.storeFor(context.Background())
	if err != nil {
		u.logf("session %s: live upload not started: %s", h.Rexec.SessionID, storage.Explain(err))
		return s
	}
	opts := upload.LiveOptions{Metadata: upload.Metadata(h, nil), Interval: u.cfg.Upload.LiveEvery()}
	opts.RetentionMode, opts.RetentionDays = e.RetentionMode, e.RetentionDays
	s.live = upload.StartLive(st, path, target, opts)
	return s
}

// finish uploads the closed recording; a failure leaves it queued.
func (s *sessionUpload) finish(ctx context.Context) {
	u := s.u
	e := s.entry
	if s.live != nil {
		if _, err := s.live.Stop(ctx); err != nil {
			u.logf("live upload of %s: %s", e.Recording, storage.Explain(err))
		}
		e.Live = s.live.Segments()
	}
	st, err := u.storeFor(ctx)
	if err != nil {
		if _, qerr := u.spool.Enqueue(e); qerr != nil {
			u.logf("not uploaded and not queued: %s: %s; %v", e.Recording, storage.Explain(err), qerr)
			return
		}
		u.logf("upload of %s queued: %s", e.Recording, storage.Explain(err))
		return
	}
	uctx, cancel := context.WithTimeout(ctx, budget(e.Recording))
	defer cancel()
	if _, err := u.spool.Upload(uctx, st, e); err != nil {
		u.logf("%v", err)
		return
	}
	u.logf("uploaded %s to %s", e.Recording, e.Target)
}

// budget bounds one upload: a minute, plus a second per 10 MB.
func budget(path string) time.Duration {
	d := time.Minute
	if fi, err := os.Stat(path); err == nil {
		d += time.Duration(fi.Size()/10e6) * time.Second
	}
	return d
}

// drain uploads what is queued and due, now and every interval, until ctx
// ends. Entries whose owner is gone (a gateway killed mid-session, before
// this one started) are among them: their recordings end "abrupt". When
// the store comes back after being unreachable, everything queued is tried
// at once, whatever its backoff.
func (u *uploads) drain(ctx context.Context, every time.Duration) {
	down := false
	for {
		if err := u.probe(ctx); err != nil {
			down = true
		} else if st, err := u.storeFor(ctx); err == nil {
			rep := u.spool.Drain(ctx, st, time.Now(), down)
			for _, r := range rep.Results {
				u.logf("queued upload: %s", r.String())
			}
			down = false
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}
