package record

import (
	"fmt"
	"os"
	"testing"
	"time"
)

func TestZZExample(t *testing.T) {
	clock := newFakeClock()
	var out syncBuffer
	w := NewWriter(&out, Options{Now: clock.Now})
	h := Header{Term: Term{Cols: 80, Rows: 24, Type: "xterm-256color"}, Timestamp: clock.Now().Unix(), Command: "sh",
		Rexec: &Meta{SessionID: "5f0c2a9e-8d1b-4c3e-9a57-0b6c1d2e3f40", User: User{Username: "alice"}, Namespace: "default", Pod: "web", Container: "main",
			Argv: []string{"sh"}, TTY: true, Stdin: true, Protocol: "v5.channel.k8s.io (websocket)", ClientHost: "laptop", ClientUser: "al", Version: "v0.1.0", Start: clock.Now()}}
	w.Begin(h)
	_ = w.Resize(80, 24)
	clock.Add(500 * time.Millisecond)
	_ = w.Stdout([]byte("$ "))
	clock.Add(1200 * time.Millisecond)
	_ = w.Stdin([]byte("ls\r"))
	clock.Add(3 * time.Millisecond)
	_ = w.Stdout([]byte("ls\r\n\xff\xfe\r\n$ "))
	clock.Add(time.Second / 3)
	code := 0
	w.Close(End{Reason: ReasonExited, ExitCode: &code})
	os.WriteFile("/tmp/smoke/example.cast.zst", out.Bytes(), 0o644)
	ix, _ := Scan(bytesReader(out.Bytes()), int64(len(out.Bytes())))
	for _, f := range ix.Frames {
		fmt.Printf("frame off=%d size=%d cp=%+v\n", f.Offset, f.Size, *f.Checkpoint)
	}
	fmt.Printf("trailer at %d: %+v\n", ix.TrailerOffset, *ix.Trailer)
}

func bytesReader(b []byte) *bytesRA { return &bytesRA{b} }

type bytesRA struct{ b []byte }

func (r *bytesRA) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(r.b)) {
		return 0, fmt.Errorf("eof")
	}
	n := copy(p, r.b[off:])
	if n < len(p) {
		return n, fmt.Errorf("eof")
	}
	return n, nil
}
