package record

import (
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"
)

// chainSeed is hashed to give H_0, the start of the checkpoint hash chain.
const chainSeed = "kubectl-rexec recording chain v1"

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
	// Witness, when set, is told each checkpoint once it is in the file,
	// and the trailer before it is written (anchor.go).
	Witness Witness

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

const (
	// headroom is free space in front of every queued buffer, so that bytes
	// of a UTF-8 sequence carried over from the previous write can be put in
	// front of the new ones without copying the new ones.
	headroom = 3
	// maxChunk bounds the bytes one event line holds: a huge write is
	// recorded as several events, so that readers never need huge lines.
	maxChunk = 256 << 10
	// windowSize is the zstd window: frames hold about FrameBytes, so a
	// larger window would only make readers allocate more.
	windowSize = 1 << 20
)

type kind uint8

// The stream kinds double as indexes into per-stream state.
const (
	kStdout kind = iota
	kStderr
	kStdin
	kResize
	kMarker
	kBegin
	kFlush
	kClose
	kRedacted // typed input kept as its length only (at.go)
)

var (
	textCodes = [3]string{"o", "e", "i"}
	// binaryCodes are single characters that no asciicast player knows:
	// asciinema 3 keeps only the first character of an unknown code when
	// it converts or concatenates a file, and would have turned the format
	// version 1 codes ob, eb, ib into o, e, i (docs/FORMAT.md, 4.2).
	binaryCodes = [3]string{"O", "E", "I"}
)

// item is one entry of the queue between the hot path and the writer
// goroutine. Kept small: it is copied through a channel per event.
type item struct {
	t    int64   // nanoseconds of session time when the hot path was called
	buf  *[]byte // stream bytes after headroom, from the free lists
	kind kind
	a, b int    // resize columns and rows
	s    string // marker label
	ctl  *control
}

// carried is the start of a UTF-8 sequence held back for the stream's next
// write (at most 3 bytes).
type carried struct {
	b [4]byte
	n int
}

// control carries the rare requests that want an answer.
type control struct {
	header *Header
	end    End
	reply  chan error
}

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

// sink is what the zstd encoder writes into: it counts the file offset and
// feeds the bytes of data frames to the chain hash.
type sink struct {
	w       io.Writer
	n       int64
	h       hash.Hash
	hashing bool
	err     error
	// writeTime is the time spent in w.Write: how fast the file takes
	// bytes, which decides whether storing a frame beats compressing it.
	writeTime time.Duration
}

func (s *sink) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	t0 := time.Now()
	n, err := s.w.Write(p)
	s.writeTime += time.Since(t0)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if s.hashing {
		s.h.Write(p[:n])
	}
	s.n += int64(n)
	if err != nil {
		s.err = fmt.Errorf("write recording: %w", err)
		return n, s.err
	}
	return n, nil
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

func (w *Writer) stream(k kind, p []byte) error {
	if err := w.ready(); err != nil {
		return err
	}
	if len(p) == 0 {
		return nil
	}
	t := w.since()
	bp := w.free.get(len(p))
	copy((*bp)[headroom:], p)
	return w.enqueue(item{t: t, buf: bp, kind: k})
}

func (w *Writer) enqueue(it item) error {
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		w.free.put(it.buf)
		return ErrClosed
	}
	select {
	case w.q <- it:
		w.mu.RUnlock()
		return nil
	default:
	}
	// The queue is full: wait for room (backpressure, nothing is dropped),
	// unless the writer has failed, in which case it will never make room.
	w.stalled.Store(it.t)
	select {
	case w.q <- it:
		w.mu.RUnlock()
		return nil
	case <-w.failed:
		w.mu.RUnlock()
		w.free.put(it.buf)
		return w.Err()
	}
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

// run is the writer goroutine.
func (w *Writer) run() {
	defer close(w.done)
	tick := time.NewTicker(w.opts.FlushEvery)
	defer tick.Stop()
	for {
		// Time spent waiting for events is not the frame's cost; it is
		// measured only when the queue is empty, so a busy writer pays
		// nothing for it.
		var wait time.Time
		if len(w.q) == 0 {
			wait = time.Now()
		}
		select {
		case it := <-w.q:
			w.waited(wait)
			if w.handle(it) {
				return
			}
		case <-tick.C:
			w.waited(wait)
			w.tick()
		}
	}
}

