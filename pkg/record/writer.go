package record

import (
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
)

// This file holds the Writer's public face: its options, its creation,
// the hot-path calls the stream goroutines make, and Close. The jobs
// behind them live in the other writer_*.go files:
//
//	at.go              hot-path calls stamped with their own time
//	writer_queue.go    the hand-off from the hot path to the writer goroutine
//	writer_loop.go     the writer goroutine: one item or tick at a time
//	writer_events.go   event lines: timestamps, text or base64, UTF-8 carry
//	writer_frame.go    data frames, the hash chain and their checkpoints
//	writer_store.go    the store rule: compress a frame, or store it raw
//	rawframe.go        the encoder of stored frames (raw zstd blocks)
//	writer_index.go    the index frame (docs/FORMAT.md, section 3.4)
//	writer_trailer.go  the end of the recording: last events and trailer

// Options tunes a Writer. The zero value gives the documented defaults.
type Options struct {
	QueueEvents int           // events queued before the hot path blocks; default 128 (4 MiB of 32 KiB writes)
	FrameBytes  int           // close a data frame at this many uncompressed bytes; default 1 MiB
	FrameSpan   time.Duration // close a data frame after this much session time; default 5m
	FlushEvery  time.Duration // flush pending data to the file this often; default 1s
	// Level is the zstd level; default zstd.SpeedFastest. Compression is
	// most of the recorder's cost even at this level (compare
	// BenchmarkWriterText with BenchmarkZstdBaselineText); SpeedDefault
	// measured about 25% slower for files about 5% smaller.
	Level zstd.EncoderLevel
	// RawBacklog: when a data frame opens with at least this many events
	// queued, or within a second of the stream waiting for a full queue,
	// and the last frame compressed less than 16:1, the frame is stored
	// uncompressed (raw zstd blocks) so that compression never slows the
	// stream; frames compress again once the writer keeps up. Default
	// QueueEvents/8 (16 events; a backlog must also hold 1 MiB of text,
	// so 32 events of 32 KiB writes); negative turns it off. A session
	// that never outruns the compressor never stores a frame; one that
	// does gets a larger file instead of a slower stream, unless the file
	// is what cannot keep up (docs/BENCHMARKS.md).
	RawBacklog int
	Now        func() time.Time // clock; default time.Now (tests inject one)
	// Signer, when set, signs the trailer (docs/FORMAT.md, section 3.3):
	// it must hold an ed25519 key (an ed25519.PrivateKey will do). The
	// writer refuses to begin with another kind of key.
	Signer crypto.Signer

	forceRaw bool // tests: store every data frame
}

