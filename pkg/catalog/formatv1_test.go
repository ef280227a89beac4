package catalog

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/replay"
)

// v1Fixture is a recording of format version 1, whose binary events are
// ob, eb, ib (docs/FORMAT.md, 7).
const v1Fixture = "../record/testdata/format-v1-binary.cast.zst"

// Recordings of format version 1 still export and replay, binary bytes
// included.
func TestFormatVersion1ExportsAndReplays(t *testing.T) {
	var v2 bytes.Buffer
	if err := Export(v1Fixture, &v2, FormatV2, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(v2.String(), "[1.100000, \"o\", \"\ufffd\"]") {
		t.Errorf("v2 export lacks the replaced binary output:\n%s", v2.String())
	}
	if strings.Contains(v2.String(), "//4=") {
		t.Errorf("v2 export shows base64 as output:\n%s", v2.String())
	}
	var js bytes.Buffer
	if err := Export(v1Fixture, &js, FormatJSON, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), `"code":"o","data":"//4=","base64":true`) {
		t.Errorf("json export:\n%s", js.String())
	}
	r, err := record.Open(v1Fixture)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out, errOut bytes.Buffer
	if _, err := replay.Play(context.Background(), r, replay.Options{NoWait: true, Raw: true, RawErr: true, Out: &out, ErrOut: &errOut}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "\r\n\xff\xfe\r\n") || errOut.String() != "err \xfe\xff\n" {
		t.Errorf("replay: stdout %q stderr %q", out.String(), errOut.String())
	}
}

// The html format is the web page, with the session's events in it.
func TestExportHTML(t *testing.T) {
	var page bytes.Buffer
	if err := Export("../../docs/tour.cast.zst", &page, FormatHTML, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	s := page.String()
	for _, want := range []string{"<!DOCTYPE html>", `id="rexec-events"`, `"m","id; hostname; ls /"]`, `id="rexec-meta">{"header":`, "AsciinemaPlayer", "</html>\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}