func (w *Writer) waited(since time.Time) {
	if !since.IsZero() {
		w.frameIdle += time.Since(since)
	}
}

// handle processes one item; it reports true for the close request.
func (w *Writer) handle(it item) bool {
	if w.hasErr.Load() {
		// Keep draining so no hot-path call waits forever, and give the
		// buffers back.
		w.free.put(it.buf)
		if it.ctl != nil && it.ctl.reply != nil {
			it.ctl.reply <- w.Err()
		}
		return it.kind == kClose
	}
	switch it.kind {
	case kStdout, kStderr, kStdin:
		w.handleStream(it)
		w.free.put(it.buf)
	case kResize:
		w.beginLine(it.t, "r")
		w.line = strconv.AppendInt(w.line, int64(it.a), 10)
		w.line = append(w.line, 'x')
		w.line = strconv.AppendInt(w.line, int64(it.b), 10)
		w.endLine()
	case kMarker:
		label := []byte(strings.ToValidUTF8(it.s, "\uFFFD"))
		w.beginLine(it.t, "m")
		w.line = appendEscaped(w.line, label)
		w.endLine()
		w.indexMarker(label)
	case kRedacted:
		w.beginLine(it.t, redactedCode)
		w.line = strconv.AppendInt(w.line, int64(it.a), 10)
		w.endLine()
	case kBegin:
		w.writeHeader(it.ctl.header)
		it.ctl.reply <- w.Err()
	case kFlush:
		w.flush()
		it.ctl.reply <- w.Err()
	case kClose:
		w.finish(it.t, it.ctl.end)
		return true
	}
	return false
}

func (w *Writer) tick() {
	if w.hasErr.Load() || !w.wroteHead {
		return
	}
	w.flush()
	if w.open && w.since()-w.frameT0 >= int64(w.opts.FrameSpan) {
		w.closeFrame()
	}
}

func (w *Writer) flush() {
	if !w.open || !w.pending {
		return
	}
	w.pending = false
	if err := w.enc.Flush(); err != nil {
		w.encodeFailed(err)
	}
}

func (w *Writer) encodeFailed(err error) {
	if w.sink.err != nil {
		w.fail(w.sink.err)
		return
	}
	w.fail(fmt.Errorf("compress recording: %w", err))
}

func (w *Writer) writeHeader(h *Header) {
	line, err := json.Marshal(h)
	if err != nil {
		w.fail(fmt.Errorf("encode recording header: %w", err))
		return
	}
	line = append(line, '\n')
	w.headerSum = sha256.Sum256(line)
	w.chain = sha256.Sum256([]byte(chainSeed))
	w.openFrame(0)
	if _, err := w.enc.Write(line); err != nil {
		w.encodeFailed(err)
		return
	}
	w.frameText = int64(len(line))
	w.closeFrame()
	w.wroteHead = true
}

func (w *Writer) openFrame(t int64) {
	w.enc = w.zenc
	if w.wroteHead && (w.opts.forceRaw || w.behind(t)) {
		// Events are queueing faster than compression drains them, and
		// compression is real work here (text, not a run of NULs, which
		// zstd shrinks faster than the bytes could be hashed and written):
		// store this frame so the stream never waits for the compressor.
		w.enc = w.raw
		w.rawFrames++
		w.stRaw.Store(w.rawFrames)
	}
	w.enc.Reset(&w.sink)
	w.sink.h.Reset()
	w.sink.h.Write(w.chain[:])
	w.sink.hashing = true
	w.open = true
	w.pending = false
	w.frameOff = w.sink.n
	w.frameText = 0
	w.frameEvts = 0
	w.frameT0 = t
	w.frameStart = w.emitted
	w.frameWall = time.Now()
	w.frameIdle = 0
	w.frameWrite0 = w.sink.writeTime
}

