package record

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEscapeEveryByte(t *testing.T) {
	for c := 0; c < utf8.RuneSelf; c++ {
		in := []byte{'a', byte(c), 'b'}
		got := appendEscaped(nil, in)
		var s string
		if err := json.Unmarshal([]byte(`"`+string(got)+`"`), &s); err != nil || s != string(in) {
			t.Errorf("byte %#02x: escaped %q decodes to %q, %v", c, got, s, err)
		}
		if bytes.IndexFunc(got, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
			t.Errorf("byte %#02x: escaped %q still holds a control character", c, got)
		}
	}
	for in, want := range map[string]string{
		"\n\r\t\b\f":       `\n\r\t\b\f`,
		"\x1b[31m\x00\x7f": `\u001b[31m\u0000\u007f`,
		`"\`:               `\"\\`,
		"<a href=x>&amp;":  "<a href=x>&amp;", // unlike encoding/json
		"€ ✓ 😀 x":          "€ ✓ 😀 x",
		"line sep \u2028":  "line sep \u2028", // valid JSON; only JavaScript minds
	} {
		if got := string(appendEscaped(nil, []byte(in))); got != want {
			t.Errorf("escape %q = %q, want %q", in, got, want)
		}
	}
}

func TestEscapeRandomText(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(7, 7))
	alphabet := []rune("abc \"\\\n\r\t\x1b\x00\x7f<>&é€😀")
	for i := 0; i < 2000; i++ {
		var b strings.Builder
		for n := rng.IntN(100); n > 0; n-- {
			b.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		in := b.String()
		var s string
		if err := json.Unmarshal([]byte(`"`+string(appendEscaped(nil, []byte(in)))+`"`), &s); err != nil || s != in {
			t.Fatalf("%q round trips to %q, %v", in, s, err)
		}
	}
}

func TestBase64MatchesStdlib(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(3, 4))
	for n := 0; n < 600; n++ {
		// Random bytes, NULs, and random bytes with runs of NULs (the
		// zero-run fast path) at every length.
		b := make([]byte, n%200)
		switch n / 200 {
		case 0:
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
		case 2:
			for i := range b {
				if rng.IntN(40) == 0 {
					b[i] = byte(rng.Uint32())
				}
			}
		}
		if got, want := appendBase64([]byte("p"), b), base64.StdEncoding.AppendEncode([]byte("p"), b); !bytes.Equal(got, want) {
			t.Fatalf("base64 of %x = %s, want %s", b, got, want)
		}
	}
}

func TestMicros(t *testing.T) {
	for _, tc := range []struct {
		us   int64
		text string
	}{
		{0, "0"}, {1, "0.000001"}, {10, "0.00001"}, {333333, "0.333333"}, {1500000, "1.5"},
		{1000000, "1"}, {86400123456, "86400.123456"}, {-2500, "-0.0025"},
	} {
		if got := string(appendMicros(nil, tc.us)); got != tc.text {
			t.Errorf("appendMicros(%d) = %s, want %s", tc.us, got, tc.text)
		}
		if got, ok := parseMicros([]byte(tc.text)); !ok || got != tc.us {
			t.Errorf("parseMicros(%s) = %d %v, want %d", tc.text, got, ok, tc.us)
		}
	}
	// Other writers' forms: exponents, more places (rounded).
	for text, want := range map[string]int64{"1e-3": 1000, "2.5E+1": 25000000, "0.0000005": 1, "0.1234564": 123456, "0.000000": 0} {
		if got, ok := parseMicros([]byte(text)); !ok || got != want {
			t.Errorf("parseMicros(%s) = %d %v, want %d", text, got, ok, want)
		}
	}
	for _, bad := range []string{"", "-", ".5", "01", "1.", "1x", "NaN", "1e400"} {
		if _, ok := parseMicros([]byte(bad)); ok {
			t.Errorf("parseMicros(%q) accepted", bad)
		}
	}
	if got := roundMicros(1499); got != 1 {
		t.Errorf("roundMicros(1499) = %d", got)
	}
	if got := roundMicros(1500); got != 2 {
		t.Errorf("roundMicros(1500) = %d", got)
	}
}

