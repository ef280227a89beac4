package session

import (
	"context"
	"errors"
	"reflect"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/go-logr/logr"
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

// sessionEnded reports whether err is a copy failing because the session
// ended it. endedByUs says the session has ended its stream itself
// (recording failure, signal): the copies failing after that are its doing,
// whatever error the closed connection gave them.
func sessionEnded(err error, msg string, endedByUs bool) bool {
	if !copyMessages[msg] {
		return false
	}
	var te *teeError
	return errors.As(err, &te) || errors.Is(err, context.Canceled) || endedByUs
}

// The copy failures reach quietLogError with nothing but the logger the
// stream was given (client-go passes a logger, not the context), and a
// gateway runs many sessions in one process. So each session hands its
// stream a logger whose sink carries the session's own "ended by us" flag:
// one session ending its stream silences its own copies, not another's.
// Where contextual logging is off (the plugin turns it off, as kubectl
// does) no logger can carry it; such a process runs one session, and the
// flag is the process's.

// processEndedByUs is the flag of the sessions whose logger cannot carry
// their own.
var processEndedByUs atomic.Bool

// sessionSink is the sink of a session's logger: it logs through the
// session's original logger and carries the session's flag.
type sessionSink struct {
	inner logr.LogSink // orig's sink, one call deeper for this wrapper
	orig  logr.Logger
	ended *atomic.Bool
}

// withSessionLogger returns ctx with a logger that marks its copy failures
// as a new session's, and the flag the session sets when it ends its
// stream itself.
func withSessionLogger(ctx context.Context) (context.Context, *atomic.Bool) {
	orig := klog.FromContext(ctx)
	sink := orig.GetSink()
	if sink == nil {
		return ctx, new(atomic.Bool) // a discarding logger: nothing is logged anyway
	}
	inner := sink
	if cd, ok := sink.(logr.CallDepthLogSink); ok {
		inner = cd.WithCallDepth(1)
	}
	ended := new(atomic.Bool)
	marked := klog.NewContext(ctx, logr.New(&sessionSink{inner: inner, orig: orig, ended: ended}))
	if _, ok := klog.FromContext(marked).GetSink().(*sessionSink); !ok {
		return ctx, &processEndedByUs // contextual logging is off
	}
	return marked, ended
}

// sessionOf returns the original logger behind logger and whether its
// session has ended its stream; a logger that is no session's is itself,
// with the process's flag.
func sessionOf(logger logr.Logger) (logr.Logger, bool) {
	if s, ok := logger.GetSink().(*sessionSink); ok {
		return s.orig, s.ended.Load()
	}
	return logger, processEndedByUs.Load()
}

// Init does nothing: the inner sink was initialised with its own logger,
// and initialising it again would move the caller it names.
func (s *sessionSink) Init(logr.RuntimeInfo)                 {}
func (s *sessionSink) Enabled(level int) bool                { return s.inner.Enabled(level) }
func (s *sessionSink) Info(level int, msg string, kv ...any) { s.inner.Info(level, msg, kv...) }
func (s *sessionSink) Error(err error, msg string, kv ...any) {
	s.inner.Error(err, msg, kv...)
}

func (s *sessionSink) WithValues(kv ...any) logr.LogSink {
	return &sessionSink{inner: s.inner.WithValues(kv...), orig: s.orig.WithValues(kv...), ended: s.ended}
}

func (s *sessionSink) WithName(name string) logr.LogSink {
	return &sessionSink{inner: s.inner.WithName(name), orig: s.orig.WithName(name), ended: s.ended}
}

func (s *sessionSink) WithCallDepth(depth int) logr.LogSink {
	cd, ok := s.inner.(logr.CallDepthLogSink)
	if !ok {
		return s
	}
	return &sessionSink{inner: cd.WithCallDepth(depth), orig: s.orig.WithCallDepth(depth), ended: s.ended}
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
	logger, endedByUs := sessionOf(klog.FromContext(ctx))
	if sessionEnded(err, msg, endedByUs) {
		return
	}
	logger = logger.WithCallDepth(3)
	logger = klog.LoggerWithName(logger, "UnhandledError")
	logger.Error(err, msg, keysAndValues...) //nolint:logcheck // as upstream
}
