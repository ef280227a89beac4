package testexec

import (
	"os"
	"slices"
	"sync"
	"time"

	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

// Interface checks: the Executor is what the kubelet's stream server expects.
var _ remotecommand.Executor = (*Executor)(nil)

// Defaults used when the matching Executor field is zero.
const (
	// DefaultFirstResizeWait is how long a TTY command waits for the client's
	// first terminal size. Clients send it right after the streams are set
	// up and the wait ends as soon as it arrives, so it can be long: on a
	// loaded machine the size may take seconds, and `stty size` as the
	// first command must still see it. Only a client that never sends a
	// size waits the whole time.
	DefaultFirstResizeWait = 30 * time.Second
	// DefaultOutputGrace bounds how long output is still drained after the
	// command's process group was killed, in case something outside the
	// group keeps the pipe or terminal open.
	DefaultOutputGrace = 2 * time.Second
)

// Call is one command the Executor was asked to run, as the stream server
// handed it over.
type Call struct {
	// Name is the pod name the caller passed. The kubelet (and so
	// testserver) passes the full pod name "<pod>_<namespace>".
	Name string
	// UID is the pod UID the caller passed.
	UID string
	// Container is the container the command was meant for.
	Container string
	// Cmd is the command and its arguments.
	Cmd []string
	// TTY tells whether a terminal was requested.
	TTY bool
	// Stdin tells whether the client attached standard input.
	Stdin bool
}

// Executor runs commands as local processes. The zero value is ready to use
// and runs commands in the current directory with the current environment.
type Executor struct {
	// Dir is the working directory of every command; empty means the
	// directory of the test process.
	Dir string
	// Env is the whole environment of every command, also used to find the
	// command in PATH; nil means the environment of the test process.
	Env []string
	// FirstResizeWait overrides DefaultFirstResizeWait; negative means
	// start at once with the kernel's default terminal size.
	FirstResizeWait time.Duration
	// OutputGrace overrides DefaultOutputGrace.
	OutputGrace time.Duration

	mu      sync.Mutex
	calls   []Call
	running map[int]bool // process group leaders; true when they lead a session (TTY)
}

// New returns an Executor that runs commands in dir with the environment env
// (nil: the test process's own).
func New(dir string, env []string) *Executor {
	return &Executor{Dir: dir, Env: env}
}

// Calls returns a copy of every call received so far, oldest first.
func (e *Executor) Calls() []Call {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Call, len(e.calls))
	for i, c := range e.calls {
		c.Cmd = slices.Clone(c.Cmd)
		out[i] = c
	}
	return out
}

// LastCall returns the most recent call and false when there was none.
func (e *Executor) LastCall() (Call, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.calls) == 0 {
		return Call{}, false
	}
	c := e.calls[len(e.calls)-1]
	c.Cmd = slices.Clone(c.Cmd)
	return c, true
}

// Running returns how many commands are running now.
func (e *Executor) Running() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.running)
}

// WaitIdle waits until no command runs or the timeout passes, and tells
// whether the Executor became idle. Tests use it to prove a lost client
// took its process down with it.
func (e *Executor) WaitIdle(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for e.Running() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// KillAll kills every running command with its whole process group (and
// session, for TTY commands). It is meant for test cleanup: the commands'
// ExecInContainer calls then return on their own.
func (e *Executor) KillAll() {
	e.mu.Lock()
	leaders := make(map[int]bool, len(e.running))
	for pid, session := range e.running {
		leaders[pid] = session
	}
	e.mu.Unlock()
	for pid, session := range leaders {
		killGroup(pid, session)
	}
}

func (e *Executor) record(c Call) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, c)
}

func (e *Executor) track(pid int, session bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.running == nil {
		e.running = map[int]bool{}
	}
	e.running[pid] = session
}

func (e *Executor) untrack(pid int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.running, pid)
}

func (e *Executor) env() []string {
	if e.Env == nil {
		return os.Environ()
	}
	return e.Env
}

func (e *Executor) firstResizeWait() time.Duration {
	if e.FirstResizeWait == 0 {
		return DefaultFirstResizeWait
	}
	return e.FirstResizeWait
}

func (e *Executor) outputGrace() time.Duration {
	if e.OutputGrace <= 0 {
		return DefaultOutputGrace
	}
	return e.OutputGrace
}
