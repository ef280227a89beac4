package session

import (
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/termtext"
)

// chapters marks each command of a TTY session with a marker event, so that
// players can list commands and jump to them (`replay --commands`). It reads
// both directions of the stream:
//
//   - When the remote shell emits OSC 133 semantic prompt marks (many shells
//     do with shell integration), the marker goes where the shell says the
//     command starts executing (133;C).
//   - Otherwise, when Enter is sent: the label is the line as typed, with
//     line editing (Backspace, ^U, ^W, arrows) applied.
//
// A line whose keys cannot be reconstructed alone (Tab completion, history
// recall) is labelled from the terminal's echo instead. Nothing is marked
// while a full-screen program runs (alternate screen), for an empty line,
// or for a line typed at a password prompt.
type chapters struct {
	mu     sync.Mutex
	marker func(label string) error
	in     termtext.Input
	out    termtext.Lines

	inFull  bool   // keys were sent while a full-screen program ran
	osc133  bool   // the shell emits OSC 133 marks: they place the markers
	pending string // the last line entered, for the next 133;C
	prompt  string // the output line as it stood when the typed line began
	promptB string // the output line at 133;B (end of prompt)
	echoB   string // the command as echoed after 133;B
}

// maxLabel bounds a marker's label.
const maxLabel = 1024

// passwordPrompt matches prompts after which typed text is a secret.
var passwordPrompt = regexp.MustCompile(`(?i)(password|passphrase|passcode|pin|token|secret|otp)[^:]*:\s*$`)

func newChapters(marker func(string) error) *chapters {
	c := &chapters{marker: marker}
	c.in.Enter = c.enter
	c.out.OSC = c.osc
	// Finished output lines matter only between OSC 133;B and 133;C (see
	// osc); the rest of the time no line's text is built at all.
	return c
}

// input wraps the recording of stdin: what was typed is recorded, then read.
func (c *chapters) input(record recordFunc) recordFunc {
	if c == nil {
		return record
	}
	return func(p []byte) error {
		if err := record(p); err != nil {
			return err
		}
		c.typed(p)
		return nil
	}
}

// typed reads keys sent to the terminal.
func (c *chapters) typed(p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Note the prompt when a new line starts, for echo and password
	// checks; feed key by key so that several lines in one read each
	// see their own prompt.
	for i := 0; i < len(p); i++ {
		// Keys sent to a full-screen program are its own, even when it
		// leaves without an Enter (q in top or less): they are not the
		// start of the next command line.
		if c.out.AltScreen() {
			c.inFull = true
			continue
		}
		if c.inFull {
			c.in.Reset()
			c.inFull = false
		}
		if !c.in.Pending() {
			c.prompt = c.out.Current()
		}
		c.in.Write(0, p[i:i+1])
	}
}

// secret notes keys that were typed but not recorded (the echo gate kept
// only their count): the line's label then comes from its echo.
func (c *chapters) secret() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.in.Pending() {
		c.prompt = c.out.Current()
	}
	c.in.MarkUncertain()
}

// output wraps the recording of the terminal's output.
func (c *chapters) output(record recordFunc) recordFunc {
	if c == nil {
		return record
	}
	return func(p []byte) error {
		if err := record(p); err != nil {
			return err
		}
		c.shown(p)
		return nil
	}
}

// shown reads the terminal's output.
func (c *chapters) shown(p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out.Write(0, p)
}

// enter is called (under mu) for every line ended by Enter.
func (c *chapters) enter(l termtext.Line, uncertain bool) {
	if c.out.AltScreen() || passwordPrompt.MatchString(c.prompt) {
		return
	}
	label := strings.TrimSpace(l.Text)
	if uncertain {
		// The echo holds what completion or history put on the line.
		if cur := c.out.Current(); strings.HasPrefix(cur, c.prompt) {
			if echo := strings.TrimSpace(cur[len(c.prompt):]); echo != "" {
				label = echo
			}
		}
	}
	if label == "" {
		return
	}
	if c.osc133 {
		c.pending = label
		return
	}
	c.mark(label)
}

// osc is called (under mu) for every OSC sequence in the output.
func (c *chapters) osc(payload []byte, _ time.Duration) {
	rest, ok := strings.CutPrefix(string(payload), "133;")
	if !ok || rest == "" {
		return
	}
	c.osc133 = true
	switch rest[0] {
	case 'A': // prompt starts: a new command line
		c.pending, c.echoB, c.promptB = "", "", ""
		c.out.Emit = nil
	case 'B': // prompt ends: what follows on the line is the command
		c.promptB, c.echoB = c.out.Current(), ""
		c.out.Emit = c.outputLine
	case 'C': // the command starts executing
		label := c.pending
		if label == "" {
			label = c.echoB
			if label == "" {
				if cur := c.out.Current(); c.promptB != "" && strings.HasPrefix(cur, c.promptB) {
					label = strings.TrimSpace(cur[len(c.promptB):])
				}
			}
		}
		if label != "" && !c.out.AltScreen() {
			c.mark(label)
		}
		c.pending, c.echoB, c.promptB = "", "", ""
		c.out.Emit = nil
	}
}

// outputLine is called (under mu) for every finished output line: after a
// 133;B prompt, the line holds the command as the shell echoed it.
func (c *chapters) outputLine(l termtext.Line) {
	if c.promptB != "" && c.echoB == "" && strings.HasPrefix(l.Text, c.promptB) {
		c.echoB = strings.TrimSpace(l.Text[len(c.promptB):])
	}
}

func (c *chapters) mark(label string) {
	if utf8.RuneCountInString(label) > maxLabel {
		label = string([]rune(label)[:maxLabel]) + "…"
	}
	_ = c.marker(label) // a failing recording reports itself on the next write
}
