package verify

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

func TestIntactRecordings(t *testing.T) {
	kid := record.KeyID(testPub())
	for _, tc := range []struct {
		name    string
		data    []byte
		keys    []ed25519.PublicKey
		verdict Verdict
		want    string
	}{
		{"unsigned", session(t, nil, exited(0)), nil, Consistent, "CONSISTENT (unsigned: not authenticated)"},
		{"unsigned interrupted", session(t, nil, interrupted), nil, Consistent, "CONSISTENT (unsigned: not authenticated)"},
		{"signed, no key given", session(t, testKey, exited(3)), nil, Consistent, "CONSISTENT (claims a signature by " + kid + ", not checked: no --pub key given; not authenticated)"},
		{"signed, key given", session(t, testKey, exited(3)), []ed25519.PublicKey{testPub()}, OK, "OK (signed by " + kid + ")"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := verifyBytes(tc.data, tc.keys...)
			if r.Verdict != tc.verdict || r.Summary != tc.want || r.Authenticated != (tc.verdict == OK) {
				t.Fatalf("got %s %q authenticated=%v, want %q", r.Verdict, r.Summary, r.Authenticated, tc.want)
			}
			if r.Frames < 5 || r.Events == 0 || r.VerifiedUntil == nil || r.Duration == nil || r.AuditID == "" {
				t.Errorf("result %+v", r)
			}
		})
	}
}

func TestSignedWithAnotherKey(t *testing.T) {
	data := session(t, testKey, exited(0))
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32)).Public().(ed25519.PublicKey)
	r := verifyBytes(data, other)
	if r.Verdict != Unsigned || !strings.Contains(r.Detail, record.KeyID(testPub())) {
		t.Fatalf("%+v", r)
	}
	r = verifyBytes(session(t, nil, exited(0)), other)
	if r.Verdict != Unsigned || r.Detail != "the recording is not signed" {
		t.Fatalf("%+v", r)
	}
	if ExitCode([]Result{r}) != ExitUnsigned {
		t.Fatal("exit code")
	}
}

// unsignedBlind are the bytes whose change verify cannot see without a
// signature: the values of the trailer's end, duration and message. Nothing
// else that is not under the chain may change undetected.
func unsignedBlind(t *testing.T, data []byte) [][2]int64 {
	l := locate(t, data)
	var rs [][2]int64
	for _, k := range []string{"end", "duration", "message"} {
		a, b := l.valueRange(t, k)
		rs = append(rs, [2]int64{a, b})
	}
	return rs
}

func inRanges(off int64, rs [][2]int64) bool {
	for _, r := range rs {
		if off >= r[0] && off < r[1] {
			return true
		}
	}
	return false
}

// flip changes the byte at off to another value.
func flip(data []byte, off int64, mask byte) []byte {
	d := append([]byte(nil), data...)
	d[off] ^= mask
	return d
}

type flipCase struct {
	name   string
	data   []byte
	keys   []ed25519.PublicKey
	signed bool
}

func flipCases(t *testing.T) []flipCase {
	return []flipCase{
		{"unsigned exited", session(t, nil, exited(0)), nil, false},
		{"unsigned interrupted", session(t, nil, interrupted), nil, false},
		{"signed exited", session(t, testKey, exited(2)), []ed25519.PublicKey{testPub()}, true},
		{"signed interrupted", session(t, testKey, interrupted), []ed25519.PublicKey{testPub()}, true},
	}
}

// checkFlip asserts the verdict for a recording with one byte changed: always
// TAMPERED, except CONSISTENT where unsigned verification is documented
// blind.
func checkFlip(t *testing.T, tc flipCase, blind [][2]int64, off int64, mask byte) (ok bool) {
	t.Helper()
	r := verifyBytes(flip(tc.data, off, mask), tc.keys...)
	if r.Verdict == Tampered && r.Check != "" && r.Detail != "" {
		return false
	}
	if r.Verdict == Consistent && !tc.signed && inRanges(off, blind) {
		return true
	}
	t.Errorf("%s: byte %d of %d ^%#02x (was %q): %s check=%q %s", tc.name, off, len(tc.data), mask, tc.data[off], r.Verdict, r.Check, r.Detail)
	return false
}

