package record

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"time"
)

// This file writes data frames: it opens and closes them on the chosen
// encoder, feeds their exact bytes to the hash chain (docs/FORMAT.md,
// section 5), writes each frame's checkpoint, and starts writeback.

// chainSeed is hashed to give H_0, the start of the checkpoint hash chain.
const chainSeed = "kubectl-rexec recording chain v1"

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
	payload, err := json.Marshal(Checkpoint{
		Seq:        w.seq,
		Offset:     w.frameOff,
		Size:       w.sink.n - w.frameOff,
		TextOffset: w.textOff,
		TextSize:   w.frameText,
		TimeStart:  Seconds(w.frameStart * 1000),
		TimeEnd:    Seconds(w.emitted * 1000),
		Events:     w.frameEvts,
		Chain:      hex.EncodeToString(w.chain[:]),
	})
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
