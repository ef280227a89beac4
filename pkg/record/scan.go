package record

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Frame is one zstd data frame of a recording, as found by Scan.
type Frame struct {
	Offset int64 // file offset of the frame's magic
	// Size is the frame's length in bytes. For a frame the file ends inside
	// (Complete false) it covers the whole blocks only.
	Size     int64
	Complete bool
	// Checkpoint is the checkpoint that follows the frame, nil if none does
	// (a cut-off recording, or a plain zstd-compressed asciicast file).
	Checkpoint *Checkpoint
}

// Index is the layout of a recording: every data frame with its checkpoint,
// and the trailer. Scan builds it from frame and block headers alone,
// without decompressing, so it is cheap even for a long recording.
type Index struct {
	Size   int64   // bytes scanned
	Frames []Frame // frame 0 is the header frame
	// Trailer is the trailer, nil when the recording has none.
	Trailer       *Trailer
	TrailerOffset int64
	// Abrupt is true when the file ends where a recorder that was killed
	// would leave it: inside a frame or skippable frame, or after a frame
	// or checkpoint with no trailer. AbruptDetail says which.
	Abrupt       bool
	AbruptDetail string
	// Markers are the recording's markers, from its index (ReadIndex);
	// nil when the index has none or the layout was walked (Scan): then
	// only reading the events finds them.
	Markers []Marker
	// FromIndex is true when the layout was read from the index frame
	// (ReadIndex) rather than walked: derived data, checked against the
	// checkpoints in the file only by CheckIndex, and its markers only
	// by reading the events.
	FromIndex bool
}

// Checkpoints returns the checkpoints in order (Checkpoints()[i].Seq == i).
func (ix *Index) Checkpoints() []Checkpoint {
	var cps []Checkpoint
	for _, f := range ix.Frames {
		if f.Checkpoint == nil {
			break
		}
		cps = append(cps, *f.Checkpoint)
	}
	return cps
}

// Scan walks the recording in r (size bytes) frame by frame. It returns the
// index and a nil error for a recording that is intact, cut off (see
// Index.Abrupt) or plain zstd-compressed asciicast; for a damaged one, the
// index up to the damage and an error matching ErrCorrupt. It checks the
// layout only: that checkpoints describe the frames they follow and that
// nothing is out of place. VerifyChain checks the bytes.
func Scan(r io.ReaderAt, size int64) (*Index, error) {
	ix := &Index{Size: size}
	var (
		pos          int64
		checkpointed bool // frame 0 had a checkpoint: so must every frame
		awaiting     bool // the last frame still wants its checkpoint
		prev         *Checkpoint
	)
	abrupt := func(detail string) (*Index, error) {
		ix.Abrupt, ix.AbruptDetail = true, detail
		return ix, nil
	}
	corrupt := func(frame int, off int64, err error) (*Index, error) {
		return ix, &CorruptError{Frame: frame, Offset: off, Err: err}
	}
	last := func() int { return len(ix.Frames) - 1 }
	for {
		if pos == size {
			switch {
			case awaiting && checkpointed:
				return abrupt(fmt.Sprintf("no checkpoint after frame %d", last()))
			case checkpointed:
				return abrupt(fmt.Sprintf("no trailer after frame %d", last()))
			}
			return ix, nil // plain zstd: no checkpoints, no trailer expected
		}
		magic, err := readMagic(r, pos, size)
		if errors.Is(err, errTruncated) {
			return abrupt(fmt.Sprintf("the file ends inside a frame header at offset %d", pos))
		}
		if err != nil {
			return ix, err
		}
		switch {
		case magic == zstdMagic:
			if awaiting && checkpointed {
				return corrupt(last(), ix.Frames[last()].Offset, errors.New("the frame is not followed by its checkpoint"))
			}
			zf, err := walkFrame(r, pos, size)
			if errors.Is(err, errTruncated) {
				ix.Frames = append(ix.Frames, Frame{Offset: pos, Size: zf.size})
				return abrupt(fmt.Sprintf("the file ends inside frame %d", last()))
			}
			if err != nil {
				return corrupt(len(ix.Frames), pos, err)
			}
			ix.Frames = append(ix.Frames, Frame{Offset: pos, Size: zf.size, Complete: true})
			awaiting = true
			pos += zf.size

		case magic == checkpointMagic:
			sk, err := readSkippable(r, pos, size)
			if errors.Is(err, errTruncated) {
				return abrupt(fmt.Sprintf("the file ends inside the checkpoint of frame %d", last()))
			}
			if err != nil {
				return ix, err
			}
			if !awaiting {
				return corrupt(len(ix.Frames), pos, errors.New("a checkpoint follows no frame"))
			}
			k := last()
			f := &ix.Frames[k]
			cp, err := parseCheckpoint(r, sk)
			if err == nil {
				err = checkCheckpoint(cp, k, f, prev)
			}
			if err == nil && k > 0 && !checkpointed {
				err = errors.New("frame 0 has no checkpoint but this frame has one")
			}
			if err != nil {
				return corrupt(k, f.Offset, err)
			}
			f.Checkpoint = cp
			prev = cp
			checkpointed = true
			awaiting = false
			pos += sk.size

		case magic == trailerMagic:
			sk, err := readSkippable(r, pos, size)
			if errors.Is(err, errTruncated) {
				return abrupt("the file ends inside the trailer")
			}
			if err != nil {
				return ix, err
			}
			if awaiting && checkpointed {
				return corrupt(last(), ix.Frames[last()].Offset, errors.New("the frame is not followed by its checkpoint"))
			}
			if !checkpointed {
				return corrupt(-1, pos, errors.New("a trailer in a recording without checkpoints"))
			}
			p, err := sk.payload(r)
			if err != nil {
				return corrupt(-1, pos, err)
			}
			var t Trailer
			if err := json.Unmarshal(p, &t); err != nil {
				return corrupt(-1, pos, fmt.Errorf("trailer: %w", err))
			}
			if pos+sk.size != size {
				return corrupt(-1, pos, fmt.Errorf("%d bytes follow the trailer", size-pos-sk.size))
			}
			ix.Trailer, ix.TrailerOffset = &t, pos
			return ix, nil

		case isSkippable(magic):
			// Someone else's skippable frame: zstd says to skip it.
			sk, err := readSkippable(r, pos, size)
			if errors.Is(err, errTruncated) {
				return abrupt(fmt.Sprintf("the file ends inside a skippable frame at offset %d", pos))
			}
			if err != nil {
				return ix, err
			}
			pos += sk.size

		default:
			err := fmt.Errorf("no zstd frame at offset %d (it starts with %08x)", pos, magic)
			if awaiting {
				// Most likely the frame before was misread: damage in its
				// header or a block header sends the walk astray.
				return corrupt(last(), ix.Frames[last()].Offset, err)
			}
			return corrupt(len(ix.Frames), pos, err)
		}
	}
}

