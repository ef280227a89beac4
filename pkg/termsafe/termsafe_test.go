package termsafe

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"sigs.k8s.io/yaml"
)

func TestString(t *testing.T) {
	for in, want := range map[string]string{
		"plain name.cast.zst":      "plain name.cast.zst",
		`C:\Users\al`:              `C:\Users\al`,
		"café 語":                   "café 語",
		"a\x1b]52;c;ZXZpbA==\x07b": `a\x1b]52;c;ZXZpbA==\x07b`,
		"x\u009b6n\u009d0;t\u009c": `x\u009b6n\u009d0;t\u009c`,
		"tab\tnl\ncr\rdel\x7f":     `tab\x09nl\x0acr\x0ddel\x7f`,
		"bad\xffutf8\xc2":          `bad\xffutf8\xc2`,
		"\u00a0nbsp":               "\u00a0nbsp",
	} {
		if got := String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Text("line 1\n\tline 2\x1b[2J\u0090"); got != "line 1\n\tline 2\\x1b[2J\\u0090" {
		t.Errorf("Text: %q", got)
	}
}

// safe tells whether s holds nothing a terminal acts on but newline and tab.
func safe(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if (r < 0x20 && r != '\n' && r != '\t') || (r >= 0x7f && r < 0xa0) {
			return false
		}
	}
	return true
}

func TestJSONKeepsValuesAndEscapesC1(t *testing.T) {
	v := map[string]string{"a": "x\u009b6n\u009dy\x1b[31m\x7f\u0085z", "b": "é語"}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out := JSON(j)
	if !safe(string(out)) {
		t.Fatalf("JSON left controls: %q", out)
	}
	var back map[string]string
	if err := json.Unmarshal(out, &back); err != nil || back["a"] != v["a"] || back["b"] != v["b"] {
		t.Fatalf("decoded %q (%v), want %q", back, err, v)
	}
	y, err := yaml.JSONToYAML(out)
	if err != nil || !safe(string(y)) {
		t.Fatalf("YAML %q, %v", y, err)
	}
	var fromYAML map[string]string
	if err := yaml.Unmarshal(y, &fromYAML); err != nil || fromYAML["a"] != v["a"] {
		t.Fatalf("YAML decoded %q (%v)", fromYAML, err)
	}
}

func TestWriterSplitsAndJSON(t *testing.T) {
	in := "ok é\n\x1b[6n\u009b6n\xff語\t"
	want := "ok é\n\\x1b[6n\\u009b6n\\xff語\t"
	for i := 0; i <= len(in); i++ {
		var b bytes.Buffer
		w := &Writer{W: &b}
		w.Write([]byte(in[:i]))
		w.Write([]byte(in[i:]))
		w.Close()
		if b.String() != want {
			t.Fatalf("split at %d: %q", i, b.String())
		}
	}
	var b bytes.Buffer
	w := &Writer{W: &b, JSON: true}
	w.Write([]byte(`["\u001b` + "\x1b\u009b\xff\"]\n"))
	w.Close()
	if got := b.String(); got != `["\u001b\u001b\u009b\ufffd"]`+"\n" {
		t.Fatalf("JSON writer: %q", got)
	}
}

func FuzzString(f *testing.F) {
	f.Add("a\x1b[31m\u009b\xff\n")
	f.Fuzz(func(t *testing.T, s string) {
		out := String(s)
		if !safe(out) || strings.ContainsAny(out, "\n\t") {
			t.Fatalf("String(%q) = %q", s, out)
		}
		if len(out) > 6*len(s) {
			t.Fatalf("String(%q) grew to %d bytes", s, len(out))
		}
		if !safe(Text(s)) {
			t.Fatalf("Text(%q) = %q", s, Text(s))
		}
		var b bytes.Buffer
		w := &Writer{W: &b}
		for i := 0; i < len(s); i += 3 {
			w.Write([]byte(s[i:min(len(s), i+3)]))
		}
		w.Close()
		if b.String() != Text(s) {
			t.Fatalf("Writer %q, Text %q", b.String(), Text(s))
		}
	})
}
