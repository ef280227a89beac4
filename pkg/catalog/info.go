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
	if info.State == Complete {
		if err := checkDerived(r, info); err != nil {
			info.State, info.Problem = classify(err), err.Error()
		}
	}
	return info, nil
}

// checkDerived checks what the index at the end of a recording says (its
// copy of the checkpoints, its markers) against the recording, once every
// event has been read: info shows nothing that was not checked.
func checkDerived(r *record.Reader, info Info) error {
	if err := r.CheckIndex(); err != nil {
		return err
	}
	if info.indexMarkers == nil {
		return nil
	}
	same := len(info.indexMarkers) == len(info.Markers)
	for i := 0; same && i < len(info.Markers); i++ {
		m := info.indexMarkers[i]
		same = m.Label == info.Markers[i].Label && m.Time == info.Markers[i].Time.Duration()
	}
	if !same {
		return &record.CorruptError{Frame: -1, Offset: r.Index().TrailerOffset,
			Err: errors.New("the index's markers differ from the recording's marker events: the index at the end of the recording was altered")}
	}
	return nil
}

// Markers returns the recording's marker events (its commands, in a TTY
// session recorded with command marking), from the index at its end when it
// has one: what finding a command to jump to needs, without reading the
// events. A cut-off recording gives the markers before the cut without
// error.
func Markers(path string) ([]Marker, error) {
	ms, _, err := markers(path, true)
	return ms, err
}

// Commands returns the recording's marker events for a listing, and
// whether they were checked. A local recording's are read from its events,
// each frame checked against its checkpoint as it is decoded. A remote
// one's come from the index at its end when it has one, which is derived
// data nothing authenticates: checked is then false (reading them from the
// events would download the whole object; `verify` does).
func Commands(path string) (ms []Marker, checked bool, err error) {
	ms, fromIndex, err := markers(path, source.IsRemote(path))
	return ms, !fromIndex, err
}

func markers(path string, useIndex bool) ([]Marker, bool, error) {
	open := source.Open
	if useIndex {
		open = source.OpenSummary
	}
	r, err := open(path)
	if err != nil {
		return nil, false, err
	}
	defer r.Close()
	if im := r.Index().Markers; useIndex && im != nil {
		// The index lists them: no event needs reading (a remote
		// recording is not downloaded for its commands).
		ms := make([]Marker, len(im))
		for i, m := range im {
			ms[i] = Marker{Time: record.Seconds(m.Time), Label: m.Label}
		}
		return ms, true, nil
	}
	var ms []Marker
	for {
		ev, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, record.ErrAbrupt) {
				return ms, false, nil
			}
			return ms, false, err
		}
		if ev.Code == 'm' {
			ms = append(ms, Marker{Time: record.Seconds(ev.Time), Label: string(ev.Data)})
		}
	}
}
