package catalog

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/source"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/termtext"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/webplayer"
)

// Export formats.
const (
	// FormatV3 is the recording's own asciicast v3 text, byte for byte
	// what `zstd -dc` gives (lossless; asciinema 3.x plays it).
	FormatV3 = "asciicast-v3"
	// FormatV2 is asciicast v2 for asciinema 2.x: absolute times, stderr
	// folded into "o", bytes that are not UTF-8 replaced by U+FFFD.
	FormatV2 = "asciicast-v2"
	// FormatText is the transcript as lines of text: what the terminal
	// showed line by line, escape sequences removed, carriage returns and
	// backspaces applied; a full-screen program's screens are left out, and
	// a line in brackets says when one ran.
	FormatText = "txt"
	// FormatJSON is the header, the trailer and every event as JSON.
	FormatJSON = "json"
	// FormatHTML is one self-contained web page that plays the session
	// (pkg/webplayer).
	FormatHTML = "html"
)

// Formats lists the export formats (the final screen is the player's:
// `replay --from end`).
var Formats = []string{FormatV3, FormatV2, FormatText, FormatJSON, FormatHTML}

// ExportOptions tunes Export.
type ExportOptions struct {
	// Progress, when set, is called now and then with the session time
	// reached.
	Progress func(at time.Duration)
}

// Export writes the recording at path to w in format. It streams: memory
// does not grow with the recording. A cut-off recording is exported up to
// the cut and the error matches record.ErrAbrupt (what was written is
// valid and complete up to there); a damaged one up to the damage.
func Export(path string, w io.Writer, format string, o ExportOptions) error {
	if format == FormatV3 {
		err := exportV3(path, w)
		if err == nil || errors.Is(err, record.ErrAbrupt) {
			// The text was copied without decoding events, so nothing has
			// checked it yet: an altered recording must not export as if
			// it were intact.
			if cerr := checkChain(path); cerr != nil {
				return cerr
			}
		}
		return err
	}
	r, err := source.Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	bw := bufio.NewWriterSize(w, 64<<10)
	var e exporter
	switch format {
	case FormatV2:
		e = &v2Exporter{w: bw}
	case FormatText, "text":
		e = newTextExporter(bw)
	case FormatJSON:
		e = &jsonExporter{w: bw}
	case FormatHTML:
		e = htmlExporter{webplayer.New(bw)}
	default:
		return fmt.Errorf("unknown export format %q (one of %s)", format, strings.Join(Formats, ", "))
	}
	if err := e.header(r.Header()); err != nil {
		return err
	}
	var readErr error
	last := time.Now()
	for {
		ev, err := r.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		if err := e.event(ev); err != nil {
			return err
		}
		if o.Progress != nil && time.Since(last) > 100*time.Millisecond {
			last = time.Now()
			o.Progress(ev.Time)
		}
	}
	if err := e.end(r.Trailer(), readErr); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return readErr
}

type exporter interface {
	header(record.Header) error
	event(record.Event) error
	end(*record.Trailer, error) error
}

// htmlExporter writes the web page.
type htmlExporter struct{ p *webplayer.Page }

func (x htmlExporter) header(h record.Header) error               { return x.p.Header(h) }
func (x htmlExporter) event(ev record.Event) error                { return x.p.Event(ev) }
func (x htmlExporter) end(t *record.Trailer, readErr error) error { return x.p.End(t, readErr) }

// v2Exporter writes asciicast v2.
type v2Exporter struct {
	w    *bufio.Writer
	pend [2][]byte // per stream (o, i): the start of a UTF-8 sequence cut by the event's end
	buf  []byte
}

func (x *v2Exporter) header(h record.Header) error {
	v2 := map[string]any{"version": 2, "width": h.Term.Cols, "height": h.Term.Rows, "timestamp": h.Timestamp}
	if h.Command != "" {
		v2["command"] = h.Command
	}
	if h.Title != "" {
		v2["title"] = h.Title
	} else if m := h.Rexec; m != nil {
		v2["title"] = m.Namespace + "/" + m.Pod + "/" + m.Container
	}
	env := map[string]string{}
	for k, v := range h.Env {
		env[k] = v
	}
	if h.Term.Type != "" {
		env["TERM"] = h.Term.Type
	}
	if len(env) > 0 {
		v2["env"] = env
	}
	b, err := json.Marshal(v2)
	if err != nil {
		return err
	}
	_, err = x.w.Write(append(b, '\n'))
	return err
}

