package upload

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/storage"
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

// checkObject asserts that the object at target holds exactly the file's
// bytes, with the store's SHA-256 and the recording's metadata.
func checkObject(t *testing.T, store *storage.Store, target string, want []byte) storage.ObjectInfo {
	t.Helper()
	u, err := storage.ParseURL(target)
	if err != nil {
		t.Fatal(err)
	}
	info, err := store.Stat(context.Background(), u)
	if err != nil {
		t.Fatalf("stat %s: %v", target, err)
	}
	if info.Size != int64(len(want)) || info.SHA256 != sha(want) {
		t.Errorf("object %s: size %d sha %s, want %d %s", target, info.Size, info.SHA256, len(want), sha(want))
	}
	if got := get(t, store, u); string(got) != string(want) {
		t.Errorf("object %s: content differs from the local recording", target)
	}
	for _, k := range []string{MetaSessionID, MetaUser, MetaCluster, MetaNamespace, MetaPod, MetaStart, MetaEndReason, MetaExitCode, MetaSHA256} {
		if info.Metadata[k] == "" {
			t.Errorf("object %s: no %s metadata (%v)", target, k, info.Metadata)
		}
	}
	return info
}

// TestSpoolOutage: with the server down, Upload fails fast and leaves the
// entry spooled with its error and backoff; after a restart a forced Drain
// uploads, confirms and removes it, and keeps the local recording.
func TestSpoolOutage(t *testing.T) {
	srv, store := startS3(t)
	dir := t.TempDir()
	sp := &Spool{Dir: filepath.Join(dir, "state", "spool")}
	path, h := recording(t, dir, 20000)
	want := fileBytes(t, path)
	e := entryFor(path, h, bucket)

	srv.Stop()
	begin := time.Now()
	cs := &countingStore{Store: store}
	_, err := sp.Upload(context.Background(), cs, e)
	took := time.Since(begin)
	t.Logf("Upload with the server down failed in %v: %v", took, err)
	var qe *QueuedError
	if !errors.As(err, &qe) {
		t.Fatalf("Upload error = %v, want a QueuedError", err)
	}
	if took > 20*time.Second {
		t.Errorf("Upload took %v to fail", took)
	}
	if n := len(cs.puts); n != 0 {
		t.Errorf("Upload tried %d Puts after the store proved unreachable", n)
	}
	es := mustPending(t, sp)
	if len(es) != 1 {
		t.Fatalf("pending = %d entries, want 1", len(es))
	}
	got := es[0]
	if got.Attempts != 1 || !strings.Contains(got.LastError, "cannot reach") || strings.Contains(got.LastError, "\n") {
		t.Errorf("entry after failure: attempts %d, last error %q", got.Attempts, got.LastError)
	}
	// The failure happened between begin and begin+took, so the backoff it
	// set lies between these bounds whatever the machine's load.
	if lo, hi := got.NextAttempt.Sub(begin.Add(took)), got.NextAttempt.Sub(begin); hi < Backoff(1, 0) || lo > Backoff(1, 1) {
		t.Errorf("next attempt %v after the failure, want %v to %v", lo, Backoff(1, 0), Backoff(1, 1))
	}
	if got.Recording != path || got.Target != e.Target {
		t.Errorf("entry = %+v", got)
	}
	for _, secret := range []string{srv.SecretKey, srv.AccessKey} {
		if data := string(fileBytes(t, sp.entryPath(got.ID))); secret != "" && strings.Contains(data, secret) {
			t.Errorf("spool entry holds a credential: %s", data)
		}
	}
	if runtime.GOOS != "windows" {
		if m := mode(t, sp.Dir); m != 0o700 {
			t.Errorf("spool dir mode %04o, want 0700", m)
		}
		if m := mode(t, sp.entryPath(got.ID)); m != 0o600 {
			t.Errorf("spool entry mode %04o, want 0600", m)
		}
	}

	// Not due yet: a plain Drain waits.
	rep := sp.Drain(context.Background(), store, time.Now(), false)
	if rep.Count(Waiting) != 1 || len(rep.Results) != 1 {
		t.Fatalf("Drain before the backoff:\n%s", rep)
	}
	// Still down: a forced Drain fails again, with a longer backoff.
	// The backoff counts from the now Drain is given, not from when the
	// refused connection gave up, which a loaded machine can make seconds later.
	now := time.Now()
	rep = sp.Drain(context.Background(), store, now, true)
	if rep.Count(Failed) != 1 || rep.Results[0].Entry.Attempts != 2 {
		t.Fatalf("forced Drain with the server down:\n%s", rep)
	}
	if d := rep.Results[0].NextAttempt.Sub(now); d < Backoff(2, 0) || d > Backoff(2, 1) {
		t.Errorf("second backoff %v, want %v to %v", d, Backoff(2, 0), Backoff(2, 1))
	}
	t.Logf("report: %s", rep)

	srv.Restart(t)
	rep = sp.Drain(context.Background(), store, time.Now(), true)
	t.Logf("report: %s", rep)
	if rep.Count(Uploaded) != 1 || len(rep.Results) != 1 {
		t.Fatalf("Drain after restart:\n%s", rep)
	}
	r := rep.Results[0]
	if r.URL != e.Target || r.AlreadyUploaded || r.LocalRemoved || r.Size != int64(len(want)) {
		t.Errorf("result = %+v", r)
	}
	info := checkObject(t, store, e.Target, want)
	if r.VersionID != info.VersionID {
		t.Errorf("reported version %q, store has %q", r.VersionID, info.VersionID)
	}
	if es := mustPending(t, sp); len(es) != 0 {
		t.Errorf("entries left: %+v", es)
	}
	if left, _ := os.ReadDir(sp.Dir); len(left) != 0 {
		t.Errorf("spool dir not empty: %v", left)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("local recording removed without RemoveLocal: %v", err)
	}
}

