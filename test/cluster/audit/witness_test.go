package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// keyPair writes an ed25519 key pair as the user keeps it: the private key
// 0600 in a private directory, and its public key.
func keyPair(t *testing.T) (ed25519.PrivateKey, string, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, "sign.key")
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	pder, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pubPath := filepath.Join(dir, "sign.pub")
	if err := os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return priv, keyPath, pubPath
}

// rexecRun runs the plugin binary and returns stdout, stderr and the exit
// code.
func rexecRun(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, rexecBin, args...)
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("kubectl-rexec %v hung: %q %q", args, out.String(), errb.String())
	case errors.As(err, &ee):
		return out.String(), errb.String(), ee.ExitCode()
	case err != nil:
		t.Fatalf("kubectl-rexec %v: %v", args, err)
	}
	return out.String(), errb.String(), 0
}

// rewrite is what a recorded user who holds the signing key can do to
// their own recording: write it again, same header and session, with
// their edit applied to the output, and sign it with the same key.
func rewrite(t *testing.T, path, out string, key ed25519.PrivateKey, edit func([]byte) []byte) {
	t.Helper()
	r, err := record.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := r.Header()
	start := h.Rexec.Start
	var mu sync.Mutex
	now := start
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	w, err := record.Create(out, record.Options{Signer: key, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Begin(h); err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		now = start.Add(ev.Time)
		mu.Unlock()
		switch ev.Code {
		case 'o':
			err = w.Stdout(edit(ev.Data))
		case 'e':
			err = w.Stderr(ev.Data)
		case 'i':
			err = w.Stdin(ev.Data)
		case 'm':
			err = w.Marker(string(ev.Data))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	tr := r.Trailer()
	mu.Lock()
	now = start.Add(tr.Duration.Duration())
	mu.Unlock()
	if err := w.Close(record.End{Reason: record.EndReason(tr.Reason), Message: tr.Message, ExitCode: tr.ExitCode}); err != nil {
		t.Fatal(err)
	}
}

// TestAuditLogWitness: against the real kube-apiserver with an audit
// policy that logs selfsubjectreviews, a signed session's anchors land in
// the audit log; verify --pub --audit-log finds the honest recording
// witnessed up to its close (OK), and finds TAMPERED the same recording
// rewritten by its user and signed again with their own key, which verify
// --pub alone calls OK.
func TestAuditLogWitness(t *testing.T) {
	key, keyPath, pubPath := keyPair(t)
	dir := t.TempDir()
	// Output of some 2.5 MB, so that the recording has several frames
	// (checkpoints every 1 MiB of text) and so several anchors.
	script := "echo 'rm -rf /var/lib/important'; yes 'rexec audit witness filler line' | head -c 2500000; echo; echo done"
	stdout, stderr, code := rexecRun(t, "--kubeconfig", tc.AdminKubeconfig, "--record-dir", dir, "--sign-key", keyPath,
		"--reason", "audit witness test", witnessPod, "--", "sh", "-c", script)
	if code != 0 || !strings.HasSuffix(stdout, "done\n") {
		t.Fatalf("session: exit %d, stderr %q, stdout %d bytes", code, stderr, len(stdout))
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.cast.zst"))
	if len(files) != 1 {
		t.Fatalf("recordings %v", files)
	}
	honest := files[0]
	r, err := record.Open(honest)
	if err != nil {
		t.Fatal(err)
	}
	frames := len(r.Index().Frames)
	tr := r.Index().Trailer
	r.Close()
	if tr == nil || tr.Anchors == nil || tr.Anchors.Sent < 2 || tr.Anchors.Failed != 0 || frames < 3 {
		t.Fatalf("trailer %+v, anchors %+v, %d frames", tr, tr.Anchors, frames)
	}
	t.Logf("honest recording: %d frames, anchors %+v", frames, *tr.Anchors)

	// The anchors are in the audit log (written before the response, as
	// --audit-log-mode=blocking does): the close's among them.
	log, err := os.ReadFile(auditLog)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(log, []byte(`"auditID":"rexec-`)) || !bytes.Contains(log, []byte("-end-")) {
		t.Fatalf("no anchor in the audit log")
	}

	// Honest: witnessed up to its close, signed or not.
	out, errOut, code := rexecRun(t, "verify", "--pub", pubPath, "--audit-log", auditLog, honest)
	if code != 0 || !strings.Contains(out, ": OK (signed by ") || !strings.Contains(out, "witnessed by the audit log up to") {
		t.Errorf("honest, --pub --audit-log: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("%s", out)
	out, _, code = rexecRun(t, "verify", "--audit-log", auditLog, honest)
	if code != 0 || !strings.Contains(out, ": OK (witnessed by the audit log up to") {
		t.Errorf("honest, --audit-log: exit %d\n%s", code, out)
	}
	out, _, code = rexecRun(t, "verify", honest)
	if code != 6 || !strings.Contains(out, ": CONSISTENT (claims a signature by") {
		t.Errorf("honest, no key, no log: exit %d\n%s", code, out)
	}

	// The user rewrites their own recording with their own key.
	forged := filepath.Join(t.TempDir(), filepath.Base(honest))
	rewrite(t, honest, forged, key, func(b []byte) []byte {
		return bytes.ReplaceAll(b, []byte("rm -rf /var/lib/important"), []byte("ls -l /var/lib/important"))
	})
	out, _, code = rexecRun(t, "verify", "--pub", pubPath, forged)
	if code != 0 || !strings.Contains(out, ": OK (signed by ") {
		t.Errorf("rewritten, --pub alone: exit %d\n%s (a signature by the user's own key proves nothing against the user)", code, out)
	}
	t.Logf("signature alone: %s", out)
	out, _, code = rexecRun(t, "verify", "--pub", pubPath, "--audit-log", auditLog, forged)
	if code != 3 || !strings.Contains(out, ": TAMPERED (witness check") {
		t.Errorf("rewritten, --pub --audit-log: exit %d\n%s", code, out)
	}
	t.Logf("with the audit log: %s", out)
	// From stdin, as -.
	f, err := os.Open(auditLog)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(rexecBin, "verify", "-o", "json", "--pub", pubPath, "--audit-log", "-", honest, forged)
	cmd.Stdin = f
	js, err := cmd.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || !bytes.Contains(js, []byte(`"verdict": "OK"`)) || !bytes.Contains(js, []byte(`"verdict": "TAMPERED"`)) ||
		!bytes.Contains(js, []byte(`"closed": true`)) {
		t.Errorf("JSON from stdin: %v\n%s", err, js)
	}
}
