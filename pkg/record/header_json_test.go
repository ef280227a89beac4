package record_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testrec"
)

// The header line follows docs/FORMAT.md 4.4: <, > and & are written as
// they are, not as the \u003c \u003e \u0026 that HTML-safe JSON gives.
func TestHeaderWritesAnglesAndAmpersandsAsIs(t *testing.T) {
	h := testrec.Header("alice", "prod", "default", "web", "main", time.Date(2026, 11, 27, 6, 15, 0, 0, time.UTC), "sh", "-c", "a > b && c <d>")
	h.Command = "sh -c 'a > b && c <d>'"
	data, err := testrec.Bytes(testrec.Session{Header: h, Steps: []testrec.Step{testrec.O(time.Second, "x")}, Exit: testrec.Code(0)})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := zstd.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var text bytes.Buffer
	_, _ = text.ReadFrom(dec) // skippable frames are skipped; the rest is the text
	line, _, _ := strings.Cut(text.String(), "\n")
	if strings.Contains(line, `\u003c`) || strings.Contains(line, `\u003e`) || strings.Contains(line, `\u0026`) {
		t.Errorf("the header escapes < > &: %s", line)
	}
	if !strings.Contains(line, `"command":"sh -c 'a > b && c <d>'"`) || !strings.Contains(line, `"a > b && c <d>"`) {
		t.Errorf("the header does not hold the command as it is: %s", line)
	}
}
