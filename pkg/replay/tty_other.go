//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package replay

import "errors"

func keyMode(int) (func(), error) {
	return nil, errors.New("interactive keys are not supported on this system")
}
