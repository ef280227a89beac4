//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package tests3

import (
	"errors"
	"os"
	"time"
)

// lockFile creates path exclusively, waiting (up to 30 minutes) while another process holds it;
// the returned func removes it.
func lockFile(path string) (func(), error) {
	deadline := time.Now().Add(30 * time.Minute)
	for {
		f, err := os.OpenFile(path+".excl", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			f.Close()
			return func() { os.Remove(path + ".excl") }, nil
		}
		if !errors.Is(err, os.ErrExist) || time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(time.Second)
	}
}
