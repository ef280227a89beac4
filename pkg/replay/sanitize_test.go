package replay

import (
	"bytes"
	"testing"
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
		"caf\xc3\xa9 \xff raw bytes",
		"\x1b[?1;25h", "\x1b[ q\x1b[2 q",
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

func FuzzSanitizer(f *testing.F) {
	f.Add([]byte("\x1b]52;c;ZXZpbA==\x07\x1b[6n\x1bP$q\x1b\\"))
	f.Fuzz(func(t *testing.T, p []byte) {
		out := sanitize(string(p))
		// Whatever went in, no query or clipboard write comes out.
		for _, bad := range []string{"\x1b]52", "\x1b[6n", "\x1bP", "\x1b[c", "\x1b_", "\x05"} {
			if bytes.Contains([]byte(out), []byte(bad)) {
				t.Fatalf("%q came out of %q as %q", bad, p, out)
			}
		}
	})
}

func trunc(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
