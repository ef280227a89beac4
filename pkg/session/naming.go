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

// ensureDir creates the recording directory, or checks the one that is
// there (config.PrivateDir): one that others can write is refused, the
// default one is tightened to 0700 unless it is a symbolic link.
func ensureDir(dir string, owned bool) (warning string, err error) {
	return config.PrivateDir(dir, "recording directory", owned)
}
