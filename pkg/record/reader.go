package record

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
)

// MaxLine bounds one event line (docs/FORMAT.md, section 4). Our writer
// keeps lines under about 1.6 MiB (writes are cut into 256 KiB events);
// the bound stops a damaged or hostile file from making a reader allocate
// without end: a line is held, parsed and copied, so a reader needs a few
// times this much.
const MaxLine = 8 << 20

const (
	maxLine = MaxLine
	// maxHeaderLine bounds the header line, which is a few KiB.
	maxHeaderLine = 1 << 20
	// maxWindow is the largest zstd window the reader accepts: the decoder
	// holds about twice the window. Ours is 1 MiB; the zstd command line
	// tool uses at most 8 MiB below level 20 without --long.
	maxWindow = 8 << 20
)

var decoders sync.Pool

// getDecoder returns a synchronous streaming decoder: it decodes block by
// block in the calling goroutine, so the reader starts no goroutines and
// needs no Close to avoid leaking them.
func getDecoder() (*zstd.Decoder, error) {
	if d, ok := decoders.Get().(*zstd.Decoder); ok {
		return d, nil
	}
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(maxWindow),
	)
	if err != nil {
		return nil, fmt.Errorf("create zstd decoder: %w", err)
	}
	return d, nil
}

// lineReaders pools the readers that split decoded text into lines: a
// listing opens thousands of recordings, and 64 KiB each adds up.
var lineReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 64<<10) }}

func putDecoder(d *zstd.Decoder) {
	if d != nil && d.Reset(nil) == nil {
		decoders.Put(d)
	}
}

// Reader reads a recording event by event, checking as it goes that every
// frame matches its checkpoint and that the trailer matches the whole.
type Reader struct {
	ra     io.ReaderAt
	closer io.Closer
	idx    *Index
	scanEr error // what Scan found wrong after the frames in idx

	header    Header
	headerSum [32]byte
	rexec     bool

	dec  *zstd.Decoder
	br   *bufio.Reader
	long []byte
	h    hash.Hash
	sec  *io.SectionReader

	fi            int  // frame being read, or next to read
	active        bool // frame fi is being decoded
	headerPending bool // the next line is the header line (frame 0)
	chain         [32]byte
	timeUs        int64
	frameTime0    int64
	textOff       int64
	frameText     int64
	frameEvents   int64
	events        int64
	bytes         StreamBytes
	seeked        bool
	negIntervals  int64 // events whose interval was negative (read as 0)

	code    []byte
	scratch []byte
	trailer *Trailer
	err     error

	textRead  int64 // decompressed event text read since LimitText
	textLimit int64 // LimitText's n; 0 for none
}

// ErrTextLimit is what Next returns once LimitText's limit is reached.
var ErrTextLimit = errors.New("read limit reached")

// LimitText makes Next stop with ErrTextLimit (and repeat it) once more than n bytes of
// event text (decompressed) have been read from now on; 0 lifts the limit.
// A reader that needs only part of a recording (a listing) thus does a
// bounded amount of work, however much a small file decompresses to.
func (r *Reader) LimitText(n int64) {
	r.textRead, r.textLimit = 0, n
}

// Open opens the recording at path and reads its header. A file that is
// not zstd-compressed asciicast v3 gives an error matching ErrNotRecording;
// an empty file, or one cut off inside its header, one matching ErrAbrupt.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open recording: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open recording: %w", err)
	}
	if fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s: %w: it is a directory", path, ErrNotRecording)
	}
	r, err := NewReader(f, fi.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r.closer = f
	return r, nil
}

// NewReader reads the recording held by ra, size bytes long. It needs an
// io.ReaderAt (a file, a bytes.Reader) because it locates frames before
// decoding them; it is what makes SeekFrame possible.
func NewReader(ra io.ReaderAt, size int64) (*Reader, error) {
	return newReader(ra, size, Scan)
}

// NewIndexedReader is NewReader for storage where every read costs a
// request: it takes the layout from the index at the recording's end
// (ReadIndex) and walks the file (Scan) only when there is none.
func NewIndexedReader(ra io.ReaderAt, size int64) (*Reader, error) {
	return newReader(ra, size, func(ra io.ReaderAt, size int64) (*Index, error) {
		if ix, err := ReadIndex(ra, size); err == nil {
			return ix, nil
		}
		return Scan(ra, size)
	})
}