func (x *v2Exporter) event(ev record.Event) error {
	var code string
	var k int
	switch ev.Code {
	case 'o', 'e':
		code, k = "o", 0
	case 'i':
		code, k = "i", 1
	case 'r', 'm':
		code = string(ev.Code)
	default:
		return nil
	}
	data := ev.Data
	if code == "o" || code == "i" {
		// Hold back a character cut by the event's end: v2 strings are
		// text, and the next event of the stream completes it.
		data = append(x.pend[k], data...)
		x.pend[k] = nil
		if n := cutTail(data); n > 0 {
			x.pend[k] = append([]byte(nil), data[len(data)-n:]...)
			data = data[:len(data)-n]
		}
		if len(data) == 0 {
			return nil
		}
	}
	return x.line(ev.Time, code, data)
}

func (x *v2Exporter) line(t time.Duration, code string, data []byte) error {
	x.buf = append(x.buf[:0], '[')
	x.buf = strconv.AppendFloat(x.buf, t.Seconds(), 'f', 6, 64)
	x.buf = append(x.buf, ", \""...)
	x.buf = append(x.buf, code...)
	x.buf = append(x.buf, "\", "...)
	s, _ := json.Marshal(strings.ToValidUTF8(string(data), "\uFFFD"))
	x.buf = append(x.buf, s...)
	x.buf = append(x.buf, "]\n"...)
	_, err := x.w.Write(x.buf)
	return err
}

func (x *v2Exporter) end(*record.Trailer, error) error { return nil }

// cutTail returns how many bytes at the end of b start a UTF-8 character
// that is not complete (0 to 3).
func cutTail(b []byte) int {
	for n := 1; n <= 3 && n <= len(b); n++ {
		c := b[len(b)-n]
		if c < 0x80 {
			return 0
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[len(b)-n:]) {
				return n
			}
			return 0
		}
	}
	return 0
}

// textExporter writes the transcript.
type textExporter struct {
	w     *bufio.Writer
	lines termtext.Lines
	err   error
	alt   time.Duration // when the full-screen program in progress began
}

func newTextExporter(w *bufio.Writer) *textExporter {
	x := &textExporter{w: w}
	x.lines.Emit = func(l termtext.Line) {
		if x.err == nil && !x.lines.AltScreen() {
			_, x.err = x.w.WriteString(l.Text + "\n")
		}
	}
	// A full-screen program's screens are not lines: say where one ran,
	// so that the transcript never hides a gap.
	x.lines.Alt = func(on bool, t time.Duration) {
		if on {
			x.alt = t
		} else {
			x.fullScreen(Offset(t))
		}
	}
	return x
}

func (x *textExporter) fullScreen(end string) {
	if x.err == nil {
		_, x.err = fmt.Fprintf(x.w, "[full-screen program from %s to %s, not in this transcript: replay --from %s]\n", Offset(x.alt), end, OffsetUp(x.alt))
	}
}

func (x *textExporter) header(record.Header) error { return nil }

func (x *textExporter) event(ev record.Event) error {
	if ev.Code == 'o' || ev.Code == 'e' {
		x.lines.Write(ev.Time, ev.Data)
	}
	return x.err
}

func (x *textExporter) end(*record.Trailer, error) error {
	x.lines.Flush()
	if x.lines.AltScreen() {
		x.fullScreen("the end")
	}
	return x.err
}

// jsonExporter writes {"header":..., "events":[...], "trailer":..., "error":...}.
type jsonExporter struct {
	w     *bufio.Writer
	first bool
}

type jsonEvent struct {
	// Time is in seconds to the microsecond, as the recording has it
	// (a float64 would print 1.719183 as 1.7191830000000001).
	Time   record.Seconds `json:"time"`
	Code   string         `json:"code"`
	Data   string         `json:"data"`
	Base64 bool           `json:"base64,omitempty"`
	// Redacted is, for input kept as its length only, that length.
	Redacted int `json:"redacted,omitempty"`
}