func (o Options) withDefaults() Options {
	if o.QueueEvents <= 0 {
		o.QueueEvents = 128
	}
	if o.FrameBytes <= 0 {
		o.FrameBytes = 1 << 20
	}
	if o.FrameSpan <= 0 {
		o.FrameSpan = 5 * time.Minute
	}
	if o.FlushEvery <= 0 {
		o.FlushEvery = time.Second
	}
	if o.Level == 0 {
		o.Level = zstd.SpeedFastest
	}
	if o.RawBacklog == 0 {
		o.RawBacklog = max(1, o.QueueEvents/8)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// windowSize is the zstd window: frames hold about FrameBytes, so a
// larger window would only make readers allocate more.
const windowSize = 1 << 20

// Writer records one session. The hot-path methods may be called from
// several goroutines; a single writer goroutine encodes, compresses and
// writes, so a slow disk slows the session only once the queue is full.
type Writer struct {
	opts Options
	path string
	file *os.File

	q      chan item
	done   chan struct{} // closed when the writer goroutine has ended
	failed chan struct{} // closed on the first error

	// mu makes Close wait for hot-path calls that are queueing, so that
	// nothing is queued behind the close request (and silently lost).
	mu     sync.RWMutex
	closed bool

	beginning atomic.Bool
	begun     atomic.Bool
	start     time.Time // written once before begun is set

	errMu     sync.Mutex
	err       error
	hasErr    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	free freeLists

	stEvents atomic.Int64
	stFrames atomic.Int64
	stRaw    atomic.Int64
	stBytes  [3]atomic.Int64
	// stalled is when (session nanoseconds) a hot-path call last found
	// the queue full and waited: the stream waited for the recorder.
	stalled atomic.Int64

	// Everything below belongs to the writer goroutine.
	enc        frameEncoder // the current frame's: zenc, or raw when behind
	zenc       *zstd.Encoder
	raw        *rawEncoder
	rawFrames  int64 // data frames stored uncompressed, for Stats
	sink       sink
	line       []byte
	carry      [3]carried // per stream: the start of a character cut by the write's end
	wroteHead  bool
	headerSum  [32]byte
	chain      [32]byte
	seq        int
	emitted    int64 // sum of the intervals written so far, microseconds
	textOff    int64
	events     int64
	bytes      StreamBytes
	open       bool // a data frame is open
	pending    bool // bytes written into the encoder since the last flush
	frameOff   int64
	frameText  int64
	frameEvts  int64
	frameT0    int64 // session nanoseconds of the frame's first event
	frameStart int64 // emitted before the frame's first event, microseconds
	skip       []byte
	lastRatio  float64 // the last compressed frame's text/compressed bytes
	synced     int64   // file bytes handed to writeback
	// lastEventBytes is the last frame's text per event, to weigh a backlog.
	lastEventBytes float64
	// What a frame cost, to tell a compressor that cannot keep up (store
	// frames) from a file that cannot (keep compressing): the frame's
	// start, the time the writer waited for events during it, the sink's
	// writeTime at its start; then the measured rates, bytes per second.
	frameWall    time.Time
	frameIdle    time.Duration
	frameWrite0  time.Duration
	compressRate float64 // text per second of a compressed frame's own work
	fileRate     float64 // bytes per second the file took
	// index collects the checkpoint payloads for the index frame that
	// precedes the trailer (docs/FORMAT.md, section 3.4).
	index []byte
	// marks collects the index's markers ([time,"label"] items, comma
	// separated); nil once they outgrew maxIndexMarkers.
	marks     []byte
	marksOver bool
}

// Create creates the recording at path: the missing directories with mode
// 0700, the file with mode 0600 and never over an existing one. It writes
// nothing until Begin.
func Create(path string, opts Options) (*Writer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create recording directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create recording: %w", err)
	}
	w := newWriter(f, opts, f)
	w.path = path
	return w, nil
}

// NewWriter records onto out, which it never closes; Close flushes
// everything into it. Offsets in checkpoints count from the first byte
// written to out.
func NewWriter(out io.Writer, opts Options) *Writer { return newWriter(out, opts, nil) }

// newWriter is NewWriter; file, when out is a file of ours, is synced at
// the end and written back as frames complete (writeback).
func newWriter(out io.Writer, opts Options, file *os.File) *Writer {
	opts = opts.withDefaults()
	w := &Writer{
		opts:   opts,
		q:      make(chan item, opts.QueueEvents),
		done:   make(chan struct{}),
		failed: make(chan struct{}),
		free:   newFreeLists(opts.QueueEvents + 16),
		sink:   sink{w: out, h: sha256.New()},
		file:   file,
	}
	w.stalled.Store(math.MinInt64 / 2)
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(opts.Level),
		// One goroutine: the recorder must not take more than one core
		// from the user's machine, and synchronous encoding means Flush and
		// Close leave nothing in flight.
		zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(windowSize),
		zstd.WithEncoderCRC(true),
	)
	if err != nil {
		w.fail(fmt.Errorf("create zstd encoder: %w", err))
	}
	if opts.Signer != nil {
		if _, ok := opts.Signer.Public().(ed25519.PublicKey); !ok {
			w.fail(fmt.Errorf("record: the signing key is %T, not ed25519", opts.Signer.Public()))
		}
	}
	w.zenc, w.raw = enc, newRawEncoder()
	w.enc = enc
	go w.run()
	return w
}

// Path is the file's path; empty for a Writer made by NewWriter.
func (w *Writer) Path() string { return w.path }

// Stats tells what has been written so far.
func (w *Writer) Stats() Stats {
	return Stats{
		Events:    w.stEvents.Load(),
		Frames:    int(w.stFrames.Load()),
		RawFrames: int(w.stRaw.Load()),
		Bytes:     StreamBytes{O: w.stBytes[0].Load(), E: w.stBytes[1].Load(), I: w.stBytes[2].Load()},
	}
}

