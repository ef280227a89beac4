package record

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf8"
)

// This file holds the byte-level pieces of an event line: the JSON string
// escaper, the interval printer and parser, and the UTF-8 split that decides
// which bytes travel as text and which as base64.

const hexDigits = "0123456789abcdef"

// escapes maps a byte to what follows the backslash when it must be escaped
// in a JSON string, or 0 when it is copied as is. Unlike encoding/json, < > &
// are left alone: recordings are not embedded in HTML, and terminal output is
// full of them. 0x7f is escaped so that a recording shown raw in a terminal
// or editor carries no control characters at all.
var escapes = func() (t [256]byte) {
	for c := 0; c < 0x20; c++ {
		t[c] = 'u'
	}
	t['\n'], t['\r'], t['\t'], t['\b'], t['\f'] = 'n', 'r', 't', 'b', 'f'
	t['"'], t['\\'] = '"', '\\'
	t[0x7f] = 'u'
	return t
}()

// appendEscaped appends s as the inside of a JSON string, however many
// control bytes it holds. s should be valid UTF-8; bytes that are not are
// copied as they are.
func appendEscaped(dst, s []byte) []byte {
	out, _ := escapeText(dst, s, false)
	return out
}

// appendText is appendEscaped for bytes not yet checked: it appends s as
// the inside of a JSON string and returns isText if s is valid UTF-8 and
// not control-heavy (see controlHeavy). Otherwise, with dst in any state, it
// returns notUTF8 at the first byte that is not UTF-8, or tooHeavy when
// the bytes seen so far are far denser in heavy control bytes than the
// limit allows, so that a stream of NULs costs little before the caller
// counts them exactly (controlHeavy). Checking while escaping saves the
// writer a pass over the data.
func appendText(dst, s []byte) ([]byte, textVerdict) { return escapeText(dst, s, true) }

// escapeText is appendText when checked, and appendEscaped when not: then it
// neither validates nor gives up.
func escapeText(dst, s []byte, checked bool) ([]byte, textVerdict) {
	if len(s) < 64 {
		return appendShort(dst, s, checked)
	}
	t := textEscaper{checked: checked, limit: len(s) / 8}
	dst = slices.Grow(dst, len(s)+len(s)/8+blockRoom)
	t.out, t.n = dst[:cap(dst)], len(dst)
	i := 0
	// A block's copies read up to 64 bytes past it, so the last block or
	// two go through a padded copy.
	for ; i+128 <= len(s); i += 64 {
		if v := t.block(s, i); v != isText {
			return dst, v
		}
	}
	var pad [192]byte
	end := copy(pad[:], s[i:])
	for k := end; k < len(pad); k++ {
		pad[k] = ' ' // needs no escaping, so flags nothing
	}
	for j := 0; j < end; j += 64 {
		if v := t.block(pad[:], j); v != isText {
			return dst, v
		}
	}
	if end%64 != 0 {
		t.n -= 64 - end%64 // the padding, copied as is
	}
	return t.out[:t.n], isText
}

// textVerdict is what appendText found.
type textVerdict uint8

const (
	isText   textVerdict = iota
	notUTF8              // a byte that is not UTF-8
	tooHeavy             // control-heavy, or looks it so far
)

// appendShort is escapeText for fewer than 64 bytes (keystrokes, prompts),
// which are never control-heavy, a byte at a time: the block escaper's
// set-up would cost more than the bytes.
func appendShort(dst, s []byte, checked bool) ([]byte, textVerdict) {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			size := runeSize(s[i:])
			if size == 0 {
				if checked {
					return dst, notUTF8
				}
				size = 1
			}
			i += size
			continue
		}
		if escapes[c] != 0 {
			dst = appendEscape(append(dst, s[start:i]...), c)
			start = i + 1
		}
		i++
	}
	return append(dst, s[start:]...), isText
}

// blockRoom is the most output one 64-byte block can need: six bytes per
// input byte, and the 64 bytes each copy writes.
const blockRoom = 64*6 + 64

// textEscaper escapes text 64 bytes at a time. A branch-free bitmap of the
// bytes that need attention (escapes, and the bytes of multi-byte
// characters) means only those bytes are visited; the block is copied
// whole, and again after each escape, with fixed-size copies the compiler
// does inline. Terminal text has one such byte every two dozen (a colour
// code, CR LF), so the cost per visited byte is what matters.
type textEscaper struct {
	out          []byte
	n            int    // bytes of out written
	skip         uint64 // bits of the next block that continue a character
	seen         int    // bytes of input looked at
	heavy, limit int
	checked      bool // validate, and give up when control-heavy (appendText)
}

