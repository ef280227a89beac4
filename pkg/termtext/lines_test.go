package termtext

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestLinesChunkingDoesNotMatter: the same output fed in random pieces or
// a byte at a time gives the same lines, cursor and line in progress.
func TestLinesChunkingDoesNotMatter(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	alphabet := []string{"a", "b", " ", "é", "\xe2\x86", "\x92", "\r", "\n", "\b", "\t", "\x1b[2K", "\x1b[3D", "\x1b[5G", "\x1b[1;32m", "\x1b[0m", "\x1b[4P", "\x1b[2@", "\x1b]133;A\x07", "\x1b[?1049h", "\x1b[?1049l", "xyz"}
	for n := range 300 {
		var in []byte
		for range rng.IntN(200) {
			in = append(in, alphabet[rng.IntN(len(alphabet))]...)
		}
		run := func(split func([]byte) [][]byte) ([]string, string, int) {
			var got []string
			l := &Lines{Emit: func(x Line) { got = append(got, x.Text) }}
			for _, p := range split(in) {
				l.Write(0, p)
			}
			return got, l.Current(), l.Cursor()
		}
		bytewise := func(b []byte) [][]byte {
			var out [][]byte
			for i := range b {
				out = append(out, b[i:i+1])
			}
			return out
		}
		random := func(b []byte) [][]byte {
			var out [][]byte
			for len(b) > 0 {
				k := 1 + rng.IntN(len(b))
				out, b = append(out, b[:k]), b[k:]
			}
			return out
		}
		l1, c1, k1 := run(bytewise)
		l2, c2, k2 := run(random)
		if !slices.Equal(l1, l2) || c1 != c2 || k1 != k2 {
			t.Fatalf("case %d %q: bytewise %q %q %d, chunks %q %q %d", n, in, l1, c1, k1, l2, c2, k2)
		}
	}
}
