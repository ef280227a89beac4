package session

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"

	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/klog/v2"
)

// TestQuietStreamCopies: client-go's "Copying stdout failed" lines are
// dropped when the session ended the stream (the tee refused the bytes, or
// the context was cancelled), and nothing else is.
func TestQuietStreamCopies(t *testing.T) {
	var logged bytes.Buffer
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("alsologtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	klog.SetOutput(&logged)
	defer func() {
		klog.SetOutput(nil)
		_ = fs.Set("logtostderr", "true")
	}()
	quietStreamCopies()
	diskFull := errors.New("write recording: no space left on device")
	cases := []struct {
		err    error
		msg    string
		logged bool
	}{
		{&teeError{diskFull}, "Copying stdout failed", false},
		{&teeError{diskFull}, "Copying stdin failed", false},
		{context.Canceled, "Copying stderr failed", false},
		{context.Canceled, "Waiting for server to close stdin failed", false},
		{errors.New("read tcp: connection reset by peer"), "Copying stdout failed", true},
		{&teeError{diskFull}, "Encoding terminal size failed", true},
	}
	for _, c := range cases {
		check(t, &logged, klog.Background(), c.err, c.msg, c.logged)
	}

	// Once a session has ended its stream, a copy failing on the
	// connection it closed is its doing too; not another session's, in
	// the same process (the gateway's).
	closed := errors.New("next reader: read tcp 127.0.0.1:56166->127.0.0.1:43505: use of closed network connection")
	ctxA, endedA := withSessionLogger(context.Background())
	ctxB, _ := withSessionLogger(context.Background())
	a, b := klog.FromContext(ctxA), klog.FromContext(ctxB)
	check(t, &logged, a, closed, "Copying stderr failed", true)
	endedA.Store(true)
	check(t, &logged, a, closed, "Copying stderr failed", false)
	check(t, &logged, b, closed, "Copying stderr failed", true)
	check(t, &logged, a.WithValues("k", "v"), closed, "Copying stdout failed", false)
	check(t, &logged, b, errors.New("read tcp: connection reset by peer"), "Copying stdout failed", true)

	// With contextual logging off, as the plugin runs (like kubectl), no
	// logger carries a session: the process's one session has the
	// process's flag.
	klog.EnableContextualLogging(false)
	ctxP, endedP := withSessionLogger(context.Background())
	klog.EnableContextualLogging(true)
	if endedP != &processEndedByUs {
		t.Fatal("with contextual logging off, a session's flag is not the process's")
	}
	defer processEndedByUs.Store(false)
	check(t, &logged, klog.FromContext(ctxP), closed, "Copying stderr failed", true)
	endedP.Store(true)
	check(t, &logged, klog.FromContext(ctxP), closed, "Copying stderr failed", false)
	check(t, &logged, klog.Background(), closed, "Copying stderr failed", false)
	processEndedByUs.Store(false)

	// Other lines through a session's logger name their caller too.
	logged.Reset()
	b.Info("Subprotocol negotiated")
	klog.Flush()
	if !strings.Contains(logged.String(), "quiet_test.go:") || !strings.Contains(logged.String(), "Subprotocol negotiated") {
		t.Errorf("a session logger's line is %q, want it at its caller in quiet_test.go", logged.String())
	}
}

func check(t *testing.T, logged *bytes.Buffer, logger klog.Logger, err error, msg string, want bool) {
	t.Helper()
	logged.Reset()
	utilruntime.HandleErrorWithLogger(logger, err, msg)
	klog.Flush()
	if got := strings.Contains(logged.String(), msg); got != want {
		t.Errorf("%q (%v): logged %v, want %v; log %q", msg, err, got, want, logged.String())
	}
	// A line that is logged names its caller, as kubectl's do (the e2e
	// tests compare rexec's stderr with kubectl's).
	if want && !strings.Contains(logged.String(), "quiet_test.go:") {
		t.Errorf("%q logged as %q, not at its caller", msg, logged.String())
	}
}
