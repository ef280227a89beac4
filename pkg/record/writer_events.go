package record

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// This file is the hot path: it turns each write into event lines (the
// interval, the code, the data as JSON text or base64, docs/FORMAT.md
// section 4.5) straight into the current chunk, carries the bytes of a
// character cut by the end of a write to the next one, and says where data
// frames begin and end. Everything here runs under Writer.mu, on the
// caller's goroutine: the bytes are read once, where they arrive.

// maxChunk bounds the bytes one event line holds: a huge write is
// recorded as several events, so that readers never need huge lines.
const maxChunk = 256 << 10

type kind uint8

// The stream kinds double as indexes into per-stream state.
const (
	kStdout kind = iota
	kStderr
	kStdin
)

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

// eventState is what the hot path knows of the recording.
type eventState struct {
	carry     [3]carried // per stream: the start of a character cut by the write's end
	emitted   int64      // sum of the intervals written so far, microseconds
	count     int64      // events
	bytes     StreamBytes
	lastEvent int64 // session nanoseconds of the last event
	lineStart int   // where the line being written starts in the current chunk
	marks     markerList

	// The open data frame, as far as its text goes; the writer goroutine
	// keeps the rest (writer_frame.go).
	frameOpen  bool
	frameT0    int64 // session nanoseconds of its first event
	frameStart int64 // emitted before its first event, microseconds
	frameText  int64
	frameEvts  int64
}

// stream records one write of a stream, made at t, or now when t is zero.
func (w *Writer) stream(k kind, p []byte, t time.Time) error {
	if err := w.ready(); err != nil {
		return err
	}
	if len(p) == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(p) > 0 {
		n := min(len(p), maxChunk)
		if err := w.admit(int64(n) + utf8.UTFMax); err != nil {
			return err
		}
		ts := w.since()
		if !t.IsZero() {
			ts = w.at(t)
		}
		w.streamPiece(int(k), ts, p[:n])
		p = p[n:]
	}
	return nil
}

// streamPiece records up to maxChunk bytes of a write. A character cut by
// its end waits in carry for the stream's next bytes.
func (w *Writer) streamPiece(s int, t int64, piece []byte) {
	e := &w.events
	data := piece
	var scratch *[]byte
	if c := &e.carry[s]; c.n > 0 {
		// Rare enough (a write ending inside a character) to afford a copy.
		scratch = getBuf(c.n + len(piece))
		data = append(append((*scratch)[:0], c.b[:c.n]...), piece...)
		c.n = 0
	}
	tail := incompleteTail(data)
	w.writeBody(s, t, data[:len(data)-tail])
	e.carry[s].n = copy(e.carry[s].b[:], data[len(data)-tail:])
	if scratch != nil {
		*scratch = data[:0]
		putBuf(scratch)
	}
}

// writeBody records body, which ends at a character boundary or in bytes
// that are invalid anyway.
func (w *Writer) writeBody(s int, t int64, body []byte) {
	if len(body) == 0 {
		return
	}
	// The common case in one pass: valid UTF-8 that is not control-heavy
	// goes out as text. Otherwise the line is dropped, with the interval
	// it took, and the body is taken apart below.
	e := &w.events
	emitted := e.emitted
	c := w.beginLine(t, textCodes[s])
	text, v := appendText(c.text, body)
	if v == isText {
		c.text = text
		w.countBytes(c, s, len(body))
		w.endLine(c, t)
		return
	}
	c.text = c.text[:e.lineStart]
	e.emitted = emitted
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
	c := w.beginLine(t, textCodes[s])
	c.text = appendEscaped(c.text, p)
	w.countBytes(c, s, len(p))
	w.endLine(c, t)
}

func (w *Writer) binaryEvent(s int, t int64, p []byte) {
	c := w.beginLine(t, binaryCodes[s])
	c.text = appendBase64(c.text, p)
	w.countBytes(c, s, len(p))
	w.endLine(c, t)
}

