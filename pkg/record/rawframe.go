package record

import (
	"encoding/binary"
	"io"
)

// frameEncoder is what a data frame is written through: the zstd encoder,
// or rawEncoder when the frame is stored.
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
// costs a copy per byte, so the recorder can always keep up with a stream:
// the writer uses it for a frame only when the stream waited for the
// compressor (writer_store.go). Any zstd decoder reads these frames.
//
// Every Write ends its blocks, so Flush has nothing to do; Close ends the
// frame with an empty last block.
type rawEncoder struct {
	w       io.Writer
	started bool // the frame header is written
	hdr     [6]byte
}

// Reset starts a new frame on w. Like the zstd encoder's, it writes
// nothing yet.
func (e *rawEncoder) Reset(w io.Writer) {
	e.w, e.started = w, false
}

func (e *rawEncoder) Write(p []byte) (int, error) {
	n := len(p)
	e.start()
	for len(p) > 0 {
		k := min(len(p), rawBlockMax)
		e.block(p[:k], false)
		p = p[k:]
	}
	return n, nil
}

// Flush does nothing: every Write ends its blocks.
func (e *rawEncoder) Flush() error { return nil }

// Close writes an empty last block, which ends the frame.
func (e *rawEncoder) Close() error {
	e.start()
	e.block(nil, true)
	return nil
}

// start writes the frame header: no content size, not single segment, no
// checksum, no dictionary.
func (e *rawEncoder) start() {
	if e.started {
		return
	}
	e.started = true
	binary.LittleEndian.PutUint32(e.hdr[:4], zstdMagic)
	e.hdr[4] = 0
	e.hdr[5] = rawWindowDescriptor
	_, _ = e.w.Write(e.hdr[:6])
}

// block writes p as one raw block.
func (e *rawEncoder) block(p []byte, last bool) {
	h := uint32(len(p)) << 3 // block type 0 (raw) in bits 1-2
	if last {
		h |= 1
	}
	e.hdr[0], e.hdr[1], e.hdr[2] = byte(h), byte(h>>8), byte(h>>16)
	_, _ = e.w.Write(e.hdr[:3])
	if f, ok := e.w.(*frameState); ok && len(p) >= inPlaceMin {
		f.writeInPlace(p) // the writer's own output: no copy
		return
	}
	_, _ = e.w.Write(p)
}

// inPlaceMin is the least a block holds for it to be written from where it
// is rather than copied: below it, one more piece of a vectored write
// costs more than the copy.
const inPlaceMin = 4 << 10
