package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/config"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/source"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/storage"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/termsafe"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/upload"
)

// uploader sends one session's recording to the object store: live
// segments while it runs (when configured), the whole file when it ends,
// and any queued uploads that are due. Failures never change the
// session's exit status: the recording is safe in the local directory and
// queued in the spool.
type uploader struct {
	cfg    config.Upload
	prefix storage.URL
	errOut io.Writer
	quiet  bool

	// begin runs on the session's upgrade callback, finish on the main
	// goroutine: mu orders what begin sets for finish.
	mu    sync.Mutex
	store *storage.Store
	live  *upload.Live
	entry upload.Entry // set by begin
	// viaGateway: the session went through the rexec gateway, which
	// uploads its own, signed recording; the local copy is not uploaded.
	viaGateway bool
}

// newUploader returns nil when the session uploads nothing.
func newUploader(eff config.Effective, quiet bool, errOut io.Writer) (*uploader, error) {
	u := eff.Upload
	if u.URL == "" || u.URL == config.UploadOff || eff.Mode == config.ModeOff {
		return nil, nil
	}
	prefix, err := storage.ParseURL(u.URL)
	if err != nil {
		return nil, fmt.Errorf("--upload: %w", err)
	}
	return &uploader{cfg: u, prefix: prefix, errOut: errOut, quiet: quiet}, nil
}

func (up *uploader) storeFor(ctx context.Context) (*storage.Store, error) {
	if up.store == nil {
		st, err := storage.New(ctx, source.Settings(up.cfg))
		if err != nil {
			return nil, err
		}
		up.store = st
	}
	return up.store, nil
}

func (up *uploader) target(h record.Header) storage.URL {
	return storage.URL{Bucket: up.prefix.Bucket, Key: upload.Key(up.prefix.Key, h)}
}

// entryFor is the spool entry that uploads the recording at path, whose
// header is h, as the configuration asks.
func (up *uploader) entryFor(path string, h record.Header) upload.Entry {
	e := upload.Entry{Recording: path, Target: up.target(h).String(), RemoveLocal: up.cfg.RemoveLocal}
	if r := up.cfg.Retention; r != nil {
		e.RetentionMode, e.RetentionDays = r.Mode, r.Days
	}
	return e
}

// begin runs once the header is written (session.Config.OnBegin): it
// spools the upload, owned by this process, so that the recording is
// uploaded by a later run even if this one is killed, and starts the live
// upload when configured.
func (up *uploader) begin(path string, h record.Header) {
	up.mu.Lock()
	defer up.mu.Unlock()
	if h.Rexec != nil && h.Rexec.Via != "" {
		up.viaGateway = true
		return
	}
	up.entry = up.entryFor(path, h)
	if spool, err := defaultSpool(); err == nil {
		e := up.entry
		e.Owner = upload.Self()
		if _, err := spool.Enqueue(e); err != nil {
			fmt.Fprintf(up.errOut, "warning: the upload could not be queued: %v; it is tried when the session ends\n", err)
		}
	}
	if !up.cfg.Live {
		return
	}
	st, err := up.storeFor(context.Background())
	if err != nil {
		fmt.Fprintf(up.errOut, "warning: live upload not started: %s; the recording is uploaded when the session ends\n", storage.Explain(err))
		return
	}
	opts := upload.LiveOptions{Metadata: upload.Metadata(h, nil), Interval: up.cfg.LiveEvery()}
	opts.RetentionMode, opts.RetentionDays = up.entry.RetentionMode, up.entry.RetentionDays
	up.live = upload.StartLive(st, path, up.target(h), opts)
}