func (t *textEscaper) block(src []byte, i int) textVerdict {
	if len(t.out)-t.n < blockRoom {
		t.out = slices.Grow(t.out[:t.n], len(src)-i+blockRoom)
		t.out = t.out[:cap(t.out)]
	}
	o := t.out
	b := (*[64]byte)(src[i : i+64])
	m := blockMask(b) &^ t.skip
	t.skip = 0
	copy64(o[t.n:], b[:])
	base := t.n - i // where src[x] goes in o: o[x+base]
	for m != 0 {
		k := bits.TrailingZeros64(m)
		m &= m - 1
		c := src[i+k]
		if c >= utf8.RuneSelf {
			size := runeSize(src[i+k:])
			if size == 0 {
				if t.checked {
					return notUTF8
				}
				size = 1
			}
			if k+size > 64 {
				t.skip = 1<<(k+size-64) - 1
			}
			m &^= 1<<(k+size) - 1 // its continuation bytes (all, past 63)
			continue
		}
		p := i + k + base
		if e := escapes[c]; e != 'u' {
			o[p], o[p+1] = '\\', e
			base++
		} else {
			e := o[p : p+6 : p+6]
			e[0], e[1], e[2], e[3], e[4], e[5] = '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf]
			base += 5
			if c != 0x1b && c != 0x7f {
				t.heavy++
			}
		}
		copy64(o[i+k+1+base:], src[i+k+1:])
	}
	t.n = i + 64 + base
	t.seen += 64
	if t.checked && (t.heavy > t.limit || t.heavy > t.seen/4+64) {
		return tooHeavy
	}
	return isText
}

// copy64 copies 64 bytes in four 16-byte moves, which the compiler does
// inline; a [64]byte assignment would call memmove.
func copy64(dst, src []byte) {
	d, s := (*[64]byte)(dst), (*[64]byte)(src)
	*(*[16]byte)(d[0:]) = *(*[16]byte)(s[0:])
	*(*[16]byte)(d[16:]) = *(*[16]byte)(s[16:])
	*(*[16]byte)(d[32:]) = *(*[16]byte)(s[32:])
	*(*[16]byte)(d[48:]) = *(*[16]byte)(s[48:])
}

// blockMask returns a bitmap of the bytes of b that are below 0x20, '"',
// '\\', 0x7f or 0x80 and up, bit k for b[k].
func blockMask(b *[64]byte) uint64 {
	return wordMask(binary.LittleEndian.Uint64(b[0:])) |
		wordMask(binary.LittleEndian.Uint64(b[8:]))<<8 |
		wordMask(binary.LittleEndian.Uint64(b[16:]))<<16 |
		wordMask(binary.LittleEndian.Uint64(b[24:]))<<24 |
		wordMask(binary.LittleEndian.Uint64(b[32:]))<<32 |
		wordMask(binary.LittleEndian.Uint64(b[40:]))<<40 |
		wordMask(binary.LittleEndian.Uint64(b[48:]))<<48 |
		wordMask(binary.LittleEndian.Uint64(b[56:]))<<56
}

// wordMask is blockMask for eight bytes. Each test is exact per byte: the
// sums stay within a byte (seven bits plus at most 0x7f), so no carry
// reaches a neighbour.
func wordMask(x uint64) uint64 {
	t := x & (0x7f * ones)
	// The high bit of each byte of ok is set for a byte that needs
	// nothing: 0x20 and up, and none of '"', '\\', 0x7f.
	ok := (t + 0x60*ones) & (t ^ '"'*ones + 0x7f*ones) & (t ^ '\\'*ones + 0x7f*ones) & (t ^ 0x7f*ones + 0x7f*ones)
	f := (^ok | x) & highs
	return f >> 7 * 0x0102040810204080 >> 56 // the eight flags side by side
}

// runeSize returns the length of the valid UTF-8 character that starts p
// (with p[0] >= 0x80), or 0 if there is none. Two-byte characters (Latin,
// Greek, Cyrillic) are checked inline; the rest by utf8.DecodeRune.
func runeSize(p []byte) int {
	if len(p) >= 2 && p[0] >= 0xc2 && p[0] < 0xe0 && p[1]&0xc0 == 0x80 {
		return 2
	}
	r, size := utf8.DecodeRune(p)
	if r == utf8.RuneError && size == 1 {
		return 0
	}
	return size
}

