// Package catalog finds, describes and searches recordings: the `ls`, `info`,
// `grep` and `export` commands are thin layers over it. Listing reads only
// what it needs of each file (the frame layout, the header frame and the
// trailer), never the events, so that a directory of thousands of recordings
// lists in a blink; a file that is not a recording, or is damaged, is listed
// with a state that says so and never stops the listing.
package catalog

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/source"
)

// Suffix ends every recording's file name.
const Suffix = source.Suffix

// State says what shape a recording file is in.
type State string

// The states a listed file can be in.
const (
	// Complete: closed properly, with its trailer. A listing reads the
	// layout and the trailer, not the frames: it is not a verification
	// (`kubectl rexec verify` is). For a local file the index it reads the
	// layout from is checked against the file's checkpoints.
	Complete State = "complete"
	// Abrupt: cut off (the recorder was killed, the disk filled up);
	// everything before the cut is readable.
	Abrupt State = "abrupt"
	// Corrupt: damaged or altered; what comes before the damage is readable.
	Corrupt State = "corrupt"
	// Unsupported: a newer format version than this build reads.
	Unsupported State = "unsupported"
	// Invalid: not a recording at all.
	Invalid State = "not-a-recording"
	// Unreadable: the file could not be read (permissions, I/O).
	Unreadable State = "unreadable"
)

// Entry describes one recording file.
type Entry struct {
	Path    string    `json:"path"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"modTime"`
	State   State     `json:"state"`
	// Problem says what is wrong for every state but Complete.
	Problem string `json:"problem,omitempty"`
	// Start is when the session began (the header's start, else its
	// timestamp; the file's modification time when there is no header).
	Start time.Time `json:"start"`
	// Duration is the session's length: the trailer's, or for a cut-off
	// recording the time of its last complete event.
	Duration record.Seconds `json:"duration"`
	// ExitCode is the remote command's exit status, nil when unknown.
	ExitCode *int            `json:"exitCode"`
	Frames   int             `json:"frames"`
	Header   *record.Header  `json:"header,omitempty"`
	Trailer  *record.Trailer `json:"trailer,omitempty"`

	// indexMarkers are the markers the index lists, for Inspect to check
	// against the events; nil when the layout was walked or lists none.
	indexMarkers []record.Marker
}

// User is the session's user name, "" when unknown.
func (e *Entry) User() string {
	if m := e.meta(); m != nil {
		return m.User.Username
	}
	return ""
}

// Context is the kubeconfig context the session used.
func (e *Entry) Context() string {
	if m := e.meta(); m != nil {
		return m.Context
	}
	return ""
}

// Namespace is the pod's namespace.
func (e *Entry) Namespace() string {
	if m := e.meta(); m != nil {
		return m.Namespace
	}
	return ""
}

// Pod is the pod's name.
func (e *Entry) Pod() string {
	if m := e.meta(); m != nil {
		return m.Pod
	}
	return ""
}

// Container is the container's name.
func (e *Entry) Container() string {
	if m := e.meta(); m != nil {
		return m.Container
	}
	return ""
}

// Command is the remote command as one line.
func (e *Entry) Command() string {
	if e.Header == nil {
		return ""
	}
	if m := e.meta(); m != nil && len(m.Argv) > 0 {
		return strings.Join(m.Argv, " ")
	}
	return e.Header.Command
}

func (e *Entry) meta() *record.Meta {
	if e.Header == nil {
		return nil
	}
	return e.Header.Rexec
}

// summaryText bounds the text a summary decodes: our writer's frames hold
// about 1 MiB of it, and a small file may decompress to gigabytes.
const summaryText = 4 << 20