// TestRandomFlips: 1,000 random single-byte changes of real recordings
// (250 per case), each detected as TAMPERED.
func TestRandomFlips(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	checks := map[string]int{}
	blindOK := 0
	for _, tc := range flipCases(t) {
		blind := unsignedBlind(t, tc.data)
		l := locate(t, tc.data)
		for range 250 {
			off := rng.Int64N(int64(len(tc.data)))
			mask := byte(1 + rng.IntN(255))
			if checkFlip(t, tc, blind, off, mask) {
				blindOK++
			}
			r := verifyBytes(flip(tc.data, off, mask), tc.keys...)
			checks[r.Check]++
			// Damage inside a data frame is pinned to that frame.
			for k, f := range l.ix.Frames {
				if off >= f.Offset && off < f.Offset+f.Size && (r.Frame == nil || *r.Frame != k) {
					t.Errorf("%s: flip at %d in frame %d reported as %s", tc.name, off, k, r.Summary)
				}
			}
		}
	}
	t.Logf("1000 flips: checks that caught them %v; %d CONSISTENT inside the documented unsigned-blind bytes", checks, blindOK)
}

// TestEveryUnchainedByteFlipped changes every byte that is not under the
// hash chain (every checkpoint and the trailer, framing included), twice,
// with a random value and with the case bit (0x20, which encoding/json's
// case-insensitive keys would otherwise forgive).
func TestEveryUnchainedByteFlipped(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range flipCases(t) {
		blind := unsignedBlind(t, tc.data)
		l := locate(t, tc.data)
		n, blindOK := 0, 0
		for i, f := range l.ix.Frames {
			end := l.trailerOff
			if i+1 < len(l.ix.Frames) {
				end = l.ix.Frames[i+1].Offset
			}
			for off := f.Offset + f.Size; off < end; off++ {
				for _, m := range []byte{byte(1 + rng.IntN(255)), 0x20} {
					n++
					if checkFlip(t, tc, blind, off, m) {
						blindOK++
					}
				}
			}
		}
		for off := l.trailerOff; off < int64(len(tc.data)); off++ {
			for _, m := range []byte{byte(1 + rng.IntN(255)), 0x20} {
				n++
				if checkFlip(t, tc, blind, off, m) {
					blindOK++
				}
			}
		}
		t.Logf("%s: %d changes to checkpoints and trailer; %d CONSISTENT inside the unsigned-blind values", tc.name, n, blindOK)
		if tc.signed && blindOK > 0 {
			t.Errorf("%s: a signed recording let a change through", tc.name)
		}
	}
}

// TestRandomTruncations: 100 random cuts of real recordings, each ABRUPT,
// with the chain holding up to the last whole checkpoint.
func TestRandomTruncations(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, tc := range flipCases(t) {
		for range 25 {
			cut := rng.Int64N(int64(len(tc.data)))
			checkCut(t, tc, cut)
		}
	}
}

// TestEveryTruncation cuts one recording at every byte.
func TestEveryTruncation(t *testing.T) {
	if testing.Short() {
		t.Skip("every cut of a recording")
	}
	tc := flipCases(t)[2]
	for cut := int64(0); cut < int64(len(tc.data)); cut++ {
		checkCut(t, tc, cut)
	}
}

func checkCut(t *testing.T, tc flipCase, cut int64) {
	t.Helper()
	r := verifyBytes(tc.data[:cut], tc.keys...)
	if r.Verdict != Abrupt {
		t.Errorf("%s cut at %d of %d: %s %s %s", tc.name, cut, len(tc.data), r.Verdict, r.Check, r.Detail)
		return
	}
	// The chain holds exactly up to the last checkpoint wholly in the cut.
	ix, _ := record.Scan(bytes.NewReader(tc.data), int64(len(tc.data)))
	want := -1
	for i, f := range ix.Frames {
		// The checkpoint follows its frame.
		cp := f.Offset + f.Size
		end := cp + 8 + int64(binary.LittleEndian.Uint32(tc.data[cp+4:]))
		if end <= cut {
			want = i
		}
	}
	if want >= 0 && (r.VerifiedUntil == nil || *r.VerifiedUntil != ix.Frames[want].Checkpoint.TimeEnd || r.Frames != want+1) {
		t.Errorf("%s cut at %d: verified %d frames until %v, want %d until %v", tc.name, cut, r.Frames, r.VerifiedUntil, want+1, ix.Frames[want].Checkpoint.TimeEnd)
	}
	if want < 0 && r.VerifiedUntil != nil {
		t.Errorf("%s cut at %d: verified until %v with no whole checkpoint", tc.name, cut, *r.VerifiedUntil)
	}
}

