package record

import "time"

// This file collects and writes the index frame that precedes the
// trailer (docs/FORMAT.md, section 3.4): every checkpoint payload, and the
// markers.

// indexState collects the checkpoint payloads, on the writer goroutine.
type indexState struct {
	b []byte // `{"checkpoints":[` and the payloads so far, comma separated
}

// add adds a checkpoint's payload to the index, unless the index has
// already outgrown its limit (then the recording simply has none).
func (x *indexState) add(cp []byte) {
	if x.b == nil {
		x.b = append(make([]byte, 0, 1<<10), `{"checkpoints":[`...)
	} else if len(x.b) > maxIndexPayload {
		return
	} else {
		x.b = append(x.b, ',')
	}
	x.b = append(x.b, cp...)
}

// markerList collects the index's markers ([time,"label"] items, comma
// separated) on the hot path, until they outgrow maxIndexMarkers.
type markerList struct {
	b    []byte
	over bool
}

// add adds a marker at session time emitted (microseconds).
func (m *markerList) add(emitted int64, label []byte) {
	if m.over {
		return
	}
	if len(m.b) > 0 {
		m.b = append(m.b, ',')
	}
	m.b = AppendIndexMarker(m.b, time.Duration(emitted)*time.Microsecond, label)
	if len(m.b) > maxIndexMarkers {
		m.b, m.over = nil, true
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

// writeIndex appends the index frame to the output and returns its file
// offset. It writes none when the index would be larger than readers
// accept. The markers are the hot path's, which is done by now: the index
// is written after Close has stopped it.
func (w *Writer) writeIndex() (int64, bool) {
	x, m := &w.index, &w.events.marks
	if x.b == nil || len(x.b)+len(m.b)+32 > maxIndexPayload {
		return 0, false
	}
	off := w.sink.n + w.frame.pending()
	x.b = append(x.b, ']')
	if !m.over {
		x.b = append(x.b, `,"markers":[`...)
		x.b = append(append(x.b, m.b...), ']')
	}
	x.b = append(x.b, '}')
	w.frame.putSkippable(indexMagic, x.b)
	return off, true
}
