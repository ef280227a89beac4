package record

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestSecondsOutOfRange: a seconds value past what a time.Duration holds
// (about 292 years) is refused, not wrapped around.
func TestSecondsOutOfRange(t *testing.T) {
	for _, in := range []string{"9300000000", "999999999999.999999", "-9300000000", "1e12"} {
		var s Seconds
		if err := s.UnmarshalJSON([]byte(in)); err == nil {
			t.Errorf("%s read as %v", in, s.Duration())
		}
	}
	var s Seconds
	if err := s.UnmarshalJSON([]byte("9000000000")); err != nil || s.Duration() <= 0 {
		t.Errorf("9000000000 s (285 years): %v %v", s.Duration(), err)
	}
}

// TestSessionTimeOverflow: intervals that add up past what a time.Duration
// holds make the recording corrupt at that event; no event comes back with
// a time that wrapped around.
func TestSessionTimeOverflow(t *testing.T) {
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, events := range []string{
		`[9300000000,"o","one interval too long"]` + "\n",
		`[5000000000,"o","a"]` + "\n" + `[5000000000,"o","b"]` + "\n",
		`[999999999999,"o","a"]` + "\n" + `[999999999999,"o","b"]` + "\n" + `[999999999999,"o","c"]` + "\n" +
			`[999999999999,"o","d"]` + "\n" + `[999999999999,"o","e"]` + "\n" + `[999999999999,"o","f"]` + "\n" +
			`[999999999999,"o","g"]` + "\n" + `[999999999999,"o","h"]` + "\n" + `[999999999999,"o","i"]` + "\n" +
			`[999999999999,"o","j"]` + "\n",
	} {
		data := enc.EncodeAll([]byte(`{"version":3,"term":{"cols":80,"rows":24}}`+"\n"+`[1,"o","start"]`+"\n"+events), nil)
		r, err := NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		var last error
		for {
			ev, err := r.Next()
			if err != nil {
				last = err
				break
			}
			if ev.Time < 0 {
				t.Errorf("event %q at %v", ev.Data, ev.Time)
			}
		}
		if errors.Is(last, io.EOF) || !errors.Is(last, ErrCorrupt) {
			t.Errorf("%q: the read ended with %v, want a corrupt recording", events, last)
		}
		r.Close()
	}
}
