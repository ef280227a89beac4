package catalog

import (
	"errors"
	"io"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/source"
)

// Info is everything `info` tells about a recording: the summary, and what
// reading every event found.
type Info struct {
	Entry
	// Events counts the events per code ("o", "e", "i", "r", "m", "x").
	Events map[string]int64 `json:"events"`
	// Bytes counts the stream bytes per stream ("o", "e", "i").
	Bytes record.StreamBytes `json:"bytes"`
	// LastEvent is the session time of the last event.
	LastEvent record.Seconds `json:"lastEvent"`
	// Markers are the marker events (command boundaries and the like).
	Markers []Marker `json:"markers,omitempty"`
	// Read says how reading to the end went: "" when every frame and the
	// trailer checked out, else the error.
	Read string `json:"readError,omitempty"`
}

// Marker is an 'm' event.
type Marker struct {
	Time  record.Seconds `json:"time"`
	Label string         `json:"label"`
}

// Inspect summarizes the recording at path and reads it to the end for the
// counts. A damaged or cut-off recording is reported in the Info, not as an
// error; the error is for a file that could not be opened at all, in which
// case the Info still holds its summary.
func Inspect(path string) (Info, error) {
	info := Info{Entry: Summarize(path), Events: map[string]int64{}}
	r, err := source.Open(path)
	if err != nil {
		return info, err
	}
	defer r.Close()
	var last time.Duration
	for {
		ev, err := r.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				info.Read = err.Error()
				if info.State == Complete {
					// The layout looked fine; the contents do not.
					info.State, info.Problem = classify(err), err.Error()
				}
			}
			break
		}
		last = ev.Time
		info.Events[string(ev.Code)]++
		switch ev.Code {
		case 'o':
			info.Bytes.O += int64(len(ev.Data))
		case 'e':
			info.Bytes.E += int64(len(ev.Data))
		case 'i':
			info.Bytes.I += int64(len(ev.Data))
		case 'm':
			info.Markers = append(info.Markers, Marker{Time: record.Seconds(ev.Time), Label: string(ev.Data)})
		}
	}
	info.LastEvent = record.Seconds(last)
	return info, nil
}

// Markers returns the recording's marker events (its commands, in a TTY
// session recorded with command marking). A cut-off recording gives the
// markers before the cut without error.
func Markers(path string) ([]Marker, error) {
	r, err := source.OpenSummary(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if im := r.Index().Markers; im != nil {
		// The index lists them: no event needs reading (a remote
		// recording is not downloaded for its commands).
		ms := make([]Marker, len(im))
		for i, m := range im {
			ms[i] = Marker{Time: record.Seconds(m.Time), Label: m.Label}
		}
		return ms, nil
	}
	var ms []Marker
	for {
		ev, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, record.ErrAbrupt) {
				return ms, nil
			}
			return ms, err
		}
		if ev.Code == 'm' {
			ms = append(ms, Marker{Time: record.Seconds(ev.Time), Label: string(ev.Data)})
		}
	}
}
