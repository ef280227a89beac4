package record

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
)

// This file is the store rule: whether the next data frame is compressed
// or stored as raw zstd blocks, from what the writer measured of the
// compressor, the file and the stream; and the pool of compressors.

// storeRule is what the rule remembers.
type storeRule struct {
	// stalled is when (session nanoseconds) a hot-path call last waited
	// for room (writer_handoff.go): the stream waited for the recorder.
	stalled atomic.Int64
	// lastRatio is the last compressed frame's text per compressed byte.
	lastRatio float64
	// The open frame's costs: when it opened, the time its encoder took,
	// the file's write time and size when it opened.
	wall0      time.Time
	encodeTime time.Duration
	write0     time.Duration
	n0         int64
	// The measured rates, bytes per second: text through the compressor,
	// bytes into the file, and text arriving during the last frame.
	compressRate float64
	fileRate     float64
	arrivalRate  float64
	lastStored   bool
}

// stallMemory is how long after the stream last waited for the recorder
// frames are stored rather than compressed.
const stallMemory = time.Second

// storeBelowRatio: a frame is stored only if the last compressed one
// compressed less than this; above it (a run of NULs, say), compressing
// is cheaper than hashing and writing what storing would.
const storeBelowRatio = 16

// storeNext reports whether the next data frame is stored. It is when
// compressing it would make the stream wait: the stream has waited for the
// recorder within the last second, or the last frame was stored and its
// text came faster than the compressor takes text. And only when
// compression is real work (the last compressed frame shrank less than
// 16:1: not a run of NULs) and the file is not what cannot keep up. A
// session that never outruns the compressor never stores a frame; one
// that does gets a larger file instead of a slower stream. Until a frame
// large enough to measure has been compressed, frames are compressed.
func (w *Writer) storeNext() bool {
	s := &w.store
	if w.opts.NoStore || s.compressRate == 0 || s.lastRatio >= storeBelowRatio || s.fileBound() {
		return false
	}
	if s.lastStored && s.arrivalRate > s.compressRate {
		return true
	}
	return w.since()-s.stalled.Load() < int64(stallMemory)
}

// bulkRate is the arrival rate, in text per second, from which frames are
// compressed at zstd.SpeedFastest rather than at Options.Level: there
// SpeedDefault, at about half SpeedFastest's speed (80 against 143 MB/s of
// terminal text on the loaded benchmark machine), would take some 5% of a
// core.
const bulkRate = 4e6

// levelNext is the level of the next frame, if compressed: the fastest
// for bulk output (a frame that opens with a full chunk, or follows one
// whose text came at bulkRate or more), Options.Level for the rest.
func (w *Writer) levelNext(c *chunk) zstd.EncoderLevel {
	if len(c.text) >= chunkBytes || w.store.arrivalRate >= bulkRate {
		return zstd.SpeedFastest
	}
	return w.opts.Level
}

// afterHeader forgets the header frame's rates: a frame of one line
// written at once says nothing of how the session's text comes.
func (s *storeRule) afterHeader() {
	s.arrivalRate, s.lastStored, s.lastRatio = 0, false, 0
}

// fileBound reports whether the file, not the compressor, is what cannot
// keep up (a slow or network disk): it takes bytes more slowly than the
// compressor takes text, so storing frames, which writes four to five
// times the bytes of a compressed one, would slow the stream further.
func (s *storeRule) fileBound() bool {
	return s.fileRate > 0 && s.compressRate > 0 && s.fileRate < s.compressRate
}

func (s *storeRule) frameStarted(w *Writer) {
	s.wall0 = time.Now()
	s.encodeTime = 0
	s.write0 = w.sink.writeTime
	s.n0 = w.sink.n
}

// encoded counts the time the open frame's encoder took.
func (s *storeRule) encoded(w *Writer, _ int, d time.Duration) { s.encodeTime += d }

// frameClosed takes the rates of the frame just closed (its compressed
// size is known, its last bytes not yet written).
func (s *storeRule) frameClosed(w *Writer, text int64) {
	f := &w.frame
	if write := w.sink.writeTime - s.write0; write > 0 && w.sink.n > s.n0 {
		s.fileRate = float64(w.sink.n-s.n0) / write.Seconds()
	}
	s.lastStored = f.zenc == nil
	if wall := time.Since(s.wall0); wall > 0 {
		s.arrivalRate = float64(text) / wall.Seconds()
	}
	if f.zenc == nil || f.size == 0 || text < minMeasured {
		return
	}
	s.lastRatio = float64(text) / float64(f.size)
	// The rule weighs storing against the bulk compressor only.
	if f.level == zstd.SpeedFastest && s.encodeTime > 0 {
		s.compressRate = float64(text) / s.encodeTime.Seconds()
	}
}

// minMeasured is the least text a compressed frame must hold for its rates
// to count: a frame of a few events (the header, keystrokes) costs mostly
// set-up.
const minMeasured = 64 << 10

// Compressors are pooled across writers, one pool per level: a frame
// takes one when it opens and gives it back when it closes, so that an
// idle writer (FrameIdle) holds none. Once used, one holds about 1.5 MiB
// at zstd.SpeedFastest, 2.6 MiB at SpeedDefault, 5.5 MiB at
// SpeedBetterCompression (with the 1 MiB window).
var encoderPools [zstd.SpeedBestCompression + 1]sync.Pool

func getEncoder(level zstd.EncoderLevel) (*zstd.Encoder, error) {
	if level < zstd.SpeedFastest || level > zstd.SpeedBestCompression {
		return nil, fmt.Errorf("record: zstd level %d is not one of the encoder's", level)
	}
	if e, ok := encoderPools[level].Get().(*zstd.Encoder); ok {
		return e, nil
	}
	e, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(level),
		// One goroutine: the recorder must not take more than one core
		// from the user's machine, and synchronous encoding means Flush and
		// Close leave nothing in flight.
		zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(windowSize),
		zstd.WithEncoderCRC(true),
	)
	if err != nil {
		return nil, fmt.Errorf("create zstd encoder: %w", err)
	}
	return e, nil
}

func putEncoder(level zstd.EncoderLevel, e *zstd.Encoder) {
	e.Reset(nil)
	encoderPools[level].Put(e)
}