// Summarize describes the recording at path from its layout, header and
// trailer. It decodes no event of a complete recording; for a cut-off one it
// decodes the last frame only, to learn when the last event happened, and
// no more than summaryText of it. It never fails: problems are in the
// entry's State and Problem.
func Summarize(path string) Entry {
	e := Entry{Path: path}
	fi, err := source.StatFile(path)
	if err != nil {
		e.State, e.Problem = Unreadable, err.Error()
		return e
	}
	e.Size, e.ModTime, e.Start = fi.Size, fi.ModTime, fi.ModTime
	r, err := source.OpenSummary(path)
	if err != nil {
		e.State, e.Problem = classify(err), strings.TrimPrefix(err.Error(), path+": ")
		return e
	}
	defer r.Close()
	h := r.Header()
	e.Header = &h
	e.Start = StartTime(h)
	ix := r.Index()
	e.Frames = len(ix.Frames)
	if ix.Trailer != nil {
		e.State = Complete
		e.Trailer = ix.Trailer
		e.Duration = ix.Trailer.Duration
		e.ExitCode = ix.Trailer.ExitCode
		e.indexMarkers = ix.Markers
		// The layout came from the index at the end, which nothing
		// authenticates: a local file's checkpoints are a few small
		// reads away, so check it against them (a remote one would cost
		// a request per frame; `verify` checks everything).
		if !source.IsRemote(path) {
			if err := r.CheckIndex(); err != nil {
				e.State, e.Problem = classify(err), err.Error()
			}
		}
		return e
	}
	// No trailer: a plain asciicast file (nothing to miss), a cut-off
	// recording, or one damaged before its end. Read the last frame for the
	// time of the last event (and the exit status, if it got that far).
	last := len(ix.Frames) - 1
	if last > 0 {
		if err := r.SeekFrame(last); err != nil {
			// The frame before has no checkpoint: read from the start.
			_ = r.SeekFrame(0)
		}
	}
	var at time.Duration
	r.LimitText(summaryText)
	for {
		ev, err := r.Next()
		if err == nil {
			at = ev.Time
			if ev.Code == 'x' {
				if c, ok := parseExit(ev.Data); ok {
					e.ExitCode = &c
				}
			}
			continue
		}
		e.Duration = record.Seconds(at)
		switch {
		case errors.Is(err, io.EOF):
			e.State = Complete // plain asciicast: its end is a clean end
		case errors.Is(err, record.ErrTextLimit):
			e.State = Complete
			if h.Rexec != nil {
				e.State = Abrupt // no trailer
			}
			e.Problem = fmt.Sprintf("not read to its end for the listing: its last frame holds more than %d MiB of text, and the duration is that of the last event read (info reads it all)", summaryText>>20)
		default:
			e.State, e.Problem = classify(err), err.Error()
		}
		return e
	}
}

func parseExit(b []byte) (int, bool) {
	var c int
	if _, err := fmt.Sscanf(string(b), "%d", &c); err != nil {
		return 0, false
	}
	return c, true
}

// classify maps a reader error to a state.
func classify(err error) State {
	switch {
	case errors.Is(err, record.ErrAbrupt):
		return Abrupt
	case errors.Is(err, record.ErrCorrupt):
		return Corrupt
	case errors.Is(err, record.ErrUnsupportedVersion):
		return Unsupported
	case errors.Is(err, record.ErrNotRecording):
		return Invalid
	}
	return Unreadable
}

// StartTime is when the session in h began.
func StartTime(h record.Header) time.Time {
	if h.Rexec != nil && !h.Rexec.Start.IsZero() {
		return h.Rexec.Start
	}
	return time.Unix(h.Timestamp, 0)
}

// Files expands the arguments into recording files: a directory gives the
// *.cast.zst files directly in it, an s3:// prefix every recording under
// it, a file is taken as it is. Missing
// arguments are an error; a directory with no recording is not.
func Files(args []string) ([]string, error) { return source.Expand(args) }

// List summarizes the files, several at a time, and returns the entries
// sorted by start time (then path).
func List(files []string) []Entry {
	entries := make([]Entry, len(files))
	workers := min(len(files), max(4, 2*runtime.GOMAXPROCS(0)))
	if len(files) > 0 && source.IsRemote(files[0]) {
		// Each remote summary is a few round trips of waiting, not work.
		workers = min(len(files), 32)
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				entries[i] = Summarize(files[i])
			}
		})
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	sort.SliceStable(entries, func(i, j int) bool {
		if !entries[i].Start.Equal(entries[j].Start) {
			return entries[i].Start.Before(entries[j].Start)
		}
		return entries[i].Path < entries[j].Path
	})
	return entries
}

// Filter selects entries. Empty fields select everything. User, Pod and
// Namespace match exactly, or as a shell pattern when they hold *, ? or [.
// Since and Until bound the start time (inclusive).
type Filter struct {
	User, Pod, Namespace string
	Since, Until         time.Time
}

// Match tells whether e passes the filter. An entry without a header (not a
// recording, unreadable) matches only filters on time, by its file time.
func (f Filter) Match(e *Entry) bool {
	if !f.Since.IsZero() && e.Start.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && e.Start.After(f.Until) {
		return false
	}
	return match(f.User, e.User(), e.Header != nil) &&
		match(f.Pod, e.Pod(), e.Header != nil) &&
		match(f.Namespace, e.Namespace(), e.Header != nil)
}

func match(pattern, value string, known bool) bool {
	if pattern == "" {
		return true
	}
	if !known {
		return false
	}
	if strings.ContainsAny(pattern, "*?[") {
		ok, err := filepath.Match(pattern, value)
		return err == nil && ok
	}
	return pattern == value
}

// ParseTime reads a --since/--until value: a duration back from now
// ("2h", "90m", "7d" for days), an RFC 3339 time, or a date or date and
// time in local time ("2026-11-27", "2026-11-27 06:15", "2026-11-27T06:15:00").
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		var n float64
		if _, err := fmt.Sscanf(d, "%g", &n); err == nil && n >= 0 {
			return now.Add(-time.Duration(n * 24 * float64(time.Hour))), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			d = -d
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, now.Location()); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (2h, 3d), an RFC 3339 time nor a date (2006-01-02[ 15:04[:05]])", s)
}
