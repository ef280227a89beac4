//go:build unix

package config

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// getuid is os.Getuid; tests replace it to stand for another user.
var getuid = os.Getuid

// dirOwnedSafely refuses a directory someone else can write to (see
// PrivateDir).
func dirOwnedSafely(name string, fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	me := getuid()
	perm := fi.Mode().Perm()
	switch {
	case perm&0o002 != 0:
		what := "create, rename and delete files in it"
		if fi.Mode()&os.ModeSticky != 0 {
			what = "create files in it (and its owner can delete yours)"
		}
		return fmt.Errorf("%s (mode %s) is writable by every user: they can %s; chmod o-w it, or use a directory only you can write", name, modeString(fi), what)
	case int(st.Uid) != me && st.Uid != 0:
		return fmt.Errorf("%s is owned by %s, not by you: its owner can remove or replace what you keep there; use a directory you own", name, userName(st.Uid))
	case perm&0o020 != 0 && !(int(st.Uid) == me && PrivateGroup(st.Gid)):
		return fmt.Errorf("%s (mode %s) is writable by the members of group %s: they can remove or replace what you keep there; chmod g-w it, or use another directory", name, modeString(fi), groupName(st.Gid))
	}
	return nil
}

// PrivateGroup is true when gid is the user's own group: their primary
// group, named after them (the user private group of most distributions,
// whose umask 002 makes directories group-writable). Where the account
// database knows neither (a container image without /etc/passwd entries,
// whose volumes Kubernetes makes group-writable for the pod's fsGroup), the
// process's own primary group is taken as private: there is no other user
// to share it with.
func PrivateGroup(gid uint32) bool {
	if int(gid) != os.Getgid() {
		return false
	}
	u, uerr := user.LookupId(strconv.Itoa(getuid()))
	g, gerr := user.LookupGroupId(strconv.FormatUint(uint64(gid), 10))
	if uerr != nil && gerr != nil {
		return true
	}
	return uerr == nil && gerr == nil && g.Name == u.Username
}

// chmodPrivate sets dir to 0700 without following a symbolic link put in
// its place since it was looked at.
func chmodPrivate(dir string) error {
	f, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Chmod(0o700)
}

func modeString(fi os.FileInfo) string {
	m := uint32(fi.Mode().Perm())
	if fi.Mode()&os.ModeSticky != 0 {
		m |= 0o1000
	}
	return fmt.Sprintf("%04o", m)
}

func userName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return fmt.Sprintf("%s (uid %s)", u.Username, id)
	}
	return "uid " + id
}

func groupName(gid uint32) string {
	id := strconv.FormatUint(uint64(gid), 10)
	if g, err := user.LookupGroupId(id); err == nil {
		return fmt.Sprintf("%s (gid %s)", g.Name, id)
	}
	return "gid " + id
}
