package record

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// fakeClock is an injectable Options.Now that moves only when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 27, 6, 15, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncBuffer is the output of a Writer under test: the writer goroutine
// writes while the test takes snapshots.
type syncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.b...)
}

func testHeader() Header {
	return Header{
		Term:      Term{Cols: 80, Rows: 24, Type: "xterm-256color"},
		Timestamp: 1795760100,
		Command:   "sh -c echo",
		Env:       map[string]string{"TERM": "xterm-256color"},
		Rexec:     &Meta{SessionID: "test-session", User: User{Username: "alice"}, Argv: []string{"sh"}},
	}
}

// record runs fn against a new Writer on a buffer, closes it with end and
// returns the bytes.
func record(t testing.TB, opts Options, end End, fn func(w *Writer)) []byte {
	t.Helper()
	var out syncBuffer
	w := NewWriter(&out, opts)
	if err := w.Begin(testHeader()); err != nil {
		t.Fatalf("Begin: %v", err)
	}
	fn(w)
	if err := w.Close(end); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return out.Bytes()
}

func exited(code int) End { return End{Reason: ReasonExited, ExitCode: &code} }

// readAll reads a recording from memory to its end.
func readAll(t testing.TB, data []byte) (Header, []Event, *Trailer, error) {
	t.Helper()
	r, err := NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return Header{}, nil, nil, err
	}
	defer r.Close()
	var evs []Event
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return r.Header(), evs, r.Trailer(), nil
		}
		if err != nil {
			return r.Header(), evs, nil, err
		}
		evs = append(evs, ev)
	}
}

// mustReadAll is readAll for a recording that must be intact.
func mustReadAll(t testing.TB, data []byte) (Header, []Event, *Trailer) {
	t.Helper()
	h, evs, tr, err := readAll(t, data)
	if err != nil {
		t.Fatalf("read recording: %v", err)
	}
	if tr == nil {
		t.Fatalf("recording has no trailer")
	}
	return h, evs, tr
}

// streamsOf concatenates the data of the events per code.
func streamsOf(evs []Event) map[byte][]byte {
	m := map[byte][]byte{}
	for _, ev := range evs {
		m[ev.Code] = append(m[ev.Code], ev.Data...)
	}
	return m
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

// lookPath finds a tool the test wants. CI installs it, so there a missing
// tool fails the test instead of skipping the check silently.
func lookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed; CI must install it", name)
		}
		t.Logf("%s is not installed; skipping the check against it", name)
		return ""
	}
	return p
}

func lookPathOptional(name string) string {
	p, _ := exec.LookPath(name)
	return p
}

func execOutput(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).Output()
}

func execInput(stdin []byte, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	return cmd.CombinedOutput()
}
