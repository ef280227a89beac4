package replay

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// Plain reads a plain (uncompressed) asciicast file, version 2 or 3, as
// asciinema writes it or `export` gives it, so that replay plays it like a
// recording. It satisfies Seekable: opening it reads it once to lay out
// "frames" of about plainFrame bytes with the time each ends at, which
// seeking uses as it uses a recording's checkpoints. Nothing in a plain
// file is checked: it has no hash chain, no checkpoints and no trailer.
type Plain struct {
	ra      io.ReaderAt
	size    int64
	version int
	header  record.Header
	idx     *record.Index
	markers []Marker
	lines   []int // the line number each frame starts at

	br   *bufio.Reader
	off  int64         // file offset of the next line
	line int           // number of the next line
	t    time.Duration // time of the last event read (v3 sums intervals)
	err  error
}

// plainFrame is the text a seek frame of a plain file holds (a variable
// for tests).
var plainFrame int64 = 256 << 10

const plainMaxLine = 64 << 20

// IsPlain tells whether the first bytes of a file are those of a plain
// asciicast file (a JSON object) rather than a zstd-compressed recording.
func IsPlain(head []byte) bool {
	head = bytes.TrimLeft(head, " \t\r\n\ufeff")
	return len(head) > 0 && head[0] == '{'
}

// OpenPlain reads the plain asciicast held by ra, size bytes long.
func OpenPlain(ra io.ReaderAt, size int64) (*Plain, error) {
	p := &Plain{ra: ra, size: size}
	if err := p.rewind(0, 0, 0); err != nil {
		return nil, err
	}
	first, err := p.readLine()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the file is empty", record.ErrNotRecording)
		}
		return nil, err
	}
	if err := p.parseHeader(first); err != nil {
		return nil, err
	}
	if err := p.layOut(); err != nil {
		return nil, err
	}
	return p, p.SeekFrame(0)
}

func (p *Plain) parseHeader(line []byte) error {
	var v struct {
		Version   int               `json:"version"`
		Width     int               `json:"width"`
		Height    int               `json:"height"`
		Term      *record.Term      `json:"term"`
		Timestamp int64             `json:"timestamp"`
		Command   string            `json:"command"`
		Title     string            `json:"title"`
		Env       map[string]string `json:"env"`
	}
	if err := json.Unmarshal(line, &v); err != nil || (v.Version != 2 && v.Version != 3) {
		return fmt.Errorf("%w: not a recording, nor an asciicast v2 or v3 file (its first line is no asciicast header)", record.ErrNotRecording)
	}
	h := record.Header{Version: v.Version, Timestamp: v.Timestamp, Command: v.Command, Title: v.Title, Env: v.Env}
	if v.Term != nil {
		h.Term = *v.Term
	} else {
		h.Term = record.Term{Cols: v.Width, Rows: v.Height, Type: v.Env["TERM"]}
	}
	p.version, p.header = v.Version, h
	return nil
}

// layOut reads the file once: frames for seeking, and the markers.
func (p *Plain) layOut() error {
	ix := &record.Index{Size: p.size}
	ix.Frames = append(ix.Frames, record.Frame{Offset: 0, Size: p.off, Complete: true,
		Checkpoint: &record.Checkpoint{Seq: 0, Size: p.off, TextSize: p.off}})
	p.lines = []int{0}
	start, events, t0, line := p.off, int64(0), p.t, p.line
	closeFrame := func() {
		if p.off > start {
			p.lines = append(p.lines, line)
			ix.Frames = append(ix.Frames, record.Frame{Offset: start, Size: p.off - start, Complete: true,
				Checkpoint: &record.Checkpoint{Seq: len(ix.Frames), Offset: start, Size: p.off - start, TextOffset: start,
					TextSize: p.off - start, TimeStart: record.Seconds(t0), TimeEnd: record.Seconds(p.t), Events: events}})
		}
		start, events, t0, line = p.off, 0, p.t, p.line
	}
	for {
		ev, err := p.Next()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, record.ErrAbrupt) {
				break
			}
			return err
		}
		events++
		if ev.Code == 'm' {
			p.markers = append(p.markers, Marker{Time: ev.Time, Label: string(ev.Data)})
		}
		if p.off-start >= plainFrame {
			closeFrame()
		}
	}
	closeFrame()
	p.idx = ix
	return nil
}

// rewind makes the next line read the one at off, line number n, with the
// time so far at t.
func (p *Plain) rewind(off int64, n int, t time.Duration) error {
	sec := io.NewSectionReader(p.ra, off, p.size-off)
	if p.br == nil {
		p.br = bufio.NewReaderSize(sec, 64<<10)
	} else {
		p.br.Reset(sec)
	}
	p.off, p.line, p.t, p.err = off, n, t, nil
	return nil
}