// finish uploads the finished recording at path. A second Ctrl-C or
// SIGTERM stops waiting; the recording then stays queued.
func (up *uploader) finish(path string) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	up.mu.Lock()
	defer up.mu.Unlock()
	e := up.entry
	if up.viaGateway {
		if !up.quiet {
			fmt.Fprintln(up.errOut, "Not uploaded: the rexec gateway recorded this session and uploads its own copy")
		}
		return
	}
	if e.Recording == "" {
		// The header never reached the file (the session did not start).
		return
	}
	if up.live != nil {
		if _, err := up.live.Stop(ctx); err != nil && !up.quiet {
			fmt.Fprintf(up.errOut, "warning: live upload: %s\n", storage.Explain(err))
		}
		e.Live = up.live.Segments()
	}
	spool, err := defaultSpool()
	if err != nil {
		fmt.Fprintf(up.errOut, "warning: not uploaded: %v; upload it with: kubectl rexec upload %s\n", err, path)
		return
	}
	st, err := up.storeFor(ctx)
	if err != nil {
		if _, qerr := spool.Enqueue(e); qerr != nil {
			fmt.Fprintf(up.errOut, "warning: not uploaded: %s; nor queued: %v\n", storage.Explain(err), qerr)
			return
		}
		fmt.Fprintf(up.errOut, "warning: upload to %s failed: %s; queued in %s (retry now with: kubectl rexec upload --pending)\n", e.Target, storage.Explain(err), spool.Dir)
		return
	}
	// The user waits for this as the session ends: bound it, and leave
	// the rest to the spool.
	uctx, cancel := context.WithTimeout(ctx, uploadBudget(path))
	_, err = spool.Upload(uctx, st, e)
	cancel()
	if err != nil {
		fmt.Fprintf(up.errOut, "warning: %v\n", err)
		return // the store is not taking uploads now; the queue can wait too
	}
	if !up.quiet {
		fmt.Fprintf(up.errOut, "Session uploaded to %s\n", e.Target)
	}
	// The next run retries what earlier ones left queued, for a while.
	dctx, cancel := context.WithTimeout(ctx, drainBudget)
	defer cancel()
	rep := spool.Drain(dctx, st, time.Now(), false)
	if n := rep.Count(upload.Uploaded); n > 0 && !up.quiet {
		fmt.Fprintf(up.errOut, "Uploaded %d queued recording(s)\n", n)
	}
}

// drainBudget bounds the retry of queued uploads at the end of a session.
const drainBudget = 20 * time.Second

// uploadBudget is how long the end of a session waits for its own upload:
// a minute, plus a second per 10 MB.
func uploadBudget(path string) time.Duration {
	d := time.Minute
	if fi, err := os.Stat(path); err == nil {
		d += time.Duration(fi.Size()/10e6) * time.Second
	}
	return d
}

func defaultSpool() (*upload.Spool, error) {
	dir, err := upload.DefaultSpoolDir()
	if err != nil {
		return nil, err
	}
	return &upload.Spool{Dir: dir}, nil
}

type uploadOptions struct {
	pending bool
	list    bool
	to      string
	streams genericiooptions.IOStreams
}

func newUploadCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := &uploadOptions{streams: streams}
	cmd := &cobra.Command{
		Use:   "upload (--pending | --list | FILE...)",
		Short: "Upload recordings to the object store, or retry the queued uploads",
		Long: `Upload recordings to the S3-compatible store that the config file's upload section (or --to)
names. Every upload goes through a local spool: a failed one stays queued, and every rexec session
(or this command with --pending) retries it. The local copy is removed only once the store has
confirmed the object's size and SHA-256, and only when upload.removeLocal is set.

Credentials come from the AWS SDK's chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE,
~/.aws/config and ~/.aws/credentials.`,
		Example: `  # Retry every queued upload now
  kubectl rexec upload --pending

  # Show the queue
  kubectl rexec upload --list

  # Upload recordings made before uploads were configured
  kubectl rexec upload --to s3://audit/rexec ~/.local/state/kubectl-rexec/recordings/*.cast.zst`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case (o.pending || o.list) && len(args) > 0:
				return cmdutil.UsageErrorf(cmd, "--pending and --list take no files")
			case !o.pending && !o.list && len(args) == 0:
				return cmdutil.UsageErrorf(cmd, "give recordings to upload, or --pending to retry the queue, or --list to show it")
			}
			return nil
		},
		ValidArgsFunction: completeFiles,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, args)
		},
	}
	cmd.Flags().BoolVar(&o.pending, "pending", false, "Retry every queued upload now, ignoring the backoff")
	cmd.Flags().BoolVar(&o.list, "list", false, "List the queued uploads")
	cmd.Flags().StringVar(&o.to, "to", "", "Upload target s3://BUCKET/PREFIX (default: the config file's upload.url)")
	return cmd
}

