package upload

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/config"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/storage"
)

// Putter is what this package needs of the object store; *storage.Store
// has it.
type Putter interface {
	Put(ctx context.Context, in storage.PutInput) (storage.PutResult, error)
	PutBytes(ctx context.Context, u storage.URL, data []byte, meta map[string]string, r *storage.Retention) (storage.PutResult, error)
	Stat(ctx context.Context, u storage.URL) (storage.ObjectInfo, error)
	Delete(ctx context.Context, u storage.URL, versionID string) error
}

var _ Putter = (*storage.Store)(nil)

// UploadGrace is how long an entry that Upload spools is left to Upload's
// own attempt by Drains that do not force: without it, a background Drain
// could claim the entry first and Upload would report it busy.
const UploadGrace = 2 * time.Minute

// Backoff bounds: the n-th failed attempt in a row waits about
// BackoffBase * 2^(n-1), at most BackoffMax, give or take 20%.
const (
	BackoffBase = 30 * time.Second
	BackoffMax  = time.Hour
)

// Entry is one recording waiting for upload: a JSON file in the spool.
type Entry struct {
	// ID names the entry's file (<ID>.json). Enqueue derives it from the
	// recording's absolute path and the target, so that queueing the same
	// upload twice gives one entry.
	ID string `json:"id"`
	// Recording is the local recording's absolute path.
	Recording string `json:"recording"`
	// Target is the object's URL, s3://BUCKET/KEY (see Key).
	Target string `json:"target"`
	// RetentionMode ("GOVERNANCE" or "COMPLIANCE") and RetentionDays, when
	// set, are applied to the object (and to live segments) at every
	// attempt: retain until upload time plus RetentionDays.
	RetentionMode string `json:"retention_mode,omitempty"`
	RetentionDays int    `json:"retention_days,omitempty"`
	// RemoveLocal removes the local recording once its upload is confirmed.
	RemoveLocal bool `json:"remove_local,omitempty"`
	// Live lists the live segments uploaded during the session (Live),
	// deleted once the final object is confirmed unless under retention.
	Live []Segment `json:"live,omitempty"`

	Created     time.Time `json:"created"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// LastError is why the last attempt failed, one line for users.
	LastError string `json:"last_error,omitempty"`
	// Owner is the process still recording this session (owner.go); nil
	// once the session has ended.
	Owner *Owner `json:"owner,omitempty"`
}

// retention is the object lock to apply to an object uploaded at now.
func retention(mode string, days int, now time.Time) *storage.Retention {
	if mode == "" {
		return nil
	}
	return &storage.Retention{Mode: mode, Until: now.Add(time.Duration(days) * 24 * time.Hour)}
}

// Spool is the directory of pending uploads: one <id>.json file per entry
// (mode 0600, in a 0700 directory), written atomically, and while an entry
// is being uploaded an <id>.lock file that an exclusive lock (flock on
// Unix, LockFileEx on Windows) is held on.
type Spool struct {
	Dir string
}

// DefaultSpoolDir is ${XDG_STATE_HOME:-~/.local/state}/kubectl-rexec/spool.
func DefaultSpoolDir() (string, error) {
	state, err := config.StateDir()
	if err != nil {
		return "", fmt.Errorf("find the upload spool directory: %w", err)
	}
	return filepath.Join(state, "spool"), nil
}

func (s *Spool) ensureDir() error {
	if s.Dir == "" {
		return errors.New("upload spool: no directory")
	}
	// Refused when others can write it; tightened to 0700 unless it is a
	// symbolic link (config.PrivateDir).
	_, err := config.PrivateDir(s.Dir, "upload spool", true)
	return err
}

func (s *Spool) entryPath(id string) string { return filepath.Join(s.Dir, id+".json") }
func (s *Spool) lockPath(id string) string  { return filepath.Join(s.Dir, id+".lock") }

// EntryID is the spool ID of an upload of recording (an absolute path) to
// target.
func EntryID(recording, target string) string {
	sum := sha256.Sum256([]byte(recording + "\n" + target))
	return hex.EncodeToString(sum[:10])
}

// Enqueue writes e into the spool and returns it as stored: ID set,
// Recording made absolute, Created set when zero. It replaces an entry for
// the same recording and target.
func (s *Spool) Enqueue(e Entry) (Entry, error) {
	e, err := normalize(e)
	if err != nil {
		return e, err
	}
	if err := s.ensureDir(); err != nil {
		return e, err
	}
	return e, s.write(e)
}

// normalize checks e and fills in what Enqueue fills in.
func normalize(e Entry) (Entry, error) {
	if e.Recording == "" {
		return e, errors.New("upload spool: entry has no recording")
	}
	abs, err := filepath.Abs(e.Recording)
	if err != nil {
		return e, fmt.Errorf("upload spool: %w", err)
	}
	e.Recording = abs
	if u, err := storage.ParseURL(e.Target); err != nil {
		return e, fmt.Errorf("upload spool: target: %w", err)
	} else if u.Key == "" || strings.HasSuffix(u.Key, "/") {
		return e, fmt.Errorf("upload spool: target %s names no object", e.Target)
	}
	if e.RetentionMode != "" && e.RetentionDays <= 0 {
		return e, fmt.Errorf("upload spool: retention mode %s needs a positive number of days", e.RetentionMode)
	}
	if e.ID == "" {
		e.ID = EntryID(e.Recording, e.Target)
	}
	if e.Created.IsZero() {
		e.Created = time.Now().UTC()
	}
	return e, nil
}

// write stores e atomically: a temporary file in the spool, synced, then
// renamed over <id>.json.
func (s *Spool) write(e Entry) error {
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	f, err := os.CreateTemp(s.Dir, ".tmp-"+e.ID+"-*")
	if err != nil {
		return fmt.Errorf("upload spool: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.entryPath(e.ID))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("upload spool: write entry %s: %w", e.ID, err)
	}
	syncDir(s.Dir)
	return nil
}

// syncDir makes a rename durable where the platform allows it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

func (s *Spool) read(id string) (Entry, error) {
	data, err := os.ReadFile(s.entryPath(id))
	if err != nil {
		return Entry{}, err
	}
	var e Entry
	if err := json.Unmarshal(data, &e); err != nil {
		return Entry{}, fmt.Errorf("unreadable spool entry %s: %w", s.entryPath(id), err)
	}
	e.ID = id
	return e, nil
}

// ids lists the entries' IDs.
func (s *Spool) ids() ([]string, error) {
	des, err := os.ReadDir(s.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("upload spool: %w", err)
	}
	var ids []string
	for _, de := range des {
		name := de.Name()
		if !de.Type().IsRegular() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".json") {
			continue
		}
		ids = append(ids, strings.TrimSuffix(name, ".json"))
	}
	return ids, nil
}

// Pending returns the spooled entries, oldest first. Entries it cannot read
// are left out and named in the error, which then joins one error per entry.
func (s *Spool) Pending() ([]Entry, error) {
	ids, err := s.ids()
	if err != nil {
		return nil, err
	}
	var out []Entry
	var errs []error
	for _, id := range ids {
		e, err := s.read(id)
		if errors.Is(err, os.ErrNotExist) {
			continue // uploaded meanwhile
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, e)
	}
	sortEntries(out)
	return out, errors.Join(errs...)
}

func sortEntries(es []Entry) {
	sort.SliceStable(es, func(i, j int) bool {
		if !es[i].Created.Equal(es[j].Created) {
			return es[i].Created.Before(es[j].Created)
		}
		return es[i].ID < es[j].ID
	})
}

// Outcome is what happened to one entry in a Drain or an Upload.
type Outcome string

// Outcomes.
const (
	// Uploaded: the object is in the store and confirmed; the entry is gone.
	Uploaded Outcome = "uploaded"
	// Failed: the attempt failed; the entry stays, retried after NextAttempt.
	Failed Outcome = "failed"
	// Dropped: the entry cannot ever succeed (its recording is gone, or the
	// entry is unreadable) and was removed from the spool.
	Dropped Outcome = "dropped"
	// Busy: another process is uploading the entry right now.
	Busy Outcome = "busy"
	// Waiting: the entry's next attempt is not due yet (Drain without force).
	Waiting Outcome = "waiting"
)

// Result is the outcome of one entry.
type Result struct {
	Entry   Entry
	Outcome Outcome
	// URL, VersionID and Size are the confirmed object (Uploaded).
	URL       string
	VersionID string
	SHA256    string // base64, as the store reports it (composite "-N" for a multipart upload)
	// FileSHA256 is the SHA-256 of the local file, base64, which the
	// object was confirmed to hold.
	FileSHA256 string
	Size       int64
	// AlreadyUploaded: the object was found in the store with the local
	// file's size and SHA-256 (an earlier attempt uploaded it but did not
	// get to remove the entry) and was not uploaded again.
	AlreadyUploaded bool
	LocalRemoved    bool
	// SegmentsDeleted and SegmentsKept count the live segments deleted, or
	// kept because they are under retention, after confirmation.
	SegmentsDeleted int
	SegmentsKept    int
	// Err is why it failed or was dropped; for Uploaded, a problem after
	// confirmation (the local file could not be removed, say). One line.
	Err string
	// NextAttempt is when a Failed entry will be tried again.
	NextAttempt time.Time
}

// String is the result in one line for users.
func (r Result) String() string {
	switch r.Outcome {
	case Uploaded:
		s := "uploaded " + r.Entry.Recording + " to " + r.URL
		if r.VersionID != "" {
			s += " (version " + r.VersionID + ")"
		}
		if r.AlreadyUploaded {
			s += ", already in the store"
		}
		if r.LocalRemoved {
			s += ", local copy removed"
		}
		if r.SegmentsKept > 0 {
			s += fmt.Sprintf(", %d live segments kept under retention", r.SegmentsKept)
		}
		if r.Err != "" {
			s += "; " + r.Err
		}
		return s
	case Failed:
		return fmt.Sprintf("failed %s -> %s (attempt %d): %s; next attempt after %s",
			r.Entry.Recording, r.Entry.Target, r.Entry.Attempts, r.Err, r.NextAttempt.Local().Format(time.DateTime))
	case Dropped:
		return "dropped " + r.Entry.ID + ": " + r.Err
	case Busy:
		if r.Err != "" {
			return "skipped " + r.Entry.Recording + ": " + r.Err
		}
		return "skipped " + r.Entry.Recording + ": " + ErrBusy.Error()
	case Waiting:
		s := fmt.Sprintf("waiting %s -> %s: next attempt after %s",
			r.Entry.Recording, r.Entry.Target, r.Entry.NextAttempt.Local().Format(time.DateTime))
		if r.Entry.LastError != "" {
			s += " (last error: " + r.Entry.LastError + ")"
		}
		return s
	}
	return string(r.Outcome) + " " + r.Entry.ID
}

// Report is what a Drain did, one Result per entry, oldest entry first.
type Report struct {
	Results []Result
}

// Count returns how many entries had outcome o.
func (r Report) Count(o Outcome) int {
	n := 0
	for _, res := range r.Results {
		if res.Outcome == o {
			n++
		}
	}
	return n
}

// String is the report, one line per entry.
func (r Report) String() string {
	var b strings.Builder
	for _, res := range r.Results {
		b.WriteString(res.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// Drain tries every entry that is due at now (every entry when force, as
// `kubectl rexec upload --pending` does), one at a time, and reports on
// each: Uploaded, Failed (with its next attempt, after a backoff that
// doubles with every failure in a row), Dropped, or, without force, Waiting
// for an entry not due yet. An entry another process is uploading is
// reported Busy and left to it; one that another process finished
// meanwhile is not reported. now decides what is due and when a failed
// entry is next due. Drain stops early when ctx is done. Along the way it
// removes what crashed processes left in the spool (stale temporary and
// lock files).
func (s *Spool) Drain(ctx context.Context, store Putter, now time.Time, force bool) Report {
	var rep Report
	ids, err := s.ids()
	if err != nil {
		rep.Results = append(rep.Results, Result{Outcome: Failed, Err: oneLine(err)})
		return rep
	}
	s.tidy()
	// Oldest first; an unreadable entry sorts first and is dropped below.
	type item struct {
		id string
		e  Entry
	}
	var items []item
	for _, id := range ids {
		e, _ := s.read(id)
		e.ID = id
		items = append(items, item{id, e})
	}
	sort.SliceStable(items, func(i, j int) bool {
		a, b := items[i].e, items[j].e
		if !a.Created.Equal(b.Created) {
			return a.Created.Before(b.Created)
		}
		return a.ID < b.ID
	})
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		if !force && now.Before(it.e.NextAttempt) {
			// Not due: no need to claim it (it is checked again under the
			// lock otherwise, as another process may have failed it since).
			rep.Results = append(rep.Results, Result{Entry: it.e, Outcome: Waiting, NextAttempt: it.e.NextAttempt})
			continue
		}
		if r, ok := s.attempt(ctx, store, it.id, now, force); ok {
			rep.Results = append(rep.Results, r)
		}
	}
	return rep
}

// tidy removes what crashed processes leave behind: temporary files more
// than an hour old, and lock files without an entry that nobody holds.
func (s *Spool) tidy() {
	now := time.Now()
	des, err := os.ReadDir(s.Dir)
	if err != nil {
		return
	}
	for _, de := range des {
		name := de.Name()
		switch {
		case strings.HasPrefix(name, ".tmp-"):
			if fi, err := de.Info(); err == nil && now.Sub(fi.ModTime()) > time.Hour {
				_ = os.Remove(filepath.Join(s.Dir, name))
			}
		case strings.HasSuffix(name, ".lock"):
			id := strings.TrimSuffix(name, ".lock")
			if _, err := os.Stat(s.entryPath(id)); !errors.Is(err, os.ErrNotExist) {
				continue
			}
			if lk, err := lockEntry(s.lockPath(id)); err == nil {
				lk.release()
			}
		}
	}
}

// attempt claims entry id and tries it once. ok is false when the entry was
// gone by the time it was claimed.
func (s *Spool) attempt(ctx context.Context, store Putter, id string, now time.Time, force bool) (Result, bool) {
	lk, err := lockEntry(s.lockPath(id))
	if err != nil {
		e, _ := s.read(id)
		e.ID = id
		if errors.Is(err, ErrBusy) {
			return Result{Entry: e, Outcome: Busy, Err: ErrBusy.Error()}, true
		}
		return Result{Entry: e, Outcome: Failed, Err: oneLine(err), NextAttempt: e.NextAttempt}, true
	}
	defer lk.release()
	// Read it again under the lock: another process may have finished it,
	// or failed it and pushed its next attempt back.
	e, err := s.read(id)
	if errors.Is(err, os.ErrNotExist) {
		return Result{}, false
	}
	if err != nil {
		// An entry that cannot be parsed can never be retried; keep the
		// file aside for a human, out of the queue.
		bad := s.entryPath(id) + ".bad"
		_ = os.Rename(s.entryPath(id), bad)
		return Result{Entry: Entry{ID: id}, Outcome: Dropped,
			Err: oneLine(err) + "; moved aside to " + bad}, true
	}
	if e.running(now) {
		return Result{Entry: e, Outcome: Busy, Err: "its session is still being recorded (" + e.Owner.String() + ")"}, true
	}
	if !force && now.Before(e.NextAttempt) {
		return Result{Entry: e, Outcome: Waiting, NextAttempt: e.NextAttempt}, true
	}
	return s.try(ctx, store, e, now, true), true
}

// try uploads e once, confirms it, and updates the spool: the entry is
// removed on success or when it can never succeed, and rewritten with its
// attempt count, backoff and error on failure. With persist false (the
// entry could not be spooled) the spool is left alone.
func (s *Spool) try(ctx context.Context, store Putter, e Entry, now time.Time, persist bool) Result {
	res, err := upload(ctx, store, e)
	res.Entry = e
	switch {
	case err == nil:
		res.Outcome = Uploaded
		var notes []string
		if persist {
			if rerr := os.Remove(s.entryPath(e.ID)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				notes = append(notes, "could not remove the spool entry: "+rerr.Error())
			}
			syncDir(s.Dir)
		}
		if e.RemoveLocal {
			if rerr := os.Remove(e.Recording); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				notes = append(notes, "could not remove the local copy: "+rerr.Error())
			} else {
				res.LocalRemoved = true
			}
		}
		if n := cleanupSegments(ctx, store, e, &res); n != "" {
			notes = append(notes, n)
		}
		if len(notes) > 0 {
			res.Err = oneLine(errors.New(strings.Join(notes, "; ")))
		}
		return res
	case errors.Is(err, errDrop):
		res.Outcome = Dropped
		res.Err = oneLine(err)
		if persist {
			_ = os.Remove(s.entryPath(e.ID))
		}
		return res
	default:
		res.Outcome = Failed
		e.Attempts++
		e.LastError = oneLine(err)
		e.NextAttempt = now.Add(Backoff(e.Attempts, rand.Float64())).UTC()
		res.Entry = e
		res.Err = e.LastError
		res.NextAttempt = e.NextAttempt
		if persist {
			if werr := s.write(e); werr != nil {
				res.Err += "; " + oneLine(werr)
			}
		}
		return res
	}
}

// Backoff is how long to wait after the attempts-th failure in a row:
// BackoffBase doubled for each failure after the first, at most BackoffMax,
// scaled by 0.8 + 0.4*jitter (jitter in [0, 1)) and still at most
// BackoffMax.
func Backoff(attempts int, jitter float64) time.Duration {
	d := BackoffBase
	for i := 1; i < attempts && d < BackoffMax; i++ {
		d *= 2
	}
	d = min(d, BackoffMax)
	d = time.Duration(float64(d) * (0.8 + 0.4*jitter))
	return min(d, BackoffMax)
}

// errDrop marks a failure that retrying cannot fix.
var errDrop = errors.New("dropped")

type dropError struct{ msg string }

func (d *dropError) Error() string        { return d.msg }
func (d *dropError) Is(target error) bool { return target == errDrop }

// upload puts e's recording at its target unless it is there already, and
// confirms it. It does not touch the spool.
func upload(ctx context.Context, store Putter, e Entry) (Result, error) {
	var res Result
	target, err := storage.ParseURL(e.Target)
	if err != nil {
		return res, &dropError{fmt.Sprintf("invalid target %q: %v; the recording stays at %s", e.Target, err, e.Recording)}
	}
	res.URL = target.String()
	sum, size, err := hashFile(e.Recording)
	res.FileSHA256 = sum
	if errors.Is(err, os.ErrNotExist) {
		return res, &dropError{fmt.Sprintf("local recording %s no longer exists; nothing left to upload to %s", e.Recording, res.URL)}
	}
	if err != nil {
		return res, fmt.Errorf("read %s: %w", e.Recording, err)
	}
	// Idempotence: an earlier attempt may have uploaded it and died before
	// removing the entry. Another object at the key is never replaced:
	// Put's conditional write refuses it where the store honours the
	// condition, and this check covers the stores that ignore it (but for
	// a race).
	if info, err := store.Stat(ctx, target); err == nil && matches(info, size, sum) {
		res.AlreadyUploaded = true
		res.VersionID, res.SHA256, res.Size = info.VersionID, info.SHA256, info.Size
		return res, nil
	} else if err == nil {
		return res, keyTaken(res.URL, e.Recording, info)
	} else if !errors.Is(err, storage.ErrNotFound) && (ctx.Err() != nil || unreachable(err)) {
		// The store cannot be reached: the Put would fail the same way.
		// Any other error (a HEAD that is denied, say) does not stop the
		// upload.
		return res, err
	}
	md := recordingMetadata(e.Recording)
	md[MetaSHA256] = sum
	put, err := store.Put(ctx, storage.PutInput{
		URL:       target,
		Path:      e.Recording,
		Metadata:  md,
		Retention: retention(e.RetentionMode, e.RetentionDays, time.Now()),
		SHA256:    sum,
	})
	if errors.Is(err, storage.ErrExists) {
		// Taken since the Stat: by an earlier attempt of ours whose answer
		// was lost, or by someone else.
		if info, serr := store.Stat(ctx, target); serr == nil && matches(info, size, sum) {
			res.AlreadyUploaded = true
			res.VersionID, res.SHA256, res.Size = info.VersionID, info.SHA256, info.Size
			return res, nil
		} else if serr == nil {
			return res, keyTaken(res.URL, e.Recording, info)
		}
		return res, &dropError{fmt.Sprintf("%s; the recording stays at %s", storage.Explain(err), e.Recording)}
	}
	if err != nil {
		return res, err
	}
	if put.FileSHA256 != "" && put.FileSHA256 != sum || put.Size != 0 && put.Size != size {
		return res, fmt.Errorf("the store received %d bytes with SHA-256 %s, but %s has %d bytes with SHA-256 %s (did it change during the upload?)",
			put.Size, put.FileSHA256, e.Recording, size, sum)
	}
	info, err := store.Stat(ctx, target)
	if err != nil {
		return res, fmt.Errorf("uploaded, but could not confirm: %w", err)
	}
	if !matches(info, size, sum) || put.SHA256 != "" && info.SHA256 != "" && info.SHA256 != put.SHA256 {
		return res, fmt.Errorf("uploaded, but the store holds %d bytes with SHA-256 %q where %s has %d bytes with SHA-256 %s",
			info.Size, info.SHA256, e.Recording, size, sum)
	}
	res.VersionID, res.SHA256, res.Size = info.VersionID, info.SHA256, info.Size
	if res.VersionID == "" {
		res.VersionID = put.VersionID
	}
	return res, nil
}

// keyTaken is the error for a target that holds another object: retrying
// cannot help (the spool drops the entry; the local recording stays).
func keyTaken(url, recording string, info storage.ObjectInfo) error {
	return &dropError{fmt.Sprintf("%s already holds another object (%d bytes, SHA-256 %s), and uploads never replace one: "+
		"the recording stays at %s (to keep a copy in the store, kubectl rexec upload --to s3://BUCKET/ANOTHER-PREFIX %s)",
		url, info.Size, orUnknown(info.SHA256), recording, recording)}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// unreachable tells whether err is a failure to reach the store at all.
func unreachable(err error) bool {
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &oe) || errors.As(err, &ne) && ne.Timeout()
}

// matches tells whether the object info describes a file of size bytes with
// SHA-256 sum (base64). The store's own checksum decides when it is the
// whole object's; for a multipart upload it is a composite of the parts'
// (Put had the server verify it against the file), and when the object has
// none, the sha256 metadata the uploader set stands in.
func matches(info storage.ObjectInfo, size int64, sum string) bool {
	if info.Size != size {
		return false
	}
	if info.SHA256 != "" && !strings.Contains(info.SHA256, "-") {
		return info.SHA256 == sum
	}
	return info.Metadata[MetaSHA256] == sum
}

// hashFile returns the base64 SHA-256 and the size of the file at path.
func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)), n, nil
}

// recordingMetadata is Metadata for the recording at path, from its header
// and trailer (found by the frame index, without decompressing the events).
// A file that cannot be read as a recording is still uploaded, with no
// metadata but a note.
func recordingMetadata(path string) map[string]string {
	r, err := record.Open(path)
	if err != nil {
		return map[string]string{"note": metaValue("not readable as a recording: "+err.Error(), maxValue)}
	}
	defer r.Close()
	return Metadata(r.Header(), r.Index().Trailer)
}

// cleanupSegments deletes e's live segments once the final object is
// confirmed, or counts them as kept when they are under retention. It
// returns a note when some could not be deleted.
func cleanupSegments(ctx context.Context, store Putter, e Entry, res *Result) string {
	if len(e.Live) == 0 {
		return ""
	}
	if e.RetentionMode != "" {
		res.SegmentsKept = len(e.Live)
		return ""
	}
	target, err := storage.ParseURL(e.Target)
	if err != nil {
		return ""
	}
	var failed int
	var last error
	for _, seg := range e.Live {
		u := storage.URL{Bucket: target.Bucket, Key: seg.Key}
		if err := store.Delete(ctx, u, seg.VersionID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			failed++
			last = err
			continue
		}
		res.SegmentsDeleted++
	}
	if failed > 0 {
		return fmt.Sprintf("%d of %d live segments could not be deleted (%s)", failed, len(e.Live), oneLine(last))
	}
	return ""
}

// Upload is the exec path's upload right after a session: it spools e
// first, so that a crash during the upload still leaves it queued, tries it
// once, and removes the entry once the upload is confirmed. On failure the
// entry stays queued with its error and backoff, and the error says so. When
// the spool cannot be written, the upload is still tried once, without it.
func (s *Spool) Upload(ctx context.Context, store Putter, e Entry) (storage.PutResult, error) {
	e, err := normalize(e)
	if err != nil {
		return storage.PutResult{}, err
	}
	// A background Drain leaves the entry to this attempt for a while;
	// should this process die, the entry comes due after UploadGrace.
	if e.NextAttempt.IsZero() {
		e.NextAttempt = time.Now().Add(UploadGrace).UTC()
	}
	var r Result
	qerr := s.ensureDir()
	if qerr == nil {
		qerr = s.write(e)
	}
	if qerr != nil {
		r = s.try(ctx, store, e, time.Now(), false)
	} else {
		var ok bool
		r, ok = s.attempt(ctx, store, e.ID, time.Now(), true)
		if !ok {
			// Another process uploaded it between our write and our claim.
			return storage.PutResult{}, nil
		}
	}
	switch r.Outcome {
	case Uploaded:
		return storage.PutResult{VersionID: r.VersionID, SHA256: r.SHA256, FileSHA256: r.FileSHA256, Size: r.Size,
			Multipart: strings.Contains(r.SHA256, "-")}, nil
	case Busy:
		return storage.PutResult{}, fmt.Errorf("upload %s: %w; it stays queued in %s", e.Recording, ErrBusy, s.Dir)
	case Dropped:
		return storage.PutResult{}, fmt.Errorf("upload %s: %s", e.Recording, r.Err)
	}
	if qerr != nil {
		return storage.PutResult{}, fmt.Errorf("upload %s to %s failed: %s; it could not be queued for retry either (%v): the recording stays at %s",
			e.Recording, e.Target, r.Err, qerr, e.Recording)
	}
	return storage.PutResult{}, &QueuedError{Entry: r.Entry, Dir: s.Dir}
}

// QueuedError is Upload's error when the attempt failed and the entry stays
// in the spool for a later Drain.
type QueuedError struct {
	Entry Entry
	Dir   string
}

func (q *QueuedError) Error() string {
	return fmt.Sprintf("upload to %s failed: %s; queued in %s, next attempt after %s (or now with `kubectl rexec upload --pending`)",
		q.Entry.Target, q.Entry.LastError, q.Dir, q.Entry.NextAttempt.Local().Format(time.DateTime))
}

var secretPattern = regexp.MustCompile(`(?i)((?:x-amz-(?:credential|signature|security-token)|signature|awsaccesskeyid)=)[^&\s"']+|(://)[^/@\s]*@|\b(AKIA|ASIA)[A-Z0-9]{16}\b`)

// oneLine makes err one line for users: storage.Explain's wording, the
// first line only, bounded, with anything that looks like a credential
// (signature query parameters, URL user information, access key IDs)
// masked.
func oneLine(err error) string {
	if err == nil {
		return ""
	}
	var s string
	var d *dropError
	if errors.As(err, &d) {
		s = d.msg
	} else {
		s = storage.Explain(err)
	}
	if s == "" {
		s = err.Error()
	}
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	s = secretPattern.ReplaceAllStringFunc(s, func(m string) string {
		sub := secretPattern.FindStringSubmatch(m)
		switch {
		case sub[1] != "":
			return sub[1] + "REDACTED"
		case sub[2] != "":
			return sub[2] + "REDACTED@"
		default:
			return "REDACTED"
		}
	})
	if len(s) > 400 {
		s = s[:400] + "..."
	}
	return strings.TrimSpace(s)
}
