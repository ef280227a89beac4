package wsexec

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/client-go/util/exec"
)

// decodeStatus turns the error channel's message into the session's
// result with client-go's v4/v5 rules and messages, so that exit codes and
// errors read exactly as kubectl's: no message is success, a Success status
// is nil, a non-zero exit is an exec.CodeExitError.
func decodeStatus(msg []byte) error {
	if len(msg) == 0 {
		return nil
	}
	var status metav1.Status
	if err := json.Unmarshal(msg, &status); err != nil {
		return fmt.Errorf("error stream protocol error: %v in %q", err, string(msg))
	}
	switch status.Status {
	case metav1.StatusSuccess:
		return nil
	case metav1.StatusFailure:
		if status.Reason == remotecommand.NonZeroExitCodeReason {
			return exitError(status.Details)
		}
		return errors.New(status.Message)
	default:
		return errors.New("error stream protocol error: unknown error")
	}
}

func exitError(d *metav1.StatusDetails) error {
	if d == nil {
		return errors.New("error stream protocol error: details must be set")
	}
	for _, c := range d.Causes {
		if c.Type != remotecommand.ExitCodeCauseType {
			continue
		}
		rc, err := strconv.ParseUint(c.Message, 10, 8)
		if err != nil {
			return fmt.Errorf("error stream protocol error: invalid exit code value %q", c.Message)
		}
		return exec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", rc), Code: int(rc)}
	}
	return fmt.Errorf("error stream protocol error: no %s cause given", remotecommand.ExitCodeCauseType)
}
