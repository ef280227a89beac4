package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// This file knows the zstd container (RFC 8878) well enough to find frame
// boundaries without decompressing: a recording is read frame by frame so
// that damage can be pinned to a frame, checkpoints can be checked against
// the exact bytes they describe, and a file cut off mid-frame can be told
// from a damaged one.

const (
	zstdMagic = 0xFD2FB528
	// Skippable frames have magics 0x184D2A50..0x184D2A5F. Three are ours.
	skippableMask   = 0xFFFFFFF0
	skippableBase   = 0x184D2A50
	indexMagic      = 0x184D2A5D
	checkpointMagic = 0x184D2A5E
	trailerMagic    = 0x184D2A5F
	maxBlockSize    = 128 << 10
	maxOurPayload   = 1 << 20 // a checkpoint or trailer is never near this
	// maxIndexPayload bounds the index frame: 16 MiB holds the checkpoints
	// of some 80,000 frames, 80 GB of session text.
	maxIndexPayload     = 16 << 20
	blockHeaderSize     = 3
	skippableHeaderSize = 8
)

// errTruncated is returned by the walkers when the file ends inside what
// they were reading: the signature of a recorder that was killed.
var errTruncated = errors.New("file ends inside a frame")

// zframe is where one zstd data frame lies in the file.
type zframe struct {
	off, size int64
	// complete is false when the file ends inside the frame; size then
	// covers only the blocks that are whole, which a streaming decoder can
	// still decode.
	complete bool
}

// frameHeader is a parsed zstd frame header (RFC 8878, 3.1.1.1).
type frameHeader struct {
	len      int  // bytes, magic included
	fhd      byte // frame header descriptor
	window   byte // window descriptor; absent when single segment
	single   bool
	checksum bool
	dictLen  int
	fcs      uint64 // frame content size when present
	fcsLen   int
}

// parseFrameHeader parses the frame header at the start of b, which holds
// at least the magic. It returns errTruncated when b is too short.
func parseFrameHeader(b []byte) (frameHeader, error) {
	var h frameHeader
	if len(b) < 5 {
		return h, errTruncated
	}
	h.fhd = b[4]
	if h.fhd&0x08 != 0 {
		return h, errors.New("zstd frame header has its reserved bit set")
	}
	h.single = h.fhd&0x20 != 0
	h.checksum = h.fhd&0x04 != 0
	h.dictLen = [4]int{0, 1, 2, 4}[h.fhd&3]
	h.fcsLen = [4]int{0, 2, 4, 8}[h.fhd>>6]
	if h.fcsLen == 0 && h.single {
		h.fcsLen = 1
	}
	h.len = 5
	if !h.single {
		h.len++
	}
	h.len += h.dictLen + h.fcsLen
	if len(b) < h.len {
		return h, errTruncated
	}
	if !h.single {
		h.window = b[5]
	}
	fcs := b[h.len-h.fcsLen : h.len]
	switch h.fcsLen {
	case 1:
		h.fcs = uint64(fcs[0])
	case 2:
		h.fcs = uint64(binary.LittleEndian.Uint16(fcs)) + 256
	case 4:
		h.fcs = uint64(binary.LittleEndian.Uint32(fcs))
	case 8:
		h.fcs = binary.LittleEndian.Uint64(fcs)
	}
	return h, nil
}

// walkFrame follows the zstd frame at off block by block, reading only the
// frame header and the 3-byte block headers.
func walkFrame(r io.ReaderAt, off, fileSize int64) (zframe, error) {
	f := zframe{off: off}
	var buf [18]byte // magic + largest frame header
	n, err := r.ReadAt(buf[:min(int64(len(buf)), fileSize-off)], off)
	if err != nil && !errors.Is(err, io.EOF) {
		return f, fmt.Errorf("read frame header: %w", err)
	}
	fh, err := parseFrameHeader(buf[:n])
	if err != nil {
		return f, err
	}
	hlen, checksum := fh.len, fh.checksum
	pos := off + int64(hlen)
	var bh [blockHeaderSize]byte
	for {
		if fileSize-pos < blockHeaderSize {
			f.size = pos - off
			return f, errTruncated
		}
		if _, err := r.ReadAt(bh[:], pos); err != nil {
			return f, fmt.Errorf("read block header at %d: %w", pos, err)
		}
		v := uint32(bh[0]) | uint32(bh[1])<<8 | uint32(bh[2])<<16
		last := v&1 != 0
		size := int64(v >> 3)
		switch (v >> 1) & 3 {
		case 1: // RLE: one byte stored, size is what it expands to
			if size > maxBlockSize {
				return f, fmt.Errorf("block at %d is larger than zstd allows (%d bytes)", pos, size)
			}
			size = 1
		case 3:
			return f, fmt.Errorf("block at %d has the reserved block type", pos)
		default:
			if size > maxBlockSize {
				return f, fmt.Errorf("block at %d is larger than zstd allows (%d bytes)", pos, size)
			}
		}
		if fileSize-pos-blockHeaderSize < size {
			f.size = pos - off
			return f, errTruncated
		}
		pos += blockHeaderSize + size
		if last {
			break
		}
	}
	if checksum {
		if fileSize-pos < 4 {
			f.size = pos - off
			return f, errTruncated
		}
		pos += 4
	}
	f.size = pos - off
	f.complete = true
	return f, nil
}

