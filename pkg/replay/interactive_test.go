package replay

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testrec"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

func TestParseKeys(t *testing.T) {
	got := ParseKeys([]byte(" .\x1b[C\x1b[D\x1b[1;2C\x1b[1;2D\x1bOC][+-sq\x03x"))
	want := []Key{KeyPause, KeyStep, KeyForward, KeyBack, KeyForwardLong, KeyBackLong, KeyForward, KeyNextCommand, KeyPrevCommand, KeyFaster, KeySlower, KeyToggleStatus, KeyQuit, KeyQuit}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// commandSession has 10 commands, one every 30s, each printing 25 lines.
func commandSession() (testrec.Session, []time.Duration) {
	var steps []testrec.Step
	var marks []time.Duration
	steps = append(steps, testrec.R(0, "80x24"), testrec.O(100*time.Millisecond, "$ "))
	for c := range 10 {
		at := time.Duration(c)*30*time.Second + time.Second
		cmd := fmt.Sprintf("step-%02d", c)
		steps = append(steps, testrec.I(at, cmd+"\r"), testrec.O(at+time.Millisecond, cmd+"\r\n"), testrec.M(at+2*time.Millisecond, cmd))
		marks = append(marks, at+2*time.Millisecond)
		for l := range 25 {
			steps = append(steps, testrec.O(at+time.Duration(l+1)*time.Second, fmt.Sprintf("cmd %02d output line %02d\r\n", c, l)))
		}
		steps = append(steps, testrec.O(at+26*time.Second, "$ "))
	}
	return testrec.Session{
		Header:  testrec.Header("carol", "prod", "default", "long", "main", t0, "bash"),
		Steps:   steps,
		Exit:    testrec.Code(0),
		Options: record.Options{FrameBytes: 1000},
	}, marks
}

// TestInteractiveKeys drives the player with keys and checks the screen
// the viewer's terminal would show after each.
func TestInteractiveKeys(t *testing.T) {
	s, marks := commandSession()
	data, err := testrec.Bytes(s)
	if err != nil {
		t.Fatal(err)
	}
	r := openBytes(t, data)
	keys := make(chan Key)
	var out syncBuf
	done := make(chan error, 1)
	go func() {
		_, err := Interactive(context.Background(), r, Options{Out: &out}, InteractiveOptions{
			Keys:    keys,
			Size:    func() (int, int) { return 80, 25 },
			Markers: func() []time.Duration { return marks },
			Total:   Duration(r.Index()),
		})
		done <- err
	}()
	// expect waits until the screen the viewer's terminal would show is
	// what ok wants: the player acts on a key and redraws in its own time.
	expect := func(after string, ok func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			got := shown([]byte(out.String()), 80, 25)
			if ok(got) {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("after %s, for a minute:\n%s", after, got)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	lastLines := func(s string, n int) string {
		ls := strings.Split(s, "\n")
		return strings.Join(ls[max(0, len(ls)-n):], "\n")
	}
	keys <- KeyPause
	for range 3 {
		keys <- KeyNextCommand
	}
	expect("] ] ]", func(got string) bool {
		return strings.Contains(got, "cmd 01 output line 24\n$ step-02") && !strings.Contains(got, "cmd 02 output") &&
			strings.Contains(got, "paused  1:01 / 4:57") && strings.Contains(got, "cmd 3/10")
	})
	keys <- KeyBack
	expect("← (seek back 5s)", func(got string) bool {
		return strings.Contains(got, "cmd 01 output line 23\ncmd 01 output line 24") && !strings.Contains(got, "step-02") && strings.Contains(got, "0:56 / 4:57")
	})
	keys <- KeyStep
	expect(". (step)", func(got string) bool { return strings.Contains(lastLines(got, 3), "cmd 01 output line 24\n$") })
	keys <- KeyForwardLong
	expect("⇧→ (seek 1m)", func(got string) bool {
		return strings.Contains(got, "cmd 03 output line 24\n$") && !strings.Contains(got, "step-04") && strings.Contains(got, "1:57 / 4:57")
	})
	keys <- KeyBackLong
	expect("⇧← (seek back 1m)", func(got string) bool {
		return strings.Contains(lastLines(got, 3), "cmd 01 output line 24\n$") && !strings.Contains(got, "cmd 02")
	})
	keys <- KeyPrevCommand
	expect("[ (previous command)", func(got string) bool {
		return strings.HasSuffix(strings.TrimSpace(strings.Split(got, "❚❚")[0]), "$ step-01") && strings.Contains(got, "cmd 2/10")
	})
	keys <- KeyFaster
	keys <- KeyFaster
	expect("+ +", func(got string) bool { return strings.Contains(got, "4x") })
	keys <- KeyQuit
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("q did not quit")
	}
}
