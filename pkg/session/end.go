package session

import (
	"context"
	"errors"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// ConnectionLostError says the stream ended without the remote command's exit
// status: kubectl reports such a SPDY session as success; rexec never does.
// Reason says what happened, Hop where to look, Err is the stream's own error.
type ConnectionLostError struct {
	Reason string
	Hop    string
	Err    error
}

func (e *ConnectionLostError) Error() string {
	msg := "connection lost: " + e.Reason
	if e.Err != nil {
		msg += " (" + e.Err.Error() + ")"
	}
	if e.Hop != "" {
		msg += "; " + e.Hop
	}
	return msg + "; the remote command's outcome is unknown"
}

func (e *ConnectionLostError) Unwrap() error { return e.Err }

type outcome struct {
	end record.End
	err error
}

// classify turns the way the stream ended into the recording's end record and
// the error the command returns.
func classify(s *live, streamErr error) outcome {
	s.mu.Lock()
	recErr, sig := s.recErr, s.signal
	s.mu.Unlock()

	switch {
	case recErr != nil:
		return outcome{
			end: record.End{Reason: record.ReasonRecordingError, Message: recErr.Error()},
			err: &RecordingError{Path: s.w.Path(), Err: recErr},
		}
	case sig != nil:
		ie := &InterruptedError{Signal: sig, Terminal: s.header.Rexec.TTY}
		return outcome{end: record.End{Reason: record.ReasonInterrupted, Message: ie.Error()}, err: ie}
	case streamErr == nil && s.missingStatus():
		lost := &ConnectionLostError{Reason: "the stream closed without the command's exit status", Hop: hopProxyOrServer}
		if s.header.Rexec.Via != "" {
			lost.Hop = hopGateway
		}
		return outcome{end: record.End{Reason: record.ReasonConnectionLost, Message: lost.Error()}, err: lost}
	case streamErr == nil:
		return outcome{end: record.End{Reason: record.ReasonExited, ExitCode: intPtr(0)}}
	}
	if ee, ok := errorsAs[utilexec.ExitError](streamErr); ok && ee.Exited() {
		return outcome{end: record.End{Reason: record.ReasonExited, ExitCode: intPtr(ee.ExitStatus())}, err: streamErr}
	}
	if errors.Is(streamErr, context.Canceled) {
		return outcome{end: record.End{Reason: record.ReasonInterrupted, Message: streamErr.Error()}, err: streamErr}
	}
	if _, ok := errorsAs[*apierrors.StatusError](streamErr); ok || upgradeRefused(streamErr) {
		// The API server (or a proxy) answered the upgrade with a status:
		// forbidden, not found, a proxy's 502... kubectl's own message names
		// the status and body, so it is returned unchanged.
		return outcome{end: record.End{Reason: record.ReasonConnectionLost, Message: streamErr.Error()}, err: streamErr}
	}
	lost := explain(streamErr)
	if s.header.Rexec.Via != "" && lost.Hop == hopProxyOrServer {
		lost.Hop = hopGateway
	}
	return outcome{end: record.End{Reason: record.ReasonConnectionLost, Message: lost.Error()}, err: lost}
}

// missingStatus is true when a SPDY stream of protocol v4 or later ended
// without the Status the server always sends last. WebSocket streams report
// a cut connection as an error themselves.
func (s *live) missingStatus() bool {
	p := s.header.Rexec.Protocol
	if !strings.HasSuffix(p, "(spdy)") {
		return false
	}
	if !strings.HasPrefix(p, "v4.") && !strings.HasPrefix(p, "v5.") {
		return false
	}
	return !s.status.received()
}

func intPtr(i int) *int { return &i }