// TestReorderedAndDuplicatedFrames moves whole frames (with their
// checkpoints) around.
func TestReorderedAndDuplicatedFrames(t *testing.T) {
	for _, tc := range flipCases(t) {
		segs, trailer := segments(t, tc.data)
		n := len(segs)
		if n < 5 {
			t.Fatalf("only %d frames", n)
		}
		variants := map[string][]byte{
			"swap 1 and 2":        join(append(append([][]byte{segs[0], segs[2], segs[1]}, segs[3:]...), trailer)...),
			"swap last two":       join(append(append(append([][]byte{}, segs[:n-2]...), segs[n-1], segs[n-2]), trailer)...),
			"duplicate 1":         join(append(append([][]byte{segs[0], segs[1]}, segs[1:]...), trailer)...),
			"duplicate last":      join(append(append(append([][]byte{}, segs...), segs[n-1]), trailer)...),
			"drop 2":              join(append(append([][]byte{segs[0], segs[1]}, segs[3:]...), trailer)...),
			"drop header frame":   join(append(append([][]byte{}, segs[1:]...), trailer)...),
			"trailer twice":       join(append(append([][]byte{}, segs...), trailer, trailer)...),
			"trailer moved up":    join(append(append(append([][]byte{}, segs[:n-1]...), trailer), segs[n-1])...),
			"frame 3 moved first": join(append(append([][]byte{segs[3], segs[0], segs[1], segs[2]}, segs[4:]...), trailer)...),
		}
		for name, data := range variants {
			r := verifyBytes(data, tc.keys...)
			if r.Verdict != Tampered {
				t.Errorf("%s, %s: %s %s", tc.name, name, r.Verdict, r.Detail)
			}
		}
	}
}

// rewriteTrailer replaces the trailer payload with edit(payload).
func rewriteTrailer(t *testing.T, data []byte, edit func(m map[string]any)) []byte {
	t.Helper()
	l := locate(t, data)
	var m map[string]any
	if err := json.Unmarshal(l.payload, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	p, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out := append([]byte(nil), data[:l.trailerOff]...)
	out = binary.LittleEndian.AppendUint32(out, 0x184D2A5F)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(p)))
	return append(out, p...)
}

// TestWhatOnlyTheSignatureCatches: someone who edits the trailer
// consistently (a different message; the last frame dropped and the totals
// rewritten so that the cut is hidden) fools unsigned verification, as
// FORMAT.md says; a signature catches both.
func TestWhatOnlyTheSignatureCatches(t *testing.T) {
	for _, signed := range []bool{false, true} {
		var key ed25519.PrivateKey
		var keys []ed25519.PublicKey
		if signed {
			key, keys = testKey, []ed25519.PublicKey{testPub()}
		}
		data := session(t, key, interrupted)
		msg := rewriteTrailer(t, data, func(m map[string]any) { m["message"] = "all fine" })

		// Hide the end of the session: drop the last frame, rewrite the
		// trailer's totals to match what is left.
		segs, _ := segments(t, data)
		short := join(segs[:len(segs)-1]...)
		rd, err := record.NewReader(bytes.NewReader(short), int64(len(short)))
		if err != nil {
			t.Fatal(err)
		}
		var evs int64
		var b record.StreamBytes
		for {
			ev, err := rd.Next()
			if err != nil {
				break
			}
			evs++
			switch ev.Code {
			case 'o':
				b.O += int64(len(ev.Data))
			case 'e':
				b.E += int64(len(ev.Data))
			case 'i':
				b.I += int64(len(ev.Data))
			}
		}
		cps := rd.Index().Checkpoints()
		rd.Close()
		hidden := rewriteTrailer(t, append(short, data[locate(t, data).trailerOff:]...), func(m map[string]any) {
			m["frames"] = len(cps)
			m["events"] = evs
			m["bytes"] = b
			m["chain"] = cps[len(cps)-1].Chain
			m["duration"] = cps[len(cps)-1].TimeEnd
			delete(m, "index_offset") // the index went with the last frame
		})
		for name, d := range map[string][]byte{"message edited": msg, "end hidden": hidden} {
			r := verifyBytes(d, keys...)
			switch {
			case !signed && r.Verdict != Consistent:
				t.Errorf("unsigned, %s: %s %s (a consistent edit is expected to pass unsigned)", name, r.Verdict, r.Detail)
			case signed && (r.Verdict != Tampered || r.Check != CheckSignature):
				t.Errorf("signed, %s: %s %s %s", name, r.Verdict, r.Check, r.Detail)
			}
		}
		if signed {
			stripped := rewriteTrailer(t, hidden, func(m map[string]any) { delete(m, "signature"); delete(m, "key_id") })
			if r := verifyBytes(stripped, keys...); r.Verdict != Unsigned {
				t.Errorf("signature stripped: %s %s", r.Verdict, r.Detail)
			}
		}
	}
}