// SetCloser makes Close close c too (the object a reader was opened on).
func (r *Reader) SetCloser(c io.Closer) { r.closer = c }

func newReader(ra io.ReaderAt, size int64, scan func(io.ReaderAt, int64) (*Index, error)) (*Reader, error) {
	if size == 0 {
		return nil, &AbruptError{Detail: "the file is empty; the session never began"}
	}
	var m [4]byte
	n, err := ra.ReadAt(m[:min(4, size)], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read recording: %w", err)
	}
	var zm [4]byte
	zm[0], zm[1], zm[2], zm[3] = 0x28, 0xb5, 0x2f, 0xfd
	if n < 4 {
		if bytes.Equal(m[:n], zm[:n]) {
			return nil, &AbruptError{Detail: "the file ends inside the header frame"}
		}
		return nil, fmt.Errorf("%w: the file is not zstd-compressed", ErrNotRecording)
	}
	if magic := uint32(m[0]) | uint32(m[1])<<8 | uint32(m[2])<<16 | uint32(m[3])<<24; magic != zstdMagic && !isSkippable(magic) {
		return nil, fmt.Errorf("%w: the file is not zstd-compressed", ErrNotRecording)
	}
	idx, scanErr := scan(ra, size)
	if idx == nil || (scanErr != nil && !errors.Is(scanErr, ErrCorrupt)) {
		return nil, scanErr
	}
	if len(idx.Frames) == 0 {
		switch {
		case scanErr != nil:
			return nil, scanErr
		case idx.Abrupt:
			return nil, &AbruptError{Detail: idx.AbruptDetail}
		}
		return nil, fmt.Errorf("%w: the file holds no zstd data frame", ErrNotRecording)
	}
	dec, err := getDecoder()
	if err != nil {
		return nil, err
	}
	r := &Reader{
		ra: ra, idx: idx, scanEr: scanErr,
		dec: dec, br: lineReaders.Get().(*bufio.Reader), h: sha256.New(),
		chain: chainStart(),
	}
	if err := r.readHeader(); err != nil {
		putDecoder(dec)
		return nil, err
	}
	return r, nil
}

func (r *Reader) readHeader() error {
	if err := r.startFrame(); err != nil {
		return err
	}
	line, err := r.readLine(maxHeaderLine)
	switch {
	case err == nil:
	case !r.idx.Frames[0].Complete:
		return &AbruptError{Detail: "the file ends before the header is complete"}
	case errors.Is(err, errLineTooLong), errors.Is(err, errPartialLine), errors.Is(err, io.EOF):
		return fmt.Errorf("%w: the first line is not an asciicast header", ErrNotRecording)
	default:
		return &CorruptError{Frame: 0, Offset: r.idx.Frames[0].Offset, Err: decompressError(err)}
	}
	h, err := parseHeader(line)
	if err != nil {
		if r.idx.Frames[0].Checkpoint != nil && !errors.Is(err, ErrUnsupportedVersion) {
			// Our own layout around it: the header was damaged, not
			// written by someone else.
			return &CorruptError{Frame: 0, Offset: r.idx.Frames[0].Offset, Err: err}
		}
		return err
	}
	r.header = h
	r.headerSum = sha256.Sum256(line)
	r.rexec = h.Rexec != nil
	r.frameText += int64(len(line))
	return nil
}

func parseHeader(line []byte) (Header, error) {
	var h Header
	t := bytes.TrimSpace(line)
	if len(t) == 0 || t[0] != '{' {
		return h, fmt.Errorf("%w: the first line is not an asciicast header", ErrNotRecording)
	}
	if err := json.Unmarshal(t, &h); err != nil {
		return h, fmt.Errorf("%w: the header does not parse: %v", ErrNotRecording, err)
	}
	if h.Version != 3 {
		return h, fmt.Errorf("%w: asciicast version %d, this reads version 3", ErrNotRecording, h.Version)
	}
	if h.Rexec != nil && h.Rexec.FormatVersion > FormatVersion {
		return h, fmt.Errorf("%w: format_version %d is newer than this kubectl-rexec reads (%d); upgrade it", ErrUnsupportedVersion, h.Rexec.FormatVersion, FormatVersion)
	}
	return h, nil
}

