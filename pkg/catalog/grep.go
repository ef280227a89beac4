package catalog

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/source"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/termtext"
)

// Match is one line that matched, or a line of context around one.
type Match struct {
	Path string `json:"path"`
	// Time is when the hit appeared: the time its last character was
	// written (for a context line, the line's last character). A line
	// typed at a prompt can start long before what it shows is complete.
	Time time.Duration `json:"-"`
	// Offset is Time in seconds, rounded up to the millisecond so that
	// the screen `replay --from Offset` draws shows the hit.
	Offset record.Seconds `json:"offset"`
	// Stream is "o" (stdout, or the terminal), "e" (stderr) or "i" (typed).
	Stream string `json:"stream"`
	Line   string `json:"line"`
	// Context marks a line printed for --context, not a match.
	Context bool `json:"context,omitempty"`
	// Screen marks a row of a full-screen program's screen (vi, less,
	// top): it holds the hit since Time, but is not a line of output.
	Screen bool `json:"screen,omitempty"`
	// Seq numbers the lines of each stream (screen rows have none), so
	// that a printer can tell adjacent lines from a gap.
	Seq int64 `json:"-"`
}

// GrepOptions says what to search.
type GrepOptions struct {
	// Input searches what the user typed (lines as a line editor would
	// have them, after Backspace, ^U and the like) instead of the output.
	Input bool
	// Context is how many lines before and after each match to give too.
	Context int
}

// OffsetUp prints a session time as `replay --from` reads it, rounded up
// to the millisecond: the screen at that offset includes what happened at
// d. "0s", "2.501s", "1m2.003s".
func OffsetUp(d time.Duration) string { return Offset(CeilMillis(d)) }

// CeilMillis rounds d up to the millisecond.
func CeilMillis(d time.Duration) time.Duration {
	if r := d % time.Millisecond; r > 0 {
		d += time.Millisecond - r
	}
	return d
}

// Grep searches the recording at path for lines matching re and calls emit
// for each, in session order per stream. Output is searched line by line as
// a terminal showed it: escape sequences removed, carriage returns and
// backspaces applied. While a full-screen program runs (the alternate
// screen), its screen's rows are searched instead, and a row is reported
// when a hit appears in it. It reads the file as a stream: memory does not
// grow with the recording. A cut-off recording is searched to its end
// without error; a damaged one up to the damage, and the error says where.
func Grep(path string, re *regexp.Regexp, o GrepOptions, emit func(Match) error) error {
	r, err := source.Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	return GrepEvents(r, path, re, o, emit)
}

// EventReader is what GrepEvents reads: a recording (*record.Reader), or
// anything else that gives events in order and the header.
type EventReader interface {
	Next() (record.Event, error)
	Header() record.Header
}

// GrepEvents is Grep on events already opened; path is only what the
// matches say.
func GrepEvents(r EventReader, path string, re *regexp.Regexp, o GrepOptions, emit func(Match) error) error {
	g := &grepper{path: path, re: re, emit: emit, context: o.Context}
	stdout := g.lines("o")
	stderr := g.lines("e")
	seqIn := &streamLines{g: g, stream: "i"}
	// A typed line shows in full (echoed) once Enter is pressed.
	typed := &termtext.Input{Enter: func(l termtext.Line, _ bool) { seqIn.line(l.Text, l.End, nil) }}
	full := &fullScreen{g: g, cols: r.Header().Term.Cols, rows: r.Header().Term.Rows}
	stdout.Alt = full.switched
	var readErr error
	for g.err == nil {
		ev, err := r.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, record.ErrAbrupt) {
				readErr = err
			}
			break
		}
		switch {
		case o.Input && ev.Code == 'i':
			typed.Write(ev.Time, ev.Data)
		case !o.Input && ev.Code == 'o':
			stdout.Write(ev.Time, ev.Data)
			full.write(ev.Time, ev.Data)
		case !o.Input && ev.Code == 'e':
			stderr.Write(ev.Time, ev.Data)
		case ev.Code == 'r':
			full.resize(ev.Data)
		}
	}
	if g.err == nil {
		stdout.Flush()
		stderr.Flush()
		typed.Flush()
	}
	if g.err != nil {
		return g.err
	}
	return readErr
}

// grepper holds what the streams of one search share.
type grepper struct {
	path    string
	re      *regexp.Regexp
	emit    func(Match) error
	context int
	err     error
}

func (g *grepper) send(m Match) {
	if g.err == nil {
		m.Path, m.Offset = g.path, record.Seconds(CeilMillis(m.Time))
		g.err = g.emit(m)
	}
}

