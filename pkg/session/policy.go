package session

import (
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// RecordMode is the recording policy of a session (--record).
type RecordMode string

// The record modes.
const (
	// RecordRequired (the default, also for ""): no recording, no session;
	// a recording that fails mid-session ends the session (fail closed).
	RecordRequired RecordMode = "required"
	// RecordBestEffort: if the recording cannot be created or fails
	// mid-session, one warning is printed and the session goes on
	// unrecorded.
	RecordBestEffort RecordMode = "best-effort"
	// RecordOff: nothing is recorded. The command line allows it only when
	// the configuration file does.
	RecordOff RecordMode = "off"
)

// recorder is what a session records into: a record.Writer, a best-effort
// wrapper around one, or nothing at all (--record=off).
type recorder interface {
	Begin(record.Header) error
	Stdout([]byte) error
	Stderr([]byte) error
	Stdin([]byte) error
	Resize(cols, rows int) error
	Marker(label string) error
	Close(record.End) error
	Path() string
	// The At variants record an event at the time it happened (the echo
	// gate hands events over once it has decided about typed input).
	StdinAt(t time.Time, p []byte) error
	RedactedStdinAt(t time.Time, n int) error
	StdoutAt(t time.Time, p []byte) error
	ResizeAt(t time.Time, cols, rows int) error
	MarkerAt(t time.Time, label string) error
}

// createRecorder creates the recording for the session described by h,
// as the record mode says.
func (e *Executor) createRecorder(h record.Header, now time.Time, id string, witness record.Witness) (recorder, error) {
	if e.cfg.Mode == RecordOff {
		return nopRecorder{}, nil
	}
	w, err := e.createWriter(h, now, id, witness)
	if err == nil {
		if e.cfg.Mode == RecordBestEffort {
			return &bestEffort{w: w, warn: e.warnOnce(h.Rexec.TTY)}, nil
		}
		return w, nil
	}
	if e.cfg.Mode != RecordBestEffort {
		return nil, err
	}
	e.warnOnce(h.Rexec.TTY)(err)
	return nopRecorder{}, nil
}

// createWriter creates the recording file, before anything is sent to the
// pod: when the recording cannot be created, the session does not start.
func (e *Executor) createWriter(h record.Header, now time.Time, id string, witness record.Witness) (*record.Writer, error) {
	dir, owned, err := RecordDir(e.cfg.RecordDir)
	if err != nil {
		return nil, err
	}
	warning, err := ensureDir(dir, owned)
	if err != nil {
		return nil, &OpenError{Err: fmt.Errorf("%w; the session was not started because it could not be recorded", err)}
	}
	if warning != "" && !e.cfg.Quiet && e.cfg.ErrOut != nil {
		fmt.Fprintln(e.cfg.ErrOut, warning)
	}
	path := filepath.Join(dir, FileName(now, e.cfg.Context, h.Rexec.Namespace, h.Rexec.Pod, id))
	opts := e.cfg.Record
	if witness != nil {
		opts.Witness = witness
	}
	w, err := record.Create(path, opts)
	if err != nil {
		return nil, &OpenError{Err: fmt.Errorf("create recording: %w; the session was not started because it could not be recorded", err)}
	}
	e.path = path
	return w, nil
}

// OpenError says the recording could not be created, so the session was
// not started (fail closed).
type OpenError struct{ Err error }

func (e *OpenError) Error() string { return e.Err.Error() }
func (e *OpenError) Unwrap() error { return e.Err }

// warnOnce returns a function that prints, the first time only, that the
// session goes on unrecorded. Under a raw terminal the line is framed with
// CR LF so that it starts at the left margin.
func (e *Executor) warnOnce(tty bool) func(error) {
	return func(err error) {
		e.warnMu.Lock()
		defer e.warnMu.Unlock()
		if e.warned {
			return
		}
		e.warned = true
		e.unrecorded = err
		out := e.cfg.ErrOut
		if out == nil {
			out = io.Discard
		}
		msg := fmt.Sprintf("warning: recording failed (%v); the session goes on UNRECORDED (--record=best-effort)", err)
		if tty {
			fmt.Fprint(out, "\r\n"+msg+"\r\n")
		} else {
			fmt.Fprintln(out, msg)
		}
	}
}

// nopRecorder records nothing.
type nopRecorder struct{}

func (nopRecorder) Begin(record.Header) error { return nil }
func (nopRecorder) Stdout([]byte) error       { return nil }
func (nopRecorder) Stderr([]byte) error       { return nil }
func (nopRecorder) Stdin([]byte) error        { return nil }
func (nopRecorder) Resize(int, int) error     { return nil }
func (nopRecorder) Marker(string) error       { return nil }
func (nopRecorder) Close(record.End) error    { return nil }
func (nopRecorder) Path() string              { return "" }

func (nopRecorder) StdinAt(time.Time, []byte) error      { return nil }
func (nopRecorder) RedactedStdinAt(time.Time, int) error { return nil }
func (nopRecorder) StdoutAt(time.Time, []byte) error     { return nil }
func (nopRecorder) ResizeAt(time.Time, int, int) error   { return nil }
func (nopRecorder) MarkerAt(time.Time, string) error     { return nil }

// bestEffort records into w until the first failure, which it reports once
// through warn; from then on it records nothing and never fails, so the
// session goes on. What was recorded before the failure stays valid.
type bestEffort struct {
	w      *record.Writer
	warn   func(error)
	failed atomic.Bool
	once   sync.Once
}

func (b *bestEffort) check(err error) error {
	if err != nil {
		b.once.Do(func() {
			b.failed.Store(true)
			b.warn(err)
		})
	}
	return nil
}

func (b *bestEffort) do(f func() error) error {
	if b.failed.Load() {
		return nil
	}
	return b.check(f())
}

func (b *bestEffort) Begin(h record.Header) error {
	return b.do(func() error { return b.w.Begin(h) })
}
func (b *bestEffort) Stdout(p []byte) error { return b.do(func() error { return b.w.Stdout(p) }) }
func (b *bestEffort) Stderr(p []byte) error { return b.do(func() error { return b.w.Stderr(p) }) }
func (b *bestEffort) Stdin(p []byte) error  { return b.do(func() error { return b.w.Stdin(p) }) }
func (b *bestEffort) Resize(c, r int) error { return b.do(func() error { return b.w.Resize(c, r) }) }
func (b *bestEffort) Marker(l string) error { return b.do(func() error { return b.w.Marker(l) }) }
func (b *bestEffort) Path() string          { return b.w.Path() }

func (b *bestEffort) StdinAt(t time.Time, p []byte) error {
	return b.do(func() error { return b.w.StdinAt(t, p) })
}
func (b *bestEffort) RedactedStdinAt(t time.Time, n int) error {
	return b.do(func() error { return b.w.RedactedStdinAt(t, n) })
}
func (b *bestEffort) StdoutAt(t time.Time, p []byte) error {
	return b.do(func() error { return b.w.StdoutAt(t, p) })
}
func (b *bestEffort) ResizeAt(t time.Time, c, r int) error {
	return b.do(func() error { return b.w.ResizeAt(t, c, r) })
}
func (b *bestEffort) MarkerAt(t time.Time, l string) error {
	return b.do(func() error { return b.w.MarkerAt(t, l) })
}

// Close always closes the file; a failure is one more warning at most.
func (b *bestEffort) Close(end record.End) error { return b.check(b.w.Close(end)) }
