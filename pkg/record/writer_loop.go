package record

import "time"

// This file is the writer goroutine's loop: it wakes when chunks are
// handed over or when the clock ticks, and writes the chunks in order, one
// write to the file each.

// run is the writer goroutine.
func (w *Writer) run() {
	defer close(w.done)
	tick := time.NewTicker(w.opts.FlushEvery)
	defer tick.Stop()
	var batch []*chunk
	for {
		select {
		case <-w.hand.wake:
		case <-tick.C:
			w.tick()
		}
		for {
			w.mu.Lock()
			batch = w.hand.take(batch)
			w.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			for i, c := range batch {
				batch[i] = nil
				if w.writeChunk(c) {
					return
				}
			}
		}
	}
}

// tick hands over what the clock says must reach the file: events pending
// for up to FlushEvery, and the open frame once it has spanned FrameSpan
// or the session has been silent for FrameIdle (which gives its
// compressor back).
func (w *Writer) tick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.begun.Load() || w.closed || w.hasErr.Load() {
		return
	}
	e := &w.events
	if t := w.since(); e.frameOpen && (t-e.frameT0 >= int64(w.opts.FrameSpan) || t-e.lastEvent >= int64(w.opts.FrameIdle)) {
		w.endFrame()
		return
	}
	if c := w.hand.cur; c != nil && len(c.text) > 0 {
		w.hand.cut()
	}
}

// tellWitness tells Options.Witness the checkpoints now in the file.
func (w *Writer) tellWitness() {
	for _, cp := range w.frame.witness {
		w.opts.Witness.Checkpoint(cp)
	}
	w.frame.witness = w.frame.witness[:0]
}

// writeChunk writes one chunk into the file: the frame it opens, its text
// through the frame's encoder to the end of a block, the frame's end and
// checkpoint when it ends one, the trailer when it closes the recording.
// It reports whether the recording is closed.
func (w *Writer) writeChunk(c *chunk) bool {
	if !w.hasErr.Load() {
		w.frame.out = getBuf(len(c.text) + 1<<10)
		switch {
		case c.header:
			w.writeHeader(c.text)
		case len(c.text) > 0 || c.ends:
			if c.opens {
				w.openFrame(c)
			}
			w.frameText(c.text)
			if c.ends {
				w.closeFrame(c.end)
			} else {
				w.endBlock()
			}
		}
		if c.ctl != nil && c.ctl.close {
			w.finish(c.ctl.t, c.ctl.end)
		}
		w.iov = w.frame.pieces(w.iov)
		if err := w.sink.write(w.iov); err != nil {
			w.fail(err)
		} else {
			w.tellWitness()
		}
		clear(w.iov)
		w.frame.segs = w.frame.segs[:0]
		putBuf(w.frame.out)
		w.frame.out = nil
	}
	w.written(c)
	ctl := c.ctl
	putChunk(c)
	if ctl == nil {
		return false
	}
	if ctl.reply != nil {
		ctl.reply <- w.Err()
	}
	return ctl.close
}
