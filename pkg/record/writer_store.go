package record

import "time"

// This file is the store rule: whether the next data frame is compressed
// or stored as raw zstd blocks, from what the writer measured of the
// compressor, the file and the queue.

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
