package upload

import (
	"fmt"
	"os"
	"time"
)

// Owner is the rexec process whose session is still writing an entry's
// recording. A session spools its upload when it begins, so that a client
// that is killed (kill -9, a crash, a dead laptop) still leaves it queued;
// until the owner is gone no Drain touches the entry, so a half-written
// file is never uploaded as if it were finished.
type Owner struct {
	PID  int    `json:"pid"`
	Host string `json:"host"`
}

// ownerStaleAfter bounds how long an owner that cannot be checked (another
// host sharing the spool, or no way to probe a process) holds its entry.
const ownerStaleAfter = 12 * time.Hour

// Self is the current process as an Owner.
func Self() *Owner {
	h, _ := os.Hostname()
	return &Owner{PID: os.Getpid(), Host: h}
}

// running reports whether e's session may still be writing its recording.
func (e Entry) running(now time.Time) bool {
	o := e.Owner
	if o == nil {
		return false
	}
	if h, _ := os.Hostname(); h == o.Host {
		if alive, known := processAlive(o.PID); known {
			return alive
		}
	}
	return now.Sub(e.Created) < ownerStaleAfter
}

func (o *Owner) String() string { return fmt.Sprintf("pid %d on %s", o.PID, o.Host) }
