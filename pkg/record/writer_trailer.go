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

// finish writes the end of the recording.
func (w *Writer) finish(t int64, end End) {
	if !w.wroteHead {
		w.fail(fmt.Errorf("close: %w; the recording is empty", ErrNotBegun))
		return
	}
	// A character still waiting for its last bytes will never get them.
	for s := range w.carry {
		if n := w.carry[s].n; n > 0 {
			w.carry[s].n = 0
			w.binaryEvent(s, t, w.carry[s].b[:n])
		}
	}
	if end.ExitCode != nil {
		w.beginLine(t, "x")
		w.line = strconv.AppendInt(w.line, int64(*end.ExitCode), 10)
		w.endLine()
	}
	if w.open {
		w.closeFrame()
	}
	if w.hasErr.Load() {
		return
	}
	dur := roundMicros(t)
	if dur < w.emitted {
		dur = w.emitted
	}
	tr := Trailer{
		End:          w.opts.Now().UTC(),
		Duration:     Seconds(dur * 1000),
		Reason:       string(end.Reason),
		Message:      strings.ToValidUTF8(clip(end.Message, maxMessage), "\uFFFD"),
		ExitCode:     end.ExitCode,
		Frames:       w.seq,
		Events:       w.events,
		Bytes:        w.bytes,
		Chain:        hex.EncodeToString(w.chain[:]),
		HeaderSHA256: hex.EncodeToString(w.headerSum[:]),
	}
	if off, ok := w.writeIndex(); ok {
		tr.IndexOffset = &off
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
	w.skip = appendSkippable(w.skip[:0], trailerMagic, payload)
	if _, err := w.sink.Write(w.skip); err != nil {
		w.fail(err)
	}
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
