package record

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
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
// behind them live in the other writer_*.go files, in the order a byte
// goes through them:
//
//	writer_events.go   the hot path: event lines (interval, code, text or
//	                   base64), written straight into the current chunk
//	at.go              the hot path for events stamped with their own time
//	writer_handoff.go  chunks handed to the writer goroutine, and the limit
//	                   on what the user has seen that the file lacks
//	writer_loop.go     the writer goroutine: one chunk at a time, the clock
//	writer_store.go    the store rule: compress a frame, or store it raw
//	writer_frame.go    data frames, the hash chain and their checkpoints
//	rawframe.go        the encoder of stored frames (raw zstd blocks)
//	writer_file.go     the file: one write per chunk, writeback
//	writer_index.go    the index frame (docs/FORMAT.md, section 3.4)
//	writer_trailer.go  the end of the recording: last events and trailer

// Options tunes a Writer. The zero value gives the documented defaults.
type Options struct {
	FrameBytes int           // close a data frame at this many uncompressed bytes; default 1 MiB
	FrameSpan  time.Duration // close a data frame after this much session time; default 5m
	// FrameIdle closes the open data frame once the session has been
	// silent this long, so that an idle session holds no compressor
	// (1.5 to 2.6 MiB each, by Level); default 1m.
	FrameIdle  time.Duration
	FlushEvery time.Duration // write pending events to the file at least this often; default 1s
	// Level is the zstd level of frames of interactive output (text that
	// comes slower than 4 MB/s); default zstd.SpeedDefault, whose
	// compressor holds about 2.6 MiB while its frame is open
	// (SpeedBetterCompression: 5.5 MiB for files about 2% smaller;
	// SpeedFastest: 1.5 MiB, about 3% larger). Bulk output is compressed at
	// zstd.SpeedFastest, or stored when even that would slow the stream
	// (writer_store.go).
	Level zstd.EncoderLevel
	// NoStore compresses every data frame, however far the writer falls
	// behind: a smaller file for a slower stream.
	NoStore bool
	Now     func() time.Time // clock; default time.Now (tests inject one)
	// Signer, when set, signs the trailer (docs/FORMAT.md, section 3.3):
	// it must hold an ed25519 key (an ed25519.PrivateKey will do). The
	// writer refuses to begin with another kind of key.
	Signer crypto.Signer
	// Witness, when set, is told each checkpoint once it is in the file,
	// and the trailer before it is written (anchor.go).
	Witness Witness

	forceRaw bool   // tests: store every data frame
	onStall  func() // tests: called, under mu, when a hot-path call waits for the file
}

