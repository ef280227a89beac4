package replay

import (
	"bytes"
	"regexp"
	"runtime"
	"testing"
	"unicode/utf8"
)

func sanitize(chunks ...string) string {
	var s Sanitizer
	var out []byte
	for _, c := range chunks {
		out = s.Filter(out, []byte(c))
	}
	return string(out)
}

func TestSanitizerKeepsDrawing(t *testing.T) {
	for _, in := range []string{
		"plain text\r\n",
		"\x1b[01;34mbin\x1b[0m \x1b[2J\x1b[H\x1b[10;5H\x1b[K\x1b[?25l\x1b[?1049h\x1b[?1049l\x1b(B\x1b7\x1b8\x1bM",
		"\x1b]0;user@host: ~\x07\x1b]2;title\x1b\\",
		"\x1b]8;;https://example.com\x1b\\link\x1b]8;;\x1b\\",
		"caf\xc3\xa9 \u8a9e \uFFFD",
		"\x1b[?7;25h", "\x1b[ q\x1b[2 q",
		"\x1b#8\x1b(0lqk\x1b(B\x1b)0\x0e\x0f\x1b[1;24r\x1b[5S\x1b[2T\x1b[3b\x1b[!p\x1b[4h\x1b[4l",
		"\x1b[38:2::255:0:0m\x1b[4:3m\x1b[?2026h\x1b[?2026l\x1b[s\x1b[u\x1b[3g\x1b[?1J\x1b[2\"q",
		"\x1b[A\x1b[2B\x1b[C\x1b[D\x1b[E\x1b[F\x1b[5G\x1b[I\x1b[Z\x1b[3d\x1b[1;1f\x1b[5`\x1b[2X\x1b[3@\x1b[2P\x1b[3L\x1b[2M",
		"a\x07b\x08c\td\ve\ff\r\n",
	} {
		if got := sanitize(in); got != in {
			t.Errorf("changed %q into %q", in, got)
		}
	}
}

func TestSanitizerDrops(t *testing.T) {
	cases := map[string]string{
		"a\x1b]52;c;ZXZpbA==\x07b":  "ab", // clipboard write
		"a\x1b]52;c;?\x1b\\b":       "ab", // clipboard read
		"a\x1b]11;?\x07b":           "ab", // color query
		"a\x1b]133;A\x07b":          "ab",
		"a\x1b[cb\x1b[>c\x1b[=c":    "ab", // DA1, DA2, DA3
		"a\x1b[6nb\x1b[5n\x1b[?6n":  "ab", // DSR, CPR
		"a\x1bP$qm\x1b\\b":          "ab", // DECRQSS
		"a\x1bP+q544e\x1b\\b":       "ab", // XTGETTCAP
		"a\x1b[?2004$pb":            "ab", // DECRQM
		"a\x1b[21tb\x1b[8;100;200t": "ab", // title report, resize
		"a\x1b[>0qb":                "ab", // XTVERSION
		"a\x05b":                    "ab", // ENQ
		"a\x1bZb":                   "ab", // DECID
		"a\x1b_Gi=1;AAAA\x1b\\b":    "ab", // APC (kitty graphics)
		"a\x1b[?1000;1006hb":        "ab", // mouse
		"a\x1b[?2004hb":             "ab", // bracketed paste
		"a\x1b[?1049;1000;25hb":     "a\x1b[?1049;25hb",
		"a\x1b[?uB\x1b[>1u\x1b[<u":  "aB", // kitty keyboard
		"a\x1b[>4;1mb":              "ab", // modifyOtherKeys
		"a\x1b]52;c;" + string(bytes.Repeat([]byte("A"), 20000)) + "\x07b": "ab",
	}
	for in, want := range cases {
		if got := sanitize(in); got != want {
			t.Errorf("%q: got %q, want %q", trunc(in), got, want)
		}
	}
}

