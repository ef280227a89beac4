package gateway

import (
	"os"

	utilexec "k8s.io/client-go/util/exec"
)

func exitError(code int) error { return utilexec.CodeExitError{Err: os.ErrProcessDone, Code: code} }

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }
