// Package testrec writes recordings with exact, scripted timing for tests:
// a fake clock is moved to each step's time before the step is recorded.
package testrec

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// Step is one thing to record at session time At: Code 'o', 'e', 'i' with
// Data, 'r' with Data "COLSxROWS", 'm' with Data as the label.
type Step struct {
	At   time.Duration
	Code byte
	Data string
}

// O, E, I, R and M build steps.
func O(at time.Duration, s string) Step { return Step{at, 'o', s} }

// E is stderr output.
func E(at time.Duration, s string) Step { return Step{at, 'e', s} }

// I is input.
func I(at time.Duration, s string) Step { return Step{at, 'i', s} }

// R is a resize, "COLSxROWS".
func R(at time.Duration, s string) Step { return Step{at, 'r', s} }

// M is a marker.
func M(at time.Duration, s string) Step { return Step{at, 'm', s} }

// Session describes a recording to write.
type Session struct {
	Header record.Header
	Steps  []Step
	// End is the session's end time; 0 means the last step's time.
	End time.Duration
	// Exit closes the recording as exited with this code; nil leaves the
	// recording unclosed (no trailer: the last flush is what a killed
	// recorder leaves).
	Exit    *int
	Options record.Options
}

// Code returns a pointer to c, for Session.Exit.
func Code(c int) *int { return &c }

// Header is a typical header for a session that started at start.
func Header(user, context, namespace, pod, container string, start time.Time, argv ...string) record.Header {
	if len(argv) == 0 {
		argv = []string{"sh"}
	}
	return record.Header{
		Term:      record.Term{Cols: 80, Rows: 24, Type: "xterm-256color"},
		Timestamp: start.Unix(),
		Command:   strings.Join(argv, " "),
		Rexec: &record.Meta{
			SessionID: fmt.Sprintf("%08x-0000-4000-8000-000000000000", start.Unix()&0xffffffff),
			User:      record.User{Username: user}, Context: context,
			Namespace: namespace, Pod: pod, Container: container,
			Argv: argv, TTY: true, Stdin: true, Protocol: "v5.channel.k8s.io (websocket)",
			ClientHost: "laptop", ClientUser: "al", Version: "test", Start: start,
			AuditID: "audit-" + pod,
		},
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// Bytes records s and returns the file's bytes.
func Bytes(s Session) ([]byte, error) {
	start := time.Date(2026, 11, 27, 6, 15, 0, 0, time.UTC)
	if s.Header.Rexec != nil && !s.Header.Rexec.Start.IsZero() {
		start = s.Header.Rexec.Start
	}
	c := &clock{t: start}
	opts := s.Options
	opts.Now = c.Now
	if opts.FlushEvery == 0 {
		opts.FlushEvery = time.Hour
	}
	var out buffer
	w := record.NewWriter(&out, opts)
	if err := w.Begin(s.Header); err != nil {
		return nil, err
	}
	var last time.Duration
	for _, st := range s.Steps {
		c.set(start.Add(st.At))
		last = st.At
		var err error
		switch st.Code {
		case 'o':
			err = w.Stdout([]byte(st.Data))
		case 'e':
			err = w.Stderr([]byte(st.Data))
		case 'i':
			err = w.Stdin([]byte(st.Data))
		case 'm':
			err = w.Marker(st.Data)
		case 'r':
			var cols, rows int
			if _, err = fmt.Sscanf(st.Data, "%dx%d", &cols, &rows); err == nil {
				err = w.Resize(cols, rows)
			}
		default:
			err = fmt.Errorf("testrec: unknown code %q", st.Code)
		}
		if err != nil {
			return nil, err
		}
	}
	end := s.End
	if end == 0 {
		end = last
	}
	c.set(start.Add(end))
	if s.Exit == nil {
		if err := w.Flush(); err != nil {
			return nil, err
		}
		out.mu.Lock()
		b := append([]byte(nil), out.b.Bytes()...)
		out.mu.Unlock()
		_ = w.Close(record.End{Reason: record.ReasonInterrupted}) // its trailer is not in b
		return b, nil
	}
	if err := w.Close(record.End{Reason: record.ReasonExited, ExitCode: s.Exit}); err != nil {
		return nil, err
	}
	return out.b.Bytes(), nil
}

// File records s into path (mode 0600).
func File(path string, s Session) error {
	b, err := Bytes(s)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}