// A byte that is not UTF-8 is shown as a UTF-8 terminal shows it; it
// cannot combine with what follows into a C1 control.
func TestSanitizerReplacesInvalidUTF8(t *testing.T) {
	cases := map[string]string{
		"caf\xc3\xa9 \xff raw": "caf\xc3\xa9 \uFFFD raw",
		"\xc2A":                "\uFFFDA",
		"\xe2\x82":             "\uFFFD", // cut at the end of the stream: held, never shown half
		"\xf0\x9f\x98\x80!":    "\U0001F600!",
		"\xc0\x9b6n":           "\uFFFD\uFFFD6n", // an overlong CSI is not a CSI
		"\xe2\x82\x1b[6n":      "\uFFFD",
	}
	for in, want := range cases {
		got := sanitize(in)
		if in == "\xe2\x82" {
			var s Sanitizer
			got = string(s.Filter(nil, []byte(in)))
			got += string(s.Filter(nil, []byte("\x1b[m")))
			want = "\uFFFD\x1b[m"
		}
		if got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

func TestSanitizerSplitWrites(t *testing.T) {
	in := "x\x1b]52;c;ZXZpbA==\x07y\x1b[6nz\x1b[31mred\x1b]0;t\x07"
	want := "xyz\x1b[31mred\x1b]0;t\x07"
	for i := 0; i <= len(in); i++ {
		for j := i; j <= len(in); j++ {
			if got := sanitize(in[:i], in[i:j], in[j:]); got != want {
				t.Fatalf("split at %d,%d: %q", i, j, got)
			}
		}
	}
}

// allowedOut matches, at an ESC, exactly the sequences the Sanitizer may
// let through (written apart from it, from its documented list).
var allowedOut = regexp.MustCompile("^\x1b(?:" +
	"\\[[0-9;:]*[ABCDEFGHIZadef`jkJKX@PLMSbmrsg]|\\[[0-9:]*T|\\[u|" +
	"\\[4(?:;4)*[hl]|" +
	"\\[\\?(?:5|6|7|12|25|45|47|69|1047|1048|1049|2026)(?:;(?:5|6|7|12|25|45|47|69|1047|1048|1049|2026))*[hl]|" +
	"\\[\\?[0-9;:]*[JK]|\\[[0-9;:]*(?: q|\"q|!p)|" +
	"[78DEHMc69NOno]|[()*+\\-./][%\"&]?[0-~]|#[34568]|" +
	"\\][0128](?:;[^\x00-\x1f\x7f]*)?(?:\x07|\x1b\\\\))")

// checkSafe fails unless out is valid UTF-8 with no C1 control, no C0
// control but those that only move the cursor, and only allowed sequences.
func checkSafe(t *testing.T, in, out []byte) {
	t.Helper()
	if !utf8.Valid(out) {
		t.Fatalf("%q gave invalid UTF-8 %q", in, out)
	}
	for i := 0; i < len(out); {
		r, n := utf8.DecodeRune(out[i:])
		switch {
		case r >= 0x80 && r < 0xa0, r < 0x20 && !(r >= 0x07 && r <= 0x0f) && r != 0x1b, r == 0x7f:
			t.Fatalf("%q gave control %U at %d: %q", in, r, i, out)
		case r == 0x1b:
			m := allowedOut.Find(out[i:])
			if m == nil {
				t.Fatalf("%q gave a sequence not on the list at %d: %q", in, i, out[i:min(len(out), i+40)])
			}
			n = len(m)
		}
		i += n
	}
}

func FuzzSanitizer(f *testing.F) {
	for _, s := range []string{
		"\x1b]52;c;ZXZpbA==\x07\x1b[6n\x1bP$q\x1b\\",
		"\u009b6n\u009d52;c;x\u009c\u0090$q\u009c\x1b[1$w\x1b[#R\x1b[1;1;1;1#|",
		"\x1b[?1049;1000;25h\x1b]0;t\x07\x1b]8;;http://x\x1b\\l\x1b]8;;\x1b\\\x1b(0q\x1b#8",
		"\xc2\xe2\x82\x1b[\xc3\xa9m\x1b%@\x1b=\x1b[?1h\x05\x18\x1a\x7f",
	} {
		f.Add([]byte(s), uint16(3))
	}
	f.Fuzz(func(t *testing.T, p []byte, split uint16) {
		var s Sanitizer
		dst := make([]byte, 0, 3*len(p)+16)
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		out := s.Filter(dst, p)
		runtime.ReadMemStats(&m1)
		checkSafe(t, p, out)
		// Bounded work and memory: the output is at most 3 bytes per byte
		// (U+FFFD for a byte that is not UTF-8), and whatever the input,
		// the filter allocates no more than its bounded sequence buffer.
		if len(out) > 3*len(p) {
			t.Fatalf("%d bytes out of %d", len(out), len(p))
		}
		if a := m1.TotalAlloc - m0.TotalAlloc; a > 4*maxKept {
			t.Fatalf("filtering %d bytes allocated %d bytes", len(p), a)
		}
		// Whole sequences only: cut anywhere, the output is the same, and
		// it passes through the filter again unchanged.
		var s2 Sanitizer
		k := int(split) % (len(p) + 1)
		if got := s2.Filter(s2.Filter(nil, p[:k]), p[k:]); !bytes.Equal(got, out) {
			t.Fatalf("%q split at %d: %q, whole: %q", p, k, got, out)
		}
		var s3 Sanitizer
		if again := s3.Filter(nil, out); !bytes.Equal(again, out) {
			t.Fatalf("%q: filtered twice %q, once %q", p, again, out)
		}
	})
}

func trunc(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// C1 controls sent as UTF-8 are acted on by VTE (GNOME Terminal and
// others): they must not pass, nor what they introduce.
func TestSanitizerDropsC1Controls(t *testing.T) {
	cases := map[string]string{
		"a\u009b6nb":                       "ab", // CSI DSR
		"a\u009bcb":                        "ab", // CSI DA
		"a\u009b?1000hb":                   "ab", // CSI mouse tracking
		"a\u009d52;c;ZXZpbA==\u009cb":      "ab", // OSC 52 ended by C1 ST
		"a\u009d0;title\x07b":              "ab", // OSC ended by BEL
		"a\u0090$qm\u009cb":                "ab", // DCS DECRQSS
		"a\u0090$qm\x1b\\b":                "ab",
		"a\u009fapc\u009cb\u009eX\x1b\\":   "ab", // APC, PM
		"a\u0085\u0084\u008d\u009a\u0088b": "ab", // NEL, IND, RI, DECID, HTS
		"a\x1b]0;ti\u009b6ntle\x07b":       "ab", // a C1 control inside a title
	}
	for in, want := range cases {
		if got := sanitize(in); got != want {
			t.Errorf("%q: got %q, want %q", trunc(in), got, want)
		}
	}
}

// Queries xterm answers that a filter by name missed; an allowlist drops
// them because they draw nothing.
func TestSanitizerDropsUnlistedQueries(t *testing.T) {
	cases := map[string]string{
		"a\x1b[1$wb":         "ab", // DECRQPSR cursor information report
		"a\x1b[2$wb":         "ab", // DECRQPSR tab stop report
		"a\x1b[1;1;1;1#|b":   "ab", // XTREPORTSGR
		"a\x1b[#Rb":          "ab", // XTREPORTCOLORS
		"a\x1b[5ib":          "ab", // printer controller mode
		"a\x1b[3qb":          "ab", // DECLL keyboard LEDs
		"a\x1b[>1pb":         "ab", // XTSMPOINTER
		"a\x1b[?1hb":         "ab", // DECCKM: cursor keys send SS3
		"a\x1b=b\x1b>":       "ab", // DECKPAM, DECKPNM: the keypad
		"a\x1b[20hb":         "ab", // LNM: Enter sends CR LF
		"a\x1b[2hb":          "ab", // KAM: locks the keyboard
		"a\x1b[12lb":         "ab", // SRM: local echo
		"a\x1b[?3hb":         "ab", // DECCOLM: resizes the window
		"a\x1b[?rb\x1b[?s":   "ab", // restore, save DEC private modes
		"a\x1b%@b":           "ab", // leave UTF-8 mode: C1 bytes would act
		"a\x1b[?1004;1049hb": "a\x1b[?1049hb",
		"a\x1b[1;2;3;4;5Tb":  "ab", // mouse highlight tracking
		"a\x1b[?1;25hb":      "a\x1b[?25hb",
	}
	for in, want := range cases {
		if got := sanitize(in); got != want {
			t.Errorf("%q: got %q, want %q", trunc(in), got, want)
		}
	}
}