// readMagic reads the 4-byte little-endian magic at off.
func readMagic(r io.ReaderAt, off, fileSize int64) (uint32, error) {
	if fileSize-off < 4 {
		return 0, errTruncated
	}
	var b [4]byte
	if _, err := r.ReadAt(b[:], off); err != nil {
		return 0, fmt.Errorf("read at %d: %w", off, err)
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

// skippable is a skippable frame: its magic and where its payload lies.
type skippable struct {
	magic      uint32
	off, size  int64 // the whole frame
	payloadLen int64
}

func readSkippable(r io.ReaderAt, off, fileSize int64) (skippable, error) {
	s := skippable{off: off}
	if fileSize-off < skippableHeaderSize {
		return s, errTruncated
	}
	var b [skippableHeaderSize]byte
	if _, err := r.ReadAt(b[:], off); err != nil {
		return s, fmt.Errorf("read at %d: %w", off, err)
	}
	s.magic = binary.LittleEndian.Uint32(b[:4])
	s.payloadLen = int64(binary.LittleEndian.Uint32(b[4:]))
	s.size = skippableHeaderSize + s.payloadLen
	if fileSize-off < s.size {
		return s, errTruncated
	}
	return s, nil
}

// payload reads a skippable frame's payload, refusing absurd sizes for our
// own frames so that a damaged length cannot make us allocate gigabytes.
func (s skippable) payload(r io.ReaderAt) ([]byte, error) {
	if s.payloadLen > maxOurPayload {
		return nil, fmt.Errorf("skippable frame payload of %d bytes is too large", s.payloadLen)
	}
	p := make([]byte, s.payloadLen)
	if _, err := r.ReadAt(p, s.off+skippableHeaderSize); err != nil {
		return nil, fmt.Errorf("read skippable frame at %d: %w", s.off, err)
	}
	return p, nil
}

// appendSkippable appends a skippable frame holding payload.
func appendSkippable(dst []byte, magic uint32, payload []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, magic)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	return append(dst, payload...)
}

func isSkippable(magic uint32) bool { return magic&skippableMask == skippableBase }

// emptyLastBlock is a raw block of no bytes with the last-block bit set.
var emptyLastBlock = []byte{1, 0, 0}

// wholeBlocks returns a complete zstd frame made of the whole blocks of a
// frame the file ends inside: the same header without content size and
// checksum (both describe bytes that are missing), the whole blocks, and an
// empty last block. A decoder then returns every whole block and ends
// cleanly, instead of failing on the cut (the zstd library prints such
// failures on stderr, which a replay must not do).
func wholeBlocks(r io.ReaderAt, f zframe) (io.Reader, error) {
	var buf [18]byte
	n, err := r.ReadAt(buf[:min(int64(len(buf)), f.size)], f.off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read frame header: %w", err)
	}
	fh, err := parseFrameHeader(buf[:n])
	if err != nil {
		return nil, err
	}
	h := binary.LittleEndian.AppendUint32(make([]byte, 0, 14), zstdMagic)
	h = append(h, fh.fhd&0x03) // keep the dictionary id flag only
	if fh.single {
		// The window of a single-segment frame is its content size;
		// describe one at least that large.
		e := 0
		if fh.fcs > 1<<10 {
			e = bits.Len64(fh.fcs-1) - 10
		}
		if e > 31 {
			return nil, fmt.Errorf("frame content size %d is too large", fh.fcs)
		}
		h = append(h, byte(e<<3))
	} else {
		h = append(h, fh.window)
	}
	dictAt := 5
	if !fh.single {
		dictAt = 6
	}
	h = append(h, buf[dictAt:dictAt+fh.dictLen]...)
	blocks := io.NewSectionReader(r, f.off+int64(fh.len), f.size-int64(fh.len))
	return io.MultiReader(bytes.NewReader(h), blocks, bytes.NewReader(emptyLastBlock)), nil
}
