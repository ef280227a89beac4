package session

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFileNameSortsByTimeAndIsSafe(t *testing.T) {
	start := time.Date(2026, 11, 27, 6, 15, 0, 0, time.FixedZone("X", 3600))
	got := FileName(start, "ns/api-host:6443/kube:admin", "default", "web-0", "1a2b3c4d-5e6f")
	want := "20261127T051500Z_ns-api-host-6443-kube-admin_default_web-0_1a2b3c4d.cast.zst"
	if got != want {
		t.Errorf("got %s want %s", got, want)
	}
	if got := FileName(start, "", "", "p", "id"); !strings.Contains(got, "_none_none_p_id.") {
		t.Errorf("empty parts: %s", got)
	}
	later := FileName(start.Add(time.Second), "a", "b", "c", "d")
	if !(FileName(start, "z", "z", "z", "z") < later) {
		t.Errorf("names do not sort by time")
	}
}

func TestRecordDirPrecedence(t *testing.T) {
	t.Setenv(EnvRecordDir, "/env/dir")
	t.Setenv("XDG_STATE_HOME", "/state")
	if d, owned, _ := RecordDir("/flag/dir"); d != "/flag/dir" || owned {
		t.Errorf("flag: %s %v", d, owned)
	}
	if d, owned, _ := RecordDir(""); d != "/env/dir" || owned {
		t.Errorf("env: %s %v", d, owned)
	}
	t.Setenv(EnvRecordDir, "")
	if d, owned, _ := RecordDir(""); d != "/state/kubectl-rexec/recordings" || !owned {
		t.Errorf("default: %s %v", d, owned)
	}
}

func TestEnsureDirTightensOnlyOwnDir(t *testing.T) {
	base := t.TempDir()
	own := filepath.Join(base, "own")
	if err := os.Mkdir(own, 0o755); err != nil {
		t.Fatal(err)
	}
	if w, err := ensureDir(own, true); err != nil || w != "" {
		t.Fatalf("own: %q %v", w, err)
	}
	if fi, _ := os.Stat(own); fi.Mode().Perm() != 0o700 {
		t.Errorf("own dir mode %o", fi.Mode().Perm())
	}
	theirs := filepath.Join(base, "theirs")
	if err := os.Mkdir(theirs, 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := ensureDir(theirs, false)
	if err != nil || !strings.Contains(w, "0755") {
		t.Fatalf("theirs: %q %v", w, err)
	}
	if fi, _ := os.Stat(theirs); fi.Mode().Perm() != 0o755 {
		t.Errorf("a user's directory was changed: %o", fi.Mode().Perm())
	}
	fresh := filepath.Join(base, "a", "b")
	if _, err := ensureDir(fresh, false); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(fresh); fi.Mode().Perm() != 0o700 {
		t.Errorf("new dir mode %o", fi.Mode().Perm())
	}
}

func TestSafeServerDropsUserInfo(t *testing.T) {
	if got := safeServer("https://bob:hunter2@api.example:6443/base"); got != "https://api.example:6443/base" {
		t.Errorf("got %s", got)
	}
	if got := safeServer("https://api.example:6443"); got != "https://api.example:6443" {
		t.Errorf("got %s", got)
	}
}

func TestPodFromPath(t *testing.T) {
	ns, pod := podFromPath("/api/v1/namespaces/kube-system/pods/etcd-0/exec")
	if ns != "kube-system" || pod != "etcd-0" {
		t.Errorf("%s %s", ns, pod)
	}
}
