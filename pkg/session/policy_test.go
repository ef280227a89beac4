package session

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// failAfter accepts n bytes, then fails every write like a full disk.
type failAfter struct {
	n   int
	buf bytes.Buffer
}

func (f *failAfter) Write(p []byte) (int, error) {
	if f.buf.Len()+len(p) > f.n {
		return 0, errors.New("no space left on device")
	}
	return f.buf.Write(p)
}

func TestBestEffortWarnsOnceAndGoesOn(t *testing.T) {
	var errOut bytes.Buffer
	e := NewExecutor(Config{ErrOut: &errOut, Mode: RecordBestEffort})
	out := &failAfter{n: 2000}
	b := &bestEffort{w: record.NewWriter(out, record.Options{}), warn: e.warnOnce(false)}
	if err := b.Begin(record.Header{Rexec: &record.Meta{SessionID: "x"}}); err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	for i := 0; i < 50; i++ {
		if err := b.Stdout(chunk); err != nil {
			t.Fatalf("write %d: %v (best effort never fails)", i, err)
		}
		if i == 10 {
			_ = b.w.Flush()
		}
	}
	if err := b.Close(record.End{Reason: record.ReasonExited}); err != nil {
		t.Fatalf("Close: %v", err)
	}
	msg := errOut.String()
	if strings.Count(msg, "warning:") != 1 || !strings.Contains(msg, "no space left on device") || !strings.Contains(msg, "UNRECORDED") {
		t.Fatalf("warnings %q", msg)
	}
	if !b.failed.Load() || e.unrecorded == nil {
		t.Fatal("the failure was not noted")
	}
}

func TestBestEffortTTYWarningStartsAtTheMargin(t *testing.T) {
	var errOut bytes.Buffer
	e := NewExecutor(Config{ErrOut: &errOut})
	e.warnOnce(true)(errors.New("boom"))
	e.warnOnce(true)(errors.New("again"))
	if got := errOut.String(); !strings.HasPrefix(got, "\r\nwarning: recording failed (boom)") || !strings.HasSuffix(got, "\r\n") || strings.Contains(got, "again") {
		t.Fatalf("%q", got)
	}
}

func TestNopRecorder(t *testing.T) {
	var r recorder = nopRecorder{}
	if r.Begin(record.Header{}) != nil || r.Stdout([]byte("x")) != nil || r.Close(record.End{}) != nil || r.Path() != "" {
		t.Fatal("nopRecorder is not a no-op")
	}
}