// behind reports whether events come faster than compression drains them,
// and compression is real work (the last frame compressed less than 16:1).
// Either RawBacklog events are waiting, or the stream has waited for a
// full queue within the last second: on one core the writer may drain the
// queue before the stream runs again, so the queue alone would miss it.
// Both only count with at least 1 MiB of text queued or able to queue, by
// the last frame's measure: a backlog of keystrokes is nothing to worry
// about.
func (w *Writer) behind(t int64) bool {
	if w.opts.RawBacklog <= 0 || w.lastRatio >= storeBelowRatio || w.fileBound() {
		return false
	}
	if n := len(w.q); n >= w.opts.RawBacklog && float64(n)*w.lastEventBytes >= storeBacklogBytes {
		return true
	}
	return t-w.stalled.Load() < int64(stallMemory) &&
		float64(w.opts.QueueEvents)*w.lastEventBytes >= storeBacklogBytes
}

// measureFrame takes the rates of the frame just closed: the file's
// (bytes per second of writing), and for a compressed frame the
// compressor's (text per second of the frame's time, less waiting for
// events and writing).
func (w *Writer) measureFrame() {
	wall := time.Since(w.frameWall)
	write := w.sink.writeTime - w.frameWrite0
	if z := w.sink.n - w.frameOff; write > 0 && z > 0 {
		w.fileRate = float64(z) / write.Seconds()
	}
	work := wall - w.frameIdle - write
	if w.enc == frameEncoder(w.zenc) && work > 0 && w.frameText > 0 {
		w.compressRate = float64(w.frameText) / work.Seconds()
	}
}

// fileBound reports whether the file, not the compressor, is what cannot
// keep up (a slow or network disk): it takes bytes more slowly than the
// compressor takes text, so storing frames, which writes four to five
// times the bytes of a compressed one, would slow the stream further.
func (w *Writer) fileBound() bool {
	return w.fileRate > 0 && w.compressRate > 0 && w.fileRate < w.compressRate
}

// stallMemory is how long after the stream last waited for a full queue
// frames are stored rather than compressed.
const stallMemory = time.Second

// storeBacklogBytes is the backlog, in text, that makes a frame stored.
const storeBacklogBytes = 1 << 20

// storeBelowRatio: under backlog a frame is stored only if the last one
// compressed less than this; above it, compressing is cheaper than writing.
const storeBelowRatio = 16

func (w *Writer) closeFrame() {
	w.open = false
	w.pending = false
	if err := w.enc.Close(); err != nil {
		w.encodeFailed(err)
		return
	}
	if z := w.sink.n - w.frameOff; w.enc == frameEncoder(w.zenc) && z > 0 {
		w.lastRatio = float64(w.frameText) / float64(z)
	}
	w.measureFrame()
	if w.frameEvts > 0 {
		w.lastEventBytes = float64(w.frameText) / float64(w.frameEvts)
	}
	w.sink.hashing = false
	w.sink.h.Sum(w.chain[:0])
	cp := Checkpoint{
		Seq:        w.seq,
		Offset:     w.frameOff,
		Size:       w.sink.n - w.frameOff,
		TextOffset: w.textOff,
		TextSize:   w.frameText,
		TimeStart:  Seconds(w.frameStart * 1000),
		TimeEnd:    Seconds(w.emitted * 1000),
		Events:     w.frameEvts,
		Chain:      hex.EncodeToString(w.chain[:]),
	}
	payload, err := json.Marshal(cp)
	if err != nil {
		w.fail(fmt.Errorf("encode checkpoint: %w", err))
		return
	}
	w.seq++
	w.appendIndex(payload)
	w.textOff += w.frameText
	w.stFrames.Store(int64(w.seq))
	w.skip = appendSkippable(w.skip[:0], checkpointMagic, payload)
	if _, err := w.sink.Write(w.skip); err != nil {
		w.fail(err)
	} else if w.opts.Witness != nil {
		w.opts.Witness.Checkpoint(cp)
	}
	w.writeback()
}