func TestIncompleteTail(t *testing.T) {
	for _, r := range []rune{0x80, 0x7ff, 0x800, 0xfff, 0x1000, 0xd7ff, 0xe000, 0xffff, 0x10000, 0x3ffff, 0x40000, 0x10ffff, '€', '😀'} {
		enc := utf8.AppendRune(nil, r)
		for k := 1; k < len(enc); k++ {
			if got := incompleteTail(append([]byte("ab"), enc[:k]...)); got != k {
				t.Errorf("%U cut after %d of %d bytes: tail %d", r, k, len(enc), got)
			}
		}
		if got := incompleteTail(append([]byte("ab"), enc...)); got != 0 {
			t.Errorf("%U whole: tail %d", r, got)
		}
	}
	// Not the start of any character: nothing to wait for.
	for _, b := range []string{"a", "\x80", "\xbf\xbf", "\xc0", "\xc1", "\xf5", "\xff", "\xe0\x80", "\xed\xa0", "\xf0\x80", "\xf4\x90", "\xe2\x82\xac\x80", "\xc3\x28"} {
		if got := incompleteTail([]byte(b)); got != 0 {
			t.Errorf("incompleteTail(%q) = %d, want 0", b, got)
		}
	}
}

func TestSplitRuns(t *testing.T) {
	var runs [maxRuns]run
	n, ok := splitRuns([]byte("ab\xffcd"), &runs)
	if !ok || n != 3 || runs[0] != (run{0, 2, false}) || runs[1] != (run{2, 3, true}) || runs[2] != (run{3, 5, false}) {
		t.Errorf("splitRuns = %d %v %v", n, ok, runs[:n])
	}
	n, ok = splitRuns([]byte("\xff\xfeab\xc3"), &runs)
	if !ok || n != 3 || runs[0] != (run{0, 2, true}) || runs[2] != (run{4, 5, true}) {
		t.Errorf("splitRuns = %d %v %v", n, ok, runs[:n])
	}
	if _, ok := splitRuns([]byte("a\xffb\xffc"), &runs); ok {
		t.Errorf("five runs were accepted")
	}
}

func TestParseEvent(t *testing.T) {
	iv, code, data, err := parseEvent([]byte(" [ 1.25 , \"o\" , \"a\\u00e9\\ud83d\\ude00\\ud800\\/\\n\" ] \n"), nil, nil)
	if err != nil || iv != 1250000 || string(code) != "o" || string(data) != "aé😀\uFFFD/\n" {
		t.Errorf("parseEvent = %d %q %q %v", iv, code, data, err)
	}
	for _, bad := range []string{"", "[]", "[1,\"o\"]", "[1,\"o\",\"x\",4]", "[1,\"o\",\"x\"]x", "[1,\"o\",\"\x01\"]", "[1,\"o\",\"\\x\"]", "[1,\"o\",\"\\u12\"]", "[a,\"o\",\"x\"]", "[1,\"o\",\"x"} {
		if _, _, _, err := parseEvent([]byte(bad), nil, nil); err == nil {
			t.Errorf("parseEvent(%q) accepted", bad)
		}
	}
}

// TestControlHeavy: NULs are heavy, colour codes and line ends are not.
func TestControlHeavy(t *testing.T) {
	zeros := make([]byte, 1000)
	if !controlHeavy(zeros) || controlHeavy([]byte(strings.Repeat("\x1b[0mword\r\n", 20))) {
		t.Error("controlHeavy misjudges NULs or colour codes")
	}
}

