package cmd

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testserver"
)

// runDoctorCmd runs `kubectl-rexec ARGS` through the root command, with a
// private HOME so that no discovery cache is shared.
func runDoctorCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	t.Setenv("HOME", t.TempDir())
	var out, errOut bytes.Buffer
	root := NewRootCmd(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

func doctorServer(t *testing.T, token string) *testserver.Server {
	t.Helper()
	pod := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "default", UID: "uid-demo"},
		Spec:       corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "main", Image: "img"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	return testserver.Start(t, testserver.Options{Pods: []corev1.Pod{pod}, Token: token, User: testserver.User{Username: "alice"}})
}

func TestDoctorCommand(t *testing.T) {
	const token = "cmd-doctor-token-8Hq2LmZ"
	srv := doctorServer(t, token)
	kc := srv.Kubeconfig(t)

	// Text, kubeconfig flags before the subcommand's name.
	out, _, err := runDoctorCmd(t, "--kubeconfig", kc, "doctor", "demo", "--rtt-samples", "3", "--throughput-mib", "1")
	if err != nil {
		t.Fatalf("doctor: %v\n%s", err, out)
	}
	for _, want := range []string{"kubectl rexec doctor demo", "✓ 1. kubeconfig", "✓ 6. the stream", "✓ all checks passed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// JSON; a failing report is exit 1 with nothing on stderr.
	out, errOut, err := runDoctorCmd(t, "doctor", "--kubeconfig", kc, "-n", "default", "nope", "-o", "json")
	if err != cmdutil.ErrExit {
		t.Errorf("missing pod: error %v, want cmdutil.ErrExit (exit 1, no message)", err)
	}
	var rep struct {
		OK     bool `json:"ok"`
		Broken struct {
			Check string `json:"check"`
		} `json:"firstBroken"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.OK || rep.Broken.Check != "lookup" {
		t.Errorf("json %+v, %v:\n%s", rep, err, out)
	}
	if errOut != "" {
		t.Errorf("stderr %q", errOut)
	}

	// A token given with --token is used and never printed.
	out, _, err = runDoctorCmd(t, "doctor", "--kubeconfig", kc, "--token", token, "demo", "--rtt-samples", "0", "--throughput-mib", "0")
	if err != nil || !strings.Contains(out, "bearer token (from --token)") || strings.Contains(out, token) {
		t.Errorf("--token: %v\n%s", err, out)
	}
}

func TestDoctorUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"doctor"},
		{"doctor", "a", "b"},
		{"doctor", "demo", "-o", "yaml"},
		{"doctor", "demo", "--timeout", "0s"},
		{"doctor", "demo", "--rtt-samples", "-1"},
		{"doctor", "demo", "--idle", "-1s"},
	} {
		if _, _, err := runDoctorCmd(t, args...); err == nil || !strings.Contains(err.Error(), "See 'kubectl rexec doctor -h'") {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}
