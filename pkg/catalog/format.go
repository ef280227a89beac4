package catalog

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// HumanDuration prints a session length for a table: "0.4s", "12s",
// "3m05s", "2h03m".
func HumanDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "-"
	case d < 10*time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%02dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

// Offset prints a session time so that `replay --from` reads it back
// (time.ParseDuration syntax), to the millisecond, rounded down so that
// playing from it shows what happened at that time: "0s", "4.25s",
// "1m2.003s", "1h2m0s".
func Offset(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return d.Truncate(time.Millisecond).String()
}

// HumanSize prints a file size like ls -h: "812", "12K", "3.4M", "1.1G".
func HumanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10)
	}
	f := float64(n)
	for _, suffix := range []string{"K", "M", "G", "T", "P"} {
		f /= unit
		if f < unit || suffix == "P" {
			if f < 10 {
				return strings.TrimSuffix(strconv.FormatFloat(f, 'f', 1, 64), ".0") + suffix
			}
			return strconv.FormatFloat(f, 'f', 0, 64) + suffix
		}
	}
	return strconv.FormatInt(n, 10)
}
