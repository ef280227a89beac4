package webplayer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testbrowser"
	"github.com/kubectl-rexec/kubectl-rexec/internal/testrec"
)

// hostile is what a recording may hold to attack whoever opens its page.
const hostile = `</script><script>window.pwned="script"</script><img src=x onerror="window.pwned='img'"><!--` + "\u2028" + `'"&amp;`

// hostileRecording writes a recording whose header, output and markers all
// carry hostile.
func hostileRecording(t *testing.T) string {
	t.Helper()
	start := time.Date(2026, 11, 27, 6, 15, 0, 0, time.UTC)
	h := testrec.Header("alice"+hostile, "prod"+hostile, "default", "web"+hostile, "main", start, "sh", "-c", hostile)
	h.Title = "title " + hostile
	h.Rexec.Reason, h.Rexec.Ticket = "reason "+hostile, "ticket "+hostile
	h.Rexec.User.Groups = []string{hostile}
	path := filepath.Join(t.TempDir(), "hostile.cast.zst")
	err := testrec.File(path, testrec.Session{Header: h, Exit: testrec.Code(0), Steps: []testrec.Step{
		testrec.R(0, "80x24"),
		testrec.O(100*time.Millisecond, "out "+hostile+"\r\n"),
		testrec.O(200*time.Millisecond, "\x1b]8;;javascript:window.pwned='link'\x1b\\click me\x1b]8;;\x1b\\\r\n"),
		testrec.O(300*time.Millisecond, "\x1b]0;"+hostile+"\x07\x1b]52;c;"+"cHduZWQ="+"\x07bin \xff\xfe </script>\r\n"),
		testrec.M(400*time.Millisecond, "marker "+hostile),
		testrec.O(500*time.Millisecond, "$ "),
	}})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// Nothing from the recording can end a script element of the page: the
// page has exactly its own four script elements, and the recording's text
// is in it only JSON-escaped.
func TestHostilePageStructure(t *testing.T) {
	page, err := os.ReadFile(writePage(t, hostileRecording(t)))
	if err != nil {
		t.Fatal(err)
	}
	lower := bytes.ToLower(page)
	if n := bytes.Count(lower, []byte("<script")); n != 4 {
		t.Errorf("%d <script in the page, want 4 (two JSON blocks, the player, the page script)", n)
	}
	if n := bytes.Count(lower, []byte("</script")); n != 4 {
		t.Errorf("%d </script in the page, want 4", n)
	}
	if bytes.Contains(page, []byte("<img")) || bytes.Contains(page, []byte("\u2028")) || bytes.Contains(page, []byte("<!--")) {
		t.Errorf("the page holds the hostile text unescaped")
	}
	if !bytes.Contains(page, []byte(`\u003c/script\u003e\u003cscript\u003ewindow.pwned`)) {
		t.Errorf("the hostile text is not in the page, escaped")
	}
	if !bytes.Contains(page, []byte(`http-equiv="Content-Security-Policy"`)) || !bytes.Contains(page, []byte("connect-src &#39;none&#39;")) {
		t.Errorf("the page has no Content-Security-Policy forbidding the network")
	}
}

// Opened in a real browser, the hostile recording runs nothing and shows
// its text as text: in the title, the facts, the command list, the seek
// bar's marker and the terminal.
func TestHostilePageIsInert(t *testing.T) {
	b := testbrowser.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := openPage(t, ctx, b, writePage(t, hostileRecording(t)))
	if err := p.Eval(ctx, "window.rexec.player().seek(0.45).then(() => true)", nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(ctx, `document.querySelector("#player .ap-term-text").textContent.includes("click me")`); err != nil {
		t.Fatal(err)
	}
	var res struct {
		Pwned    any      `json:"pwned"`
		Title    string   `json:"title"`
		H1       string   `json:"h1"`
		Facts    []string `json:"facts"`
		Commands []string `json:"commands"`
		Tips     []string `json:"tips"`
		Term     string   `json:"term"`
		Elements int      `json:"elements"`
	}
	err := p.Eval(ctx, `({
		pwned: window.pwned === undefined ? null : window.pwned,
		title: document.title,
		h1: document.getElementById("title").textContent,
		facts: Array.from(document.querySelectorAll("#facts dd"), (e) => e.textContent),
		commands: Array.from(document.querySelectorAll("#commands .label"), (e) => e.textContent),
		tips: Array.from(document.querySelectorAll("#player .ap-marker-container .ap-tooltip"), (e) => e.textContent),
		term: document.querySelector("#player .ap-term-text").textContent,
		elements: document.querySelectorAll("img, iframe, object, embed, a").length + document.scripts.length - 4,
	})`, &res)
	if err != nil {
		t.Fatal(err)
	}
	if res.Pwned != nil {
		t.Errorf("the recording ran script in the page: window.pwned = %v", res.Pwned)
	}
	if res.Elements != 0 {
		t.Errorf("%d elements made from the recording's text (img, iframe, link or script)", res.Elements)
	}
	if !strings.Contains(res.Title, "title "+hostile) || res.H1 != "title "+hostile {
		t.Errorf("title %q, heading %q: the hostile title is not shown as text", res.Title, res.H1)
	}
	facts := strings.Join(res.Facts, "\n")
	for _, want := range []string{"alice" + hostile, "reason " + hostile, "ticket " + hostile, "sh -c " + hostile} {
		if !strings.Contains(facts, want) {
			t.Errorf("the facts do not show %q as text:\n%s", want, facts)
		}
	}
	if len(res.Commands) != 1 || res.Commands[0] != "marker "+hostile {
		t.Errorf("commands %q", res.Commands)
	}
	if len(res.Tips) != 1 || !strings.HasSuffix(res.Tips[0], "marker "+hostile) {
		t.Errorf("seek bar markers %q", res.Tips)
	}
	if !strings.Contains(res.Term, "out </script><script>window.pwned") {
		t.Errorf("the terminal does not show the hostile output as text: %q", res.Term)
	}
}

// The vendored player is the one hack/vendor-asciinema-player.sh pinned:
// every embedded file has the SHA-256 that VERSION records.
func TestVendoredPlayerMatchesVersion(t *testing.T) {
	v := asset("asciinema-player/VERSION")
	if PlayerVersion() == "" || !strings.Contains(v, "npm tarball asciinema-player-"+PlayerVersion()+".tgz sha256 ") {
		t.Fatalf("VERSION:\n%s", v)
	}
	files := 0
	for _, line := range strings.Split(v, "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok || len(sum) != 64 {
			continue
		}
		got := sha256.Sum256([]byte(asset("asciinema-player/" + name)))
		if hex.EncodeToString(got[:]) != sum {
			t.Errorf("%s: SHA-256 %x, VERSION says %s: run hack/vendor-asciinema-player.sh", name, got, sum)
		}
		files++
	}
	if files != 3 {
		t.Errorf("VERSION lists %d files, want 3 (LICENSE, the script, the stylesheet)", files)
	}
	if !strings.Contains(asset("asciinema-player/LICENSE"), "Apache License") {
		t.Errorf("the vendored LICENSE is not the Apache License")
	}
}
