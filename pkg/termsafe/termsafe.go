// Package termsafe makes untrusted strings safe to print on a terminal.
// What a recording holds (header fields, command labels, the trailer's
// reason, the exit event's data, whatever an error quotes from it) and what
// the file system or object store names (file names, S3 keys) may hold
// control characters that a terminal acts on: a C0 or C1 control can start
// an escape sequence that moves the cursor, retitles the window, writes the
// clipboard or makes the terminal answer into the viewer's input. Every
// command prints such strings through this package, so that one rule decides
// what reaches the terminal: controls are shown escaped, never executed.
//
// It does not filter a session's own output for playing it back on a
// terminal: pkg/replay's Sanitizer owns that, with the sequences that may
// act on the screen.
package termsafe

import (
	"io"
	"unicode/utf8"
)

const hex = "0123456789abcdef"

// String returns s with everything a terminal could act on escaped
// visibly: C0 controls and DEL as \xHH (tab, newline and carriage return
// too), C1 controls (U+0080 to U+009F) as \u0080 to \u009f, and bytes that
// are not UTF-8 as \xHH. Everything else is unchanged, backslashes
// included, and a string with nothing to escape is returned as it is.
func String(s string) string { return escape(s, false) }

// Text is String for text of several lines: newlines and tabs are kept.
func Text(s string) string { return escape(s, true) }

func escape(s string, lines bool) string {
	i := firstUnsafe(s, lines)
	if i == len(s) {
		return s
	}
	b := make([]byte, 0, len(s)+16)
	b = append(b, s[:i]...)
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if safeByte(c, lines) {
				b = append(b, c)
			} else {
				b = append(b, '\\', 'x', hex[c>>4], hex[c&15])
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b = append(b, '\\', 'x', hex[c>>4], hex[c&15])
		case isC1(r):
			b = append(b, '\\', 'u', '0', '0', hex[r>>4], hex[r&15])
		default:
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return string(b)
}

// firstUnsafe returns the index of the first byte of s that escape would
// change, len(s) if none.
func firstUnsafe(s string, lines bool) int {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if !safeByte(c, lines) {
				return i
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || isC1(r) {
			return i
		}
		i += n
	}
	return len(s)
}

func safeByte(c byte, lines bool) bool {
	if c >= 0x20 && c < 0x7f {
		return true
	}
	return lines && (c == '\n' || c == '\t')
}

func isC1(r rune) bool { return r >= 0x80 && r < 0xa0 }

// JSON rewrites JSON text (as encoding/json writes it: valid UTF-8, C0
// controls already escaped) so that no character a terminal acts on is left
// raw: DEL and the C1 controls, which encoding/json writes as they are,
// become \u007f and \u0080 to \u009f. A JSON decoder reads the same values
// back. YAML produced from the result (sigs.k8s.io/yaml.JSONToYAML) escapes
// them too, and does not fail on them.
func JSON(b []byte) []byte {
	i := 0
	for i < len(b) && b[i] != 0x7f && !(b[i] == 0xc2 && i+1 < len(b) && b[i+1] >= 0x80 && b[i+1] < 0xa0) {
		i++
	}
	if i == len(b) {
		return b
	}
	out := make([]byte, 0, len(b)+32)
	out = append(out, b[:i]...)
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case c == 0x7f:
			out = append(out, `\u007f`...)
		case c == 0xc2 && i+1 < len(b) && b[i+1] >= 0x80 && b[i+1] < 0xa0:
			out = append(out, '\\', 'u', '0', '0', hex[b[i+1]>>4], hex[b[i+1]&15])
			i++
		default:
			out = append(out, c)
		}
	}
	return out
}

// Writer escapes a stream of text on its way to a terminal, as Text does
// (newlines and tabs pass). A character split across writes is held back
// until it is complete; Close writes what is held.
type Writer struct {
	W io.Writer
	// JSON writes escapes that are valid in JSON strings (\u00HH for
	// every control), for a stream of JSON lines.
	JSON bool

	held []byte
	buf  []byte
}

// Write escapes p and writes it.
func (w *Writer) Write(p []byte) (int, error) {
	data := p
	if len(w.held) > 0 {
		data = append(w.held, p...)
		w.held = nil
	}
	end := len(data)
	// Hold back the start of a character cut by the end of the write.
	for k := 1; k <= 3 && k <= len(data); k++ {
		c := data[len(data)-k]
		if c < utf8.RuneSelf {
			break
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(data[len(data)-k:]) {
				end = len(data) - k
			}
			break
		}
	}
	w.buf = w.appendEscaped(w.buf[:0], data[:end])
	w.held = append(w.held[:0], data[end:]...)
	if _, err := w.W.Write(w.buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close writes a character left incomplete at the end, escaped.
func (w *Writer) Close() error {
	if len(w.held) == 0 {
		return nil
	}
	w.buf = w.appendEscaped(w.buf[:0], w.held)
	w.held = nil
	_, err := w.W.Write(w.buf)
	return err
}

func (w *Writer) appendEscaped(dst, p []byte) []byte {
	for i := 0; i < len(p); {
		c := p[i]
		if c < utf8.RuneSelf {
			if safeByte(c, true) {
				dst = append(dst, c)
			} else {
				dst = w.appendCode(dst, rune(c), true)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(p[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			if w.JSON {
				dst = append(dst, "\\ufffd"...)
			} else {
				dst = append(dst, '\\', 'x', hex[c>>4], hex[c&15])
			}
		case isC1(r):
			dst = w.appendCode(dst, r, false)
		default:
			dst = append(dst, p[i:i+n]...)
		}
		i += n
	}
	return dst
}

func (w *Writer) appendCode(dst []byte, r rune, byteForm bool) []byte {
	if byteForm && !w.JSON {
		return append(dst, '\\', 'x', hex[r>>4], hex[r&15])
	}
	return append(dst, '\\', 'u', '0', '0', hex[r>>4], hex[r&15])
}
