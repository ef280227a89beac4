package upload

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/storage"
)

// Live upload defaults.
const (
	DefaultLiveInterval  = 10 * time.Second
	DefaultLiveThreshold = 4 << 20 // bytes
)

// LiveOptions tunes a Live upload. The zero value gives the defaults.
type LiveOptions struct {
	// Interval: new bytes are uploaded at least this often (default 10s).
	Interval time.Duration
	// Threshold: new bytes are uploaded as soon as this many have
	// accumulated (default 4 MiB), and no segment is larger.
	Threshold int64
	// Poll is how often the file's size is checked for Threshold (default
	// Interval/10, at least 100ms, at most 1s).
	Poll time.Duration
	// RetentionMode and RetentionDays put every segment under retention, as
	// Entry's do for the final object.
	RetentionMode string
	RetentionDays int
	// Metadata is set on every segment (with MetaLiveOffset added), for
	// instance Metadata(header, nil).
	Metadata map[string]string
}

// Segment is one live segment in the store: bytes [Offset, Offset+Size) of
// the recording, at Key in the target's bucket.
type Segment struct {
	Seq       int    `json:"seq"`
	Key       string `json:"key"`
	Offset    int64  `json:"offset"`
	Size      int64  `json:"size"`
	VersionID string `json:"version_id,omitempty"`
}

// URL is the segment's location, in target's bucket.
func (s Segment) URL(target storage.URL) storage.URL {
	return storage.URL{Bucket: target.Bucket, Key: s.Key}
}

// LiveStats are a Live upload's counters, for measuring its cost.
type LiveStats struct {
	Segments   int           // segments uploaded
	Bytes      int64         // bytes uploaded (the recording's prefix now in the store)
	Failures   int           // failed segment uploads (each is retried)
	LastError  string        // why the last failure happened, one line
	UploadTime time.Duration // time spent in segment uploads
}

// Live uploads a recording while it is being written: the bytes appended
// since the last segment go to <target key>.live/<seq, six digits> every
// Interval, or as soon as Threshold of them are there. Segments are
// consecutive and never overlap, so their concatenation is always a prefix of
// the recording; a failed segment is tried again with the same offset (and
// the same sequence number) at the next turn. Live only reads the file, and
// its failures are counted, never returned to the session.
type Live struct {
	store  Putter
	path   string
	target storage.URL
	opts   LiveOptions

	stop   chan struct{}
	done   chan struct{}
	cancel context.CancelFunc

	mu       sync.Mutex
	f        *os.File
	off      int64 // bytes already in segments
	seq      int
	segs     []Segment
	stats    LiveStats
	lastPut  time.Time
	stopOnce sync.Once
}

// StartLive starts uploading the recording at path, which is being written,
// as live segments of target (the final object's URL). The file may not
// exist yet.
func StartLive(store Putter, path string, target storage.URL, opts LiveOptions) *Live {
	if opts.Interval <= 0 {
		opts.Interval = DefaultLiveInterval
	}
	if opts.Threshold <= 0 {
		opts.Threshold = DefaultLiveThreshold
	}
	if opts.Poll <= 0 {
		opts.Poll = min(max(opts.Interval/10, 100*time.Millisecond), time.Second)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Live{
		store: store, path: path, target: target, opts: opts,
		stop: make(chan struct{}), done: make(chan struct{}), cancel: cancel,
		lastPut: time.Now(),
	}
	go l.run(ctx)
	return l
}

// SegmentURL is the URL of live segment seq of target.
func SegmentURL(target storage.URL, seq int) storage.URL {
	return storage.URL{Bucket: target.Bucket, Key: fmt.Sprintf("%s%s%06d", target.Key, storage.LiveSuffix, seq)}
}

func (l *Live) run(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(l.opts.Poll)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		size, err := l.size()
		if err != nil {
			continue // not created yet, or unreadable: nothing to do but wait
		}
		l.mu.Lock()
		pending := size - l.off
		due := pending >= l.opts.Threshold || pending > 0 && time.Since(l.lastPut) >= l.opts.Interval
		l.mu.Unlock()
		// Catch up in whole segments while output outruns the turns
		// (a bulk session); after a failure, wait for the next turn.
		for due && l.segment(ctx, size) == nil {
			l.mu.Lock()
			due = size-l.off >= l.opts.Threshold
			l.mu.Unlock()
			select {
			case <-l.stop:
				return
			default:
			}
		}
	}
}

