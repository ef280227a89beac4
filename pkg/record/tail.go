package record

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrNoIndex is returned by ReadIndex for a recording without a usable
// index at its end: one cut off, one written before the index existed, or
// one whose index outgrew its limit. Scan reads any of them.
var ErrNoIndex = errors.New("the recording has no index at its end")

// tailSize is how much of the end ReadIndex reads first: the trailer (at
// most 64 KiB of message) and, for most recordings, the index too.
const tailSize = 128 << 10

// ReadIndex builds the Index of a complete recording from its end alone:
// the trailer and the index frame it points at (docs/FORMAT.md, section
// 3.4), in one or two reads. It is what makes a remote recording cheap to
// open, where every read is a request. It checks that the index is
// consistent with the trailer, not the bytes of the frames: the Reader
// checks each frame's chain as it decodes it, and verify reads everything.
func ReadIndex(ra io.ReaderAt, size int64) (*Index, error) {
	n := min(size, tailSize)
	tail := make([]byte, n)
	if _, err := ra.ReadAt(tail, size-n); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read the end of the recording: %w", err)
	}
	tOff, tr, err := findTrailer(tail, size-n)
	if err != nil {
		return nil, err
	}
	if tr.IndexOffset == nil || *tr.IndexOffset < 0 || *tr.IndexOffset+skippableHeaderSize > tOff {
		return nil, ErrNoIndex
	}
	iOff := *tr.IndexOffset
	var frame []byte
	if iOff >= size-n {
		frame = tail[iOff-(size-n) : tOff-(size-n)]
	} else {
		if tOff-iOff > maxIndexPayload+skippableHeaderSize {
			return nil, fmt.Errorf("%w: the index is too large", ErrNoIndex)
		}
		frame = make([]byte, tOff-iOff)
		if _, err := ra.ReadAt(frame, iOff); err != nil {
			return nil, fmt.Errorf("read the index: %w", err)
		}
	}
	cps, marks, err := parseIndex(frame)
	if err != nil {
		return nil, err
	}
	ix := &Index{Size: size, Trailer: tr, TrailerOffset: tOff, Markers: marks, FromIndex: true}
	if err := ix.fromCheckpoints(cps, iOff); err != nil {
		return nil, err
	}
	return ix, nil
}

// findTrailer finds the trailer frame that ends the recording: the only
// skippable frame with the trailer magic whose length reaches exactly the
// end of the file. tail holds the file from base on.
func findTrailer(tail []byte, base int64) (int64, *Trailer, error) {
	var magic [4]byte
	binary.LittleEndian.PutUint32(magic[:], trailerMagic)
	for i := bytes.LastIndex(tail, magic[:]); i >= 0; i = bytes.LastIndex(tail[:i], magic[:]) {
		if len(tail)-i < skippableHeaderSize {
			continue
		}
		l := int(binary.LittleEndian.Uint32(tail[i+4:]))
		if i+skippableHeaderSize+l != len(tail) {
			continue
		}
		var t Trailer
		if err := json.Unmarshal(tail[i+skippableHeaderSize:], &t); err != nil {
			return 0, nil, fmt.Errorf("%w: the trailer does not parse: %v", ErrNoIndex, err)
		}
		return base + int64(i), &t, nil
	}
	return 0, nil, fmt.Errorf("%w: no trailer at the end (the recording may have ended abruptly)", ErrNoIndex)
}

