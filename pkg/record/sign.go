package record

import (
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// signingPrefix starts the bytes a trailer signature covers
// (docs/FORMAT.md, section 3.3).
const signingPrefix = "kubectl-rexec signed trailer v1\n"

// SigningInput returns the exact bytes an ed25519 trailer signature covers
// (docs/FORMAT.md, section 3.3): every trailer value except the signature
// and the key id, one per line, in a fixed order, strings length-prefixed.
// The header is covered through header_sha256 and every data frame through
// the chain head.
func SigningInput(t *Trailer) []byte {
	b := make([]byte, 0, 512+len(t.Message))
	b = append(b, signingPrefix...)
	b = append(b, "header_sha256:"...)
	b = append(b, t.HeaderSHA256...)
	b = append(b, "\nchain:"...)
	b = append(b, t.Chain...)
	b = append(b, "\nframes:"...)
	b = strconv.AppendInt(b, int64(t.Frames), 10)
	b = append(b, "\nevents:"...)
	b = strconv.AppendInt(b, t.Events, 10)
	b = append(b, "\nbytes:"...)
	b = strconv.AppendInt(b, t.Bytes.O, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, t.Bytes.E, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, t.Bytes.I, 10)
	b = append(b, '\n')
	b = appendSigned(b, "end", t.End.UTC().Format(time.RFC3339Nano))
	b = append(b, "duration_us:"...)
	b = strconv.AppendInt(b, int64(t.Duration.Duration()/time.Microsecond), 10)
	b = append(b, '\n')
	b = appendSigned(b, "reason", t.Reason)
	b = appendSigned(b, "message", t.Message)
	b = append(b, "exit_code:"...)
	if t.ExitCode == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, int64(*t.ExitCode), 10)
	}
	return append(b, '\n')
}

// appendSigned appends a string field: name, its length in bytes, its bytes.
func appendSigned(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(len(value)), 10)
	b = append(b, ':')
	b = append(b, value...)
	return append(b, '\n')
}

// KeyID names an ed25519 public key the way ssh-keygen -l does:
// "SHA256:" and the unpadded base64 of the SHA-256 of the key in SSH wire
// format (string "ssh-ed25519", string key).
func KeyID(pub ed25519.PublicKey) string {
	var w []byte
	w = binary.BigEndian.AppendUint32(w, uint32(len("ssh-ed25519")))
	w = append(w, "ssh-ed25519"...)
	w = binary.BigEndian.AppendUint32(w, uint32(len(pub)))
	w = append(w, pub...)
	sum := sha256.Sum256(w)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// sign fills t.KeyID and t.Signature with signer, which must hold an
// ed25519 key.
func sign(t *Trailer, signer crypto.Signer) error {
	pub, ok := signer.Public().(ed25519.PublicKey)
	if !ok {
		return fmt.Errorf("sign recording: the key is %T, not ed25519", signer.Public())
	}
	t.KeyID = KeyID(pub)
	sig, err := signer.Sign(nil, SigningInput(t), crypto.Hash(0))
	if err != nil {
		t.KeyID = ""
		return fmt.Errorf("sign recording: %w", err)
	}
	if len(sig) != ed25519.SignatureSize {
		t.KeyID = ""
		return errors.New("sign recording: the signer returned no ed25519 signature")
	}
	t.Signature = base64.StdEncoding.EncodeToString(sig)
	return nil
}
