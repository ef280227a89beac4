package session

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
)

// client-go's stream copies report a failed copy through
// utilruntime.HandleError, which logs it ("Copying stdout failed: ...").
// When the session itself ends the stream, because the recording failed
// (the tee refuses the bytes) or a signal came (the context is cancelled),
// every copy still running fails one way or another (the tee's error,
// context.Canceled, a read on the connection just closed), and those lines
// say nothing the session's own error does not, in the middle of the
// user's terminal. quietStreamCopies drops exactly those; every other error
// is handled as before.

// copyMessages are client-go's messages for a stream copy that failed
// (tools/remotecommand, v2.go).
var copyMessages = map[string]bool{
	"Copying stdin failed":                     true,
	"Copying stdout failed":                    true,
	"Copying stderr failed":                    true,
	"Waiting for server to close stdin failed": true,
}

// teeError is what a tee returns when the recording refused the bytes.
type teeError struct{ err error }

func (e *teeError) Error() string { return e.err.Error() }
func (e *teeError) Unwrap() error { return e.err }

// endedByUs is set once a session has ended its stream itself (recording
// failure, signal): the copies failing after that are its doing. A process
// runs one session, so this need not say which.
var endedByUs atomic.Bool

// sessionEnded reports whether err is a copy failing because the session
// ended it.
func sessionEnded(err error, msg string) bool {
	if !copyMessages[msg] {
		return false
	}
	var te *teeError
	return errors.As(err, &te) || errors.Is(err, context.Canceled) || endedByUs.Load()
}

var quietOnce sync.Once

// quietStreamCopies wraps utilruntime's error handlers, once per process.
func quietStreamCopies() {
	quietOnce.Do(func() {
		next := utilruntime.ErrorHandlers
		wrapped := make([]utilruntime.ErrorHandler, len(next))
		for i, h := range next {
			wrapped[i] = func(ctx context.Context, err error, msg string, kv ...any) {
				if !sessionEnded(err, msg) {
					h(ctx, err, msg, kv...)
				}
			}
		}
		utilruntime.ErrorHandlers = wrapped
	})
}
