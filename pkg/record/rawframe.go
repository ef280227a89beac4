package record

import (
	"encoding/binary"
	"io"
)

// frameEncoder is what a data frame is written through: the zstd encoder,
// or rawEncoder when the writer is behind.
type frameEncoder interface {
	Reset(w io.Writer)
	Write(p []byte) (int, error)
	Flush() error
	Close() error
}

const (
	rawBlockMax = 128 << 10 // the largest block zstd allows
	// rawWindowDescriptor declares a 1 MiB window (exponent 10, mantissa 0):
	// raw blocks reference nothing, but a decoder sizes its buffers by it.
	rawWindowDescriptor = 10 << 3
)

// rawEncoder writes standard zstd frames made of raw (stored) blocks. It
// costs about a memcpy per byte, so the recorder can always keep up with a
// stream: the writer uses it for a frame only when events are queueing up
// faster than compression drains them, and goes back to compressing as soon
// as the queue has drained. Any zstd decoder reads these frames.
type rawEncoder struct {
	w       io.Writer
	buf     []byte // block header room + pending block bytes
	started bool   // the frame header is written
	err     error
}

func newRawEncoder() *rawEncoder {
	return &rawEncoder{buf: make([]byte, 3, 3+rawBlockMax)}
}

// Reset starts a new frame on w. Like the zstd encoder's, it writes
// nothing yet: the writer takes the frame's offset after Reset.
func (e *rawEncoder) Reset(w io.Writer) {
	e.w, e.err, e.started = w, nil, false
	e.buf = e.buf[:3]
}

func (e *rawEncoder) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && e.err == nil {
		room := 3 + rawBlockMax - len(e.buf)
		if room == 0 {
			e.block(false)
			continue
		}
		if room > len(p) {
			room = len(p)
		}
		e.buf = append(e.buf, p[:room]...)
		p = p[room:]
	}
	if e.err != nil {
		return 0, e.err
	}
	return n, nil
}

// Flush ends the current block so a reader of a torn file gets it.
func (e *rawEncoder) Flush() error {
	if len(e.buf) > 3 {
		e.block(false)
	}
	return e.err
}

// Close writes the last block, which ends the frame.
func (e *rawEncoder) Close() error {
	e.block(true)
	return e.err
}

// block writes the pending bytes as one raw block.
func (e *rawEncoder) block(last bool) {
	size := len(e.buf) - 3
	h := uint32(size) << 3 // block type 0 (raw) in bits 1-2
	if last {
		h |= 1
	}
	e.buf[0], e.buf[1], e.buf[2] = byte(h), byte(h>>8), byte(h>>16)
	e.write(e.buf)
	e.buf = e.buf[:3]
}

func (e *rawEncoder) write(p []byte) {
	if e.err != nil {
		return
	}
	if !e.started {
		e.started = true
		var hdr [6]byte
		binary.LittleEndian.PutUint32(hdr[:4], zstdMagic)
		hdr[4] = 0 // no content size, not single segment, no checksum, no dictionary
		hdr[5] = rawWindowDescriptor
		if _, err := e.w.Write(hdr[:]); err != nil {
			e.err = err
			return
		}
	}
	if _, err := e.w.Write(p); err != nil {
		e.err = err
	}
}
