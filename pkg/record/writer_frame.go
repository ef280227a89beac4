package record

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"time"

	"github.com/klauspost/compress/zstd"
)

// This file writes data frames on the writer goroutine: it opens them on
// the encoder the store rule picks, feeds every byte they put in the file
// to the hash chain (docs/FORMAT.md, section 5), and closes each with its
// checkpoint. The bytes go into the chunk's output buffer, which
// writer_loop.go writes to the file in one piece.

// chainSeed is hashed to give H_0, the start of the checkpoint hash chain.
const chainSeed = "kubectl-rexec recording chain v1"

// windowSize is the zstd window: frames hold about FrameBytes, so a
// larger window would only make readers allocate more.
const windowSize = 1 << 20

// frameState is the writer goroutine's side of the data frames. It is the
// io.Writer the encoders write into.
type frameState struct {
	out     *[]byte   // bytes the current chunk puts in the file, from bufPool
	segs    []segment // the chunk's output in order: pieces of out, and text written in place
	h       hash.Hash // the chain hash, fed with the open frame's bytes
	chain   [32]byte  // H_k: the chain up to the frames closed so far
	seq     int       // the next frame's number
	textOff int64     // text offset of the next frame
	off     int64     // file offset of the open frame
	size    int64     // its bytes so far
	enc     frameEncoder
	zenc    *zstd.Encoder // the open frame's compressor, nil when stored
	level   zstd.EncoderLevel
	raw     rawEncoder
	stored  int64  // data frames stored raw, for Stats
	skip    []byte // a skippable frame being built
	// witness holds the checkpoints of this chunk for Options.Witness,
	// told once the chunk is in the file.
	witness []Checkpoint
}

// segment is a piece of a chunk's output: bytes of out, or a slice of the
// chunk's text that goes to the file as it is (a stored block's content),
// so that stored text is never copied on its way.
type segment struct {
	ref      []byte
	from, to int // out[from:to] when ref is nil
}

// Write appends bytes of the open frame to the output and to the chain.
func (f *frameState) Write(p []byte) (int, error) {
	f.put(p)
	f.h.Write(p)
	f.size += int64(len(p))
	return len(p), nil
}

// put appends bytes to the output, not to the chain.
func (f *frameState) put(p []byte) {
	from := len(*f.out)
	*f.out = append(*f.out, p...)
	if n := len(f.segs); n > 0 && f.segs[n-1].ref == nil && f.segs[n-1].to == from {
		f.segs[n-1].to = len(*f.out)
		return
	}
	f.segs = append(f.segs, segment{from: from, to: len(*f.out)})
}

// putSkippable appends a skippable frame (checkpoint, index, trailer) to
// the output.
func (f *frameState) putSkippable(magic uint32, payload []byte) {
	f.skip = appendSkippable(f.skip[:0], magic, payload)
	f.put(f.skip)
}

// pending is the number of bytes of output not written yet.
func (f *frameState) pending() int64 {
	var n int64
	for _, s := range f.segs {
		if s.ref != nil {
			n += int64(len(s.ref))
		} else {
			n += int64(s.to - s.from)
		}
	}
	return n
}

// writeInPlace puts p, which stays unchanged until the chunk is written,
// into the open frame without copying it.
func (f *frameState) writeInPlace(p []byte) {
	f.segs = append(f.segs, segment{ref: p})
	f.h.Write(p)
	f.size += int64(len(p))
}

// pieces returns the chunk's output, in order, for one vectored write.
func (f *frameState) pieces(dst [][]byte) [][]byte {
	dst = dst[:0]
	for _, s := range f.segs {
		if s.ref != nil {
			dst = append(dst, s.ref)
		} else {
			dst = append(dst, (*f.out)[s.from:s.to])
		}
	}
	return dst
}

// writeHeader writes frame 0, the header line, compressed, and starts the
// chain.
func (w *Writer) writeHeader(line []byte) {
	f := &w.frame
	w.headerSum = sha256.Sum256(line)
	f.chain = sha256.Sum256([]byte(chainSeed))
	w.startFrame(false, zstd.SpeedFastest) // one line: a stronger level would only cost its set-up
	w.frameText(line)
	w.closeFrame(frameEnd{textSize: int64(len(line))})
	w.store.afterHeader()
	w.wroteHead = true
}

// openFrame opens a data frame whose first chunk is c, stored or
// compressed as the store rule says.
func (w *Writer) openFrame(c *chunk) {
	store := w.opts.forceRaw || w.storeNext()
	if store {
		w.frame.stored++
		w.stRaw.Store(w.frame.stored)
	}
	w.startFrame(store, w.levelNext(c))
}

// startFrame opens a data frame: stored, or compressed at level.
func (w *Writer) startFrame(store bool, level zstd.EncoderLevel) {
	f := &w.frame
	if store {
		f.enc = &f.raw
	} else {
		z, err := getEncoder(level)
		if err != nil {
			w.fail(err)
			return
		}
		f.zenc, f.enc, f.level = z, z, level
	}
	f.enc.Reset(f)
	f.h.Reset()
	f.h.Write(f.chain[:])
	f.off = w.sink.n + f.pending()
	f.size = 0
	w.store.frameStarted(w)
}

// frameText puts text into the open frame.
func (w *Writer) frameText(text []byte) {
	if len(text) == 0 || w.frame.enc == nil {
		return
	}
	t0 := time.Now()
	if _, err := w.frame.enc.Write(text); err != nil {
		w.fail(fmt.Errorf("compress recording: %w", err))
	}
	w.store.encoded(w, len(text), time.Since(t0))
}

// endBlock ends the current zstd block, so that the chunk's text is whole
// in the file once the chunk is written: a file cut after it, by a crash
// or a full disk, still holds every event of the chunk.
func (w *Writer) endBlock() {
	if w.frame.enc == nil {
		return
	}
	t0 := time.Now()
	if err := w.frame.enc.Flush(); err != nil {
		w.fail(fmt.Errorf("compress recording: %w", err))
	}
	w.store.encoded(w, 0, time.Since(t0))
}

// closeFrame ends the open frame, completes its link of the chain, and
// appends its checkpoint.
func (w *Writer) closeFrame(end frameEnd) {
	f := &w.frame
	if f.enc == nil {
		return
	}
	t0 := time.Now()
	if err := f.enc.Close(); err != nil {
		w.fail(fmt.Errorf("compress recording: %w", err))
	}
	w.store.encoded(w, 0, time.Since(t0))
	w.store.frameClosed(w, end.textSize)
	if f.zenc != nil {
		putEncoder(f.level, f.zenc)
		f.zenc = nil
	}
	f.enc = nil
	f.h.Sum(f.chain[:0])
	cp := Checkpoint{
		Seq:        f.seq,
		Offset:     f.off,
		Size:       f.size,
		TextOffset: f.textOff,
		TextSize:   end.textSize,
		TimeStart:  Seconds(end.timeStart * 1000),
		TimeEnd:    Seconds(end.timeEnd * 1000),
		Events:     end.events,
		Chain:      hex.EncodeToString(f.chain[:]),
	}
	if w.opts.Witness != nil {
		f.witness = append(f.witness, cp)
	}
	payload, err := json.Marshal(cp)
	if err != nil {
		w.fail(fmt.Errorf("encode checkpoint: %w", err))
		return
	}
	f.seq++
	f.textOff += end.textSize
	w.index.add(payload)
	w.stFrames.Store(int64(f.seq))
	f.putSkippable(checkpointMagic, payload)
}