func appendEscape(dst []byte, c byte) []byte {
	if e := escapes[c]; e != 'u' {
		return append(dst, '\\', e)
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// b64pairs maps 12 bits to their two base64 characters (RFC 4648 standard
// alphabet), first character in the low byte.
var b64pairs = func() (t [4096]uint16) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for v := range t {
		t[v] = uint16(alphabet[v>>6]) | uint16(alphabet[v&63])<<8
	}
	return t
}()

// appendBase64 appends the standard, padded base64 encoding of src. It is
// what encoding/base64 produces, about twice as fast: six input bytes become
// eight output bytes with one load, four table lookups and one store, which
// matters because binary output is encoded whole on the hot path.
func appendBase64(dst, src []byte) []byte {
	n := (len(src) + 2) / 3 * 4
	dst = slices.Grow(dst, n)
	out := dst[len(dst) : len(dst)+n]
	i, j := 0, 0
	// 24 bytes a round: runs of NULs (/dev/zero, tar padding, sparse
	// files) become runs of 'A' without the table.
	for ; i+32 <= len(src); i, j = i+24, j+32 {
		if binary.LittleEndian.Uint64(src[i:])|binary.LittleEndian.Uint64(src[i+8:])|binary.LittleEndian.Uint64(src[i+16:]) == 0 {
			const a8 = 0x4141414141414141 // "AAAAAAAA"
			o := out[j : j+32 : j+32]
			binary.LittleEndian.PutUint64(o[0:], a8)
			binary.LittleEndian.PutUint64(o[8:], a8)
			binary.LittleEndian.PutUint64(o[16:], a8)
			binary.LittleEndian.PutUint64(o[24:], a8)
			continue
		}
		o, in := out[j:j+32:j+32], src[i:i+32:i+32]
		base64Six(o[0:], in[0:])
		base64Six(o[8:], in[6:])
		base64Six(o[16:], in[12:])
		base64Six(o[24:], in[18:])
	}
	for ; i+8 <= len(src); i, j = i+6, j+8 {
		base64Six(out[j:], src[i:])
	}
	for ; i+3 <= len(src); i, j = i+3, j+4 {
		v := uint(src[i])<<16 | uint(src[i+1])<<8 | uint(src[i+2])
		binary.LittleEndian.PutUint32(out[j:], uint32(b64pairs[v>>12])|uint32(b64pairs[v&0xfff])<<16)
	}
	switch len(src) - i {
	case 1:
		p := b64pairs[uint(src[i])<<4]
		out[j], out[j+1], out[j+2], out[j+3] = byte(p), byte(p>>8), '=', '='
	case 2:
		v := uint(src[i])<<10 | uint(src[i+1])<<2
		p := b64pairs[v>>6]
		out[j], out[j+1], out[j+2], out[j+3] = byte(p), byte(p>>8), byte(b64pairs[(v&63)<<6]), '='
	}
	return dst[:len(dst)+n]
}

// base64Six encodes the first six bytes of src (reading eight) as eight
// characters.
func base64Six(out, src []byte) {
	v := binary.BigEndian.Uint64(src)
	binary.LittleEndian.PutUint64(out,
		uint64(b64pairs[v>>52&0xfff])|uint64(b64pairs[v>>40&0xfff])<<16|
			uint64(b64pairs[v>>28&0xfff])<<32|uint64(b64pairs[v>>16&0xfff])<<48)
}

// roundMicros rounds nanoseconds to the nearest microsecond, halves away
// from zero, so that the writer and any reader agree on the arithmetic.
func roundMicros(ns int64) int64 {
	if ns < 0 {
		return -((-ns + 500) / 1000)
	}
	return (ns + 500) / 1000
}

// appendMicros prints us microseconds as seconds: an integer part, then at
// most six decimals with trailing zeros trimmed. Integer arithmetic keeps the
// printed value exact, which the drift rule depends on.
func appendMicros(dst []byte, us int64) []byte {
	if us < 0 {
		dst = append(dst, '-')
		us = -us
	}
	dst = strconv.AppendInt(dst, us/1e6, 10)
	frac := us % 1e6
	if frac == 0 {
		return dst
	}
	var d [7]byte
	d[0] = '.'
	for i := 6; i >= 1; i-- {
		d[i] = byte('0' + frac%10)
		frac /= 10
	}
	n := 7
	for d[n-1] == '0' {
		n--
	}
	return append(dst, d[:n]...)
}

// parseMicros reads a JSON number of seconds into microseconds. Plain
// decimals with up to six places are converted exactly; anything else (an
// exponent, more places, as other asciicast writers may produce) goes through
// a float and is rounded.
func parseMicros(b []byte) (int64, bool) {
	i, neg := 0, false
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	start := i
	var whole int64
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		if i-start > 12 { // beyond 31,000 years: not a session time
			return parseMicrosFloat(b)
		}
		whole = whole*10 + int64(b[i]-'0')
		i++
	}
	if i == start || (b[start] == '0' && i-start > 1) {
		return 0, false // JSON forbids both
	}
	var frac int64
	places := 0
	if i < len(b) && b[i] == '.' {
		i++
		fs := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if places < 6 {
				frac = frac*10 + int64(b[i]-'0')
				places++
			} else if b[i] != '0' {
				return parseMicrosFloat(b)
			}
			i++
		}
		if i == fs {
			return 0, false
		}
	}
	if i != len(b) {
		return parseMicrosFloat(b)
	}
	for ; places < 6; places++ {
		frac *= 10
	}
	us := whole*1e6 + frac
	if neg {
		us = -us
	}
	return us, true
}