// writeback starts writing the file's completed frames to disk without
// waiting for it, a few MiB at a time, so that the fsync at Close (which
// the user waits for as the session ends) finds little left to do: it
// took 0.5 s for 300 MB written during a bulk session.
func (w *Writer) writeback() {
	const every = 4 << 20
	if w.file == nil || w.sink.n-w.synced < every {
		return
	}
	t0 := time.Now()
	startWriteback(w.file, w.synced, w.sink.n-w.synced)
	w.sink.writeTime += time.Since(t0) // it blocks when the disk queue is full
	w.synced = w.sink.n
}

// beginLine starts an event line at session time t (nanoseconds), opening
// or rolling over the data frame as needed.
func (w *Writer) beginLine(t int64, code string) {
	if w.open && t-w.frameT0 >= int64(w.opts.FrameSpan) {
		w.closeFrame()
	}
	if !w.open {
		w.openFrame(t)
	}
	// The interval is taken against the sum of what was printed, not the
	// previous event's exact time: rounding errors are carried forward and
	// never add up. A later-queued event stamped a few nanoseconds earlier
	// (two streams racing) gets interval 0.
	iv := roundMicros(t) - w.emitted
	if iv < 0 {
		iv = 0
	}
	w.emitted += iv
	l := append(w.line[:0], '[')
	l = appendMicros(l, iv)
	l = append(l, ',', '"')
	l = append(l, code...)
	w.line = append(l, '"', ',', '"')
}

func (w *Writer) endLine() {
	if w.hasErr.Load() {
		return
	}
	w.line = append(w.line, '"', ']', '\n')
	if _, err := w.enc.Write(w.line); err != nil {
		w.encodeFailed(err)
		return
	}
	w.pending = true
	w.frameText += int64(len(w.line))
	w.frameEvts++
	w.events++
	w.stEvents.Store(w.events)
	if w.frameText >= int64(w.opts.FrameBytes) {
		w.closeFrame()
	}
}

// handleStream records one write of a stream.
func (w *Writer) handleStream(it item) {
	s := int(it.kind)
	b := *it.buf
	c := w.carry[s].n
	copy(b[headroom-c:headroom], w.carry[s].b[:c])
	w.carry[s].n = 0
	data := b[headroom-c:]
	for len(data) > 0 {
		chunk := data
		if len(chunk) > maxChunk {
			chunk = chunk[:maxChunk]
		}
		tail := incompleteTail(chunk)
		body := chunk[:len(chunk)-tail]
		w.writeStream(s, it.t, body)
		if len(chunk) == len(data) {
			// What may be the start of a character completed by the next
			// write waits for it.
			w.carry[s].n = copy(w.carry[s].b[:], chunk[len(body):])
			return
		}
		data = data[len(body):]
	}
}

// writeStream records body, which ends at a character boundary or in bytes
// that are invalid anyway.
func (w *Writer) writeStream(s int, t int64, body []byte) {
	if len(body) == 0 || w.hasErr.Load() {
		return
	}
	// The common case in one pass: valid UTF-8 that is not control-heavy
	// goes out as text. Otherwise the line is dropped, with the interval
	// it took, and the body is taken apart below.
	emitted := w.emitted
	w.beginLine(t, textCodes[s])
	line, v := appendText(w.line, body)
	if v == isText {
		w.line = line
		w.countBytes(s, len(body))
		w.endLine()
		return
	}
	w.emitted = emitted
	// Bulk control bytes (NULs) go as base64; text around bytes that are
	// not UTF-8 is split from them below.
	if v == tooHeavy && controlHeavy(body) && utf8.Valid(body) {
		w.binaryEvent(s, t, body)
		return
	}
	var runs [maxRuns]run
	n, ok := splitRuns(body, &runs)
	if !ok {
		w.binaryEvent(s, t, body)
		return
	}
	for _, r := range runs[:n] {
		if r.binary {
			w.binaryEvent(s, t, body[r.start:r.end])
		} else {
			w.textEvent(s, t, body[r.start:r.end])
		}
	}
}