func (o *uploadOptions) run(cmd *cobra.Command, args []string) error {
	spool, err := defaultSpool()
	if err != nil {
		return err
	}
	if o.list {
		return o.printQueue(spool)
	}
	if o.pending {
		if es, err := spool.Pending(); err == nil && len(es) == 0 {
			fmt.Fprintln(o.streams.Out, "No uploads are queued.")
			return nil
		}
	}
	l, err := config.Load()
	if err != nil {
		return err
	}
	cfg := l.File.Upload
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := storage.New(ctx, source.Settings(cfg))
	if err != nil {
		return fmt.Errorf("object store: %s", storage.Explain(err))
	}
	var rep upload.Report
	if o.pending {
		rep = spool.Drain(ctx, st, time.Now(), true)
		if len(rep.Results) == 0 {
			fmt.Fprintln(o.streams.Out, "No uploads are queued.")
			return nil
		}
	} else {
		if o.to != "" {
			cfg.URL = o.to
		}
		if cfg.URL == "" {
			return cmdutil.UsageErrorf(cmd, "no upload target: give --to s3://BUCKET/PREFIX or set upload.url in %s", l.Path)
		}
		up, err := newUploader(config.Effective{Upload: cfg, Mode: config.ModeRequired}, false, o.streams.ErrOut)
		if err != nil {
			return err
		}
		for _, path := range args {
			rep.Results = append(rep.Results, o.uploadFile(ctx, spool, st, up, path))
		}
	}
	fmt.Fprint(o.streams.Out, termsafe.Text(rep.String()))
	failed, dropped := rep.Count(upload.Failed), rep.Count(upload.Dropped)
	switch {
	case failed > 0 && dropped > 0:
		return fmt.Errorf("%d of %d upload(s) failed and stay queued (kubectl rexec upload --list); %d cannot be uploaded (see above)", failed, len(rep.Results), dropped)
	case failed > 0:
		return fmt.Errorf("%d of %d upload(s) failed and stay queued (kubectl rexec upload --list)", failed, len(rep.Results))
	case dropped > 0:
		return fmt.Errorf("%d of %d file(s) cannot be uploaded (see above)", dropped, len(rep.Results))
	}
	return nil
}

func (o *uploadOptions) uploadFile(ctx context.Context, spool *upload.Spool, st *storage.Store, up *uploader, path string) upload.Result {
	abs, err := filepath.Abs(path)
	if err != nil {
		return upload.Result{Outcome: upload.Dropped, Entry: upload.Entry{ID: path}, Err: err.Error()}
	}
	rd, err := record.Open(abs)
	if err != nil && !errors.Is(err, record.ErrAbrupt) {
		return upload.Result{Outcome: upload.Dropped, Entry: upload.Entry{ID: path}, Err: err.Error()}
	}
	var h record.Header
	if rd != nil {
		h = rd.Header()
		rd.Close()
	}
	e := up.entryFor(abs, h)
	res, err := spool.Upload(ctx, st, e)
	if err != nil {
		return upload.Result{Outcome: upload.Failed, Entry: e, Err: err.Error()}
	}
	return upload.Result{Outcome: upload.Uploaded, Entry: e, URL: e.Target, VersionID: res.VersionID, Size: res.Size}
}

func (o *uploadOptions) printQueue(spool *upload.Spool) error {
	es, err := spool.Pending()
	if err != nil {
		return err
	}
	if len(es) == 0 {
		fmt.Fprintln(o.streams.Out, "No uploads are queued.")
		return nil
	}
	for _, e := range es {
		line := fmt.Sprintf("%s -> %s  attempts %d", e.Recording, e.Target, e.Attempts)
		if !e.NextAttempt.IsZero() {
			line += "  next " + e.NextAttempt.Local().Format(time.DateTime)
		}
		if e.LastError != "" {
			line += "  last error: " + e.LastError
		}
		fmt.Fprintln(o.streams.Out, safe(line))
	}
	return nil
}
