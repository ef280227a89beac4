// Package webplayer owns the self-contained HTML page that
// `kubectl rexec export --format html` writes: one file that plays a
// recording in any browser with nothing installed and nothing fetched. The
// page embeds asciinema-player (vendored, pinned, with its licence, by
// hack/vendor-asciinema-player.sh), the session's output, resizes and
// command markers as JSON, and a small script of ours that adds the
// session's facts, a wall-clock UTC time, a speed control and the list of
// commands.
//
// A recording is untrusted input: everything taken from it goes into the
// page only inside two JSON blocks, encoded with <, >, & and the JavaScript
// line separators escaped, so no byte of it can end its script element;
// the page's script puts it into the document as text, never as HTML; and
// a Content-Security-Policy allows no script but the page's own two (by
// hash) and no network access at all.
package webplayer

import (
	"bufio"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

//go:embed asciinema-player/asciinema-player.min.js asciinema-player/asciinema-player.css asciinema-player/LICENSE asciinema-player/VERSION
//go:embed page/page.html page/page.js page/page.css
var assets embed.FS

// parts is the page cut around the data: prefix, the events, metaStart,
// the header and trailer, tail.
type parts struct {
	prefix, tail string
	err          error
}

const metaStart = "\n]</script>\n<script type=\"application/json\" id=\"rexec-meta\">"

var (
	partsOnce sync.Once
	built     parts
)

func asset(name string) string {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(fmt.Sprintf("webplayer: embedded %s: %v", name, err)) // a build defect
	}
	return string(b)
}

// PlayerVersion is the vendored asciinema-player release.
func PlayerVersion() string {
	v := asset("asciinema-player/VERSION")
	first, _, _ := strings.Cut(v, "\n")
	return strings.TrimPrefix(first, "asciinema-player ")
}

