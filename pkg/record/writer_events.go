package record

import "unicode/utf8"

// This file turns queued writes into event lines: the interval, the code,
// the data as JSON text or base64 (docs/FORMAT.md, section 4.5), and the
// bytes of a character cut by the end of a write, carried to the next.

// maxChunk bounds the bytes one event line holds: a huge write is
// recorded as several events, so that readers never need huge lines.
const maxChunk = 256 << 10

var (
	textCodes = [3]string{"o", "e", "i"}
	// binaryCodes are single characters that no asciicast player knows:
	// asciinema 3 keeps only the first character of an unknown code when
	// it converts or concatenates a file, and would have turned the format
	// version 1 codes ob, eb, ib into o, e, i (docs/FORMAT.md, 4.2).
	binaryCodes = [3]string{"O", "E", "I"}
)

// carried is the start of a UTF-8 sequence held back for the stream's next
// write (at most 3 bytes).
type carried struct {
	b [4]byte
	n int
}

// beginLine starts an event line at session time t (nanoseconds), opening
// or rolling over the data frame as needed.
func (w *Writer) beginLine(t int64, code string) {
	if w.open && t-w.frameT0 >= int64(w.opts.FrameSpan) {
		w.closeFrame()
	}
	if !w.open {
		w.openFrame(t)
	}
	// The interval is taken against the sum of what was printed, not the
	// previous event's exact time: rounding errors are carried forward and
	// never add up. A later-queued event stamped a few nanoseconds earlier
	// (two streams racing) gets interval 0.
	iv := roundMicros(t) - w.emitted
	if iv < 0 {
		iv = 0
	}
	w.emitted += iv
	l := append(w.line[:0], '[')
	l = appendMicros(l, iv)
	l = append(l, ',', '"')
	l = append(l, code...)
	w.line = append(l, '"', ',', '"')
}

func (w *Writer) endLine() {
	if w.hasErr.Load() {
		return
	}
	w.line = append(w.line, '"', ']', '\n')
	if _, err := w.enc.Write(w.line); err != nil {
		w.encodeFailed(err)
		return
	}
	w.pending = true
	w.frameText += int64(len(w.line))
	w.frameEvts++
	w.events++
	w.stEvents.Store(w.events)
	if w.frameText >= int64(w.opts.FrameBytes) {
		w.closeFrame()
	}
}

// handleStream records one write of a stream.
func (w *Writer) handleStream(it item) {
	s := int(it.kind)
	b := *it.buf
	c := w.carry[s].n
	copy(b[headroom-c:headroom], w.carry[s].b[:c])
	w.carry[s].n = 0
	data := b[headroom-c:]
	for len(data) > 0 {
		chunk := data
		if len(chunk) > maxChunk {
			chunk = chunk[:maxChunk]
		}
		tail := incompleteTail(chunk)
		body := chunk[:len(chunk)-tail]
		w.writeStream(s, it.t, body)
		if len(chunk) == len(data) {
			// What may be the start of a character completed by the next
			// write waits for it.
			w.carry[s].n = copy(w.carry[s].b[:], chunk[len(body):])
			return
		}
		data = data[len(body):]
	}
}

// writeStream records body, which ends at a character boundary or in bytes
// that are invalid anyway.
func (w *Writer) writeStream(s int, t int64, body []byte) {
	if len(body) == 0 || w.hasErr.Load() {
		return
	}
	// The common case in one pass: valid UTF-8 that is not control-heavy
	// goes out as text. Otherwise the line is dropped, with the interval
	// it took, and the body is taken apart below.
	emitted := w.emitted
	w.beginLine(t, textCodes[s])
	line, v := appendText(w.line, body)
	if v == isText {
		w.line = line
		w.countBytes(s, len(body))
		w.endLine()
		return
	}
	w.emitted = emitted
	// Bulk control bytes (NULs) go as base64; text around bytes that are
	// not UTF-8 is split from them below.
	if v == tooHeavy && controlHeavy(body) && utf8.Valid(body) {
		w.binaryEvent(s, t, body)
		return
	}
	var runs [maxRuns]run
	n, ok := splitRuns(body, &runs)
	if !ok {
		w.binaryEvent(s, t, body)
		return
	}
	for _, r := range runs[:n] {
		if r.binary {
			w.binaryEvent(s, t, body[r.start:r.end])
		} else {
			w.textEvent(s, t, body[r.start:r.end])
		}
	}
}

// controlHeavy reports whether escaping p as a JSON string would cost more
// than base64: each control byte other than \n \r \t \b \f and ESC becomes six
// bytes (\u0000), so a stream of NULs (head -c 1G /dev/zero) would grow
// sixfold as text but only by a third as base64. Short writes (keystrokes)
// always stay text, and terminal text with colours stays text.
func controlHeavy(p []byte) bool {
	if len(p) < 64 {
		return false
	}
	// Counted exactly, 64 bytes between checks, so that a stream of NULs
	// is known after an eighth of it. Terminal text rarely gets here:
	// appendText takes it first.
	limit := len(p) / 8
	heavy := 0
	for len(p) > 0 {
		n := min(len(p), 64)
		for _, c := range p[:n] {
			heavy += int(heavyBytes[c])
		}
		if heavy > limit {
			return true
		}
		p = p[n:]
	}
	return false
}

// heavyBytes marks the bytes that JSON escapes as six bytes (\u0000) but
// a terminal does not make common: every control byte but \n \r \t \b \f
// and ESC.
var heavyBytes = func() (t [256]uint8) {
	for c := range 0x20 {
		t[c] = 1
	}
	t['\n'], t['\r'], t['\t'], t['\b'], t['\f'], t[0x1b] = 0, 0, 0, 0, 0, 0
	return t
}()

func (w *Writer) textEvent(s int, t int64, p []byte) {
	w.beginLine(t, textCodes[s])
	w.line = appendEscaped(w.line, p)
	w.countBytes(s, len(p))
	w.endLine()
}

func (w *Writer) binaryEvent(s int, t int64, p []byte) {
	w.beginLine(t, binaryCodes[s])
	w.line = appendBase64(w.line, p)
	w.countBytes(s, len(p))
	w.endLine()
}

func (w *Writer) countBytes(s int, n int) {
	switch s {
	case 0:
		w.bytes.O += int64(n)
	case 1:
		w.bytes.E += int64(n)
	case 2:
		w.bytes.I += int64(n)
	}
	w.stBytes[s].Add(int64(n))
}
