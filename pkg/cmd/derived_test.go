package cmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testrec"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// markedRecording writes a recording of three commands in several frames,
// with an index listing its markers, and returns its bytes.
func markedRecording(t *testing.T) []byte {
	t.Helper()
	data, err := testrec.Bytes(testrec.Session{
		Header: testrec.Header("alice", "prod", "default", "web", "main", t0, "bash"),
		Steps: []testrec.Step{
			testrec.M(time.Second, "ls -l"), testrec.O(1100*time.Millisecond, strings.Repeat("file\r\n", 60)),
			testrec.M(2*time.Second, "uname"), testrec.O(2100*time.Millisecond, strings.Repeat("Linux\r\n", 60)),
			testrec.M(3*time.Second, "exit 0"),
		},
		Exit:    testrec.Code(0),
		Options: record.Options{FrameBytes: 256},
	})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// editLast replaces the last occurrence of old (which lies in the index
// at the end of the recording) with new, of the same length.
func editLast(t *testing.T, data []byte, old, new string) []byte {
	t.Helper()
	i := bytes.LastIndex(data, []byte(old))
	if i < 0 || len(old) != len(new) {
		t.Fatalf("%q not found, or %q differs in length", old, new)
	}
	d := bytes.Clone(data)
	copy(d[i:], new)
	return d
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rec.cast.zst")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEditedIndexNotShownAsChecked: the index at the end of a recording is
// derived data; an edited copy of its markers or of its checkpoints must
// not be shown by replay --commands, ls or info as a complete session.
func TestEditedIndexNotShownAsChecked(t *testing.T) {
	data := markedRecording(t)
	// The index lists the markers: change one there only.
	marks := writeFile(t, editLast(t, data, `"uname"`, `"rm -r"`))
	out, _, err := runCmd(t, "replay", "--commands", marks)
	if err != nil || strings.Contains(out, "rm -r") || !strings.Contains(out, "uname") {
		t.Errorf("replay --commands of an edited index: err %v\n%s", err, out)
	}
	out, _, _ = runCmd(t, "info", marks)
	if !strings.Contains(out, "corrupt") || !strings.Contains(out, "markers") {
		t.Errorf("info of an edited index's markers:\n%s", out)
	}

	// Change the index's copy of checkpoint 1's event count.
	i := bytes.LastIndex(data, []byte(`{"seq":1,`))
	j := bytes.Index(data[i:], []byte(`"events":`))
	cps := bytes.Clone(data)
	cps[i+j+len(`"events":`)] ^= 1 // another digit
	cp := writeFile(t, cps)
	out, _, err = runCmd(t, "ls", cp)
	if err != nil || strings.Contains(out, "complete") || !strings.Contains(out, "corrupt") {
		t.Errorf("ls of an edited index: err %v\n%s", err, out)
	}
	out, _, _ = runCmd(t, "info", cp)
	if !strings.Contains(out, "corrupt") || !strings.Contains(out, "index") {
		t.Errorf("info of an edited index:\n%s", out)
	}

	// The untouched recording is complete everywhere.
	good := writeFile(t, data)
	if out, _, err := runCmd(t, "ls", good); err != nil || !strings.Contains(out, "complete") {
		t.Errorf("ls: %v\n%s", err, out)
	}
	if out, _, err := runCmd(t, "info", good); err != nil || strings.Contains(out, "corrupt") {
		t.Errorf("info: %v\n%s", err, out)
	}
	if out, _, err := runCmd(t, "replay", "--commands", good); err != nil || !strings.Contains(out, "uname") {
		t.Errorf("replay --commands: %v\n%s", err, out)
	}
}

// TestExportBrokenChain: every export format fails, saying so, on a
// recording whose chain does not hold; asciicast-v3, which copies the text
// without decoding events, used to exit 0.
func TestExportBrokenChain(t *testing.T) {
	data := markedRecording(t)
	i := bytes.Index(data, []byte(`{"seq":1,`))
	j := bytes.Index(data[i:], []byte(`"chain":"`)) + len(`"chain":"`)
	bad := bytes.Clone(data)
	if bad[i+j] == '0' {
		bad[i+j] = '1'
	} else {
		bad[i+j] = '0'
	}
	p := writeFile(t, bad)
	for _, f := range []string{"asciicast-v3", "asciicast-v2", "txt", "json"} {
		_, _, err := runCmd(t, "export", "--format", f, p)
		if err == nil || !strings.Contains(err.Error(), "chain") {
			t.Errorf("export --format %s of a broken chain: %v", f, err)
		}
	}
	if _, _, err := runCmd(t, "export", "--format", "asciicast-v3", writeFile(t, data)); err != nil {
		t.Errorf("export of the intact recording: %v", err)
	}
}
