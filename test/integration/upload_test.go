package integration

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/kubectl-rexec/kubectl-rexec/internal/tests3"
	"github.com/kubectl-rexec/kubectl-rexec/internal/testserver"
)

// s3Env is the environment of a user whose config file uploads to srv:
// the credentials and endpoint through the AWS SDK's own variables, the
// rest (path style, retention) in the config file, and a private spool.
func s3Env(t *testing.T, srv *tests3.Server, upload string) []string {
	t.Helper()
	env, _ := configHome(t, "upload:\n"+upload)
	env = append(env, srv.Env()...)
	return append(env, "XDG_STATE_HOME="+t.TempDir())
}

var uploadedLine = regexp.MustCompile(`Session uploaded to (s3://\S+)`)

func getObject(t *testing.T, srv *tests3.Server, url string) []byte {
	t.Helper()
	bucket, key, _ := strings.Cut(strings.TrimPrefix(url, "s3://"), "/")
	out, err := srv.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", url, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// uploaded returns the URL the session r said it uploaded to and the local
// recording, failing unless the object there is that recording byte for
// byte.
func uploaded(t *testing.T, srv *tests3.Server, r run) (string, []byte) {
	t.Helper()
	m := uploadedLine.FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("no upload line in stderr %q", r.stderr)
	}
	local, err := os.ReadFile(r.recording)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(getObject(t, srv, m[1]), local) {
		t.Errorf("the object at %s differs from the local recording", m[1])
	}
	return m[1], local
}

// TestUploadAfterSession: a session's recording lands in the store under
// PREFIX/YYYY/MM/DD/<cluster>/<namespace>/<pod>/<session id>.cast.zst with
// Object Lock, byte for byte the local file, and every reading command
// takes its s3:// URL.
func TestUploadAfterSession(t *testing.T) {
	_, kc := cluster(t, testserver.Options{})
	srv := tests3.Start(t)
	srv.CreateBucket(t, "audit", true)
	env := s3Env(t, srv, "  url: s3://audit/rexec\n  pathStyle: true\n  retention: {mode: COMPLIANCE, days: 1}\n")

	r := rexec(t, kc, env, "", "demo", "--", "sh", "-c", "echo hello-upload; echo oops >&2; exit 3")
	if r.code != 3 {
		t.Fatalf("exit %d, want 3: %s", r.code, r.stderr)
	}
	url, local := uploaded(t, srv, r)
	h := checkRecording(t, r, "", 3)
	day := h.Rexec.Start.UTC().Format("2006/01/02")
	want := "s3://audit/rexec/" + day + "/" + testserver.KubeconfigCluster + "/default/demo/" + h.Rexec.SessionID + ".cast.zst"
	if url != want {
		t.Errorf("uploaded to %s, want %s", url, want)
	}

	// Object Lock: the version cannot be deleted.
	bucket, key, _ := strings.Cut(strings.TrimPrefix(url, "s3://"), "/")
	head, err := srv.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	if head.ObjectLockMode != "COMPLIANCE" || head.ObjectLockRetainUntilDate == nil || time.Until(*head.ObjectLockRetainUntilDate) < 23*time.Hour {
		t.Errorf("object lock %q until %v", head.ObjectLockMode, head.ObjectLockRetainUntilDate)
	}
	if _, err := srv.Client().DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: head.VersionId}); err == nil {
		t.Error("deleting the locked version succeeded")
	}

	// Every reading command takes the URL (the prefix for ls and grep).
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ls", "s3://audit/rexec"}, "default/demo/main"},
		{[]string{"info", url}, h.Rexec.SessionID},
		{[]string{"grep", "hello-upload", "s3://audit/rexec/"}, "hello-upload"},
		{[]string{"export", "--format", "text", url}, "hello-upload"},
		{[]string{"replay", "--no-wait", "-q", url}, "hello-upload\n"},
	} {
		got := runCLI(t, env, tc.args...)
		if got.code != 0 || !strings.Contains(got.stdout, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %q", tc.args, got.code, got.stdout, got.stderr, tc.want)
		}
	}
	// Unsigned, and no audit log: intact but not authenticated.
	if got := runCLI(t, env, "verify", url); got.code != 6 || !strings.Contains(got.stdout, ": CONSISTENT (unsigned: not authenticated)") {
		t.Errorf("verify %s: exit %d, stdout %q, stderr %q", url, got.code, got.stdout, got.stderr)
	}
	// The secret never shows.
	for _, s := range []string{r.stdout, r.stderr, string(local)} {
		if strings.Contains(s, srv.SecretKey) {
			t.Error("the secret key appears in the output or the recording")
		}
	}
}