// controlHeavy reports whether escaping p as a JSON string would cost more
// than base64: each control byte other than \n \r \t \b \f and ESC becomes six
// bytes (\u0000), so a stream of NULs (head -c 1G /dev/zero) would grow
// sixfold as text but only by a third as base64. Short writes (keystrokes)
// always stay text, and terminal text with colours stays text.
func controlHeavy(p []byte) bool {
	if len(p) < 64 {
		return false
	}
	// Counted exactly, 64 bytes between checks, so that a stream of NULs
	// is known after an eighth of it. Terminal text rarely gets here:
	// appendText takes it first.
	limit := len(p) / 8
	heavy := 0
	for len(p) > 0 {
		n := min(len(p), 64)
		for _, c := range p[:n] {
			heavy += int(heavyBytes[c])
		}
		if heavy > limit {
			return true
		}
		p = p[n:]
	}
	return false
}

// heavyBytes marks the bytes that JSON escapes as six bytes (\u0000) but
// a terminal does not make common: every control byte but \n \r \t \b \f
// and ESC.
var heavyBytes = func() (t [256]uint8) {
	for c := range 0x20 {
		t[c] = 1
	}
	t['\n'], t['\r'], t['\t'], t['\b'], t['\f'], t[0x1b] = 0, 0, 0, 0, 0, 0
	return t
}()

func (w *Writer) textEvent(s int, t int64, p []byte) {
	w.beginLine(t, textCodes[s])
	w.line = appendEscaped(w.line, p)
	w.countBytes(s, len(p))
	w.endLine()
}

func (w *Writer) binaryEvent(s int, t int64, p []byte) {
	w.beginLine(t, binaryCodes[s])
	w.line = appendBase64(w.line, p)
	w.countBytes(s, len(p))
	w.endLine()
}

func (w *Writer) countBytes(s int, n int) {
	switch s {
	case 0:
		w.bytes.O += int64(n)
	case 1:
		w.bytes.E += int64(n)
	case 2:
		w.bytes.I += int64(n)
	}
	w.stBytes[s].Add(int64(n))
}

// finish writes the end of the recording.
func (w *Writer) finish(t int64, end End) {
	if !w.wroteHead {
		w.fail(fmt.Errorf("close: %w; the recording is empty", ErrNotBegun))
		return
	}
	// A character still waiting for its last bytes will never get them.
	for s := range w.carry {
		if n := w.carry[s].n; n > 0 {
			w.carry[s].n = 0
			w.binaryEvent(s, t, w.carry[s].b[:n])
		}
	}
	if end.ExitCode != nil {
		w.beginLine(t, "x")
		w.line = strconv.AppendInt(w.line, int64(*end.ExitCode), 10)
		w.endLine()
	}
	if w.open {
		w.closeFrame()
	}
	if w.hasErr.Load() {
		return
	}
	dur := roundMicros(t)
	if dur < w.emitted {
		dur = w.emitted
	}
	tr := Trailer{
		End:          w.opts.Now().UTC(),
		Duration:     Seconds(dur * 1000),
		Reason:       string(end.Reason),
		Message:      strings.ToValidUTF8(clip(end.Message, maxMessage), "\uFFFD"),
		ExitCode:     end.ExitCode,
		Frames:       w.seq,
		Events:       w.events,
		Bytes:        w.bytes,
		Chain:        hex.EncodeToString(w.chain[:]),
		HeaderSHA256: hex.EncodeToString(w.headerSum[:]),
	}
	if off, ok := w.writeIndex(); ok {
		tr.IndexOffset = &off
	}
	if w.opts.Witness != nil {
		w.opts.Witness.Close(&tr)
	}
	var signErr error
	if w.opts.Signer != nil {
		// A failed signature still leaves a complete, verifiable (unsigned)
		// recording; Close reports the failure.
		signErr = sign(&tr, w.opts.Signer)
	}
	payload, err := json.Marshal(tr)
	if err != nil {
		w.fail(fmt.Errorf("encode trailer: %w", err))
		return
	}
	w.skip = appendSkippable(w.skip[:0], trailerMagic, payload)
	if _, err := w.sink.Write(w.skip); err != nil {
		w.fail(err)
	}
	if signErr != nil {
		w.fail(signErr)
	}
}

