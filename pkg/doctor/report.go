package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Status is the outcome of a check or a step.
type Status string

// The statuses, from best to worst. A skipped check did not run because an
// earlier hop failed or it was not asked for; it never fails a report.
const (
	StatusOK   Status = "ok"
	StatusSkip Status = "skipped"
	StatusWarn Status = "warn"
	StatusFail Status = "fail"
)

// Mark is the status's one-character sign in the text report.
func (s Status) Mark() string {
	switch s {
	case StatusOK:
		return "✓"
	case StatusWarn:
		return "!"
	case StatusFail:
		return "✗"
	}
	return "-"
}

func (s Status) rank() int {
	switch s {
	case StatusOK:
		return 0
	case StatusSkip:
		return 1
	case StatusWarn:
		return 2
	case StatusFail:
		return 3
	}
	return 0
}

// worse returns the worse of a and b.
func worse(a, b Status) Status {
	if b.rank() > a.rank() {
		return b
	}
	return a
}

// Millis is a duration that JSON shows in milliseconds.
type Millis time.Duration

// MarshalJSON writes the duration as milliseconds with microsecond precision.
func (m Millis) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(time.Duration(m).Microseconds())/1000, 'f', -1, 64)), nil
}

// UnmarshalJSON reads milliseconds back.
func (m *Millis) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("milliseconds: %w", err)
	}
	*m = Millis(time.Duration(f * float64(time.Millisecond)))
	return nil
}

// String renders the duration rounded for people.
func (m Millis) String() string { return roundDuration(time.Duration(m)).String() }

func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// Check is one thing looked at, e.g. the TLS handshake or the SPDY upgrade.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Took   Millis `json:"tookMs"`
	// Detail is one line of what was found.
	Detail string `json:"detail"`
	// Hint says what to look at, when the check did not pass.
	Hint string `json:"hint,omitempty"`
	// Hop names the part of the path a failure points at.
	Hop string `json:"hop,omitempty"`
	// Data holds the check's findings for machines (-o json).
	Data map[string]any `json:"data,omitempty"`
}

// Step is one numbered stage of the walk: a few checks of one hop.
type Step struct {
	Number int     `json:"number"`
	Name   string  `json:"name"`
	Title  string  `json:"title"`
	Status Status  `json:"status"`
	Took   Millis  `json:"tookMs"`
	Checks []Check `json:"checks"`
}

// failed returns the step's first failing check, or nil.
func (s *Step) failed() *Check {
	for i := range s.Checks {
		if s.Checks[i].Status == StatusFail {
			return &s.Checks[i]
		}
	}
	return nil
}

// Broken names the first failing check of a report.
type Broken struct {
	Step  string `json:"step"`
	Check string `json:"check"`
	Hop   string `json:"hop"`
	Hint  string `json:"hint,omitempty"`
}

// Report is everything doctor found.
type Report struct {
	Context   string `json:"context,omitempty"`
	Cluster   string `json:"cluster,omitempty"`
	Server    string `json:"server,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	// Target is the POD or TYPE/NAME asked for; Pod and Container what it
	// resolved to.
	Target    string `json:"target"`
	Pod       string `json:"pod,omitempty"`
	Container string `json:"container,omitempty"`
	// Protocol is what a rexec session would use, e.g.
	// "v5.channel.k8s.io (websocket)", empty when no upgrade worked.
	Protocol string `json:"protocol,omitempty"`
	Steps    []Step `json:"steps"`
	// OK is true when no check failed; warnings are allowed.
	OK       bool    `json:"ok"`
	Warnings int     `json:"warnings"`
	Broken   *Broken `json:"firstBroken,omitempty"`
	Summary  string  `json:"summary"`
	Took     Millis  `json:"tookMs"`
}

// ExitCode is 0 when no check failed and 1 otherwise.
func (r *Report) ExitCode() int {
	if r.OK {
		return 0
	}
	return 1
}

// finish computes the verdict and the summary line.
func (r *Report) finish() {
	r.OK, r.Warnings, r.Broken = true, 0, nil
	for i := range r.Steps {
		s := &r.Steps[i]
		for _, c := range s.Checks {
			if c.Status == StatusWarn {
				r.Warnings++
			}
		}
		if c := s.failed(); c != nil && r.Broken == nil {
			r.OK = false
			r.Broken = &Broken{Step: s.Title, Check: c.Name, Hop: c.Hop, Hint: c.Hint}
		}
	}
	where := r.Target
	if r.Pod != "" {
		where = "pod " + r.Namespace + "/" + r.Pod
		if r.Container != "" {
			where += " container " + r.Container
		}
	}
	warn := ""
	switch r.Warnings {
	case 0:
	case 1:
		warn = " (1 warning)"
	default:
		warn = fmt.Sprintf(" (%d warnings)", r.Warnings)
	}
	if r.OK {
		r.Summary = fmt.Sprintf("all checks passed%s: exec into %s works", warn, where)
		if r.Protocol != "" {
			r.Summary += " over " + r.Protocol
		}
		return
	}
	b := r.Broken
	hop := b.Hop
	if hop == "" {
		hop = b.Step
	}
	r.Summary = fmt.Sprintf("first broken hop: %s (step %q, check %q)", hop, b.Step, b.Check)
	if b.Hint != "" {
		r.Summary += ": " + b.Hint
	}
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the whole report as text: every step, then the summary.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	for i := range r.Steps {
		r.Steps[i].writeText(&b)
	}
	r.writeSummary(&b)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteStepText writes one step as text, for printing steps as they finish.
func WriteStepText(w io.Writer, s Step) error {
	var b strings.Builder
	s.writeText(&b)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteSummaryText writes the closing summary line.
func (r *Report) WriteSummaryText(w io.Writer) error {
	var b strings.Builder
	r.writeSummary(&b)
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) writeSummary(b *strings.Builder) {
	mark := StatusOK.Mark()
	if !r.OK {
		mark = StatusFail.Mark()
	}
	fmt.Fprintf(b, "%s %s [%v]\n", mark, r.Summary, r.Took)
}

func (s *Step) writeText(b *strings.Builder) {
	fmt.Fprintf(b, "%s %d. %s [%v]\n", s.Status.Mark(), s.Number, s.Title, s.Took)
	width := 0
	for _, c := range s.Checks {
		width = max(width, len(c.Name))
	}
	for _, c := range s.Checks {
		took := ""
		if c.Took > 0 {
			took = fmt.Sprintf(" [%v]", c.Took)
		}
		fmt.Fprintf(b, "   %s %-*s  %s%s\n", c.Status.Mark(), width, c.Name, oneLine(c.Detail), took)
		if c.Hint != "" && (c.Status == StatusFail || c.Status == StatusWarn) {
			fmt.Fprintf(b, "     %*s  hint: %s\n", width, "", oneLine(c.Hint))
		}
	}
}

// oneLine keeps a message on one line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}
