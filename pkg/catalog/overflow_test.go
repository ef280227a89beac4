package catalog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestListTimeOverflow: a recording whose intervals add up past what a
// time.Duration holds is listed as damaged, not with a duration that
// wrapped around (it once showed as 89718d01h).
func TestListTimeOverflow(t *testing.T) {
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	text := `{"version":3,"term":{"cols":80,"rows":24}}` + "\n" + `[1,"o","a"]` + "\n" +
		`[9000000000,"o","b"]` + "\n" + `[9000000000,"o","c"]` + "\n"
	p := filepath.Join(t.TempDir(), "x"+Suffix)
	if err := os.WriteFile(p, enc.EncodeAll([]byte(text), nil), 0o600); err != nil {
		t.Fatal(err)
	}
	e := Summarize(p)
	if e.State != Corrupt || !strings.Contains(e.Problem, "time.Duration") {
		t.Errorf("state %s (%s), duration %s", e.State, e.Problem, HumanDuration(e.Duration.Duration()))
	}
}