// Header returns the recording's header.
func (r *Reader) Header() Header { return r.header }

// NegativeIntervals counts the events read so far whose interval was
// negative. They are read as 0 (docs/FORMAT.md, section 4.3); the reference
// writer never writes one.
func (r *Reader) NegativeIntervals() int64 { return r.negIntervals }

// Trailer returns the trailer once Next has returned io.EOF; nil before, and
// for a recording without one.
func (r *Reader) Trailer() *Trailer { return r.trailer }

// Index returns the recording's layout as found when it was opened.
func (r *Reader) Index() *Index { return r.idx }

// Close releases the reader and closes the file Open opened.
func (r *Reader) Close() error {
	putDecoder(r.dec)
	r.dec = nil
	if r.br != nil {
		r.br.Reset(nil)
		lineReaders.Put(r.br)
		r.br = nil
	}
	if r.err == nil {
		r.err = ErrClosed
	}
	if r.closer != nil {
		c := r.closer
		r.closer = nil
		if err := c.Close(); err != nil {
			return fmt.Errorf("close recording: %w", err)
		}
	}
	return nil
}

// Next returns the next event. At the end it returns io.EOF for a recording
// that was closed properly (Trailer is then set); for one that was cut off,
// an error matching ErrAbrupt, after every complete event; for a damaged
// one, an error matching ErrCorrupt that names the frame. Errors repeat.
func (r *Reader) Next() (Event, error) {
	for r.err == nil {
		if !r.active {
			if r.fi >= len(r.idx.Frames) {
				r.err = r.end()
				break
			}
			if err := r.startFrame(); err != nil {
				r.err = err
				break
			}
		}
		line, err := r.readLine(maxLine)
		if err != nil {
			r.err = r.frameEnded(err)
			continue
		}
		r.frameText += int64(len(line))
		if r.textRead += int64(len(line)); r.textLimit > 0 && r.textRead > r.textLimit {
			r.err = ErrTextLimit
			break
		}
		if r.headerPending {
			r.headerPending = false
			if sha256.Sum256(line) != r.headerSum {
				r.err = r.corrupt(errors.New("the header line differs from the one read at open"))
			}
			continue
		}
		ev, ok, err := r.event(line)
		if err != nil {
			r.err = r.corrupt(err)
			break
		}
		if ok {
			return ev, nil
		}
	}
	return Event{}, r.err
}

// event decodes one line; ok is false for codes this package does not know,
// which asciicast players ignore too.
func (r *Reader) event(line []byte) (Event, bool, error) {
	iv, code, data, err := parseEvent(line, r.code[:0], r.scratch[:0])
	r.code, r.scratch = code, data
	if err != nil {
		return Event{}, false, err
	}
	switch {
	case iv > MaxSessionMicros-r.timeUs:
		return Event{}, false, fmt.Errorf("the session time passes %v, the most a time.Duration holds: the interval %d.%06d s is not a session's", time.Duration(math.MaxInt64), iv/1e6, iv%1e6)
	case iv > 0:
		r.timeUs += iv
	case iv < 0:
		r.negIntervals++
	}
	r.frameEvents++
	r.events++
	ev := Event{Time: time.Duration(r.timeUs) * time.Microsecond}
	if string(code) == redactedCode {
		n, err := strconv.Atoi(string(data))
		if err != nil || n <= 0 {
			return ev, false, fmt.Errorf("%q event: the byte count %q is not a positive integer", code, data)
		}
		ev.Code, ev.Redacted = 'i', n
		return ev, true, nil
	}
	c, binary := eventCode(code)
	if c == 0 {
		return ev, false, nil
	}
	if binary {
		data, err = base64.StdEncoding.AppendDecode(nil, data)
		if err != nil {
			return ev, false, fmt.Errorf("%q event: %w", code, err)
		}
		ev.Data = data
	} else {
		ev.Data = append([]byte(nil), data...)
	}
	switch c {
	case 'o':
		r.bytes.O += int64(len(ev.Data))
	case 'e':
		r.bytes.E += int64(len(ev.Data))
	case 'i':
		r.bytes.I += int64(len(ev.Data))
	}
	ev.Code = c
	return ev, true, nil
}