func parseIndex(frame []byte) ([]Checkpoint, []Marker, error) {
	if len(frame) < skippableHeaderSize || binary.LittleEndian.Uint32(frame) != indexMagic ||
		int(binary.LittleEndian.Uint32(frame[4:]))+skippableHeaderSize != len(frame) {
		return nil, nil, fmt.Errorf("%w: no index frame where the trailer points", ErrNoIndex)
	}
	var p struct {
		Checkpoints []Checkpoint          `json:"checkpoints"`
		Markers     *[][2]json.RawMessage `json:"markers"`
	}
	if err := json.Unmarshal(frame[skippableHeaderSize:], &p); err != nil {
		return nil, nil, fmt.Errorf("%w: the index does not parse: %v", ErrNoIndex, err)
	}
	if p.Markers == nil {
		return p.Checkpoints, nil, nil
	}
	marks := make([]Marker, 0, len(*p.Markers))
	for _, m := range *p.Markers {
		var at Seconds
		var label string
		if json.Unmarshal(m[0], &at) != nil || json.Unmarshal(m[1], &label) != nil || at < 0 {
			return nil, nil, fmt.Errorf("%w: a marker in the index does not parse", ErrNoIndex)
		}
		marks = append(marks, Marker{Time: at.Duration(), Label: label})
	}
	return p.Checkpoints, marks, nil
}

// Marker is a marker event (a command) as the index lists it.
type Marker struct {
	Time  time.Duration
	Label string
}

// fromCheckpoints lays out the frames from the index's checkpoints and
// checks that they tile the file up to the index at iOff.
func (ix *Index) fromCheckpoints(cps []Checkpoint, iOff int64) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrNoIndex}, args...)...)
	}
	if len(cps) == 0 || len(cps) != ix.Trailer.Frames {
		return bad("it lists %d frames, the trailer %d", len(cps), ix.Trailer.Frames)
	}
	if cps[len(cps)-1].Chain != ix.Trailer.Chain {
		return bad("its last chain value is not the trailer's")
	}
	ix.Frames = make([]Frame, len(cps))
	var next int64 // where the next frame may start at the earliest
	for i := range cps {
		cp := &cps[i]
		if cp.Seq != i || cp.Offset < next || cp.Size <= 0 || cp.Offset+cp.Size+skippableHeaderSize > iOff || (i == 0 && cp.Offset != 0) {
			return bad("checkpoint %d does not fit the file", i)
		}
		next = cp.Offset + cp.Size + skippableHeaderSize
		ix.Frames[i] = Frame{Offset: cp.Offset, Size: cp.Size, Complete: true, Checkpoint: cp}
	}
	return nil
}

// CheckIndex checks a layout read from the index (Index.FromIndex) against
// the checkpoints in the file: each frame must be followed by a checkpoint
// equal to the index's copy of it. It costs two small reads per frame,
// cheap for a local file; it does not check the markers (only the events
// can). An index that differs was altered: the error matches ErrCorrupt.
// A walked layout (Scan) needs no check.
func CheckIndex(ra io.ReaderAt, ix *Index) error {
	if !ix.FromIndex {
		return nil
	}
	for i, f := range ix.Frames {
		cp, off, err := checkpointAfter(ra, f.Offset+f.Size, ix.TrailerOffset)
		if err == nil && *cp != *f.Checkpoint {
			err = fmt.Errorf("checkpoint %d in the file differs from the index's copy of it: the index at the end of the recording was altered", i)
		}
		if err != nil {
			return &CorruptError{Frame: i, Offset: off, Err: err}
		}
	}
	return nil
}

// checkpointAfter reads the checkpoint that follows a frame ending at pos,
// skipping skippable frames that are not ours, before end.
func checkpointAfter(ra io.ReaderAt, pos, end int64) (*Checkpoint, int64, error) {
	for pos < end {
		sk, err := readSkippable(ra, pos, end)
		if err != nil {
			return nil, pos, fmt.Errorf("no checkpoint where the index says a frame ends (offset %d): %w", pos, err)
		}
		if sk.magic == checkpointMagic {
			cp, err := parseCheckpoint(ra, sk)
			return cp, pos, err
		}
		if !isSkippable(sk.magic) || sk.magic == indexMagic || sk.magic == trailerMagic {
			break
		}
		pos += sk.size
	}
	return nil, pos, fmt.Errorf("no checkpoint where the index says a frame ends (offset %d)", pos)
}

// CheckIndex is record.CheckIndex on the reader's own layout.
func (r *Reader) CheckIndex() error { return CheckIndex(r.ra, r.idx) }