// readLine returns the next line without its newline; io.EOF at the end.
func (p *Plain) readLine() ([]byte, error) {
	var long []byte
	for {
		b, err := p.br.ReadSlice('\n')
		p.off += int64(len(b))
		switch {
		case err == nil:
			p.line++
			if long != nil {
				b = append(long, b...)
			}
			return bytes.TrimRight(b, "\r\n"), nil
		case errors.Is(err, bufio.ErrBufferFull):
			if len(long)+len(b) > plainMaxLine {
				return nil, fmt.Errorf("%w: line %d is longer than %d MiB", record.ErrCorrupt, p.line+1, plainMaxLine>>20)
			}
			long = append(long, b...)
		case errors.Is(err, io.EOF):
			b = append(long, b...)
			if len(bytes.TrimSpace(b)) == 0 {
				return nil, io.EOF
			}
			p.line++
			return b, nil // a last line without its newline
		default:
			return nil, err
		}
	}
}

// Next returns the next event; io.EOF at the end.
func (p *Plain) Next() (record.Event, error) {
	for p.err == nil {
		line, err := p.readLine()
		if err != nil {
			p.err = err
			break
		}
		if len(bytes.TrimSpace(line)) == 0 || line[0] == '#' {
			continue // blank lines and v3 comments
		}
		ev, ok, err := p.parse(line)
		if err != nil {
			if p.off >= p.size && !bytes.HasSuffix(bytes.TrimSpace(line), []byte("]")) {
				p.err = fmt.Errorf("%w: the last line is incomplete", record.ErrAbrupt)
			} else {
				p.err = fmt.Errorf("%w: line %d: %v", record.ErrCorrupt, p.line, err)
			}
			break
		}
		if ok {
			return ev, nil
		}
	}
	return record.Event{}, p.err
}

// parse reads one event line: [time, "code", "data"].
func (p *Plain) parse(line []byte) (record.Event, bool, error) {
	var parts []json.RawMessage
	if err := json.Unmarshal(line, &parts); err != nil || len(parts) != 3 {
		return record.Event{}, false, errors.New("not an event: [time, \"code\", \"data\"]")
	}
	secs, err := strconv.ParseFloat(string(parts[0]), 64)
	if err != nil || secs < 0 || math.IsInf(secs, 0) || secs > 1e9 {
		return record.Event{}, false, fmt.Errorf("bad time %s", parts[0])
	}
	var code, data string
	if json.Unmarshal(parts[1], &code) != nil || json.Unmarshal(parts[2], &data) != nil || code == "" {
		return record.Event{}, false, errors.New("the code and data must be strings")
	}
	d := time.Duration(math.Round(secs*1e6)) * time.Microsecond
	if p.version == 3 {
		p.t += d
	} else {
		p.t = max(p.t, d)
	}
	ev := record.Event{Time: p.t, Code: code[0], Data: []byte(data)}
	switch code {
	case "o", "e", "i", "r", "m", "x":
	case "O", "E", "I", "ob", "eb", "ib": // ours: bytes that are not UTF-8, base64 (docs/FORMAT.md 4.2)
		b, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			return ev, false, fmt.Errorf("bad base64 in a %q event", code)
		}
		ev.Code, ev.Data = code[0]|0x20, b // lower case
	case "H": // ours: typed input kept as its length only
		n, err := strconv.Atoi(data)
		if err != nil || n <= 0 {
			return ev, false, fmt.Errorf("bad byte count in an H event")
		}
		ev.Code, ev.Data, ev.Redacted = 'i', nil, n
	default:
		return ev, false, nil // an event this player does not show
	}
	return ev, true, nil
}

// Header returns the file's header as a recording header (v2's width,
// height and env.TERM in Term).
func (p *Plain) Header() record.Header { return p.header }

// Trailer is nil: a plain file has none.
func (p *Plain) Trailer() *record.Trailer { return nil }

// Index is the layout OpenPlain made.
func (p *Plain) Index() *record.Index { return p.idx }

// Markers are the file's marker events.
func (p *Plain) Markers() []Marker { return p.markers }

// SeekFrame makes Next continue with frame i's first event.
func (p *Plain) SeekFrame(i int) error {
	if i < 0 || i >= len(p.idx.Frames) {
		return fmt.Errorf("no frame %d", i)
	}
	if i == 0 {
		if err := p.rewind(0, 0, 0); err != nil {
			return err
		}
		_, err := p.readLine() // the header
		return err
	}
	prev := p.idx.Frames[i-1].Checkpoint.TimeEnd.Duration()
	return p.rewind(p.idx.Frames[i].Offset, p.lines[i], prev)
}