func parseCheckpoint(r io.ReaderAt, sk skippable) (*Checkpoint, error) {
	p, err := sk.payload(r)
	if err != nil {
		return nil, err
	}
	var cp Checkpoint
	if err := json.Unmarshal(p, &cp); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return &cp, nil
}

// checkCheckpoint checks what a checkpoint says about the layout against
// the frame it follows and the checkpoint before it.
func checkCheckpoint(cp *Checkpoint, k int, f *Frame, prev *Checkpoint) error {
	switch {
	case cp.Seq != k:
		return fmt.Errorf("checkpoint has seq %d", cp.Seq)
	case cp.Offset != f.Offset || cp.Size != f.Size:
		return fmt.Errorf("checkpoint says offset %d size %d, the frame is at %d with size %d", cp.Offset, cp.Size, f.Offset, f.Size)
	case len(cp.Chain) != 2*sha256.Size:
		return fmt.Errorf("checkpoint chain %q is not a SHA-256 in hex", cp.Chain)
	case prev == nil && (cp.TextOffset != 0 || cp.TimeStart != 0):
		return errors.New("the first checkpoint does not start at text offset 0, time 0")
	case prev != nil && cp.TextOffset != prev.TextOffset+prev.TextSize:
		return fmt.Errorf("checkpoint text offset %d, the frame before ends at %d", cp.TextOffset, prev.TextOffset+prev.TextSize)
	case prev != nil && cp.TimeStart != prev.TimeEnd:
		return fmt.Errorf("checkpoint time start %v, the frame before ends at %v", cp.TimeStart.Duration(), prev.TimeEnd.Duration())
	case cp.TimeEnd < cp.TimeStart:
		return errors.New("checkpoint ends before it starts")
	}
	return nil
}

// chainStart returns H_0.
func chainStart() [32]byte { return sha256.Sum256([]byte(chainSeed)) }

// VerifyChain recomputes the hash chain over the frames' bytes in r and
// compares it with every checkpoint and the trailer's chain head, and checks
// the trailer's header_sha256 against the header line. It does not decode
// events; reading the recording to the end with a Reader checks everything,
// event counts included.
func (ix *Index) VerifyChain(r io.ReaderAt) error {
	h := chainStart()
	hasher := sha256.New()
	var headerLine []byte
	for i, f := range ix.Frames {
		if f.Checkpoint == nil {
			break
		}
		hasher.Reset()
		hasher.Write(h[:])
		if _, err := io.Copy(hasher, io.NewSectionReader(r, f.Offset, f.Size)); err != nil {
			return fmt.Errorf("read frame %d: %w", i, err)
		}
		hasher.Sum(h[:0])
		if got := hex.EncodeToString(h[:]); got != f.Checkpoint.Chain {
			return &CorruptError{Frame: i, Offset: f.Offset, Err: fmt.Errorf("hash chain %s, the checkpoint says %s", got, f.Checkpoint.Chain)}
		}
		if i == 0 {
			line, err := firstLine(r, f)
			if err != nil {
				return &CorruptError{Frame: 0, Offset: f.Offset, Err: err}
			}
			headerLine = line
		}
	}
	if t := ix.Trailer; t != nil {
		if got := hex.EncodeToString(h[:]); got != t.Chain {
			return &CorruptError{Frame: -1, Offset: ix.TrailerOffset, Err: fmt.Errorf("trailer chain %s, the frames hash to %s", t.Chain, got)}
		}
		sum := sha256.Sum256(headerLine)
		if got := hex.EncodeToString(sum[:]); got != t.HeaderSHA256 {
			return &CorruptError{Frame: -1, Offset: ix.TrailerOffset, Err: fmt.Errorf("trailer header_sha256 %s, the header hashes to %s", t.HeaderSHA256, got)}
		}
	}
	return nil
}

// firstLine decodes frame f and returns its first line, newline included.
func firstLine(r io.ReaderAt, f Frame) ([]byte, error) {
	dec, err := getDecoder()
	if err != nil {
		return nil, err
	}
	defer putDecoder(dec)
	if err := dec.Reset(io.NewSectionReader(r, f.Offset, f.Size)); err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	var line []byte
	buf := make([]byte, 4096)
	for {
		n, err := dec.Read(buf)
		line = append(line, buf[:n]...)
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			return line[:i+1], nil
		}
		if len(line) > maxHeaderLine {
			return nil, errors.New("the header line is too long")
		}
		if err != nil {
			return nil, fmt.Errorf("decompress header: %w", err)
		}
	}
}