// scriptHash is the CSP source that allows exactly this inline script.
func scriptHash(js string) string {
	sum := sha256.Sum256([]byte(js))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

func buildParts() parts {
	playerJS := "\n" + asset("asciinema-player/asciinema-player.min.js") + "\n"
	pageJS := "\n" + asset("page/page.js") + "\n"
	for name, s := range map[string]string{"player script": playerJS, "page script": pageJS} {
		if strings.Contains(strings.ToLower(s), "</script") || strings.Contains(s, "<!--") {
			return parts{err: fmt.Errorf("webplayer: the %s holds </script or <!--, which would end or confuse its script element", name)}
		}
	}
	css := asset("asciinema-player/asciinema-player.css") + asset("page/page.css")
	if strings.Contains(strings.ToLower(css), "</style") {
		return parts{err: fmt.Errorf("webplayer: a stylesheet holds </style")}
	}
	// WebAssembly: the player's terminal emulator is compiled from bytes
	// held in its script, which CSP allows only with wasm-unsafe-eval.
	csp := "default-src 'none'; script-src " + scriptHash(playerJS) + " " + scriptHash(pageJS) +
		" 'wasm-unsafe-eval'; style-src 'unsafe-inline'; img-src data:; font-src data:; connect-src 'none';" +
		" base-uri 'none'; form-action 'none'"
	head := strings.NewReplacer(
		"{{CSP}}", html.EscapeString(csp),
		"{{PLAYER_CSS}}", asset("asciinema-player/asciinema-player.css"),
		"{{PAGE_CSS}}", asset("page/page.css"),
		"{{PLAYER_VERSION}}", html.EscapeString(PlayerVersion()),
		"{{PLAYER_LICENSE}}", html.EscapeString(asset("asciinema-player/LICENSE")),
	).Replace(asset("page/page.html"))
	tail := "</script>\n<script>" + playerJS + "</script>\n<script>" + pageJS + "</script>\n</body>\n</html>\n"
	return parts{prefix: head, tail: tail}
}

// Page writes one recording as an HTML page. Call Header, then Event for
// every event in order, then End. It streams: memory does not grow with the
// recording (the page does, as the output does).
type Page struct {
	w      *bufio.Writer
	header record.Header
	first  bool
	last   time.Duration
	pend   [2][]byte // o, e: the start of a UTF-8 character cut by the event's end
	buf    []byte
	tail   string
}

// New returns a Page writing to w.
func New(w io.Writer) *Page {
	return &Page{w: bufio.NewWriterSize(w, 64<<10), first: true}
}

// Header starts the page.
func (p *Page) Header(h record.Header) error {
	partsOnce.Do(func() { built = buildParts() })
	if built.err != nil {
		return built.err
	}
	p.header, p.tail = h, built.tail
	_, err := p.w.WriteString(built.prefix)
	return err
}

// Event adds one event: output (stdout and stderr, as one terminal would
// show them), resizes, markers and the exit status. What was typed is left
// out: the terminal's echo is in the output.
func (p *Page) Event(ev record.Event) error {
	switch ev.Code {
	case 'o', 'e':
		k := 0
		if ev.Code == 'e' {
			k = 1
		}
		// Hold back a character cut by the event's end: the page's strings
		// are text, and the stream's next event completes it.
		data := append(p.pend[k], ev.Data...)
		p.pend[k] = nil
		if n := cutTail(data); n > 0 {
			p.pend[k] = append([]byte(nil), data[len(data)-n:]...)
			data = data[:len(data)-n]
		}
		if len(data) == 0 {
			return nil
		}
		return p.line(ev.Time, "o", string(data))
	case 'r', 'm', 'x':
		return p.line(ev.Time, string(ev.Code), string(ev.Data))
	}
	return nil
}

// line writes [seconds, code, data] with data as JSON text: invalid UTF-8
// becomes U+FFFD, and <, >, & and U+2028/U+2029 are escaped, so that the
// recording can never close the script element it sits in.
func (p *Page) line(t time.Duration, code, data string) error {
	if t > p.last {
		p.last = t
	}
	s, err := json.Marshal(strings.ToValidUTF8(data, "\uFFFD"))
	if err != nil {
		return err
	}
	p.buf = p.buf[:0]
	if !p.first {
		p.buf = append(p.buf, ",\n"...)
	}
	p.first = false
	p.buf = append(p.buf, '[')
	p.buf = appendSeconds(p.buf, t)
	p.buf = append(p.buf, ",\""...)
	p.buf = append(p.buf, code...)
	p.buf = append(p.buf, "\","...)
	p.buf = append(p.buf, s...)
	p.buf = append(p.buf, ']')
	_, err = p.w.Write(p.buf)
	return err
}

// meta is the page's second JSON block: the header and how it ended.
type meta struct {
	Header  record.Header   `json:"header"`
	Trailer *record.Trailer `json:"trailer,omitempty"`
	Error   string          `json:"error,omitempty"`
}

// End finishes the page: tr is the trailer (nil for a recording cut off),
// readErr why reading stopped early, if it did.
func (p *Page) End(tr *record.Trailer, readErr error) error {
	for k, rest := range p.pend {
		if len(rest) > 0 {
			if err := p.line(p.last, "o", string(rest)); err != nil {
				return err
			}
			p.pend[k] = nil
		}
	}
	// The player's timeline ends at the last event: stretch it to the
	// session's end.
	if tr != nil && tr.Duration.Duration() > p.last {
		if err := p.line(tr.Duration.Duration(), "o", ""); err != nil {
			return err
		}
	}
	if p.first {
		// The player refuses a recording without events.
		if err := p.line(0, "o", ""); err != nil {
			return err
		}
	}
	m := meta{Header: p.header, Trailer: tr}
	if readErr != nil {
		m.Error = readErr.Error()
	}
	mb, err := json.Marshal(m) // escapes <, >, & and U+2028/U+2029
	if err != nil {
		return err
	}
	p.w.WriteString(metaStart)
	p.w.Write(mb)
	if _, err := p.w.WriteString(p.tail); err != nil {
		return err
	}
	return p.w.Flush()
}

// appendSeconds writes t as seconds with microseconds, exactly (no float).
func appendSeconds(dst []byte, t time.Duration) []byte {
	us := t.Microseconds()
	if us < 0 {
		us = 0
	}
	dst = strconv.AppendInt(dst, us/1e6, 10)
	dst = append(dst, '.')
	frac := strconv.FormatInt(us%1e6+1e6, 10)
	return append(dst, frac[1:]...)
}

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
