package record

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestSigningInputExample pins the signed bytes of FORMAT.md's example
// trailer (section 3.3).
func TestSigningInputExample(t *testing.T) {
	var tr Trailer
	payload := `{"end":"2026-11-27T06:15:02.036333333Z","duration":2.036333,"reason":"exited","message":"","exit_code":0,"frames":2,"events":7,"bytes":{"o":12,"e":0,"i":3},"chain":"e561f4fc6dde296e8002df08e3b8f2a509112cad09e7a89097664ebea5c0399d","header_sha256":"171ea94299e6e53b19a165073463783f27f36a276f2d25c52db43b563d9e7b24"}`
	if err := json.Unmarshal([]byte(payload), &tr); err != nil {
		t.Fatal(err)
	}
	want := "kubectl-rexec signed trailer v1\n" +
		"header_sha256:171ea94299e6e53b19a165073463783f27f36a276f2d25c52db43b563d9e7b24\n" +
		"chain:e561f4fc6dde296e8002df08e3b8f2a509112cad09e7a89097664ebea5c0399d\n" +
		"frames:2\n" +
		"events:7\n" +
		"bytes:12,0,3\n" +
		"end:30:2026-11-27T06:15:02.036333333Z\n" +
		"duration_us:2036333\n" +
		"reason:6:exited\n" +
		"message:0:\n" +
		"exit_code:0\n"
	if got := string(SigningInput(&tr)); got != want {
		t.Fatalf("signing input\n%s\nwant\n%s", got, want)
	}
	tr.ExitCode = nil
	tr.Message = "a\nb€"
	if got := string(SigningInput(&tr)); !strings.Contains(got, "message:6:a\nb€\nexit_code:null\n") {
		t.Fatalf("signing input %q", got)
	}
}

func TestSignedTrailer(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	data := record(t, Options{Signer: priv, Now: clock.Now}, End{Reason: ReasonInterrupted, Message: "bad \xff utf-8 and a long one " + strings.Repeat("x", 70<<10)}, func(w *Writer) {
		_ = w.Stdout([]byte("hello\n"))
		clock.Add(1500 * time.Millisecond)
	})
	_, _, tr := mustReadAll(t, data)
	if tr.KeyID != KeyID(pub) {
		t.Fatalf("key_id %q, want %q", tr.KeyID, KeyID(pub))
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(tr.Signature)
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(pub, SigningInput(tr), sig) {
		t.Fatal("the signature does not verify over the trailer as read back")
	}
	// The trailer read back is what was signed: changing any signed value
	// breaks it.
	tr2 := *tr
	tr2.Message += "!"
	if ed25519.Verify(pub, SigningInput(&tr2), sig) {
		t.Fatal("a changed message still verifies")
	}
	if !bytes.Contains(data, []byte(`"key_id":"`+KeyID(pub)+`"`)) {
		t.Fatal("no key_id in the file")
	}
}

func TestUnsignedTrailerHasNoSignatureKeys(t *testing.T) {
	data := record(t, Options{}, exited(0), func(w *Writer) { _ = w.Stdout([]byte("x")) })
	if bytes.Contains(data, []byte(`"signature"`)) || bytes.Contains(data, []byte(`"key_id"`)) {
		t.Fatal("an unsigned trailer carries signature keys")
	}
}

func TestSignerMustBeEd25519(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	w := NewWriter(&syncBuffer{}, Options{Signer: k})
	if err := w.Begin(testHeader()); err == nil || !strings.Contains(err.Error(), "not ed25519") {
		t.Fatalf("Begin with an ECDSA signer: %v", err)
	}
	_ = w.Close(End{})
}
