package verify

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// FuzzVerify: no input makes verify panic or hang, every input gets one of
// the documented verdicts, OK needs a key, and an OK or CONSISTENT is never
// given to a file that the reader finds damaged. The committed seeds are in testdata/fuzz/FuzzVerify
// (regenerate with REXEC_UPDATE_FUZZ_CORPUS=1 go test -run TestFuzzCorpus).
// A longer run: go test -run '^$' -fuzz FuzzVerify -fuzztime 10m ./pkg/verify
func FuzzVerify(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, keys := range [][]ed25519.PublicKey{nil, {testPub()}} {
			r := verifyBytes(data, keys...)
			switch r.Verdict {
			case OK, Consistent, Abrupt, Tampered, NotRecording, Unsigned, Error:
			default:
				t.Fatalf("verdict %q", r.Verdict)
			}
			if r.Summary == "" || (r.Verdict == Tampered && (r.Check == "" || r.Detail == "")) {
				t.Fatalf("result without detail: %+v", r)
			}
			if r.Verdict == OK && len(keys) == 0 {
				t.Fatalf("OK without a key: %+v", r)
			}
			if r.Verdict != OK && r.Verdict != Consistent {
				continue
			}
			rd, err := record.NewReader(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatalf("verify says OK, the reader says %v", err)
			}
			for {
				_, err := rd.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("verify says OK, the reader says %v", err)
				}
			}
			if rd.Trailer() == nil {
				t.Fatal("verify says OK for a recording without trailer")
			}
			rd.Close()
		}
	})
}

type seed struct {
	name string
	data []byte
}

func fuzzSeeds(t testing.TB) []seed {
	good := session(t, nil, exited(0))
	signed := session(t, testKey, interrupted)
	l := locate(t, signed)
	return []seed{
		{"valid", good},
		{"valid-signed", signed},
		{"truncated-mid-frame", good[:len(good)/2]},
		{"truncated-in-trailer", good[:len(good)-10]},
		{"flipped-frame", flip(good, 700, 0x10)},
		{"flipped-trailer-signature", flip(signed, l.trailerOff+int64(len(l.payload))-20, 0x01)},
		{"plain-asciicast", mustZstd(t, []byte(`{"version":3,"term":{"cols":80,"rows":24}}`+"\n"+`[0.5,"o","hi"]`+"\n"))},
		{"not-zstd", []byte("not a recording")},
	}
}

// TestFuzzCorpus writes the seed corpus when REXEC_UPDATE_FUZZ_CORPUS is
// set, and otherwise checks that it is there.
func TestFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzVerify")
	for _, s := range fuzzSeeds(t) {
		path := filepath.Join(dir, s.name)
		if os.Getenv("REXEC_UPDATE_FUZZ_CORPUS") != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(s.data)))
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("seed corpus file missing: %v", err)
		}
	}
}