func (o Options) withDefaults() Options {
	if o.FrameBytes <= 0 {
		o.FrameBytes = 1 << 20
	}
	if o.FrameSpan <= 0 {
		o.FrameSpan = 5 * time.Minute
	}
	if o.FrameIdle <= 0 {
		o.FrameIdle = time.Minute
	}
	if o.FlushEvery <= 0 {
		o.FlushEvery = time.Second
	}
	if o.Level == 0 {
		o.Level = zstd.SpeedDefault
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Writer records one session. The hot-path methods may be called from
// several goroutines: under a mutex, each turns its bytes into event lines
// in the current chunk and returns. A single writer goroutine compresses
// (or stores), hashes and writes whole chunks, so the hot path waits only
// when more than maxUnwritten bytes are not in the file yet.
//
// An idle Writer holds no buffer, compressor or frame: about 10 KiB.
type Writer struct {
	opts Options
	path string
	file *os.File

	done   chan struct{} // closed when the writer goroutine has ended
	failed chan struct{} // closed on the first error

	// mu guards the hot path's state: the events being encoded and the
	// chunks on their way to the writer goroutine.
	mu     sync.Mutex
	closed bool
	start  time.Time // session time 0; written once under mu, before begun is set
	events eventState
	hand   handoff

	beginning atomic.Bool
	begun     atomic.Bool

	errMu     sync.Mutex
	err       error
	hasErr    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	stEvents atomic.Int64
	stFrames atomic.Int64
	stRaw    atomic.Int64
	stBytes  [3]atomic.Int64

	// Everything below belongs to the writer goroutine.
	frame     frameState
	store     storeRule
	sink      fileSink
	index     indexState
	wroteHead bool
	headerSum [32]byte
	iov       [][]byte // a chunk's output, for one vectored write
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
// the end and written back as the recording grows (writer_file.go).
func newWriter(out io.Writer, opts Options, file *os.File) *Writer {
	opts = opts.withDefaults()
	w := &Writer{
		opts:   opts,
		done:   make(chan struct{}),
		failed: make(chan struct{}),
		sink:   fileSink{w: out, file: file},
		file:   file,
	}
	w.hand.init(&w.mu)
	w.store.stalled.Store(math.MinInt64 / 2)
	w.frame.h = sha256.New()
	if opts.Signer != nil {
		if _, ok := opts.Signer.Public().(ed25519.PublicKey); !ok {
			w.fail(fmt.Errorf("record: the signing key is %T, not ed25519", opts.Signer.Public()))
		}
	}
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

// fail records the first error and wakes every hot-path call waiting for
// the file: none will ever get room now. It must not be called with mu
// held.
func (w *Writer) fail(err error) {
	w.errMu.Lock()
	first := w.err == nil
	if first {
		w.err = err
		w.hasErr.Store(true)
		close(w.failed)
	}
	w.errMu.Unlock()
	if first {
		w.mu.Lock()
		w.hand.room.Broadcast()
		w.mu.Unlock()
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
	// Not json.Marshal: its HTML-safe escaping writes < > & as \u003c
	// \u003e \u0026, which docs/FORMAT.md 4.4 says are written as is.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(h); err != nil {
		err = fmt.Errorf("encode recording header: %w", err)
		w.fail(err)
		return err
	}
	line := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	reply := make(chan error, 1)
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	w.start = w.opts.Now()
	c := w.hand.newChunk()
	c.text = append(append(c.text, line...), '\n')
	c.header = true
	c.ctl = &control{reply: reply}
	w.hand.cur = c
	w.hand.cut()
	w.begun.Store(true)
	w.mu.Unlock()
	return <-reply
}

// Stdout records bytes the remote command wrote to stdout (or to the
// terminal under a TTY). p is not kept: the caller may reuse it at once.
func (w *Writer) Stdout(p []byte) error { return w.stream(kStdout, p, time.Time{}) }

// Stderr records bytes the remote command wrote to stderr (non-TTY only).
func (w *Writer) Stderr(p []byte) error { return w.stream(kStderr, p, time.Time{}) }

// Stdin records bytes sent to the remote command.
func (w *Writer) Stdin(p []byte) error { return w.stream(kStdin, p, time.Time{}) }

// Resize records a terminal size.
func (w *Writer) Resize(cols, rows int) error {
	if err := w.ready(); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.admit(resizeRoom); err != nil {
		return err
	}
	w.resizeEvent(w.since(), cols, rows)
	return nil
}

// Marker records a marker event with a label. Invalid UTF-8 in the label is
// replaced by U+FFFD: markers are text by definition.
func (w *Writer) Marker(label string) error {
	if err := w.ready(); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.admit(int64(len(label)) + resizeRoom); err != nil {
		return err
	}
	w.markerEvent(w.since(), label)
	return nil
}

// Flush writes everything recorded so far to the file as complete zstd
// blocks, without ending the frame, and returns once it is written. The
// writer does this by itself every FlushEvery; Flush is for callers that
// want a known point (tests, a marker before something risky).
func (w *Writer) Flush() error {
	if err := w.ready(); err != nil {
		return err
	}
	reply := make(chan error, 1)
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	c := w.hand.chunk()
	c.ctl = &control{reply: reply}
	w.hand.cut()
	w.mu.Unlock()
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
// partial UTF-8 as binary, the last frame and its checkpoint, the index,
// the trailer, then fsync and close. It may run concurrently with hot-path
// calls, which then fail with ErrClosed. Calling it again returns the
// first result.
func (w *Writer) Close(end End) error {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		var t int64
		if w.begun.Load() {
			t = w.since()
			if !w.hasErr.Load() {
				w.lastEvents(t, end)
			}
		}
		w.closed = true
		c := w.hand.chunk()
		c.ctl = &control{close: true, end: end, t: t}
		w.hand.cut()
		// Calls waiting for room must see the close and give up.
		w.hand.room.Broadcast()
		w.mu.Unlock()
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
