package replay

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testrec"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// bigRecording writes a recording with about mib MiB of colored shell
// output, an event every 10ms.
func bigRecording(b *testing.B, mib int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "big.cast.zst")
	var steps []testrec.Step
	n := 0
	for size := 0; size < mib<<20; n++ {
		line := fmt.Sprintf("\x1b[32m%08d\x1b[0m some output of a long running job, step %d of many\r\n", n, n)
		size += len(line)
		steps = append(steps, testrec.O(time.Duration(n)*10*time.Millisecond, line))
	}
	if err := testrec.File(path, testrec.Session{Header: testrec.Header("a", "c", "n", "p", "c", t0), Steps: steps, Exit: testrec.Code(0)}); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkSeek measures a seek (the screen rebuilt as it was) to the
// middle of a 64 MiB recording, opening included.
func BenchmarkSeek(b *testing.B) {
	path := bigRecording(b, 64)
	fi, _ := os.Stat(path)
	r, err := record.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	total := Duration(r.Index())
	b.Logf("recording: %d bytes, %d frames, %v", fi.Size(), len(r.Index().Frames), total)
	r.Close()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		r, err := record.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		src := &source{r: r}
		at := total / 2
		if i%2 == 1 {
			at = total * 9 / 10
		}
		scr, _, err := screenAt(src, r, at, 0, nil)
		if err != nil {
			b.Fatal(err)
		}
		scr.Close()
		r.Close()
	}
}
