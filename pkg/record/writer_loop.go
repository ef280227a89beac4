package record

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// This file is the writer goroutine's loop: it takes one queued item or
// one flush tick at a time and hands it to the job that handles it.

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
