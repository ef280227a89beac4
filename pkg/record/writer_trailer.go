package record

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file ends a recording: carried bytes and the exit status as the
// last events, the last frame, the index and the (signed) trailer.

// lastEvents records, on Close and under mu, what ends the session's
// events: a character still waiting for its last bytes (it will never get
// them) as binary, the exit status, and the end of the open frame.
func (w *Writer) lastEvents(t int64, end End) {
	e := &w.events
	for s := range e.carry {
		if n := e.carry[s].n; n > 0 {
			e.carry[s].n = 0
			w.binaryEvent(s, t, e.carry[s].b[:n])
		}
	}
	if end.ExitCode != nil {
		c := w.beginLine(t, "x")
		c.text = strconv.AppendInt(c.text, int64(*end.ExitCode), 10)
		w.endLine(c, t)
	}
	if e.frameOpen {
		w.endFrame()
	}
}

// finish writes the end of the recording, on the writer goroutine once
// every chunk is written: the index and the trailer. The hot path has
// stopped (Close), so its totals are final.
func (w *Writer) finish(t int64, end End) {
	if !w.wroteHead {
		w.fail(fmt.Errorf("close: %w; the recording is empty", ErrNotBegun))
		return
	}
	if w.hasErr.Load() {
		return
	}
	e := &w.events
	dur := roundMicros(t)
	if dur < e.emitted {
		dur = e.emitted
	}
	tr := Trailer{
		End:          w.opts.Now().UTC(),
		Duration:     Seconds(dur * 1000),
		Reason:       string(end.Reason),
		Message:      strings.ToValidUTF8(clip(end.Message, maxMessage), "\uFFFD"),
		ExitCode:     end.ExitCode,
		Frames:       w.frame.seq,
		Events:       e.count,
		Bytes:        e.bytes,
		Chain:        hex.EncodeToString(w.frame.chain[:]),
		HeaderSHA256: hex.EncodeToString(w.headerSum[:]),
	}
	if off, ok := w.writeIndex(); ok {
		tr.IndexOffset = &off
	}
	if w.opts.Witness != nil {
		// The last frame's checkpoint goes to the file with the trailer,
		// in one write: the witness hears of it first, then of the close.
		w.tellWitness()
		w.opts.Witness.Close(&tr)
	}
	var signErr error
	if w.opts.Signer != nil {
		// A failed signature still leaves a complete, verifiable (unsigned)
		// recording; Close reports the failure.
		signErr = sign(&tr, w.opts.Signer)
	}
	payload, err := json.Marshal(tr)
	if err != nil {
		w.fail(fmt.Errorf("encode trailer: %w", err))
		return
	}
	w.frame.putSkippable(trailerMagic, payload)
	if signErr != nil {
		w.fail(signErr)
	}
}

// maxMessage bounds the trailer's message, so that the trailer stays far
// below the payload size readers accept.
const maxMessage = 64 << 10

// clip shortens s to at most n bytes at a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