// TestAppendTextAgrees: the one-pass encoder gives exactly what validation,
// controlHeavy and appendEscaped give, on text, binary and edge cases,
// including characters cut by the 64-byte blocks it works in.
func TestAppendTextAgrees(t *testing.T) {
	cases := [][]byte{
		nil, []byte("plain"), []byte("\x1b[32mINFO\x1b[0m naïve → ✓\r\n"),
		make([]byte, 63), make([]byte, 64), make([]byte, 1000),
		[]byte("ok\xffbad"), []byte("\xed\xa0\x80 surrogate"), []byte("cut \xe2\x86"),
		[]byte(strings.Repeat("a\x01", 100)), []byte(strings.Repeat("abcdefg\x01", 100)),
		[]byte(strings.Repeat("abcdefgh\x01", 100)), []byte("\x7f\x7f\"\\\t\b\f"),
		terminalText(5000), randomBytes(5000),
		// Dense at the start, light overall: allowed to give up early.
		append(make([]byte, 200), bytes.Repeat([]byte("x"), 5000)...),
	}
	rng := mrand.New(mrand.NewPCG(7, 8))
	for range 2000 {
		b := make([]byte, rng.IntN(200))
		for i := range b {
			b[i] = []byte{'a', 0, 0x1b, '\n', 0xc3, 0xa9, 0xe2, 0x82, '"', 0x7f}[rng.IntN(10)]
		}
		cases = append(cases, b)
	}
	// Whole characters of every length at every offset of the blocks.
	pieces := []string{"a", "bcdefgh", "\x1b[0m", "\r\n", "é", "→", "😀", "\"", "\\", "\x01", "\x7f", "\xff", "\xe2\x82"}
	for range 3000 {
		var b []byte
		for n := rng.IntN(700); len(b) < n; {
			k := rng.IntN(len(pieces))
			if k >= len(pieces)-2 && rng.IntN(20) > 0 {
				continue // keep most cases valid
			}
			b = append(b, pieces[k]...)
		}
		cases = append(cases, b)
	}
	for _, c := range cases {
		checkAppendText(t, c)
	}
	// appendEscaped neither validates nor gives up: bytes that are not
	// UTF-8 pass as they are, and NULs are escaped however many.
	for _, c := range [][]byte{[]byte("ok\xffbad"), append(bytes.Repeat([]byte("é\x01"), 100), 0xff, 'x')} {
		if got, want := appendEscaped(nil, c), naiveEscape(c); !bytes.Equal(got, want) {
			t.Errorf("appendEscaped(%q) = %q, want %q", c, got, want)
		}
	}
}

// checkAppendText holds appendText to a byte-at-a-time reference.
func checkAppendText(t *testing.T, c []byte) {
	t.Helper()
	wantOK := utf8.Valid(c) && !controlHeavy(c)
	prefix := []byte("[0.1,\"o\",\"")
	got, v := appendText(append([]byte(nil), prefix...), c)
	ok := v == isText
	switch {
	case ok && !wantOK:
		t.Fatalf("%q: taken as text", c)
	case !ok && wantOK && !denseStart(c):
		t.Fatalf("%q: refused as text", c)
	case v == notUTF8 && utf8.Valid(c):
		t.Fatalf("%q: valid UTF-8 said not to be", c)
	case v == tooHeavy && !controlHeavy(c) && !denseStart(c):
		t.Fatalf("%q: said heavy", c)
	case ok:
		if want := append(prefix, naiveEscape(c)...); !bytes.Equal(got, want) {
			t.Fatalf("%q: %q, want %q", c, got, want)
		}
		if !bytes.Equal(got[len(prefix):], appendEscaped(nil, c)) {
			t.Fatalf("%q: appendEscaped disagrees", c)
		}
	}
}

// denseStart reports whether some 64-byte-aligned start of c is dense
// enough in heavy control bytes that appendText may give up early.
func denseStart(c []byte) bool {
	heavy := 0
	for i, b := range c {
		heavy += int(heavyBytes[b])
		if (i+1)%64 == 0 && heavy > (i+1)/4+64 {
			return true
		}
	}
	return false
}

// naiveEscape is the JSON string escaping of docs/FORMAT.md, a byte at a
// time.
func naiveEscape(c []byte) []byte {
	var out []byte
	for _, b := range c {
		switch {
		case b == '"' || b == '\\':
			out = append(out, '\\', b)
		case b == '\n':
			out = append(out, `\n`...)
		case b == '\r':
			out = append(out, `\r`...)
		case b == '\t':
			out = append(out, `\t`...)
		case b == '\b':
			out = append(out, `\b`...)
		case b == '\f':
			out = append(out, `\f`...)
		case b < 0x20 || b == 0x7f:
			out = append(out, fmt.Sprintf(`\u%04x`, b)...)
		default:
			out = append(out, b)
		}
	}
	return out
}
