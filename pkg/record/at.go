package record

import "time"

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

func (w *Writer) at(t time.Time) int64 { return int64(t.Sub(w.start)) }

func (w *Writer) streamAt(k kind, t time.Time, p []byte) error {
	if err := w.ready(); err != nil {
		return err
	}
	if len(p) == 0 {
		return nil
	}
	bp := w.free.get(len(p))
	copy((*bp)[headroom:], p)
	return w.enqueue(item{t: w.at(t), buf: bp, kind: k})
}

// StdoutAt is Stdout for bytes written at t.
func (w *Writer) StdoutAt(t time.Time, p []byte) error { return w.streamAt(kStdout, t, p) }

// StdinAt is Stdin for bytes sent at t.
func (w *Writer) StdinAt(t time.Time, p []byte) error { return w.streamAt(kStdin, t, p) }

// RedactedStdinAt records that n bytes were sent to stdin at t without
// recording them (an H event).
func (w *Writer) RedactedStdinAt(t time.Time, n int) error {
	if err := w.ready(); err != nil {
		return err
	}
	if n <= 0 {
		return nil
	}
	return w.enqueue(item{t: w.at(t), kind: kRedacted, a: n})
}

// ResizeAt is Resize for a size set at t.
func (w *Writer) ResizeAt(t time.Time, cols, rows int) error {
	if err := w.ready(); err != nil {
		return err
	}
	return w.enqueue(item{t: w.at(t), kind: kResize, a: cols, b: rows})
}

// MarkerAt is Marker for a marker placed at t.
func (w *Writer) MarkerAt(t time.Time, label string) error {
	if err := w.ready(); err != nil {
		return err
	}
	return w.enqueue(item{t: w.at(t), kind: kMarker, s: label})
}
