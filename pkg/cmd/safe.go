package cmd

import (
	"io"
	"os"

	"golang.org/x/term"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/termsafe"
)

// Whatever comes from a recording (header fields, markers, the trailer,
// what an error quotes from it) or names one (file names, S3 keys) is
// untrusted: it reaches the viewer's terminal only through termsafe.
// Human-readable output always escapes it; output meant for scripts (ls -o
// name, grep -l) escapes it unless it goes to a file or a pipe, where the
// exact name is what a script needs.

// safe escapes s for a terminal (termsafe.String).
func safe(s string) string { return termsafe.String(s) }

// notTerminal tells whether w is known not to be a terminal: a file or a
// pipe. Anything else (a terminal, or a writer we cannot tell) gets what
// a terminal gets.
func notTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && !term.IsTerminal(int(f.Fd()))
}

// safeFor escapes s unless w is known not to be a terminal.
func safeFor(w io.Writer, s string) string {
	if notTerminal(w) {
		return s
	}
	return safe(s)
}