func (w *Writer) resizeEvent(t int64, cols, rows int) {
	c := w.beginLine(t, "r")
	c.text = strconv.AppendInt(c.text, int64(cols), 10)
	c.text = append(c.text, 'x')
	c.text = strconv.AppendInt(c.text, int64(rows), 10)
	w.countOther(c, resizeRoom)
	w.endLine(c, t)
}

func (w *Writer) markerEvent(t int64, label string) {
	l := []byte(strings.ToValidUTF8(label, "\uFFFD"))
	c := w.beginLine(t, "m")
	c.text = appendEscaped(c.text, l)
	w.countOther(c, int64(len(label))+resizeRoom)
	w.endLine(c, t)
	w.events.marks.add(w.events.emitted, l)
}

// countBytes counts n stream bytes recorded into c: in the totals, and
// against maxUnwritten until c is in the file.
func (w *Writer) countBytes(c *chunk, s int, n int) {
	e := &w.events
	switch s {
	case 0:
		e.bytes.O += int64(n)
	case 1:
		e.bytes.E += int64(n)
	case 2:
		e.bytes.I += int64(n)
	}
	w.stBytes[s].Add(int64(n))
	w.countOther(c, int64(n))
}

// countOther counts an event's weight against maxUnwritten until c is in
// the file.
func (w *Writer) countOther(c *chunk, n int64) {
	c.weight += n
	w.hand.unwritten += n
}

// beginLine starts an event line at session time t (nanoseconds) in the
// current chunk, opening or rolling over the data frame as needed.
func (w *Writer) beginLine(t int64, code string) *chunk {
	e := &w.events
	if e.frameOpen && t-e.frameT0 >= int64(w.opts.FrameSpan) {
		w.endFrame()
	}
	if !e.frameOpen {
		w.openFrameText(t)
	}
	// The interval is taken against the sum of what was printed, not the
	// previous event's exact time: rounding errors are carried forward and
	// never add up. An event stamped a few nanoseconds before the last one
	// (a clock that stepped back) gets interval 0.
	iv := roundMicros(t) - e.emitted
	if iv < 0 {
		iv = 0
	}
	e.emitted += iv
	c := w.hand.chunk()
	e.lineStart = len(c.text)
	l := append(c.text, '[')
	l = appendMicros(l, iv)
	l = append(l, ',', '"')
	l = append(l, code...)
	c.text = append(l, '"', ',', '"')
	return c
}

// endLine ends the event line begun in c, and hands c over once it holds
// a chunk's worth, or its frame is full.
func (w *Writer) endLine(c *chunk, t int64) {
	e := &w.events
	c.text = append(c.text, '"', ']', '\n')
	e.frameText += int64(len(c.text) - e.lineStart)
	e.frameEvts++
	e.count++
	e.lastEvent = t
	w.stEvents.Store(e.count)
	if e.frameText >= int64(w.opts.FrameBytes) {
		w.endFrame()
	} else if len(c.text) >= chunkBytes {
		w.hand.cut()
	}
}

// openFrameText starts a data frame at session time t: its first line
// starts a new chunk, which tells the writer goroutine to open the frame.
func (w *Writer) openFrameText(t int64) {
	e := &w.events
	w.hand.cut() // nothing is pending outside a frame, but be sure
	e.frameOpen = true
	e.frameT0 = t
	e.frameStart = e.emitted
	e.frameText, e.frameEvts = 0, 0
	w.hand.chunk().opens = true
}

// endFrame ends the open data frame with the current chunk (possibly
// empty), which carries the frame's checkpoint values.
func (w *Writer) endFrame() {
	e := &w.events
	c := w.hand.chunk()
	c.ends = true
	c.end = frameEnd{textSize: e.frameText, events: e.frameEvts, timeStart: e.frameStart, timeEnd: e.emitted}
	e.frameOpen = false
	w.hand.cut()
}