// Err returns the first error the recording hit, nil while all is well.
func (w *Writer) Err() error {
	if !w.hasErr.Load() {
		return nil
	}
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.err
}

func (w *Writer) fail(err error) {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	if w.err == nil {
		w.err = err
		w.hasErr.Store(true)
		close(w.failed)
	}
}

// since is the session time now, from the monotonic clock when Now is
// time.Now.
func (w *Writer) since() int64 { return int64(w.opts.Now().Sub(w.start)) }

// Begin writes the header frame. Session time 0 is now.
func (w *Writer) Begin(h Header) error {
	if err := w.Err(); err != nil {
		return err
	}
	if !w.beginning.CompareAndSwap(false, true) {
		return errors.New("record: Begin called twice")
	}
	if h.Version == 0 {
		h.Version = 3
	}
	if h.Version != 3 {
		return fmt.Errorf("record: header version %d, the format is asciicast v3", h.Version)
	}
	if h.Rexec != nil && h.Rexec.FormatVersion == 0 {
		m := *h.Rexec
		m.FormatVersion = FormatVersion
		h.Rexec = &m
	}
	reply := make(chan error, 1)
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return ErrClosed
	}
	w.start = w.opts.Now()
	w.q <- item{kind: kBegin, ctl: &control{header: &h, reply: reply}}
	w.begun.Store(true)
	w.mu.RUnlock()
	return <-reply
}

// Stdout records bytes the remote command wrote to stdout (or to the
// terminal under a TTY). p is copied; the caller may reuse it at once.
func (w *Writer) Stdout(p []byte) error { return w.stream(kStdout, p) }

// Stderr records bytes the remote command wrote to stderr (non-TTY only).
func (w *Writer) Stderr(p []byte) error { return w.stream(kStderr, p) }

// Stdin records bytes sent to the remote command.
func (w *Writer) Stdin(p []byte) error { return w.stream(kStdin, p) }

// Resize records a terminal size.
func (w *Writer) Resize(cols, rows int) error {
	if err := w.ready(); err != nil {
		return err
	}
	return w.enqueue(item{t: w.since(), kind: kResize, a: cols, b: rows})
}

// Marker records a marker event with a label. Invalid UTF-8 in the label is
// replaced by U+FFFD: markers are text by definition.
func (w *Writer) Marker(label string) error {
	if err := w.ready(); err != nil {
		return err
	}
	return w.enqueue(item{t: w.since(), kind: kMarker, s: label})
}

// Flush writes everything queued so far to the file as complete zstd
// blocks, without ending the frame, and returns once it is written. The
// writer does this by itself every FlushEvery; Flush is for callers that
// want a known point (tests, a marker before something risky).
func (w *Writer) Flush() error {
	if err := w.ready(); err != nil {
		return err
	}
	reply := make(chan error, 1)
	if err := w.enqueue(item{kind: kFlush, ctl: &control{reply: reply}}); err != nil {
		return err
	}
	select {
	case err := <-reply:
		return err
	case <-w.failed:
		return w.Err()
	}
}

func (w *Writer) ready() error {
	if w.hasErr.Load() {
		return w.Err()
	}
	if !w.begun.Load() {
		return ErrNotBegun
	}
	return nil
}

// Close ends the recording: the exit status event when known, any carried
// partial UTF-8 as binary, the last frame and its checkpoint, the trailer,
// then fsync and close. It may run concurrently with hot-path calls, which
// then fail with ErrClosed. Calling it again returns the first result.
func (w *Writer) Close(end End) error {
	w.closeOnce.Do(func() {
		var t int64
		if w.begun.Load() {
			t = w.since()
		}
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		// Nothing else can be queueing now; this waits only for room.
		w.q <- item{t: t, kind: kClose, ctl: &control{end: end}}
		<-w.done
		err := w.Err()
		if w.file != nil {
			if err == nil {
				if serr := w.file.Sync(); serr != nil {
					err = fmt.Errorf("sync recording: %w", serr)
				}
			}
			if cerr := w.file.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("close recording: %w", cerr)
			}
		}
		w.closeErr = err
	})
	return w.closeErr
}
