package record

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// Witness is told about a recording while it is written, so that it can
// anchor the recording somewhere its writer cannot rewrite afterwards: the
// cluster's audit log, in pkg/session (docs/FORMAT.md, section 6.2). It is
// the Writer's only hook; Options.Witness sets it.
type Witness interface {
	// Checkpoint is called on the writer's goroutine once checkpoint cp
	// is in the file. It must return at once: the writer waits for it.
	Checkpoint(cp Checkpoint)
	// Close is called once, before the trailer is written, with the
	// trailer complete but for Signature, KeyID and Anchors. It may set
	// t.Anchors; it may take a moment, which delays Close (never the
	// session's stream, which has ended).
	Close(t *Trailer)
}

// Anchors counts what a Witness sent for one recording: the trailer's
// optional "anchors" object. It is written for information and is not
// signed: the witness itself (the audit log) is the evidence.
type Anchors struct {
	Sent    int `json:"sent"`    // answered by the API server
	Failed  int `json:"failed"`  // not answered in time, or refused before reaching it
	Skipped int `json:"skipped"` // superseded by a later anchor before they were sent
}

// anchorPrefix starts every anchor (an Audit-ID value).
const anchorPrefix = "rexec-"

// anchorEnd stands for the sequence number in the anchor of the close.
const anchorEnd = "end"

// CheckpointAnchor is the anchor of checkpoint seq of session: the Audit-ID
// value "rexec-<session>-<seq>-<chain>" (docs/FORMAT.md, section 6.2). As
// the chain is cumulative, it vouches for every frame up to seq.
func CheckpointAnchor(session string, seq int, chain string) string {
	return anchorPrefix + session + "-" + strconv.Itoa(seq) + "-" + chain
}

// EndAnchor is the anchor of the recording's close: the Audit-ID value
// "rexec-<session>-end-<digest>", where digest is TrailerDigest(t). It
// vouches for the whole recording and every signed value of its trailer.
func EndAnchor(session string, t *Trailer) string {
	return anchorPrefix + session + "-" + anchorEnd + "-" + TrailerDigest(t)
}

// TrailerDigest is the lowercase hex SHA-256 of SigningInput(t): the
// trailer's header hash, chain head, totals, end, duration, reason, message
// and exit code.
func TrailerDigest(t *Trailer) string {
	sum := sha256.Sum256(SigningInput(t))
	return hex.EncodeToString(sum[:])
}

// AnchorEndSeq is the sequence number ParseAnchor returns for the anchor of
// the close.
const AnchorEndSeq = -1

// ParseAnchor reads an Audit-ID value as an anchor: the session it names,
// the checkpoint (AnchorEndSeq for the close) and the hex value. ok is
// false for a value that is not an anchor.
func ParseAnchor(id string) (session string, seq int, value string, ok bool) {
	rest, found := strings.CutPrefix(id, anchorPrefix)
	if !found {
		return "", 0, "", false
	}
	i := strings.LastIndexByte(rest, '-')
	if i < 0 {
		return "", 0, "", false
	}
	rest, value = rest[:i], rest[i+1:]
	j := strings.LastIndexByte(rest, '-')
	if j <= 0 || !isHex64(value) {
		return "", 0, "", false
	}
	session, n := rest[:j], rest[j+1:]
	if n == anchorEnd {
		return session, AnchorEndSeq, value, true
	}
	seq, err := strconv.Atoi(n)
	if err != nil || seq < 0 || strconv.Itoa(seq) != n {
		return "", 0, "", false
	}
	return session, seq, value, true
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
