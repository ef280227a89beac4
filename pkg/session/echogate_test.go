package session

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// gateLog is what the gate handed over, one line per event:
// "i@MS:DATA", "H@MS:N", "o@MS:DATA", "r@MS:CxR".
type gateLog struct {
	mu     sync.Mutex
	start  time.Time
	events []string
}

func (l *gateLog) add(code string, t time.Time, s string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, fmt.Sprintf("%s@%d:%s", code, t.Sub(l.start).Milliseconds(), s))
	return nil
}

func (l *gateLog) input(t time.Time, p []byte) error  { return l.add("i", t, string(p)) }
func (l *gateLog) redacted(t time.Time, n int) error  { return l.add("H", t, fmt.Sprint(n)) }
func (l *gateLog) output(t time.Time, p []byte) error { return l.add("o", t, string(p)) }
func (l *gateLog) resize(t time.Time, c, r int) error {
	return l.add("r", t, fmt.Sprintf("%dx%d", c, r))
}

func (l *gateLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.events, " | ")
}

// gateRun drives a gate on a fake clock: each step is "+MS" (time passes,
// and the gate's timer is run as if it fired), "i:KEYS", "o:OUTPUT",
// "r:COLSxROWS" or "close".
func gateRun(t *testing.T, steps ...string) string {
	t.Helper()
	start := time.Date(2026, 11, 27, 6, 15, 0, 0, time.UTC)
	now := start
	log := &gateLog{start: start}
	g := newEchoGate(log, func() time.Time { return now })
	defer func() {
		if g.timer != nil {
			g.timer.Stop()
		}
	}()
	for _, st := range steps {
		var err error
		switch {
		case strings.HasPrefix(st, "+"):
			var ms int
			fmt.Sscanf(st, "+%d", &ms)
			now = now.Add(time.Duration(ms) * time.Millisecond)
			g.expire()
		case strings.HasPrefix(st, "i:"):
			err = g.Input([]byte(st[2:]))
		case strings.HasPrefix(st, "o:"):
			err = g.Output([]byte(st[2:]))
		case strings.HasPrefix(st, "r:"):
			var c, r int
			fmt.Sscanf(st[2:], "%dx%d", &c, &r)
			err = g.Resize(c, r)
		case st == "close":
			err = g.Close()
		default:
			t.Fatalf("bad step %q", st)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return log.String()
}

func TestEchoGate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []string
		want  string
	}{
		{"ordinary typing is recorded as typed",
			[]string{"o:$ ", "+100", "i:l", "+20", "o:l", "+100", "i:s", "+20", "o:s", "+100", "i:\r", "+20", "o:\r\nfile\r\n$ ", "close"},
			"o@0:$  | i@100:l | o@120:l | i@220:s | o@240:s | i@340:\r | o@360:\r\nfile\r\n$ "},
		{"read -s: nothing comes back, then the next prompt",
			[]string{"o:$ read -s p\r\n", "+100", "i:r", "+100", "i:o", "+100", "i:o", "+100", "i:t", "+100", "i:\r", "+10", "o:root@demo:/# ", "close"},
			"o@0:$ read -s p\r\n | H@100:1 | H@200:1 | H@300:1 | H@400:1 | i@500:\r | o@510:root@demo:/# "},
		{"passwd-style: the program prints a new line after the secret",
			[]string{"o:New secret: ", "+100", "i:h", "+100", "i:u", "+100", "i:\r", "+10", "o:\r\n", "close"},
			"o@0:New secret:  | H@100:1 | H@200:1 | i@300:\r | o@310:\r\n"},
		{"a password prompt redacts even what seems to come back",
			[]string{"o:[sudo] password for al: ", "+100", "i:x", "+10", "o:x", "close"},
			"o@0:[sudo] password for al:  | H@100:1 | o@110:x"},
		{"a line typed ahead comes back whole, then its new line",
			[]string{"o:$ ", "+100", "i:ls\r", "+30", "o:l", "+1", "o:s\r\n", "close"},
			"o@0:$  | i@100:ls\r | o@130:l | o@131:s\r\n"},
		{"a line typed ahead whose echo is another line is redacted",
			[]string{"o:$ ", "+100", "i:rootpw\r", "+30", "o:root@demo:/# ", "close"},
			"o@0:$  | H@100:7 | o@130:root@demo:/# "},
		{"the whole secret as the start of a prompt is still not an echo",
			[]string{"o:> ", "+100", "i:root", "+100", "i:\r", "+30", "o:root@demo:/# ", "close"},
			"o@0:>  | H@100:4 | i@200:\r | o@230:root@demo:/# "},
		{"characters inside escape sequences are no echo",
			[]string{"o:pin? ", "+100", "i:1", "+10", "o:\x1b[1;1H\x1b]0;1\x07", "+1000", "close"},
			"o@0:pin?  | H@100:1 | o@110:\x1b[1;1H\x1b]0;1\x07"},
		{"escape sequences before the echo are skipped",
			[]string{"o:$ ", "+100", "i:é", "+10", "o:\x1b[?25l\x1b[1mé\x1b[m rest\b\b\b\b\b", "close"},
			"o@0:$  | i@100:é | o@110:\x1b[?25l\x1b[1mé\x1b[m rest\b\b\b\b\b"},
		{"keys that echo nothing are recorded at once",
			[]string{"o:$ ", "+100", "i:\x1b[A", "+10", "i:\t", "+10", "i:\x03", "close"},
			"o@0:$  | i@100:\x1b[A | i@110:\t | i@120:\x03"},
		{"a key never echoed is redacted when its window ends, in its place",
			[]string{"o:~\r\n", "+100", "i:j", "+200", "o:\x1b[2;1H", "r:100x30", "+900", "o:later"},
			"o@0:~\r\n | H@100:1 | o@300:\x1b[2;1H | r@300:100x30 | o@1200:later"},
		{"vi: a command key, then typed text within the window, are redacted",
			[]string{"o:~\r\n", "+100", "i:i", "+100", "i:h", "+10", "o:h", "+1000", "+200", "+1000", "i:x", "+10", "o:x", "close"},
			"o@0:~\r\n | H@100:1 | H@200:1 | o@210:h | i@2410:x | o@2420:x"},
		{"output held behind undecided input keeps its times",
			[]string{"o:$ ", "+100", "i:a", "+50", "o:noise ", "+50", "o:more", "+1000"},
			"o@0:$  | H@100:1 | o@150:noise  | o@200:more"},
		{"paste: the echo comes back in pieces",
			[]string{"o:$ ", "+100", "i:echo hello world", "+10", "o:echo hel", "+5", "o:lo world", "close"},
			"o@0:$  | i@100:echo hello world | o@110:echo hel | o@115:lo world"},
		{"pending at the end: redacted",
			[]string{"o:$ ", "+100", "i:q", "close"},
			"o@0:$  | H@100:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := gateRun(t, tc.steps...); got != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

// Too much output behind undecided input: the input is redacted and the
// output recorded at once, so the gate never holds more than maxHeld.
func TestEchoGateHoldsBoundedOutput(t *testing.T) {
	big := strings.Repeat("x", maxHeld/2)
	got := gateRun(t, "o:$ ", "+100", "i:a", "+10", "o:!"+big, "+10", "o:!"+big, "+10", "o:!"+big)
	if n := strings.Count(got, "|"); n != 4 || !strings.Contains(got, "H@100:1") {
		t.Errorf("events %d: %.200q", n, got)
	}
}
