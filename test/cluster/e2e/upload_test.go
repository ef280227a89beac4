package e2e

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/kubectl-rexec/kubectl-rexec/internal/tests3"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// TestUploadThroughKubectl: `kubectl rexec --upload` through kubectl's
// plugin dispatch and a real API server puts the recording, byte for byte,
// under PREFIX/YYYY/MM/DD/<cluster>/<namespace>/<pod>/<session id>.cast.zst
// in a real S3 server (versitygw) with Object Lock, and `kubectl rexec
// verify` accepts the object from there.
func TestUploadThroughKubectl(t *testing.T) {
	srv := tests3.Start(t)
	srv.CreateBucket(t, "audit", true)
	binDir := t.TempDir()
	if err := os.Symlink(rexecBin, filepath.Join(binDir, "kubectl-rexec")); err != nil {
		t.Fatal(err)
	}
	env := append(srv.Env(),
		"PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"XDG_CONFIG_HOME="+t.TempDir(), "XDG_STATE_HOME="+t.TempDir())
	dir := privateDir(t)
	i := inv{kubeconfig: tc.AdminKubeconfig, websocket: true, env: env}
	r := runCmd(t, "kubectl rexec", tc.Kubectl(), []string{"rexec", "--kubeconfig", tc.AdminKubeconfig, "--record-dir", dir,
		"--upload", "s3://audit/e2e", defaultPod, "--", "sh", "-c", "echo uploaded-session; exit 4"}, i)
	if r.code != 4 || r.stdout != "uploaded-session\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	m := regexp.MustCompile(`Session uploaded to s3://audit/(\S+)`).FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("no upload line in %q", r.stderr)
	}
	files := recordingsIn(t, dir)
	if len(files) != 1 {
		t.Fatalf("recordings %v", files)
	}
	rd, err := record.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	h := rd.Header().Rexec
	rd.Close()
	want := "e2e/" + h.Start.UTC().Format("2006/01/02") + "/" + h.Cluster + "/default/" + defaultPod + "/" + h.SessionID + ".cast.zst"
	if h.Cluster == "" || m[1] != want {
		t.Errorf("key %s, want %s", m[1], want)
	}
	out, err := srv.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("audit"), Key: aws.String(m[1])})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	got, _ := io.ReadAll(out.Body)
	local, _ := os.ReadFile(files[0])
	if !bytes.Equal(got, local) {
		t.Error("the object differs from the local recording")
	}
	if out.ObjectLockMode != "" {
		t.Errorf("lock mode %q without a retention setting", out.ObjectLockMode)
	}
	v := runCmd(t, "kubectl rexec verify", tc.Kubectl(), []string{"rexec", "verify", "s3://audit/" + m[1]}, i)
	if v.code != 6 || !strings.Contains(v.stdout, ": CONSISTENT (unsigned: not authenticated)") {
		t.Errorf("verify s3://: exit %d, %q %q", v.code, v.stdout, v.stderr)
	}
}