// size opens the file when needed and returns its current size.
func (l *Live) size() (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		f, err := os.Open(l.path)
		if err != nil {
			return 0, err
		}
		l.f = f
	}
	fi, err := l.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// segment uploads the bytes from the current offset up to size (at most
// Threshold of them) as the next segment.
func (l *Live) segment(ctx context.Context, size int64) error {
	l.mu.Lock()
	off, seq, f := l.off, l.seq, l.f
	l.mu.Unlock()
	n := min(size-off, l.opts.Threshold)
	if n <= 0 || f == nil {
		return nil
	}
	buf := make([]byte, n)
	got, err := f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		l.fail(err)
		return err
	}
	buf = buf[:got]
	if len(buf) == 0 {
		return nil
	}
	md := make(map[string]string, len(l.opts.Metadata)+1)
	for k, v := range l.opts.Metadata {
		md[k] = v
	}
	md[MetaLiveOffset] = strconv.FormatInt(off, 10)
	u := SegmentURL(l.target, seq)
	start := time.Now()
	res, err := l.store.PutBytes(ctx, u, buf, md, retention(l.opts.RetentionMode, l.opts.RetentionDays, start))
	if errors.Is(err, storage.ErrExists) {
		buf, res, err = l.adopt(ctx, u, buf, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stats.UploadTime += time.Since(start)
	l.lastPut = time.Now()
	if err != nil {
		l.stats.Failures++
		l.stats.LastError = oneLine(err)
		return err
	}
	l.segs = append(l.segs, Segment{Seq: seq, Key: u.Key, Offset: off, Size: int64(len(buf)), VersionID: res.VersionID})
	l.off += int64(len(buf))
	l.seq++
	l.stats.Segments++
	l.stats.Bytes += int64(len(buf))
	return nil
}

// adopt handles a segment key that is taken (PutBytes never replaces an
// object): when an earlier attempt stored the segment but its answer was
// lost, the object holds the start of buf, and it becomes the segment as
// it is. Anything else at the key is someone else's object: an error, and
// the segment is tried again at the next turn.
func (l *Live) adopt(ctx context.Context, u storage.URL, buf []byte, putErr error) ([]byte, storage.PutResult, error) {
	info, err := l.store.Stat(ctx, u)
	if err != nil || info.Size <= 0 || info.Size > int64(len(buf)) || info.SHA256 == "" || strings.Contains(info.SHA256, "-") {
		return buf, storage.PutResult{}, putErr
	}
	sum := sha256.Sum256(buf[:info.Size])
	if base64.StdEncoding.EncodeToString(sum[:]) != info.SHA256 {
		return buf, storage.PutResult{}, putErr
	}
	return buf[:info.Size], storage.PutResult{VersionID: info.VersionID, SHA256: info.SHA256, Size: info.Size}, nil
}

func (l *Live) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stats.Failures++
	l.stats.LastError = oneLine(err)
}

// Stop ends the periodic uploads and uploads what remains of the file (the
// recording should be closed by then) as one last segment when it is at
// most Threshold: a larger rest goes up with the final object, which
// follows at once, rather than twice. If
// ctx ends first, an upload in flight is abandoned. The error is the last
// segment failure, if the store does not hold the whole file as segments;
// the session's own outcome never depends on it. Calling Stop again only
// returns the counters.
func (l *Live) Stop(ctx context.Context) (LiveStats, error) {
	var err error
	l.stopOnce.Do(func() {
		close(l.stop)
		select {
		case <-l.done:
		case <-ctx.Done():
			l.cancel()
			<-l.done
		}
		defer l.cancel()
		for {
			if err = ctx.Err(); err != nil {
				break
			}
			var size int64
			if size, err = l.size(); err != nil {
				l.fail(err)
				break
			}
			l.mu.Lock()
			rest := size - l.off
			l.mu.Unlock()
			if rest <= 0 || rest > l.opts.Threshold {
				break
			}
			if err = l.segment(ctx, size); err != nil {
				break
			}
		}
		l.mu.Lock()
		if l.f != nil {
			l.f.Close()
			l.f = nil
		}
		l.mu.Unlock()
	})
	return l.Stats(), err
}

// Stats returns the counters so far.
func (l *Live) Stats() LiveStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

// Segments returns the segments uploaded so far, in order; after Stop, all
// of them (for Entry.Live, so that they are deleted once the final object
// is confirmed).
func (l *Live) Segments() []Segment {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Segment(nil), l.segs...)
}