func parseMicrosFloat(b []byte) (int64, bool) {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e12 {
		return 0, false
	}
	return int64(math.Round(f * 1e6)), true
}

// incompleteTail returns how many bytes at the end of b are the start of a
// UTF-8 sequence that the next write may complete. Only a lead byte followed
// by fitting continuation bytes counts; anything else is already invalid and
// is not worth holding back.
func incompleteTail(b []byte) int {
	n := len(b)
	for k := 1; k <= 3 && k <= n; k++ {
		c := b[n-k]
		if c&0xc0 == 0x80 {
			continue // a continuation byte: look further back for its lead
		}
		need := 0
		switch {
		case c >= 0xc2 && c <= 0xdf:
			need = 2
		case c >= 0xe0 && c <= 0xef:
			need = 3
		case c >= 0xf0 && c <= 0xf4:
			need = 4
		}
		if need <= k {
			return 0
		}
		if k >= 2 {
			// The lead byte narrows the first continuation byte's range.
			c1 := b[n-k+1]
			lo, hi := byte(0x80), byte(0xbf)
			switch c {
			case 0xe0:
				lo = 0xa0
			case 0xed:
				hi = 0x9f
			case 0xf0:
				lo = 0x90
			case 0xf4:
				hi = 0x8f
			}
			if c1 < lo || c1 > hi {
				return 0
			}
		}
		return k
	}
	return 0
}

// validPrefix returns the length of the longest valid UTF-8 prefix of b.
func validPrefix(b []byte) int {
	i := 0
	for i < len(b) {
		// ASCII eight bytes at a time: the common case in terminal output.
		for i+8 <= len(b) && binary.LittleEndian.Uint64(b[i:])&0x8080808080808080 == 0 {
			i += 8
		}
		if i >= len(b) {
			break
		}
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// invalidPrefix returns how many bytes at the start of b are not the start
// of a valid UTF-8 sequence.
func invalidPrefix(b []byte) int {
	i := 0
	for i < len(b) {
		if b[i] < utf8.RuneSelf {
			return i
		}
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || size != 1 {
			return i
		}
		i++
	}
	return i
}

// maxRuns is the most events one write may become before it is recorded as
// a single binary event instead: a few text events around a stray invalid
// byte keep output readable in any player, while data that is binary
// through and through should not turn into a stream of tiny events.
const maxRuns = 4

// run is a piece of a write: valid UTF-8 text or bytes that are not.
type run struct {
	start, end int
	binary     bool
}

// splitRuns cuts b into alternating valid and invalid runs. It returns
// false, having looked no further, once there would be more than maxRuns.
func splitRuns(b []byte, runs *[maxRuns]run) (int, bool) {
	n, i := 0, 0
	for i < len(b) {
		j := i + validPrefix(b[i:])
		if j > i {
			if n == maxRuns {
				return n, false
			}
			runs[n] = run{i, j, false}
			n++
		}
		if j == len(b) {
			break
		}
		k := j + invalidPrefix(b[j:])
		if n == maxRuns {
			return n, false
		}
		runs[n] = run{j, k, true}
		n++
		i = k
	}
	return n, true
}
