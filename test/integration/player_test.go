package integration

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testrec"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// The interactive player on a real terminal (tmux): each test is one of
// issue 15's "broken today" items.

var playerStart = time.Date(2026, 11, 27, 6, 15, 0, 0, time.UTC)

func playerRec(t *testing.T, s testrec.Session) string {
	t.Helper()
	if s.Header.Version == 0 {
		s.Header = testrec.Header("carol", "prod", "default", "web-0", "main", playerStart, "bash")
	}
	path := filepath.Join(privateDir(t), "p.cast.zst")
	if err := testrec.File(path, s); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitRows waits until the pane's rows are as cond wants.
func (tm *tmuxDriver) waitRows(what string, cond func(rows []string) bool) []string {
	tm.t.Helper()
	split := func(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }
	return split(tm.waitScreen(what, func(s string) bool { return cond(split(s)) }))
}

func lastRow(rows []string) string { return rows[len(rows)-1] }

// player starts `replay ARGS` in a pane of cols x rows, followed by a line
// that says how it exited.
func player(t *testing.T, cols, rows int, args ...string) *tmuxDriver {
	return newTmuxDriver(t, cols, rows, rexecBin+" replay "+strings.Join(args, " ")+"; echo EXITED-$?; sleep 60")
}

// 1. A session killed before its first checkpoint shows its length.
func TestPlayerKilledSessionShowsItsLength(t *testing.T) {
	rec := playerRec(t, testrec.Session{Steps: []testrec.Step{
		testrec.R(0, "80x24"), testrec.O(time.Second, "$ "), testrec.I(2*time.Second, "top\r"), testrec.O(11*time.Second, "top\r\n"),
	}})
	tm := player(t, 80, 25, rec)
	tm.waitRows("the length in the status bar", func(r []string) bool { return strings.Contains(lastRow(r), "0:00 / 0:11") })
	tm.keys("q")
	tm.waitScreen("the player to exit", func(s string) bool { return strings.Contains(s, "EXITED-0") })
}

// 2. The status bar has a row of its own: never a copy of it in the
// session's rows, never over the session's last row.
func TestPlayerStatusBarHasItsOwnRow(t *testing.T) {
	steps := []testrec.Step{testrec.R(0, "80x24")}
	for i := range 60 {
		steps = append(steps, testrec.O(time.Duration(i+1)*50*time.Millisecond, fmt.Sprintf("line %02d\r\n", i)))
	}
	steps = append(steps, testrec.O(4*time.Second, "$ vi\r\n\x1b[?1049h\x1b[H\x1b[2J~\r\n~\x1b[24;1H-- INSERT --\x1b[1;1H"), testrec.O(9*time.Second, "x"))
	rec := playerRec(t, testrec.Session{Steps: steps, Exit: testrec.Code(0)})

	tm := player(t, 80, 25, rec)
	rows := tm.waitRows("vi", func(r []string) bool { return len(r) == 25 && r[23] == "-- INSERT --" })
	for y, l := range rows[:24] {
		if strings.Contains(l, " / 0:09") {
			t.Errorf("row %d holds a copy of the status bar:\n%s", y+1, strings.Join(rows, "\n"))
		}
	}
	if !strings.Contains(rows[24], " / 0:09") {
		t.Errorf("the status bar is not on row 25:\n%s", strings.Join(rows, "\n"))
	}
	tm.keys("q")
	tm.waitScreen("the player to exit", func(s string) bool { return strings.Contains(s, "EXITED-0") })

	// At exactly the recorded size the bar still takes a row of its own:
	// the screen is cropped around the cursor, not covered, the bar says
	// so, and s hides the bar to show the whole screen.
	tm = player(t, 80, 24, rec)
	rows = tm.waitRows("the crop", func(r []string) bool { return strings.Contains(lastRow(r), "rows 1-23 of 80x24") && r[0] == "x" })
	if strings.Contains(strings.Join(rows, "\n"), "INSERT") || !strings.Contains(lastRow(rows), "0:09 / 0:09") {
		t.Errorf("at 80x24:\n%s", strings.Join(rows, "\n"))
	}
	tm.keys("s")
	tm.waitRows("the whole screen", func(r []string) bool { return r[23] == "-- INSERT --" && r[0] == "x" })
	tm.keys("q")
}

// 3. The playhead is a clock: it runs through a pause in the session, →
// moves on from it, and a speed change in a gap does not wait the gap out
// again.
func TestPlayerPlayheadIsAClock(t *testing.T) {
	rec := playerRec(t, testrec.Session{Steps: []testrec.Step{
		testrec.R(0, "80x24"), testrec.O(time.Second, "before the gap\r\n"), testrec.O(20*time.Second, "after the gap\r\n"),
	}, Exit: testrec.Code(0)})
	tm := player(t, 80, 25, "--idle-time-limit", "off", rec)
	tm.waitRows("the clock in the gap", func(r []string) bool { return strings.Contains(lastRow(r), "0:02 / 0:20") })
	tm.keys("Right")
	tm.waitRows("→ from the clock", func(r []string) bool {
		return strings.Contains(lastRow(r), "0:07 / 0:20") || strings.Contains(lastRow(r), "0:08 / 0:20")
	})
	// 8x: the 12 seconds left take 1.5.
	tm.keys("+", "+", "+")
	tm.waitRows("the end of the gap", func(r []string) bool { return r[1] == "after the gap" })
	tm.keys("q")
}

// 4. After the recording shrank from 130x40 to 80x24 nothing of the larger
// screen stays, and what follows shows.
func TestPlayerAfterTheRecordingShrank(t *testing.T) {
	steps := []testrec.Step{testrec.R(0, "130x40"), testrec.O(time.Second, "$ top\r\n\x1b[?1049h\x1b[H\x1b[2J")}
	frame := func(at time.Duration, cols, rows, tick int) {
		var b strings.Builder
		for y := range rows {
			fmt.Fprintf(&b, "\x1b[%d;1H%-*s", y+1, cols, fmt.Sprintf("top tick %d row %02d", tick, y))
		}
		steps = append(steps, testrec.O(at, b.String()))
	}
	for i := range 5 {
		frame(time.Duration(2+i)*time.Second, 130, 40, i)
	}
	steps = append(steps, testrec.R(7*time.Second, "80x24"))
	for i := 5; i < 10; i++ {
		frame(time.Duration(3+i)*time.Second, 80, 24, i)
	}
	steps = append(steps, testrec.O(13*time.Second, "\x1b[?1049l$ "))
	for i := range 10 {
		steps = append(steps, testrec.O(time.Duration(14+i)*time.Second, fmt.Sprintf("later %02d\r\n", i)))
	}
	rec := playerRec(t, testrec.Session{Steps: steps, Exit: testrec.Code(0), Options: record.Options{FrameBytes: 4000}})
	tm := player(t, 130, 43, "--from", "5", "--speed", "2", rec)
	tm.waitRows("top at 130x40", func(r []string) bool { return strings.HasPrefix(r[39], "top tick 3 row 39") })
	rows := tm.waitRows("top at 80x24", func(r []string) bool { return strings.HasPrefix(r[23], "top tick 8 row 23") })
	for y := 24; y < 42; y++ {
		if rows[y] != "" {
			t.Fatalf("row %d shows %q after the shrink:\n%s", y+1, rows[y], strings.Join(rows, "\n"))
		}
	}
	rows = tm.waitRows("the later output", func(r []string) bool { return strings.Contains(strings.Join(r, "\n"), "later 03") })
	if s := strings.Join(rows, "\n"); strings.Contains(s, "top tick") {
		t.Errorf("top's screen stays after it quit:\n%s", s)
	}
	tm.keys("q")
}

// 5. Quitting inside a full-screen program leaves the terminal in every
// mode as it was; so does a replay without keys that ends inside one.
func TestPlayerQuitRestoresTheTerminal(t *testing.T) {
	rec := playerRec(t, testrec.Session{Steps: []testrec.Step{
		testrec.R(0, "80x24"),
		testrec.O(time.Second, "$ vi\r\n\x1b[?1049h\x1b[?1h\x1b=\x1b[?25l\x1b[?1000h\x1b[?1006h\x1b[?2004h\x1b[4h\x1b[2;20r\x1b[?7l\x1b[H\x1b[2J~ vi here"),
		testrec.O(30*time.Second, "x"),
	}})
	const flags = "#{alternate_on} #{keypad_cursor_flag} #{keypad_flag} #{cursor_flag} #{mouse_any_flag} #{mouse_standard_flag} #{mouse_sgr_flag} #{insert_flag} #{wrap_flag} #{origin_flag} #{scroll_region_upper} #{scroll_region_lower}"
	const want = "0 0 0 1 0 0 0 0 1 0 0 24"
	for _, args := range [][]string{{rec}, {"--keys=false", "--idle-time-limit", "500ms", rec}} {
		tm := player(t, 80, 25, args...)
		if args[0] == rec {
			tm.waitScreen("vi", func(s string) bool { return strings.Contains(s, "~ vi here") })
			tm.keys("q")
		}
		tm.waitScreen("the player to exit", func(s string) bool { return strings.Contains(s, "EXITED-") })
		if got := strings.TrimSpace(tm.run("display", "-p", "-t", "it", flags)); got != want {
			t.Errorf("replay %v: after it the terminal's modes are %q (%s), want %q", args, got, flags, want)
		}
	}
}

// 7. A terminal smaller than the recording shows the part around the
// cursor and says so in the bar; rows never pile up.
func TestPlayerCropsToASmallTerminal(t *testing.T) {
	var steps []testrec.Step
	steps = append(steps, testrec.R(0, "80x24"))
	for i := range 40 {
		steps = append(steps, testrec.O(time.Duration(i+1)*time.Second, fmt.Sprintf("output line %02d %s\r\n", i, strings.Repeat("=", 60))))
	}
	rec := playerRec(t, testrec.Session{Steps: steps, Exit: testrec.Code(0)})
	tm := player(t, 60, 15, "--from", "30", "--to", "30", rec)
	rows := tm.waitRows("the crop note", func(r []string) bool { return strings.Contains(lastRow(r), "rows 11-24, cols 1-60 of 80x24") })
	for y := range 14 {
		want := fmt.Sprintf("output line %02d %s", 17+y, strings.Repeat("=", 45))
		if y == 13 {
			want = ""
		}
		if rows[y] != want {
			t.Errorf("row %d shows %q, want %q:\n%s", y+1, rows[y], want, strings.Join(rows, "\n"))
			break
		}
	}
	tm.keys("q")
}

// 11. After the player the shell's prompt starts a line of its own, even
// when the session ended in the middle of one.
func TestPlayerLeavesThePromptAtTheStartOfALine(t *testing.T) {
	for _, exit := range []*int{testrec.Code(0), nil} { // nil: cut off, with a warning after play
		rec := playerRec(t, testrec.Session{Steps: []testrec.Step{
			testrec.R(0, "80x24"), testrec.O(time.Second, "[root@web-0 /]# "),
		}, Exit: exit})
		tm := player(t, 80, 25, rec)
		tm.waitScreen("the prompt", func(s string) bool { return strings.Contains(s, "[root@web-0 /]#") })
		tm.keys("q")
		rows := tm.waitRows("the player to exit", func(r []string) bool { return strings.Contains(strings.Join(r, "\n"), "EXITED-") })
		ok := false
		for _, l := range rows {
			ok = ok || strings.HasPrefix(l, "EXITED-0")
		}
		if !ok {
			t.Errorf("the next line does not start at column 1:\n%s", strings.Join(rows, "\n"))
		}
	}
}

// The features auditors asked for: the wall-clock time and the command in
// the bar, Home/End, go to a time, search, --exit-at-end.
func TestPlayerFeatures(t *testing.T) {
	var steps []testrec.Step
	steps = append(steps, testrec.R(0, "80x24"), testrec.O(100*time.Millisecond, "$ "))
	for c := range 4 {
		at := time.Duration(c)*30*time.Second + time.Second
		cmd := fmt.Sprintf("step-%02d", c)
		steps = append(steps, testrec.I(at, cmd+"\r"), testrec.O(at+time.Millisecond, cmd+"\r\n"), testrec.M(at+2*time.Millisecond, cmd))
		for l := range 5 {
			steps = append(steps, testrec.O(at+time.Duration(l+1)*time.Second, fmt.Sprintf("cmd %02d output line %02d\r\n", c, l)))
		}
		steps = append(steps, testrec.O(at+6*time.Second, "$ "))
	}
	rec := playerRec(t, testrec.Session{Steps: steps, Exit: testrec.Code(0)})
	tm := player(t, 100, 25, rec)
	tm.waitRows("the bar", func(r []string) bool { return strings.Contains(lastRow(r), "/ 1:37") })
	tm.keys("Space")
	tm.keys("g", "1", ":", "3", "5", "Enter")
	rows := tm.waitRows("go to 1:35", func(r []string) bool { return strings.Contains(lastRow(r), "1:35 / 1:37") })
	if bar := lastRow(rows); !strings.Contains(bar, "2026-11-27 06:16:35 UTC") || !strings.Contains(bar, "cmd 4/4 step-03") {
		t.Errorf("the bar lacks the UTC time or the command: %q", bar)
	}
	tm.keys("Home")
	tm.waitRows("Home", func(r []string) bool { return strings.Contains(lastRow(r), "0:00 / 1:37") })
	tm.keys("/", "line 03", "Enter")
	rows = tm.waitRows("the first hit", func(r []string) bool { return strings.Contains(lastRow(r), "0:05 / 1:37") })
	if !strings.Contains(strings.Join(rows, "\n"), "cmd 00 output line 03") {
		t.Errorf("after /line 03:\n%s", strings.Join(rows, "\n"))
	}
	tm.keys("n")
	tm.waitRows("the next hit", func(r []string) bool { return strings.Contains(lastRow(r), "0:35 / 1:37") })
	tm.keys("End")
	tm.waitRows("End", func(r []string) bool { return strings.Contains(lastRow(r), "end  1:37 / 1:37") })
	tm.keys("q")
	tm.waitScreen("the player to exit", func(s string) bool { return strings.Contains(s, "EXITED-0") })

	tm = player(t, 100, 25, "--exit-at-end", "--from", "1:30", rec)
	tm.waitScreen("the player to exit by itself", func(s string) bool { return strings.Contains(s, "EXITED-0") })
}