// TestRefusedAttemptIsUploaded: a session the server refuses (both
// upgrades) still leaves a recording with the server's answer, and it is
// uploaded like any other: a denied attempt belongs in the record.
func TestRefusedAttemptIsUploaded(t *testing.T) {
	_, kc := cluster(t, testserver.Options{RejectWebSocket: true, RejectSPDY: true})
	srv := tests3.Start(t)
	srv.CreateBucket(t, "audit", false)
	env := s3Env(t, srv, "  url: s3://audit/rexec\n  pathStyle: true\n")

	r := rexec(t, kc, env, "", "demo", "--", "true")
	if r.code != 1 || r.recording == "" {
		t.Fatalf("exit %d, recording %q: %s", r.code, r.recording, r.stderr)
	}
	url, _ := uploaded(t, srv, r)
	info := runCLI(t, env, "info", url)
	if info.code != 0 || !strings.Contains(info.stdout, "connection lost") || !strings.Contains(info.stdout, "Message:") {
		t.Errorf("info %s: exit %d, stdout %q", url, info.code, info.stdout)
	}
}

// TestUploadSpoolsWhenTheStoreIsDown: with the store down the session ends
// as usual, says in one line that the upload is queued, and `upload
// --pending` delivers it once the store is back.
func TestUploadSpoolsWhenTheStoreIsDown(t *testing.T) {
	_, kc := cluster(t, testserver.Options{})
	srv := tests3.Start(t)
	srv.CreateBucket(t, "audit", false)
	// No pathStyle: an endpoint at an IP address gets it without asking.
	env := s3Env(t, srv, "  url: s3://audit/rexec\n")
	srv.Stop()

	start := time.Now()
	r := rexec(t, kc, env, "", "demo", "--", "sh", "-c", "echo queued-session; exit 2")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2: %s", r.code, r.stderr)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("the session took %v with the store down", took)
	}
	if !strings.Contains(r.stderr, "queued") || !strings.Contains(r.stderr, "kubectl rexec upload --pending") {
		t.Errorf("stderr does not say the upload is queued: %q", r.stderr)
	}
	if strings.Contains(r.stderr, srv.SecretKey) || strings.Contains(r.stderr, "goroutine ") {
		t.Errorf("stderr: %q", r.stderr)
	}
	list := runCLI(t, env, "upload", "--list")
	if !strings.Contains(list.stdout, r.recording) {
		t.Fatalf("upload --list: %q %q", list.stdout, list.stderr)
	}

	srv.Restart(t)
	p := runCLI(t, env, "upload", "--pending")
	if p.code != 0 || !strings.Contains(p.stdout, "uploaded "+r.recording) {
		t.Fatalf("upload --pending: exit %d, %q %q", p.code, p.stdout, p.stderr)
	}
	if list := runCLI(t, env, "upload", "--list"); !strings.Contains(list.stdout, "No uploads are queued") {
		t.Errorf("queue after --pending: %q", list.stdout)
	}
	if _, err := os.Stat(r.recording); err != nil {
		t.Errorf("the local copy went without removeLocal: %v", err)
	}
	got := runCLI(t, env, "replay", "--no-wait", "-q", "s3://audit/rexec/")
	if got.code == 0 {
		t.Errorf("replay of a prefix succeeded: %q", got.stdout)
	}
	ls := runCLI(t, env, "ls", "-o", "wide", "s3://audit/rexec")
	if ls.code != 0 || !strings.Contains(ls.stdout, "demo") || !strings.Contains(ls.stdout, "complete") {
		t.Errorf("ls s3://: %q %q", ls.stdout, ls.stderr)
	}
}

// liveSegments lists the live segment keys under prefix.
func liveSegments(t *testing.T, srv *tests3.Server, bucket, prefix string) []string {
	t.Helper()
	out, err := srv.Client().ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		if strings.Contains(*o.Key, ".cast.zst.live/") {
			keys = append(keys, *o.Key)
		}
	}
	return keys
}

