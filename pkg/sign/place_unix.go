//go:build unix

package sign

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/config"
)

// getuid is os.Getuid; tests replace it to stand for another user.
var getuid = os.Getuid

// checkKeyPlace refuses a private key that someone else could have put
// there or could replace, as ssh refuses keys and authorized_keys files it
// cannot trust: the file must be owned by the user (or root), and every
// directory on the way to it (symbolic links resolved), up to the user's
// home directory or the root, must be owned by the user or root and not
// writable by others, unless the sticky bit stops them replacing what is
// not theirs (as in /tmp).
func checkKeyPlace(path string, fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	me := getuid()
	if int(st.Uid) != me && st.Uid != 0 {
		return fmt.Errorf("signing key %s is owned by %s, not by you: whoever owns it chose the key and can replace it; use a key file you own (chown it, or make one with ssh-keygen -t ed25519)", path, owner(st.Uid))
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fmt.Errorf("signing key: %w", err)
	}
	home, _ := os.UserHomeDir()
	for d := filepath.Dir(real); ; d = filepath.Dir(d) {
		if err := checkKeyDir(d, path, me); err != nil {
			return err
		}
		if d == home || d == filepath.Dir(d) {
			return nil
		}
	}
}

// checkKeyDir checks one directory on the way to the key at path.
func checkKeyDir(d, path string, me int) error {
	dfi, err := os.Stat(d)
	if err != nil {
		return fmt.Errorf("signing key %s: %w", path, err)
	}
	st, ok := dfi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	perm := dfi.Mode().Perm()
	switch {
	case int(st.Uid) != me && st.Uid != 0:
		return fmt.Errorf("signing key %s is kept in %s, which is owned by %s: its owner can replace the key; keep the key in a directory of your own", path, d, owner(st.Uid))
	case dfi.Mode()&os.ModeSticky != 0:
		return nil // others may write, but not replace what is not theirs
	case perm&0o002 != 0, perm&0o020 != 0 && !(int(st.Uid) == me && config.PrivateGroup(st.Gid)):
		return fmt.Errorf("signing key %s is kept in %s (mode %04o), which others can write: they could replace the key; chmod go-w %s, or keep the key elsewhere", path, d, perm, d)
	}
	return nil
}

func owner(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return fmt.Sprintf("%s (uid %s)", u.Username, id)
	}
	return "uid " + id
}