func TestNotARecording(t *testing.T) {
	plain := mustZstd(t, []byte(`{"version":3,"term":{"cols":80,"rows":24}}`+"\n"+`[0.5,"o","hi"]`+"\n"))
	for name, data := range map[string][]byte{
		"text":        []byte("hello, this is not a recording\n"),
		"gzip":        {0x1f, 0x8b, 8, 0, 0, 0, 0, 0},
		"plain cast":  plain,
		"zstd of txt": mustZstd(t, []byte("just text\n")),
	} {
		r := verifyBytes(data)
		if r.Verdict != NotRecording {
			t.Errorf("%s: %s %s", name, r.Verdict, r.Detail)
		}
	}
}

func TestExitCodes(t *testing.T) {
	rs := func(vs ...Verdict) []Result {
		var out []Result
		for _, v := range vs {
			out = append(out, Result{Verdict: v})
		}
		return out
	}
	for _, tc := range []struct {
		vs   []Verdict
		want int
	}{
		{nil, 0},
		{[]Verdict{OK, OK}, 0},
		{[]Verdict{OK, Consistent}, 6},
		{[]Verdict{Consistent, Unsigned}, 5},
		{[]Verdict{Unwitnessed, Unsigned}, 7},
		{[]Verdict{Unwitnessed, Abrupt}, 2},
		{[]Verdict{OK, Abrupt}, 2},
		{[]Verdict{Abrupt, Error}, 1},
		{[]Verdict{Error, Unsigned}, 1},
		{[]Verdict{Unsigned, NotRecording}, 4},
		{[]Verdict{NotRecording, Tampered, OK}, 3},
	} {
		if got := ExitCode(rs(tc.vs...)); got != tc.want {
			t.Errorf("%v: %d, want %d", tc.vs, got, tc.want)
		}
	}
	// Verdicts is in order of severity, each with its own exit code.
	codes := map[int]bool{}
	for i, v := range Verdicts {
		if i > 0 && ExitCode(rs(Verdicts[i-1], v)) != v.ExitCode() {
			t.Errorf("%s does not rank worse than %s", v, Verdicts[i-1])
		}
		if codes[v.ExitCode()] {
			t.Errorf("%s shares exit code %d", v, v.ExitCode())
		}
		codes[v.ExitCode()] = true
	}
}

func TestResultJSON(t *testing.T) {
	r := verifyBytes(session(t, testKey, exited(0)), testPub())
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"verdict":"OK"`, `"signature_verified":true`, `"key_id":"SHA256:`, `"verified_until":`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
}

// TestIndexMarkersChecked: the index's copy of a marker label, changed,
// is caught against the recording's own m event.
func TestIndexMarkersChecked(t *testing.T) {
	data := session(t, nil, exited(0))
	l := locate(t, data)
	off := *l.ix.Trailer.IndexOffset
	idx := data[off:l.trailerOff]
	i := bytes.Index(idx, []byte(`"half way"`))
	if i < 0 {
		t.Fatalf("no marker in the index %q", idx)
	}
	bad := bytes.Clone(data)
	bad[off+int64(i)+1] = 'H'
	r := verifyBytes(bad)
	if r.Verdict != Tampered || r.Check != CheckIndex {
		t.Errorf("changed marker in the index: %s %s %s", r.Verdict, r.Check, r.Detail)
	}
	if r := verifyBytes(data); r.Verdict != Consistent {
		t.Errorf("untouched: %s %s", r.Verdict, r.Detail)
	}
}

// A recording of format version 1 (binary events ob, eb, ib) still verifies
// (unsigned: intact, not authenticated).
func TestFormatVersion1Verifies(t *testing.T) {
	r := File("../record/testdata/format-v1-binary.cast.zst", Options{})
	if r.Verdict != Consistent || r.Events != 14 {
		t.Fatalf("got %s %q, %d events", r.Verdict, r.Summary, r.Events)
	}
}
