package record

import (
	"strconv"
	"time"
)

// The At methods record an event stamped with the time it happened rather
// than the time of the call. A caller that holds events back for a while
// (pkg/session waits for the remote terminal's echo before it records what
// was typed) hands them over in order with their own times, so that the
// recording keeps both the order and the timing. An event stamped before
// one already recorded is recorded at that one's time (intervals are never
// negative).

// redactedCode is the event of typed input recorded as its length only:
// [interval, "H", "COUNT"]. One character unknown to asciicast, like the
// binary codes (docs/FORMAT.md, 4.2).
const redactedCode = "H"

// at is the session time of t; under mu.
func (w *Writer) at(t time.Time) int64 { return int64(t.Sub(w.start)) }

// StdoutAt is Stdout for bytes written at t.
func (w *Writer) StdoutAt(t time.Time, p []byte) error { return w.stream(kStdout, p, t) }

// StdinAt is Stdin for bytes sent at t.
func (w *Writer) StdinAt(t time.Time, p []byte) error { return w.stream(kStdin, p, t) }

// RedactedStdinAt records that n bytes were sent to stdin at t without
// recording them (an H event).
func (w *Writer) RedactedStdinAt(t time.Time, n int) error {
	if err := w.ready(); err != nil {
		return err
	}
	if n <= 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.admit(resizeRoom); err != nil {
		return err
	}
	ts := w.at(t)
	c := w.beginLine(ts, redactedCode)
	c.text = strconv.AppendInt(c.text, int64(n), 10)
	w.countOther(c, resizeRoom)
	w.endLine(c, ts)
	return nil
}

// ResizeAt is Resize for a size set at t.
func (w *Writer) ResizeAt(t time.Time, cols, rows int) error {
	if err := w.ready(); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.admit(resizeRoom); err != nil {
		return err
	}
	w.resizeEvent(w.at(t), cols, rows)
	return nil
}

// MarkerAt is Marker for a marker placed at t.
func (w *Writer) MarkerAt(t time.Time, label string) error {
	if err := w.ready(); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.admit(int64(len(label)) + resizeRoom); err != nil {
		return err
	}
	w.markerEvent(w.at(t), label)
	return nil
}
