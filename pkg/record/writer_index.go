package record

import "time"

// This file collects and writes the index frame that precedes the
// trailer (docs/FORMAT.md, section 3.4): every checkpoint payload, and the
// markers.

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

// writeIndex writes the index frame and returns its offset. It writes none
// when the index would be larger than readers accept.
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