func (x *jsonExporter) header(h record.Header) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	x.first = true
	_, err = fmt.Fprintf(x.w, "{\"header\":%s,\n\"events\":[", b)
	return err
}

func (x *jsonExporter) event(ev record.Event) error {
	je := jsonEvent{Time: record.Seconds(ev.Time), Code: string(ev.Code), Data: string(ev.Data), Redacted: ev.Redacted}
	if !utf8.Valid(ev.Data) {
		je.Data, je.Base64 = base64.StdEncoding.EncodeToString(ev.Data), true
	}
	b, err := json.Marshal(je)
	if err != nil {
		return err
	}
	if !x.first {
		x.w.WriteString(",")
	}
	x.first = false
	x.w.WriteString("\n")
	_, err = x.w.Write(b)
	return err
}

func (x *jsonExporter) end(t *record.Trailer, readErr error) error {
	tb, err := json.Marshal(t)
	if err != nil {
		return err
	}
	x.w.WriteString("\n],\n\"trailer\":")
	x.w.Write(tb)
	if readErr != nil {
		eb, _ := json.Marshal(readErr.Error())
		x.w.WriteString(",\n\"error\":")
		x.w.Write(eb)
	}
	_, err = x.w.WriteString("}\n")
	return err
}

// exportV3 decompresses the data frames: the recording's own text. Only
// complete lines are written; a cut-off recording ends at its last one. The
// line being read is held until its newline, so memory is bounded by the
// longest line a reader takes (record.MaxLine), and time is linear.
func exportV3(path string, w io.Writer) error {
	r, err := source.Open(path) // checks that it is a recording at all
	if err != nil {
		return err
	}
	r.Close()
	f, err := source.OpenFile(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dec, err := zstd.NewReader(bufio.NewReaderSize(io.NewSectionReader(f, 0, f.Size()), 256<<10),
		zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(8<<20))
	if err != nil {
		return err
	}
	defer dec.Close()
	buf := make([]byte, 256<<10)
	var (
		carry []byte // the start of a line whose newline has not come yet
		off   int64  // text offset of carry
	)
	for {
		n, rerr := dec.Read(buf)
		chunk := buf[:n]
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			if len(carry) > 0 {
				if _, err := w.Write(carry); err != nil {
					return err
				}
				off += int64(len(carry))
				carry = carry[:0]
			}
			if _, err := w.Write(chunk[:i+1]); err != nil {
				return err
			}
			off += int64(i + 1)
			chunk = chunk[i+1:]
		}
		if len(carry)+len(chunk) > cap(carry) {
			// Double: the usual growth of a large slice copies it 5 times over.
			carry = append(make([]byte, 0, max(2*cap(carry), len(carry)+len(chunk))), carry...)
		}
		carry = append(carry, chunk...)
		if len(carry) > record.MaxLine {
			return fmt.Errorf("%w: the event line at text offset %d is longer than %d MiB, the most a reader takes", record.ErrCorrupt, off, record.MaxLine>>20)
		}
		if rerr == io.EOF {
			if len(carry) > 0 {
				return fmt.Errorf("%w: the last line is incomplete", record.ErrAbrupt)
			}
			return nil
		}
		if rerr != nil {
			if errors.Is(rerr, io.ErrUnexpectedEOF) {
				return fmt.Errorf("%w: the file ends inside a frame", record.ErrAbrupt)
			}
			return fmt.Errorf("decompress: %w", rerr)
		}
	}
}

// checkChain checks the hash chain of the recording at path against its
// checkpoints and trailer (record.Index.VerifyChain): for the export that
// copies the text without decoding events. A remote recording is laid out
// from its index; a local one is walked.
func checkChain(path string) error {
	f, err := source.OpenFile(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var ix *record.Index
	if source.IsRemote(path) {
		ix, err = record.ReadIndex(f, f.Size())
	}
	if ix == nil {
		ix, err = record.Scan(f, f.Size())
	}
	if err != nil {
		return err
	}
	return ix.VerifyChain(f)
}
