package replay

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseOffset reads a session time as --from and the player's go-to key
// take it: "end" (End), a Go duration ("90s", "1h2m"), a number of seconds
// ("90", "2.5"), or h:mm:ss / m:ss ("1:02:03", "2:03").
func ParseOffset(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "end") {
		return End, nil
	}
	if d, err := ParseSeconds(s); err == nil {
		return d, nil
	}
	if parts := strings.Split(s, ":"); len(parts) >= 2 && len(parts) <= 3 {
		if d, err := hmsToDuration(parts); err == nil {
			return d, nil
		}
	}
	return 0, fmt.Errorf("%q is not a session time: use a duration (90s, 1h2m), seconds, h:mm:ss, or end", s)
}

// ParseSeconds reads a duration that is not negative: a Go duration
// ("2s", "1m30s") or a number of seconds ("2", "0.5"), as asciinema takes
// its idle time limit.
func ParseSeconds(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if !(f >= 0 && f <= float64(1<<62)/float64(time.Second)) { // NaN too
			return 0, fmt.Errorf("%q is out of range", s)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is neither seconds (2, 0.5) nor a duration (2s, 1m30s)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return d, nil
}

// hmsToDuration reads h:mm:ss or m:ss (seconds may have decimals).
func hmsToDuration(parts []string) (time.Duration, error) {
	var total float64
	for i, p := range parts {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f < 0 || (i > 0 && f >= 60) || (i < len(parts)-1 && f != float64(int(f))) {
			return 0, fmt.Errorf("bad h:mm:ss")
		}
		total = total*60 + f
	}
	return time.Duration(total * float64(time.Second)), nil
}