// lines returns the line model for an output stream; lines written while a
// full-screen program runs are left to fullScreen.
func (g *grepper) lines(stream string) *termtext.Lines {
	sl := &streamLines{g: g, stream: stream}
	l := &termtext.Lines{Times: true}
	l.Emit = func(ln termtext.Line) {
		if !l.AltScreen() {
			sl.line(ln.Text, ln.Time, ln.Times)
		}
	}
	return l
}

// streamLines matches one stream's lines and keeps the context around
// matches.
type streamLines struct {
	g      *grepper
	stream string
	seq    int64
	before []Match // the last lines, for context before the next match
	after  int     // lines still to give after the last match
}

func (s *streamLines) line(text string, start time.Duration, times []time.Duration) {
	s.seq++
	m := Match{Stream: s.stream, Line: text, Seq: s.seq, Time: lastTime(times, 0, len(times), start)}
	if loc := s.g.re.FindStringIndex(text); loc != nil {
		from := utf8.RuneCountInString(text[:loc[0]])
		to := from + utf8.RuneCountInString(text[loc[0]:loc[1]])
		m.Time = lastTime(times, from, to, start)
		for _, b := range s.before {
			s.g.send(b)
		}
		s.before = s.before[:0]
		s.g.send(m)
		s.after = s.g.context
		return
	}
	if s.g.context == 0 {
		return
	}
	m.Context = true
	if s.after > 0 {
		s.after--
		s.g.send(m)
		return
	}
	if len(s.before) == s.g.context {
		s.before = append(s.before[:0], s.before[1:]...)
	}
	s.before = append(s.before, m)
}

// lastTime is the latest of times[from:to] (to is the length of the hit;
// an empty hit is at its start), or dflt without times.
func lastTime(times []time.Duration, from, to int, dflt time.Duration) time.Duration {
	if len(times) == 0 {
		return dflt
	}
	from, to = min(from, len(times)-1), min(max(to, from+1), len(times))
	t := times[from]
	for _, x := range times[from:to] {
		t = max(t, x)
	}
	return t
}

// fullScreen searches the screen of a full-screen program: while the
// output is on the alternate screen, a screen model is kept and each row is
// checked when it changes. A row is reported when it holds a hit it did
// not hold before: typed text once it is complete, a value in top once
// and again only when it changes.
type fullScreen struct {
	g          *grepper
	cols, rows int
	scr        *termtext.Screen
	on         bool
	seen       []string // per row, the hits it held
}

func (f *fullScreen) switched(on bool, _ time.Duration) { f.on = on }

func (f *fullScreen) resize(data []byte) {
	var c, r int
	if n, _ := fmt.Sscanf(string(data), "%dx%d", &c, &r); n == 2 && c > 0 && r > 0 {
		f.cols, f.rows = c, r
		if f.scr != nil {
			f.scr.Resize(c, r)
			f.seen = resizeSeen(f.seen, r)
		}
	}
}

func resizeSeen(seen []string, rows int) []string {
	if len(seen) >= rows {
		return seen[:rows]
	}
	return append(seen, make([]string, rows-len(seen))...)
}

// write runs after the line model saw the same bytes (and so knows
// whether they switched screens).
func (f *fullScreen) write(t time.Duration, p []byte) {
	if f.scr == nil && !f.on {
		return
	}
	if f.scr == nil {
		// The program starts on a blank alternate screen: what came
		// before the switch in this write is the main screen's.
		if i := lastAltOn(p); i >= 0 {
			p = p[i:]
		}
		f.scr = termtext.NewScreen(f.cols, f.rows)
		_, rows := f.scr.Size()
		f.seen = make([]string, rows)
	}
	f.scr.Write(p)
	f.scr.Changed(func(y int, text string) {
		hits := strings.Join(f.g.re.FindAllString(text, -1), "\x00")
		if hits != "" && hits != f.seen[y] {
			f.g.send(Match{Stream: "o", Line: text, Time: t, Screen: true})
		}
		f.seen[y] = hits
	})
	if !f.on {
		f.scr, f.seen = nil, nil
	}
}

// lastAltOn is where the last switch to the alternate screen in p starts.
func lastAltOn(p []byte) int {
	i := -1
	for _, m := range []string{"\x1b[?1049h", "\x1b[?1047h", "\x1b[?47h"} {
		if j := strings.LastIndex(string(p), m); j > i {
			i = j
		}
	}
	return i
}