// appendIndex adds a checkpoint's payload to the index, unless the index
// has already outgrown its limit (then the recording simply has none).
func (w *Writer) appendIndex(cp []byte) {
	if w.index == nil {
		w.index = append(make([]byte, 0, 4<<10), `{"checkpoints":[`...)
	} else if len(w.index) > maxIndexPayload {
		return
	} else {
		w.index = append(w.index, ',')
	}
	w.index = append(w.index, cp...)
}

// writeIndex writes the index frame and returns its offset. It writes none
// when the index would be larger than readers accept.
// indexMarker adds the marker just written (at session time w.emitted) to
// the index, until the markers outgrow their share of it.
func (w *Writer) indexMarker(label []byte) {
	if w.marksOver {
		return
	}
	if len(w.marks) > 0 {
		w.marks = append(w.marks, ',')
	}
	w.marks = AppendIndexMarker(w.marks, time.Duration(w.emitted)*time.Microsecond, label)
	if len(w.marks) > maxIndexMarkers {
		w.marks, w.marksOver = nil, true
	}
}

// maxIndexMarkers bounds the markers in the index (some 20,000 commands);
// past it the index has none and readers find the markers in the events.
const maxIndexMarkers = 4 << 20

// AppendIndexMarker appends one marker of the index frame (docs/FORMAT.md,
// section 3.4): [session time in seconds, "label"], the time printed like
// an interval and the label escaped like event data.
func AppendIndexMarker(dst []byte, t time.Duration, label []byte) []byte {
	dst = append(dst, '[')
	dst = appendMicros(dst, int64(t/time.Microsecond))
	dst = append(dst, ',', '"')
	dst = appendEscaped(dst, label)
	return append(dst, '"', ']')
}

func (w *Writer) writeIndex() (int64, bool) {
	if w.index == nil || len(w.index)+len(w.marks)+32 > maxIndexPayload {
		return 0, false
	}
	off := w.sink.n
	w.index = append(w.index, ']')
	if !w.marksOver {
		w.index = append(w.index, `,"markers":[`...)
		w.index = append(append(w.index, w.marks...), ']')
	}
	w.index = append(w.index, '}')
	w.skip = appendSkippable(w.skip[:0], indexMagic, w.index)
	if _, err := w.sink.Write(w.skip); err != nil {
		w.fail(err)
		return 0, false
	}
	return off, true
}

// maxMessage bounds the trailer's message, so that the trailer stays far
// below the payload size readers accept.
const maxMessage = 64 << 10

// clip shortens s to at most n bytes at a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Queued stream bytes live in recycled buffers by size class, so that
// steady traffic allocates nothing and a burst of large writes does not pin
// large buffers for small ones. The free lists belong to the Writer rather
// than to a sync.Pool: a pool is emptied by every garbage collection, and a
// burst that fills the queue with 32 KiB writes makes the collector run
// often enough to defeat it. At most QueueEvents buffers plus one per
// concurrent caller are ever out, so the lists' capacity never drops one in
// steady state; they are freed with the Writer.
var bufClasses = [...]int{64, 512, 4 << 10, 32 << 10, maxChunk}

type freeLists [len(bufClasses)]chan *[]byte

func newFreeLists(n int) (f freeLists) {
	for i := range f {
		f[i] = make(chan *[]byte, n)
	}
	return f
}

// get returns a buffer of headroom+n bytes.
func (f *freeLists) get(n int) *[]byte {
	for i, c := range bufClasses {
		if n <= c {
			select {
			case bp := <-f[i]:
				*bp = (*bp)[:headroom+n]
				return bp
			default:
			}
			b := make([]byte, headroom+n, headroom+c)
			return &b
		}
	}
	b := make([]byte, headroom+n) // larger than any class: used once
	return &b
}

func (f *freeLists) put(bp *[]byte) {
	if bp == nil {
		return
	}
	c := cap(*bp) - headroom
	for i, cc := range bufClasses {
		if c == cc {
			select {
			case f[i] <- bp:
			default:
			}
			return
		}
	}
}
