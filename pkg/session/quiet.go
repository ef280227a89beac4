package session

import (
	"context"
	"errors"
	"reflect"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/klog/v2"
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

// upstreamLogError is the handler that logs, in utilruntime.ErrorHandlers.
const upstreamLogError = "k8s.io/apimachinery/pkg/util/runtime.logError"

// quietStreamCopies replaces utilruntime's logging handler, once per
// process, with quietLogError. It leaves the handlers alone if the logging
// one is not where apimachinery puts it.
func quietStreamCopies() {
	quietOnce.Do(func() {
		for i, h := range utilruntime.ErrorHandlers {
			if f := runtime.FuncForPC(reflect.ValueOf(h).Pointer()); f != nil && f.Name() == upstreamLogError {
				handlers := slices.Clone(utilruntime.ErrorHandlers)
				handlers[i] = quietLogError
				utilruntime.ErrorHandlers = handlers
				return
			}
		}
	})
}

// quietLogError is apimachinery's logError, line for line, but for the
// copy errors the session caused. It takes logError's place in the
// handlers, so the call depth it logs at names the same caller, and its
// lines are kubectl's to the byte.
func quietLogError(ctx context.Context, err error, msg string, keysAndValues ...any) {
	if sessionEnded(err, msg) {
		return
	}
	logger := klog.FromContext(ctx).WithCallDepth(3)
	logger = klog.LoggerWithName(logger, "UnhandledError")
	logger.Error(err, msg, keysAndValues...) //nolint:logcheck // as upstream
}