// eventCode maps an event code to the Event code it decodes to, and whether
// its data is base64; 0 for codes this package does not know. Binary
// events are O, E, I since format version 2 and were ob, eb, ib before:
// both are read, whatever the header's version says.
func eventCode(code []byte) (c byte, binary bool) {
	switch string(code) {
	case "o", "e", "i", "r", "x", "m":
		return code[0], false
	case "O", "E", "I":
		return code[0] + ('a' - 'A'), true
	case "ob", "eb", "ib":
		return code[0], true
	}
	return 0, false
}

func (r *Reader) startFrame() error {
	f := r.idx.Frames[r.fi]
	var src io.Reader
	if f.Complete {
		r.sec = io.NewSectionReader(r.ra, f.Offset, f.Size)
		r.h.Reset()
		r.h.Write(r.chain[:])
		src = io.TeeReader(r.sec, r.h)
	} else {
		var err error
		if src, err = wholeBlocks(r.ra, zframe{off: f.Offset, size: f.Size}); err != nil {
			src = bytes.NewReader(nil) // nothing whole to decode
		}
	}
	if err := r.dec.Reset(src); err != nil {
		return r.corrupt(decompressError(err))
	}
	r.br.Reset(r.dec)
	r.active = true
	r.frameText, r.frameEvents, r.frameTime0 = 0, 0, r.timeUs
	return nil
}

var (
	errPartialLine = errors.New("the frame ends inside an event line")
	errLineTooLong = fmt.Errorf("an event line is longer than %d MiB", maxLine>>20)
)

// readLine returns the next line of the current frame, newline included:
// io.EOF at the frame's clean end, errPartialLine when it ends mid-line.
func (r *Reader) readLine(limit int) ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err == nil {
		return line, nil
	}
	if !errors.Is(err, bufio.ErrBufferFull) {
		if errors.Is(err, io.EOF) && len(line) > 0 {
			return nil, errPartialLine
		}
		return nil, err
	}
	r.long = append(r.long[:0], line...)
	for {
		line, err = r.br.ReadSlice('\n')
		if len(r.long)+len(line) > cap(r.long) {
			// Double: append's growth of a large slice leaves five times
			// its size in garbage on the way to a long line.
			r.long = slices.Grow(r.long, max(len(r.long), len(line)))
		}
		r.long = append(r.long, line...)
		if len(r.long) > limit {
			return nil, errLineTooLong
		}
		switch {
		case err == nil:
			return r.long, nil
		case errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			return nil, errPartialLine
		default:
			return nil, err
		}
	}
}

// frameEnded handles the end of the current frame's text: its clean end,
// the cut of a torn frame, or a failure.
func (r *Reader) frameEnded(err error) error {
	f := r.idx.Frames[r.fi]
	if !f.Complete {
		return r.abrupt(fmt.Sprintf("the file ends inside frame %d", r.fi))
	}
	if !errors.Is(err, io.EOF) {
		if errors.Is(err, errPartialLine) || errors.Is(err, errLineTooLong) {
			return r.corrupt(err)
		}
		return r.corrupt(decompressError(err))
	}
	if r.headerPending {
		return r.corrupt(errors.New("the header frame holds no header line"))
	}
	// Hash whatever the decoder did not need to read (nothing, normally).
	if _, err := io.Copy(r.h, r.sec); err != nil {
		return r.corrupt(fmt.Errorf("read: %w", err))
	}
	r.h.Sum(r.chain[:0])
	if cp := f.Checkpoint; cp != nil {
		if err := r.checkFrame(cp); err != nil {
			return r.corrupt(err)
		}
	} else if r.rexec && r.fi < len(r.idx.Frames)-1 {
		return r.corrupt(errors.New("the frame has no checkpoint"))
	}
	r.textOff += r.frameText
	r.fi++
	r.active = false
	return nil
}

// checkFrame compares a checkpoint with the frame as decoded.
func (r *Reader) checkFrame(cp *Checkpoint) error {
	if got := hex.EncodeToString(r.chain[:]); got != cp.Chain {
		return fmt.Errorf("the frame's bytes hash to chain %s, the checkpoint says %s", got, cp.Chain)
	}
	type pair struct {
		what      string
		got, want int64
	}
	for _, p := range []pair{
		{"text offset", r.textOff, cp.TextOffset},
		{"text size", r.frameText, cp.TextSize},
		{"events", r.frameEvents, cp.Events},
		{"start time (µs)", r.frameTime0, int64(cp.TimeStart.Duration() / time.Microsecond)},
		{"end time (µs)", r.timeUs, int64(cp.TimeEnd.Duration() / time.Microsecond)},
	} {
		if p.got != p.want {
			return fmt.Errorf("the frame has %s %d, the checkpoint says %d", p.what, p.got, p.want)
		}
	}
	return nil
}

