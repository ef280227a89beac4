package record

import (
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// A small JSON parser for the one shape an event line has,
// [number, "string", "string"]. It reads the interval as an exact decimal
// (encoding/json would go through float64) and decodes strings straight
// into the caller's buffer; it accepts any valid JSON of that shape, with
// whitespace and every escape form, not only what our writer produces.

var errEventSyntax = errors.New("event line is not a JSON array [interval, code, data]")

type cursor struct {
	b []byte
	i int
}

func (c *cursor) ws() {
	for c.i < len(c.b) {
		switch c.b[c.i] {
		case ' ', '\t', '\r', '\n':
			c.i++
		default:
			return
		}
	}
}

func (c *cursor) expect(ch byte) bool {
	c.ws()
	if c.i < len(c.b) && c.b[c.i] == ch {
		c.i++
		return true
	}
	return false
}

// number returns the raw bytes of a JSON number token.
func (c *cursor) number() ([]byte, bool) {
	c.ws()
	start := c.i
	for c.i < len(c.b) {
		switch ch := c.b[c.i]; {
		case ch >= '0' && ch <= '9', ch == '-', ch == '+', ch == '.', ch == 'e', ch == 'E':
			c.i++
		default:
			return c.b[start:c.i], c.i > start
		}
	}
	return c.b[start:c.i], c.i > start
}

// str decodes a JSON string and appends it to dst.
func (c *cursor) str(dst []byte) ([]byte, bool) {
	c.ws()
	if c.i >= len(c.b) || c.b[c.i] != '"' {
		return dst, false
	}
	c.i++
	start := c.i
	for c.i < len(c.b) {
		ch := c.b[c.i]
		switch {
		case ch == '"':
			dst = append(dst, c.b[start:c.i]...)
			c.i++
			return dst, true
		case ch == '\\':
			dst = append(dst, c.b[start:c.i]...)
			var ok bool
			if dst, ok = c.escape(dst); !ok {
				return dst, false
			}
			start = c.i
		case ch < 0x20:
			return dst, false // JSON strings hold no raw control characters
		default:
			c.i++
		}
	}
	return dst, false
}

// escape decodes the escape at c.i (the backslash).
func (c *cursor) escape(dst []byte) ([]byte, bool) {
	if c.i+1 >= len(c.b) {
		return dst, false
	}
	e := c.b[c.i+1]
	c.i += 2
	switch e {
	case '"', '\\', '/':
		return append(dst, e), true
	case 'b':
		return append(dst, '\b'), true
	case 'f':
		return append(dst, '\f'), true
	case 'n':
		return append(dst, '\n'), true
	case 'r':
		return append(dst, '\r'), true
	case 't':
		return append(dst, '\t'), true
	case 'u':
		r, ok := c.hex4()
		if !ok {
			return dst, false
		}
		if utf16.IsSurrogate(r) {
			// A pair makes one character; a lone half becomes U+FFFD, as
			// encoding/json does.
			save := c.i
			if c.i+1 < len(c.b) && c.b[c.i] == '\\' && c.b[c.i+1] == 'u' {
				c.i += 2
				if r2, ok := c.hex4(); ok {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						return utf8.AppendRune(dst, d), true
					}
				}
			}
			c.i = save
			r = utf8.RuneError
		}
		return utf8.AppendRune(dst, r), true
	}
	return dst, false
}

func (c *cursor) hex4() (rune, bool) {
	if c.i+4 > len(c.b) {
		return 0, false
	}
	var r rune
	for _, ch := range c.b[c.i : c.i+4] {
		r <<= 4
		switch {
		case ch >= '0' && ch <= '9':
			r |= rune(ch - '0')
		case ch >= 'a' && ch <= 'f':
			r |= rune(ch - 'a' + 10)
		case ch >= 'A' && ch <= 'F':
			r |= rune(ch - 'A' + 10)
		default:
			return 0, false
		}
	}
	c.i += 4
	return r, true
}

// parseEvent parses one event line. The code is appended to code and the
// data to data (both decoded from JSON, base64 left as is).
func parseEvent(line, code, data []byte) (int64, []byte, []byte, error) {
	c := cursor{b: line}
	if !c.expect('[') {
		return 0, code, data, errEventSyntax
	}
	num, ok := c.number()
	if !ok {
		return 0, code, data, errEventSyntax
	}
	iv, ok := parseMicros(num)
	if !ok {
		return 0, code, data, errors.New("event interval is not a number")
	}
	if !c.expect(',') {
		return 0, code, data, errEventSyntax
	}
	if code, ok = c.str(code); !ok {
		return 0, code, data, errEventSyntax
	}
	if !c.expect(',') {
		return 0, code, data, errEventSyntax
	}
	if data, ok = c.str(data); !ok {
		return 0, code, data, errEventSyntax
	}
	if !c.expect(']') {
		return 0, code, data, errEventSyntax
	}
	c.ws()
	if c.i != len(c.b) {
		return 0, code, data, errEventSyntax
	}
	return iv, code, data, nil
}
