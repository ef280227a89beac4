package session

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/config"
)

// EnvRecordDir names the environment variable that sets the recording
// directory when --record-dir is not given.
const EnvRecordDir = "KUBECTL_REXEC_DIR"

// RecordDir picks the recording directory: the flag, else $KUBECTL_REXEC_DIR,
// else ${XDG_STATE_HOME:-~/.local/state}/kubectl-rexec/recordings. The second
// result is true for the default location, which rexec owns outright.
func RecordDir(flag string) (string, bool, error) {
	if flag != "" {
		return flag, false, nil
	}
	if d := os.Getenv(EnvRecordDir); d != "" {
		return d, false, nil
	}
	state, err := config.StateDir()
	if err != nil {
		return "", false, fmt.Errorf("find the recording directory: %w (set --record-dir or %s)", err, EnvRecordDir)
	}
	return filepath.Join(state, "recordings"), true, nil
}

// FileName names a recording so that a plain ls sorts recordings by time:
// <UTC start>_<context>_<namespace>_<pod>_<short id>.cast.zst.
func FileName(start time.Time, context, namespace, pod, sessionID string) string {
	short := sessionID
	if len(short) > 8 {
		short = short[:8]
	}
	return fmt.Sprintf("%s_%s_%s_%s_%s.cast.zst",
		start.UTC().Format("20060102T150405Z"),
		safePart(context), safePart(namespace), safePart(pod), safePart(short))
}

// safePart keeps a name component to characters that are safe in a file
// name on every platform; context names often hold '/' and ':' (OpenShift
// names them "ns/api-host:6443/user").
func safePart(s string) string {
	if s == "" {
		return "none"
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := b.String()
	if len(out) > 63 {
		out = out[:63]
	}
	return out
}

// ensureDir creates dir as 0700. A directory rexec owns (the default) is
// tightened to 0700; one the user chose is left alone but reported when
// others can read it, since the recordings inside are the user's sessions.
func ensureDir(dir string, owned bool) (warning string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create recording directory %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("stat recording directory %s: %w", dir, err)
	}
	if fi.Mode().Perm()&0o077 == 0 {
		return "", nil
	}
	if owned {
		if err := os.Chmod(dir, 0o700); err != nil {
			return "", fmt.Errorf("restrict recording directory %s to 0700: %w", dir, err)
		}
		return "", nil
	}
	return fmt.Sprintf("warning: recording directory %s has mode %04o; others may list it (the recordings themselves are 0600)", dir, fi.Mode().Perm()), nil
}