// end is reached after the last frame: check the trailer, or say why there
// is none.
func (r *Reader) end() error {
	if r.scanEr != nil {
		return r.scanEr
	}
	t := r.idx.Trailer
	if t == nil {
		if r.idx.Abrupt {
			return r.abrupt(r.idx.AbruptDetail)
		}
		if r.rexec {
			return r.abrupt("no trailer")
		}
		return io.EOF // plain asciicast: it has no trailer to miss
	}
	bad := func(format string, args ...any) error {
		return &CorruptError{Frame: -1, Offset: r.idx.TrailerOffset, Err: fmt.Errorf(format, args...)}
	}
	if got := hex.EncodeToString(r.chain[:]); t.Chain != got {
		return bad("trailer chain %s, the frames hash to %s", t.Chain, got)
	}
	if got := hex.EncodeToString(r.headerSum[:]); t.HeaderSHA256 != got {
		return bad("trailer header_sha256 %s, the header hashes to %s", t.HeaderSHA256, got)
	}
	if t.Frames != len(r.idx.Frames) {
		return bad("trailer says %d frames, the file has %d", t.Frames, len(r.idx.Frames))
	}
	if !r.seeked {
		if t.Events != r.events {
			return bad("trailer says %d events, the file has %d", t.Events, r.events)
		}
		if t.Bytes != r.bytes {
			return bad("trailer says stream bytes %+v, the file has %+v", t.Bytes, r.bytes)
		}
	}
	r.trailer = t
	return io.EOF
}

func (r *Reader) abrupt(detail string) error {
	return &AbruptError{At: time.Duration(r.timeUs) * time.Microsecond, Detail: detail}
}

func (r *Reader) corrupt(err error) error {
	f := r.idx.Frames[min(r.fi, len(r.idx.Frames)-1)]
	return &CorruptError{Frame: r.fi, Offset: f.Offset, Err: err}
}

// SeekFrame makes Next continue with the first event of data frame i
// (Index().Frames[i]; frame 0 is the header frame, so SeekFrame(0) starts
// over). Event times stay absolute: they start from the checkpoint's
// time_start. After a seek the trailer's event and byte totals, which cover
// the whole recording, are not checked; everything else still is.
func (r *Reader) SeekFrame(i int) error {
	fs := r.idx.Frames
	if i < 0 || i >= len(fs) {
		return fmt.Errorf("seek to frame %d: the recording has frames 0 to %d", i, len(fs)-1)
	}
	var timeUs, textOff int64
	chain := chainStart()
	switch {
	case i == 0:
	case fs[i-1].Checkpoint != nil:
		prev := fs[i-1].Checkpoint
		timeUs = int64(prev.TimeEnd.Duration() / time.Microsecond)
		textOff = prev.TextOffset + prev.TextSize
		b, err := hex.DecodeString(prev.Chain)
		if err != nil || len(b) != len(chain) {
			return fmt.Errorf("seek to frame %d: checkpoint %d has a bad chain", i, i-1)
		}
		copy(chain[:], b)
	default:
		return fmt.Errorf("seek to frame %d: the frame before it has no checkpoint", i)
	}
	if r.dec == nil {
		return ErrClosed
	}
	r.fi, r.active, r.headerPending = i, false, i == 0
	r.chain, r.timeUs, r.textOff = chain, timeUs, textOff
	r.events, r.bytes, r.seeked = 0, StreamBytes{}, true
	r.trailer, r.err = nil, nil
	return nil
}

// decompressError says why a frame did not decompress; a window larger
// than the reader takes is a file recompressed with other settings, and
// the message says how to make it readable.
func decompressError(err error) error {
	if errors.Is(err, zstd.ErrWindowSizeExceeded) {
		return fmt.Errorf("decompress: the zstd window is larger than %d MiB, the most a reader takes (recompress with zstd -19 or lower, without --long): %w", maxWindow>>20, err)
	}
	return fmt.Errorf("decompress: %w", err)
}