// TestSpoolUpload: the exec path's Upload, with and without RemoveLocal,
// and under retention.
func TestSpoolUpload(t *testing.T) {
	_, store := startS3(t)
	dir := t.TempDir()
	sp := &Spool{Dir: filepath.Join(dir, "spool")}
	ctx := context.Background()

	t.Run("keep local", func(t *testing.T) {
		path, h := recording(t, dir, 5000)
		want := fileBytes(t, path)
		e := entryFor(path, h, bucket)
		res, err := sp.Upload(ctx, store, e)
		if err != nil {
			t.Fatal(err)
		}
		if res.Size != int64(len(want)) || res.SHA256 != sha(want) {
			t.Errorf("PutResult = %+v", res)
		}
		checkObject(t, store, e.Target, want)
		if _, err := os.Stat(path); err != nil {
			t.Errorf("local recording: %v", err)
		}
		if es := mustPending(t, sp); len(es) != 0 {
			t.Errorf("entries left: %+v", es)
		}
	})
	t.Run("remove local", func(t *testing.T) {
		path, h := recording(t, dir, 5000)
		want := fileBytes(t, path)
		e := entryFor(path, h, bucket)
		e.RemoveLocal = true
		if _, err := sp.Upload(ctx, store, e); err != nil {
			t.Fatal(err)
		}
		checkObject(t, store, e.Target, want)
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("local recording still there after a confirmed upload with RemoveLocal: %v", err)
		}
	})
	t.Run("remove local not on failure", func(t *testing.T) {
		path, h := recording(t, dir, 5000)
		e := entryFor(path, h, "no-such-bucket")
		e.RemoveLocal = true
		_, err := sp.Upload(ctx, store, e)
		t.Logf("error: %v", err)
		if err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("Upload to a missing bucket: %v", err)
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("local recording removed after a failed upload: %v", err)
		}
		if es := mustPending(t, sp); len(es) != 1 {
			t.Errorf("entries = %+v, want the failed one", es)
		}
		rep := sp.Drain(ctx, store, time.Now().Add(time.Hour), false)
		if rep.Count(Failed) != 1 {
			t.Errorf("Drain:\n%s", rep)
		}
		if err := os.Remove(sp.entryPath(mustPending(t, sp)[0].ID)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("background drain leaves it to Upload", func(t *testing.T) {
		path, h := recording(t, dir, 5000)
		e := entryFor(path, h, bucket)
		var during Report
		cs := &countingStore{Store: store, onPut: func() {
			during = sp.Drain(ctx, store, time.Now(), false)
		}}
		if _, err := sp.Upload(ctx, cs, e); err != nil {
			t.Fatal(err)
		}
		if len(during.Results) != 1 || during.Count(Waiting) != 1 {
			t.Errorf("Drain during Upload:\n%s", during)
		}
		// A forced one finds it busy and leaves it alone.
		path, h = recording(t, dir, 5000)
		e = entryFor(path, h, bucket)
		cs.onPut = func() { during = sp.Drain(ctx, store, time.Now(), true) }
		if _, err := sp.Upload(ctx, cs, e); err != nil {
			t.Fatal(err)
		}
		if len(during.Results) != 1 || during.Count(Busy) != 1 {
			t.Errorf("forced Drain during Upload:\n%s", during)
		}
		t.Logf("during Upload: %s", during)
	})
	t.Run("retention", func(t *testing.T) {
		path, h := recording(t, dir, 5000)
		want := fileBytes(t, path)
		e := entryFor(path, h, lockedBucket)
		e.RetentionMode, e.RetentionDays = "GOVERNANCE", 1
		res, err := sp.Upload(ctx, store, e)
		if err != nil {
			t.Fatal(err)
		}
		info := checkObject(t, store, e.Target, want)
		if info.Retention == nil || info.Retention.Mode != "GOVERNANCE" ||
			info.Retention.Until.Before(time.Now().Add(23*time.Hour)) || info.Retention.Until.After(time.Now().Add(25*time.Hour)) {
			t.Errorf("retention = %+v", info.Retention)
		}
		if res.VersionID == "" || res.VersionID != info.VersionID {
			t.Errorf("version %q, store has %q", res.VersionID, info.VersionID)
		}
		u, _ := storage.ParseURL(e.Target)
		if err := store.Delete(ctx, u, info.VersionID); err == nil {
			t.Errorf("deleting a version under retention succeeded")
		}
	})
}

// TestSpoolIdempotent: an entry whose object is already in the store (the
// previous run died after uploading, before removing the entry) is
// confirmed without a second upload.
func TestSpoolIdempotent(t *testing.T) {
	_, store := startS3(t)
	dir := t.TempDir()
	sp := &Spool{Dir: filepath.Join(dir, "spool")}
	ctx := context.Background()
	path, h := recording(t, dir, 5000)
	e := entryFor(path, h, lockedBucket) // versioned: a second upload would be a second version
	first, err := sp.Upload(ctx, store, e)
	if err != nil {
		t.Fatal(err)
	}
	e.RemoveLocal = true
	if _, err := sp.Enqueue(e); err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{Store: store}
	rep := sp.Drain(ctx, cs, time.Now(), false)
	t.Logf("report: %s", rep)
	if rep.Count(Uploaded) != 1 || !rep.Results[0].AlreadyUploaded || rep.Results[0].VersionID != first.VersionID {
		t.Fatalf("Drain:\n%s", rep)
	}
	u, _ := storage.ParseURL(e.Target)
	if n := cs.count(u.Key); n != 0 {
		t.Errorf("%d uploads, want none", n)
	}
	if v := versions(t, store, u); v[u.Key] != 1 {
		t.Errorf("versions = %v, want 1", v)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("local recording kept: %v", err)
	}

	// A different file under the same key is refused: uploads never
	// replace an object, not even with a new version.
	path2, _ := recording(t, dir, 6000)
	e2 := e
	e2.Recording, e2.RemoveLocal = path2, false
	if _, err := sp.Upload(ctx, cs, e2); err == nil || !strings.Contains(err.Error(), "already holds another object") {
		t.Errorf("upload of different content under the same key: %v", err)
	}
	if v := versions(t, store, u); v[u.Key] != 1 || cs.count(u.Key) != 0 {
		t.Errorf("versions = %v, %d puts; want the one version, no put", v, cs.count(u.Key))
	}
}

// TestSpoolMissingRecording: an entry whose recording the user deleted is
// dropped with a clear message, never retried.
func TestSpoolMissingRecording(t *testing.T) {
	_, store := startS3(t)
	dir := t.TempDir()
	sp := &Spool{Dir: filepath.Join(dir, "spool")}
	path, h := recording(t, dir, 1000)
	e, err := sp.Enqueue(entryFor(path, h, bucket))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	// A corrupt entry is set aside too.
	if err := os.WriteFile(filepath.Join(sp.Dir, "garbage.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Pending(); err == nil {
		t.Errorf("Pending does not report the unreadable entry")
	}
	cs := &countingStore{Store: store}
	rep := sp.Drain(context.Background(), cs, time.Now(), false)
	t.Logf("report: %s", rep)
	if rep.Count(Dropped) != 2 || len(rep.Results) != 2 {
		t.Fatalf("Drain:\n%s", rep)
	}
	var found bool
	for _, r := range rep.Results {
		if r.Entry.ID == e.ID {
			found = true
			if !strings.Contains(r.Err, "no longer exists") || !strings.Contains(r.Err, path) {
				t.Errorf("dropped with %q", r.Err)
			}
		}
	}
	if !found {
		t.Errorf("entry %s not reported", e.ID)
	}
	if es, err := sp.Pending(); len(es) != 0 || err != nil {
		t.Errorf("entries left: %+v, %v", es, err)
	}
	if len(cs.puts) != 0 {
		t.Errorf("uploads: %v", cs.puts)
	}
	if _, err := os.Stat(filepath.Join(sp.Dir, "garbage.json.bad")); err != nil {
		t.Errorf("unreadable entry not kept aside: %v", err)
	}
}

// TestSpoolConcurrentDrains: two Drains in this process and two in other
// processes, over the same spool at once, upload every entry exactly once.
func TestSpoolConcurrentDrains(t *testing.T) {
	_, store := startS3(t)
	dir := t.TempDir()
	sp := &Spool{Dir: filepath.Join(dir, "spool")}
	const n = 12
	var keys []string
	for range n {
		path, h := recording(t, dir, 3000)
		e, err := sp.Enqueue(entryFor(path, h, lockedBucket))
		if err != nil {
			t.Fatal(err)
		}
		u, _ := storage.ParseURL(e.Target)
		keys = append(keys, u.Key)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var procs []*exec.Cmd
	var outs []*strings.Builder
	for range 2 {
		cmd := exec.Command(exe, "-test.run=^TestHelperDrain$", "-test.v")
		cmd.Env = append(os.Environ(), "UPLOAD_HELPER_SPOOL="+sp.Dir, "UPLOAD_HELPER_ENDPOINT="+store.Endpoint())
		out := &strings.Builder{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs, outs = append(procs, cmd), append(outs, out)
	}
	cs := &countingStore{Store: store, delay: 50 * time.Millisecond}
	var wg sync.WaitGroup
	reps := make([]Report, 2)
	for i := range reps {
		wg.Go(func() { reps[i] = sp.Drain(context.Background(), cs, time.Now(), true) })
	}
	wg.Wait()
	for i, p := range procs {
		if err := p.Wait(); err != nil {
			t.Errorf("helper %d: %v\n%s", i, err, outs[i])
		}
	}
	uploaded := map[string]int{}
	var busy int
	for _, rep := range reps {
		for _, r := range rep.Results {
			switch r.Outcome {
			case Uploaded:
				uploaded[r.Entry.ID]++
			case Busy:
				busy++
			default:
				t.Errorf("unexpected result: %s", r)
			}
		}
	}
	var helperUploads int
	for _, out := range outs {
		helperUploads += strings.Count(out.String(), "RESULT uploaded")
	}
	for _, out := range outs {
		busy += strings.Count(out.String(), "RESULT busy")
	}
	t.Logf("in-process drains uploaded %d, helper processes %d, of %d; %d claims found the entry busy", len(uploaded), helperUploads, n, busy)
	for id, c := range uploaded {
		if c != 1 {
			t.Errorf("entry %s uploaded %d times in this process", id, c)
		}
	}
	if len(uploaded)+helperUploads != n {
		t.Errorf("%d uploads reported, want %d", len(uploaded)+helperUploads, n)
	}
	v := versions(t, store, storage.URL{Bucket: lockedBucket, Key: "rexec/"})
	for _, k := range keys {
		if v[k] != 1 {
			t.Errorf("%s has %d versions, want 1", k, v[k])
		}
	}
	if es := mustPending(t, sp); len(es) != 0 {
		t.Errorf("entries left: %d", len(es))
	}
	if left, _ := os.ReadDir(sp.Dir); len(left) != 0 {
		t.Errorf("spool dir not empty: %v", left)
	}
}

// TestHelperDrain is TestSpoolConcurrentDrains's other process.
func TestHelperDrain(t *testing.T) {
	dir := os.Getenv("UPLOAD_HELPER_SPOOL")
	if dir == "" {
		t.Skip("helper process for TestSpoolConcurrentDrains")
	}
	store, err := storage.New(context.Background(), storage.Settings{Endpoint: os.Getenv("UPLOAD_HELPER_ENDPOINT"), PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	sp := &Spool{Dir: dir}
	rep := sp.Drain(context.Background(), &countingStore{Store: store, delay: 50 * time.Millisecond}, time.Now(), true)
	for _, r := range rep.Results {
		fmt.Printf("RESULT %s %s\n", r.Outcome, r.Entry.ID)
		if r.Outcome != Uploaded && r.Outcome != Busy {
			t.Errorf("%s", r)
		}
	}
}

// TestSpoolMultipart: a recording large enough for a multipart upload is
// confirmed through the composite checksum and the sha256 metadata, and
// recognized as already uploaded.
func TestSpoolMultipart(t *testing.T) {
	_, store := startS3(t)
	defer func(th, ps int64) { storage.MultipartThreshold, storage.PartSize = th, ps }(storage.MultipartThreshold, storage.PartSize)
	storage.MultipartThreshold, storage.PartSize = 5<<20, 5<<20
	dir := t.TempDir()
	sp := &Spool{Dir: filepath.Join(dir, "spool")}
	ctx := context.Background()
	path, h := recording(t, dir, 11<<20)
	want := fileBytes(t, path)
	e := entryFor(path, h, lockedBucket)
	begin := time.Now()
	res, err := sp.Upload(ctx, store, e)
	t.Logf("%d bytes uploaded in %v: %+v", len(want), time.Since(begin), res)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.SHA256, "-") || res.FileSHA256 != sha(want) {
		t.Errorf("PutResult = %+v, want a composite checksum", res)
	}
	u, _ := storage.ParseURL(e.Target)
	if got := get(t, store, u); string(got) != string(want) {
		t.Errorf("object differs from the file")
	}
	if _, err := sp.Enqueue(e); err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{Store: store}
	rep := sp.Drain(ctx, cs, time.Now(), true)
	if rep.Count(Uploaded) != 1 || !rep.Results[0].AlreadyUploaded || len(cs.puts) != 0 {
		t.Errorf("Drain of an uploaded multipart entry:\n%s(puts %v)", rep, cs.puts)
	}
	if v := versions(t, store, u); v[u.Key] != 1 {
		t.Errorf("versions %v", v)
	}
}
