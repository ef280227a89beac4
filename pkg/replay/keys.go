package replay

import (
	"io"
	"strings"
	"unicode/utf8"
)

// Key is a key the viewer pressed: a printable character as itself, or one
// of the named keys below.
type Key rune

// The named keys, above every Unicode character.
const (
	KeyUp Key = utf8.MaxRune + 1 + iota
	KeyDown
	KeyRight
	KeyLeft
	KeyShiftRight
	KeyShiftLeft
	KeyHome
	KeyEnd
	KeyPgUp
	KeyPgDn
	KeyEnter
	KeyEscape
	KeyBackspace
	KeyInterrupt // ^C
	KeyEOF       // ^D
)

// ParseKeys reads the keys in bytes read from a terminal: characters,
// control keys, and the cursor and editing keys in normal and application
// mode, with Shift or Ctrl on the arrows (CSI 1;2 C). An ESC alone at the
// end of the bytes is the Escape key.
func ParseKeys(b []byte) []Key {
	var ks []Key
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == 0x1b && i+1 < len(b) && (b[i+1] == '[' || b[i+1] == 'O'):
			j := i + 2
			for j < len(b) && b[j] >= 0x20 && b[j] <= 0x3f {
				j++
			}
			if j >= len(b) {
				return ks // cut off: not a key
			}
			if k, ok := csiKey(string(b[i+2:j]), b[j]); ok {
				ks = append(ks, k)
			}
			i = j + 1
		case c == 0x1b:
			ks = append(ks, KeyEscape)
			i++
		case c == '\r' || c == '\n':
			ks = append(ks, KeyEnter)
			i++
		case c == 0x7f || c == 0x08:
			ks = append(ks, KeyBackspace)
			i++
		case c == 0x03:
			ks = append(ks, KeyInterrupt)
			i++
		case c == 0x04:
			ks = append(ks, KeyEOF)
			i++
		case c < 0x20:
			i++
		default:
			r, n := utf8.DecodeRune(b[i:])
			if r != utf8.RuneError || n > 1 {
				ks = append(ks, Key(r))
			}
			i += n
		}
	}
	return ks
}

func csiKey(params string, final byte) (Key, bool) {
	mod := strings.HasSuffix(params, ";2") || strings.HasSuffix(params, ";5") || strings.HasSuffix(params, ";6")
	switch final {
	case 'A':
		return KeyUp, true
	case 'B':
		return KeyDown, true
	case 'C':
		if mod {
			return KeyShiftRight, true
		}
		return KeyRight, true
	case 'D':
		if mod {
			return KeyShiftLeft, true
		}
		return KeyLeft, true
	case 'H':
		return KeyHome, true
	case 'F':
		return KeyEnd, true
	case '~':
		switch strings.SplitN(params, ";", 2)[0] {
		case "1", "7":
			return KeyHome, true
		case "4", "8":
			return KeyEnd, true
		case "5":
			return KeyPgUp, true
		case "6":
			return KeyPgDn, true
		}
	}
	return 0, false
}

// ReadKeys reads keys from r (the viewer's terminal) until it fails.
func ReadKeys(r io.Reader) <-chan Key {
	ch := make(chan Key, 64)
	go func() {
		defer close(ch)
		buf := make([]byte, 256)
		for {
			n, err := r.Read(buf)
			for _, k := range ParseKeys(buf[:n]) {
				ch <- k
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// KeyMode puts the terminal fd in single-key mode (no echo, no line
// buffering, output processing kept) and returns the restore function.
func KeyMode(fd int) (func(), error) { return keyMode(fd) }
