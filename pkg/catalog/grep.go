package catalog

import (
	"errors"
	"io"
	"regexp"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/source"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/termtext"
)

// Match is one line that matched.
type Match struct {
	Path string `json:"path"`
	// Time is the session time the line began to be written (or typed).
	Time time.Duration `json:"-"`
	// Offset is Time as `replay --from` takes it.
	Offset string `json:"offset"`
	// Stream is "o" (stdout, or the terminal), "e" (stderr) or "i" (typed).
	Stream string `json:"stream"`
	Line   string `json:"line"`
}

// GrepOptions says what to search.
type GrepOptions struct {
	// Input searches what the user typed (lines as a line editor would
	// have them, after Backspace, ^U and the like) instead of the output.
	Input bool
}

// Grep searches the recording at path for lines matching re and calls emit
// for each, in session order per stream. Output is searched line by line as
// a terminal showed it: escape sequences removed, carriage returns and
// backspaces applied. It reads the file as a stream: memory does not grow
// with the recording. A cut-off recording is searched to its end without
// error; a damaged one up to the damage, and the error says where.
func Grep(path string, re *regexp.Regexp, o GrepOptions, emit func(Match) error) error {
	r, err := source.Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	var emitErr error
	out := func(stream string) func(termtext.Line) {
		return func(l termtext.Line) {
			if emitErr == nil && re.MatchString(l.Text) {
				emitErr = emit(Match{Path: path, Time: l.Time, Offset: Offset(l.Time), Stream: stream, Line: l.Text})
			}
		}
	}
	stdout := &termtext.Lines{Emit: out("o")}
	stderr := &termtext.Lines{Emit: out("e")}
	typed := &termtext.Input{Enter: func(l termtext.Line, _ bool) { out("i")(l) }}
	var readErr error
	for emitErr == nil {
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
		case !o.Input && ev.Code == 'e':
			stderr.Write(ev.Time, ev.Data)
		}
	}
	if emitErr == nil {
		stdout.Flush()
		stderr.Flush()
		typed.Flush()
	}
	if emitErr != nil {
		return emitErr
	}
	return readErr
}
