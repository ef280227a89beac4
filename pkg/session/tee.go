package session

import (
	"io"

	"k8s.io/client-go/tools/remotecommand"
)

// The tees sit between client-go's stream copies and the user's terminal.
// They deliberately implement only Read or Write: an io.ReaderFrom or
// io.WriterTo would let io.Copy bypass them. The recorder copies the bytes
// before queueing them, so io.Copy may reuse its buffer at once.

// recordFunc hands bytes to the recording; it returns the recording's error.
type recordFunc func([]byte) error

// outputTee records p, then writes it on. Recording first means nothing
// reaches the screen that is not in the recording.
type outputTee struct {
	out    io.Writer
	record recordFunc
	fail   func(error)
}

func (t *outputTee) Write(p []byte) (int, error) {
	if err := t.record(p); err != nil {
		t.fail(err)
		return 0, &teeError{err}
	}
	return t.out.Write(p)
}

// inputTee records what the user sends once it has been read.
type inputTee struct {
	in     io.Reader
	record recordFunc
	fail   func(error)
}

func (t *inputTee) Read(p []byte) (int, error) {
	n, err := t.in.Read(p)
	if n > 0 {
		if rerr := t.record(p[:n]); rerr != nil {
			t.fail(rerr)
			return 0, &teeError{rerr}
		}
	}
	return n, err
}

// sizeTee records every terminal size the stream sends to the pod.
type sizeTee struct {
	next   remotecommand.TerminalSizeQueue
	record func(cols, rows int) error
	fail   func(error)
}

func (t *sizeTee) Next() *remotecommand.TerminalSize {
	s := t.next.Next()
	if s != nil {
		if err := t.record(int(s.Width), int(s.Height)); err != nil {
			t.fail(err)
		}
	}
	return s
}