// TestLiveUploadSurvivesAKilledClient: with live upload, a session's
// output is in the store while it runs; when the client is killed (kill
// -9, as when a laptop dies) what was uploaded replays from s3://, listed
// as abrupt.
func TestLiveUploadSurvivesAKilledClient(t *testing.T) {
	_, kc := cluster(t, testserver.Options{})
	srv := tests3.Start(t)
	srv.CreateBucket(t, "audit", false)
	env := s3Env(t, srv, "  url: s3://audit/live\n  pathStyle: true\n  live: true\n  liveInterval: 1s\n")
	dir := privateDir(t)
	cmd := exec.Command(rexecBin, "--kubeconfig", kc, "--record-dir", dir, "demo", "--", "sh", "-c", "echo live-start; sleep 3600; echo never")
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	var key string
	deadline := time.Now().Add(time.Minute)
	for key == "" && time.Now().Before(deadline) {
		for _, k := range liveSegments(t, srv, "audit", "live/") {
			key = k[:strings.Index(k, ".live/")]
		}
		time.Sleep(200 * time.Millisecond)
	}
	if key == "" {
		t.Fatalf("no live segment within a minute; stderr %q", stderr.String())
	}
	url := "s3://audit/" + key
	// The segments grow as the recorder flushes (once a second).
	deadline = time.Now().Add(time.Minute)
	for {
		got := runCLI(t, env, "replay", "--no-wait", "-q", url)
		if strings.Contains(got.stdout, "live-start") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replay of the live session never showed its output: %q %q", got.stdout, got.stderr)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// Its upload is queued already, but no one touches it while it runs.
	if p := runCLI(t, env, "upload", "--pending"); !strings.Contains(p.stdout, "still being recorded") {
		t.Errorf("upload --pending during the session: %q %q", p.stdout, p.stderr)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	got := runCLI(t, env, "replay", "--no-wait", "-q", url)
	if !strings.Contains(got.stdout, "live-start") || strings.Contains(got.stdout, "never") {
		t.Errorf("replay after kill -9: %q %q", got.stdout, got.stderr)
	}
	ls := runCLI(t, env, "ls", "s3://audit/live")
	if !strings.Contains(ls.stdout, "abrupt") || !strings.Contains(ls.stdout, "demo") {
		t.Errorf("ls after kill -9: %q %q", ls.stdout, ls.stderr)
	}
	// The next run (here upload --pending) uploads the whole local file.
	p := runCLI(t, env, "upload", "--pending")
	if p.code != 0 || !strings.Contains(p.stdout, "uploaded ") {
		t.Fatalf("upload --pending after kill -9: %d %q %q", p.code, p.stdout, p.stderr)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.cast.zst"))
	if len(files) != 1 {
		t.Fatalf("recordings %v", files)
	}
	local, _ := os.ReadFile(files[0])
	if !bytes.Equal(getObject(t, srv, url), local) {
		t.Error("the uploaded object differs from the killed session's local file")
	}
}

// TestLiveUploadEndsInOneObject: a live session that ends normally leaves
// the final object, equal to the local file, and no segments (they are
// deleted when no retention protects them).
func TestLiveUploadEndsInOneObject(t *testing.T) {
	_, kc := cluster(t, testserver.Options{})
	srv := tests3.Start(t)
	srv.CreateBucket(t, "audit", false)
	env := s3Env(t, srv, "  url: s3://audit/live\n  pathStyle: true\n  live: true\n  liveInterval: 1s\n")
	r := rexec(t, kc, env, "", "demo", "--", "sh", "-c", "echo one; sleep 2.5; echo two")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	uploaded(t, srv, r)
	if segs := liveSegments(t, srv, "audit", "live/"); len(segs) != 0 {
		t.Errorf("segments left after the final upload: %v", segs)
	}
}

// TestUploadCommandErrors: the upload command's usage errors and its empty
// queue need no store at all; a store that refuses the credentials is named
// in one line, without the secret.
func TestUploadCommandErrors(t *testing.T) {
	env := append(noConfig(t), "XDG_STATE_HOME="+t.TempDir(), "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	if r := runCLI(t, env, "upload", "--pending"); r.code != 0 || !strings.Contains(r.stdout, "No uploads are queued") {
		t.Errorf("upload --pending, empty queue: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, env, "upload"); r.code == 0 || !strings.Contains(r.stderr, "--pending") {
		t.Errorf("upload without arguments: %d %q", r.code, r.stderr)
	}
	if r := runCLI(t, env, "upload", "--pending", "x.cast.zst"); r.code == 0 {
		t.Errorf("upload --pending FILE accepted: %q", r.stdout)
	}

	srv := tests3.Start(t)
	srv.CreateBucket(t, "audit", false)
	bad := append(s3Env(t, srv, "  url: s3://audit/x\n  pathStyle: true\n"), "AWS_SECRET_ACCESS_KEY=not-the-secret-0123456789")
	rec := exportFixture(t)
	r := runCLI(t, bad, "upload", rec)
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "credentials") || strings.Contains(r.stdout+r.stderr, "not-the-secret-0123456789") {
		t.Errorf("upload with a wrong secret: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, "goroutine ") {
		t.Errorf("stack trace: %q", r.stderr)
	}
}
