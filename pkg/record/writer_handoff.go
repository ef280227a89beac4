package record

import "sync"

// This file is the hand-off between the hot path and the writer
// goroutine. Event lines go into the current chunk; a full chunk (or one
// the clock or a frame's end cuts) goes on the ready list, and the writer
// goroutine writes the chunks in order, one write to the file each. What
// the hot path may get ahead of the file is bounded by bytes, not by
// events: see maxUnwritten.

// maxUnwritten bounds what the user may have seen that the file does not
// hold: the hot path returns (and the tee shows the bytes) before the
// writer goroutine has written them, so a recording that fails, such as a
// full disk, lacks at most this many stream bytes of what was shown
// (docs/FORMAT.md, section 2.2). Bytes count from the moment a hot-path
// call accepts them until the write(2) that puts their chunk into the file
// has returned. Two chunks fit, so the writer writes one while the hot path
// fills the next.
const maxUnwritten = 256 << 10

// chunkBytes is the text a chunk holds before it is handed over: one zstd
// block, and one write of at most about this size to the file.
const chunkBytes = 128 << 10

// resizeRoom is what a resize or marker event weighs against
// maxUnwritten, besides its label: they carry no stream bytes, but must
// not pile up unbounded either.
const resizeRoom = 32

// chunk is a run of complete event lines (or the header line) on its way
// to the file, with what the writer goroutine must do with it.
type chunk struct {
	text   []byte
	weight int64 // stream bytes (and resize, marker weights) in it, against maxUnwritten
	header bool  // the header line: frame 0
	opens  bool  // the first chunk of a data frame
	ends   bool  // the last chunk of a data frame, whose checkpoint values are end
	end    frameEnd
	ctl    *control
}

// frameEnd is what the hot path knows of a data frame at its end.
type frameEnd struct {
	textSize, events   int64
	timeStart, timeEnd int64 // microseconds of session time
}

// control carries the rare requests that want an answer.
type control struct {
	reply chan error // Begin, Flush: the chunk is in the file
	close bool       // Close: write the index and trailer, then stop
	end   End
	t     int64
}

// handoff is the hot path's side of the hand-off, under Writer.mu.
type handoff struct {
	cur       *chunk   // the chunk being filled, nil when none is
	ready     []*chunk // handed over, not yet taken by the writer goroutine
	unwritten int64    // weight accepted and not yet in the file
	room      sync.Cond
	wake      chan struct{} // tells the writer goroutine there is work
}

func (h *handoff) init(mu *sync.Mutex) {
	h.room.L = mu
	h.wake = make(chan struct{}, 1)
}

// chunk returns the chunk being filled, starting one if none is.
func (h *handoff) chunk() *chunk {
	if h.cur == nil {
		h.cur = h.newChunk()
	}
	return h.cur
}

func (h *handoff) newChunk() *chunk {
	c := chunkPool.Get().(*chunk)
	c.text = c.text[:0]
	return c
}

// cut hands the current chunk to the writer goroutine.
func (h *handoff) cut() {
	c := h.cur
	if c == nil {
		return
	}
	h.cur = nil
	if len(c.text) == 0 && !c.ends && c.ctl == nil && !c.header {
		putChunk(c)
		return
	}
	h.ready = append(h.ready, c)
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// take moves the ready chunks to dst, for the writer goroutine.
func (h *handoff) take(dst []*chunk) []*chunk {
	dst = append(dst[:0], h.ready...)
	clear(h.ready)
	h.ready = h.ready[:0]
	return dst
}

// admit waits, with mu held, until n more bytes may be accepted without
// passing maxUnwritten, handing over what is pending so that the writer
// goroutine can make room. A wait is the stream waiting for the recorder,
// which the store rule takes into account (writer_store.go).
func (w *Writer) admit(n int64) error {
	h := &w.hand
	for {
		if w.closed {
			return ErrClosed
		}
		if w.hasErr.Load() {
			return w.Err()
		}
		if h.unwritten == 0 || h.unwritten+n <= maxUnwritten {
			return nil
		}
		if h.cur != nil && len(h.cur.text) > 0 {
			h.cut()
		}
		w.store.stalled.Store(w.since())
		if w.opts.onStall != nil {
			w.opts.onStall()
		}
		h.room.Wait()
	}
}

// written gives back the weight of a chunk whose bytes are in the file.
func (w *Writer) written(c *chunk) {
	if c.weight == 0 {
		return
	}
	w.mu.Lock()
	w.hand.unwritten -= c.weight
	w.hand.room.Broadcast()
	w.mu.Unlock()
}

// Chunks and their text are recycled across writers: a bulk stream cycles
// two or three of them, and an idle writer holds none.
var chunkPool = sync.Pool{New: func() any { return &chunk{text: make([]byte, 0, 4<<10)} }}

func putChunk(c *chunk) {
	if cap(c.text) > 4*chunkBytes+maxChunk*2 {
		c.text = nil // a huge line's buffer: let it go
	}
	*c = chunk{text: c.text[:0]}
	if c.text == nil {
		c.text = make([]byte, 0, 4<<10)
	}
	chunkPool.Put(c)
}

// bufPool holds byte buffers for the rare copies of the hot path and for
// the writer goroutine's output.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

func getBuf(n int) *[]byte {
	bp := bufPool.Get().(*[]byte)
	if cap(*bp) < n {
		*bp = make([]byte, 0, n)
	}
	return bp
}

func putBuf(bp *[]byte) {
	if cap(*bp) > 8*chunkBytes {
		return
	}
	*bp = (*bp)[:0]
	bufPool.Put(bp)
}
