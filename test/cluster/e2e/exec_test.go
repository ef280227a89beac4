package e2e

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
)

// TestExitCodesAndStreams: output on both streams and exit codes 0, 1, 3
// and 127, on both protocols; the recording holds both streams and the code.
func TestExitCodesAndStreams(t *testing.T) {
	for _, code := range []string{"0", "1", "3", "127"} {
		t.Run("exit"+code, func(t *testing.T) {
			eachProto(t, func(t *testing.T, p proto) {
				argv := []string{"sh", "-c", "echo out; echo err >&2; echo more out; exit " + code}
				k, r := both(t, inv{kubeconfig: tc.AdminKubeconfig, websocket: p.websocket, args: append([]string{defaultPod, "--"}, argv...)})
				n := atoi(t, code)
				if k.code != n || k.stdout != "out\nmore out\n" || k.stderr != "err\n"+kubectlTail(n) {
					t.Errorf("kubectl itself: exit %d, stdout %q, stderr %q", k.code, k.stdout, k.stderr)
				}
				rc := onlyRecording(t, r)
				checkRecording(t, rc, wantRec{
					kubeconfig: tc.AdminKubeconfig, proto: p, pod: defaultPod, container: "main", argv: argv,
					stdout: []byte("out\nmore out\n"), stderr: []byte("err\n"), input: []byte{}, exit: n,
				})
				checkReplay(t, rc, r.stdout, "err\n")
			})
		})
	}
}

// TestMissingExecutable: the node answers a missing executable with a
// message on stderr and exit 127 (as runc-based runtimes' shims do).
func TestMissingExecutable(t *testing.T) {
	eachProto(t, func(t *testing.T, p proto) {
		argv := []string{"no-such-command-rexec-e2e"}
		k, r := both(t, inv{kubeconfig: tc.AdminKubeconfig, websocket: p.websocket, args: append([]string{defaultPod, "--"}, argv...)})
		if k.code != 127 || !strings.Contains(k.stderr, "executable file not found") {
			t.Errorf("kubectl itself: exit %d, stderr %q", k.code, k.stderr)
		}
		remote := strings.TrimSuffix(k.stderr, kubectlTail(127))
		rc := onlyRecording(t, r)
		checkRecording(t, rc, wantRec{
			kubeconfig: tc.AdminKubeconfig, proto: p, pod: defaultPod, container: "main", argv: argv,
			stdout: []byte{}, stderr: []byte(remote), exit: 127,
		})
		checkReplay(t, rc, "", remote)
	})
}

// TestStdinPiped: `-i` with a few hundred KB of binary data piped to `cat`;
// stdin EOF ends the command.
func TestStdinPiped(t *testing.T) {
	in := make([]byte, 384<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range in {
		in[i] = byte(rng.Uint32())
	}
	// Some text too, so both the text and the binary event paths are used.
	copy(in, strings.Repeat("plain text line\n", 1024))
	eachProto(t, func(t *testing.T, p proto) {
		argv := []string{"cat"}
		k, r := both(t, inv{kubeconfig: tc.AdminKubeconfig, websocket: p.websocket, stdin: in, args: append([]string{"-i", defaultPod, "--"}, argv...)})
		if k.code != 0 || k.stdout != string(in) {
			t.Errorf("kubectl itself: exit %d, %d bytes out of %d, stderr %q", k.code, len(k.stdout), len(in), k.stderr)
		}
		// Generous for a loaded machine; without the EOF, cat never ends.
		if k.took > 45*time.Second || r.took > 45*time.Second {
			t.Errorf("stdin EOF did not end cat promptly: kubectl %v, rexec %v", k.took, r.took)
		}
		rc := onlyRecording(t, r)
		checkRecording(t, rc, wantRec{
			kubeconfig: tc.AdminKubeconfig, proto: p, pod: defaultPod, container: "main", argv: argv, stdin: true,
			stdout: in, stderr: []byte{}, input: in, exit: 0,
		})
		// Binary output: only --raw gives it back byte for byte; by default
		// replay filters sequences that act outside the screen (random bytes
		// contain some), so it may print less.
		checkReplay(t, rc, r.stdout, "", "--raw")
		if out, _ := replay(t, rc.path); len(out) > len(in) {
			t.Errorf("filtered replay printed %d bytes, more than the %d recorded", len(out), len(in))
		} else {
			t.Logf("filtered replay: %d of %d bytes", len(out), len(in))
		}
	})
}

// TestContainerSelection: -c, the default-container annotation, and
// kubectl's "Defaulted container" notice for a pod without it.
func TestContainerSelection(t *testing.T) {
	ctx := context.Background()
	if _, err := tc.CreatePod(ctx, "default", "two", "first", "second"); err != nil {
		t.Fatal(err)
	}
	createPod(t, "annotated", map[string]string{"app": "annotated"},
		map[string]string{"kubectl.kubernetes.io/default-container": "second"}, "first", "second")
	argv := []string{"sh", "-c", `echo "$POD_NAME/$CONTAINER"`}
	for _, tt := range []struct {
		name, pod, container string
		flags                []string
	}{
		{"flag", "two", "second", []string{"-c", "second"}},
		{"flag-first", "annotated", "first", []string{"--container=first"}},
		{"annotation", "annotated", "second", nil},
		{"defaulted", "two", "first", nil}, // kubectl notes on stderr which one it took
	} {
		t.Run(tt.name, func(t *testing.T) {
			eachProto(t, func(t *testing.T, p proto) {
				args := append(append([]string{tt.pod}, tt.flags...), append([]string{"--"}, argv...)...)
				k, r := both(t, inv{kubeconfig: tc.AdminKubeconfig, websocket: p.websocket, args: args})
				want := tt.pod + "/" + tt.container + "\n"
				if k.code != 0 || k.stdout != want {
					t.Errorf("kubectl itself: exit %d, stdout %q (want %q), stderr %q", k.code, k.stdout, want, k.stderr)
				}
				if tt.name == "defaulted" && !strings.Contains(k.stderr, `Defaulted container "first" out of: first, second`) {
					t.Errorf("kubectl did not note the defaulted container: %q", k.stderr)
				}
				rc := onlyRecording(t, r)
				checkRecording(t, rc, wantRec{
					kubeconfig: tc.AdminKubeconfig, proto: p, pod: tt.pod, container: tt.container, argv: argv,
					stdout: []byte(want), stderr: []byte{}, exit: 0,
				})
				checkReplay(t, rc, want, "")
			})
		})
	}
}

// TestDeployment: deploy/NAME. Without a controller manager nothing makes
// ReplicaSets; kubectl lists pods by the deployment's selector, so a pod
// with matching labels is all it needs.
func TestDeployment(t *testing.T) {
	ctx := context.Background()
	labels := map[string]string{"app": "web-e2e"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: tc.NodeImage(), Command: []string{"sleep", "infinity"},
				}}},
			},
		},
	}
	if _, err := tc.Client.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating deployment: %v", err)
	}
	createPod(t, "web-5d8f7c6b9-x2k4q", labels, nil, "web")
	argv := []string{"sh", "-c", `echo "$POD_NAME/$CONTAINER"; exit 6`}
	for _, ref := range []string{"deploy/web", "deployment.apps/web"} {
		t.Run(strings.ReplaceAll(ref, "/", "_"), func(t *testing.T) {
			eachProto(t, func(t *testing.T, p proto) {
				k, r := both(t, inv{kubeconfig: tc.AdminKubeconfig, websocket: p.websocket, args: append([]string{ref, "--"}, argv...)})
				if k.code != 6 || k.stdout != "web-5d8f7c6b9-x2k4q/web\n" {
					t.Errorf("kubectl itself: exit %d, stdout %q, stderr %q", k.code, k.stdout, k.stderr)
				}
				rc := onlyRecording(t, r)
				checkRecording(t, rc, wantRec{
					kubeconfig: tc.AdminKubeconfig, proto: p, pod: "web-5d8f7c6b9-x2k4q", container: "web", argv: argv,
					stdout: []byte("web-5d8f7c6b9-x2k4q/web\n"), stderr: []byte{}, exit: 6,
				})
				checkReplay(t, rc, r.stdout, "")
			})
		})
	}
}

// TestTokenKubeconfig: a bearer-token user; the header names that user.
func TestTokenKubeconfig(t *testing.T) {
	eachProto(t, func(t *testing.T, p proto) {
		argv := []string{"sh", "-c", "echo $POD_NAMESPACE/$POD_NAME; exit 2"}
		k, r := both(t, inv{kubeconfig: tc.TokenKubeconfig, websocket: p.websocket, args: append([]string{defaultPod, "--"}, argv...)})
		if k.code != 2 || k.stdout != "default/"+defaultPod+"\n" {
			t.Errorf("kubectl itself: exit %d, stdout %q, stderr %q", k.code, k.stdout, k.stderr)
		}
		rc := onlyRecording(t, r)
		checkRecording(t, rc, wantRec{
			kubeconfig: tc.TokenKubeconfig, proto: p, pod: defaultPod, container: "main", argv: argv,
			stdout: []byte("default/" + defaultPod + "\n"), stderr: []byte{}, exit: 2,
		})
		checkReplay(t, rc, r.stdout, "")
	})
}

// TestQuiet: with -q rexec adds nothing at all to stderr.
func TestQuiet(t *testing.T) {
	eachProto(t, func(t *testing.T, p proto) {
		argv := []string{"sh", "-c", "echo out; echo err >&2; exit 5"}
		k, r := both(t, inv{kubeconfig: tc.AdminKubeconfig, websocket: p.websocket, args: append([]string{"-q", defaultPod, "--"}, argv...)})
		if r.stderr != k.stderr {
			t.Errorf("with -q rexec's stderr %q differs from kubectl's %q", r.stderr, k.stderr)
		}
		if len(r.recordings) != 1 {
			t.Fatalf("want one recording, got %v", r.recordings)
		}
		rc := readRecording(t, r.recordings[0])
		checkRecording(t, rc, wantRec{
			kubeconfig: tc.AdminKubeconfig, proto: p, pod: defaultPod, container: "main", argv: argv,
			stdout: []byte("out\n"), stderr: []byte("err\n"), exit: 5,
		})
	})
}

// TestPluginDispatch: `kubectl rexec` finds kubectl-rexec on PATH and
// behaves as the binary run directly.
func TestPluginDispatch(t *testing.T) {
	binDir := t.TempDir()
	if err := os.Symlink(rexecBin, filepath.Join(binDir, "kubectl-rexec")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := privateDir(t)
	argv := []string{"sh", "-c", "echo via plugin; exit 7"}
	i := inv{kubeconfig: tc.AdminKubeconfig, websocket: true}
	r := runCmd(t, "kubectl rexec", tc.Kubectl(),
		append([]string{"rexec", "--kubeconfig", tc.AdminKubeconfig, "--record-dir", dir, defaultPod, "--"}, argv...), i)
	r.recordDir, r.recordings = dir, recordingsIn(t, dir)
	if r.code != 7 || r.stdout != "via plugin\n" || withoutRecordedLine(r.stderr) != kubectlTail(7) {
		t.Errorf("kubectl rexec: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	rc := onlyRecording(t, r)
	checkRecording(t, rc, wantRec{
		kubeconfig: tc.AdminKubeconfig, proto: protos[0], pod: defaultPod, container: "main", argv: argv,
		stdout: []byte("via plugin\n"), stderr: []byte{}, exit: 7,
	})
}

// TestMissingPod: the API server's NotFound, exit 1, and no recording: the
// session never started.
func TestMissingPod(t *testing.T) {
	eachProto(t, func(t *testing.T, p proto) {
		k, r := both(t, inv{kubeconfig: tc.AdminKubeconfig, websocket: p.websocket, args: []string{"nope", "--", "true"}})
		want := `Error from server (NotFound): pods "nope" not found` + "\n"
		if k.code != 1 || k.stderr != want || k.stdout != "" {
			t.Errorf("kubectl itself: exit %d, stdout %q, stderr %q; want 1 and %q", k.code, k.stdout, k.stderr, want)
		}
		if r.stderr != want {
			t.Errorf("rexec stderr %q, want exactly %q (no Session recorded line)", r.stderr, want)
		}
		if len(r.recordings) != 0 {
			t.Errorf("a missing pod left recordings %v", r.recordings)
		}
	})
}

// TestForbidden: a user who may read pods but not create pods/exec gets the
// same Forbidden from both tools. The upgrade is refused after rexec has
// created the recording (it is created before anything reaches the pod), so
// rexec leaves an empty-handed recording: the header, no events, and a
// trailer without an exit code.
func TestForbidden(t *testing.T) {
	eachProto(t, func(t *testing.T, p proto) {
		argv := []string{"sh", "-c", "echo should not run"}
		k, r := both(t, inv{kubeconfig: tc.ViewerKubeconfig, websocket: p.websocket, args: append([]string{defaultPod, "--"}, argv...)})
		if k.code != 1 || k.stdout != "" || !strings.Contains(k.stderr, `User "viewer" cannot create resource "pods/exec"`) {
			t.Errorf("kubectl itself: exit %d, stdout %q, stderr %q; want a Forbidden error", k.code, k.stdout, k.stderr)
		}
		switch len(r.recordings) {
		case 0:
			t.Logf("rexec left no recording")
		case 1:
			rc := readRecording(t, r.recordings[0])
			m := rc.header.Rexec
			t.Logf("rexec left an empty-handed recording: user %q, protocol %q, %d events, trailer reason %q, exit %s, message %q",
				m.User.Username, m.Protocol, len(rc.events), rc.trailer.Reason, deref(rc.trailer.ExitCode), rc.trailer.Message)
			if m.User.Username != "viewer" || m.Pod != defaultPod {
				t.Errorf("header user %q pod %q, want viewer and %s", m.User.Username, m.Pod, defaultPod)
			}
			if m.Protocol != "" {
				t.Errorf("header protocol %q for a refused upgrade, want empty", m.Protocol)
			}
			if len(rc.events) != 0 {
				t.Errorf("a refused session recorded events: %+v", rc.events)
			}
			if rc.trailer.ExitCode != nil || rc.trailer.Reason == "exited" {
				t.Errorf("trailer says %q with exit %s for a session that never ran", rc.trailer.Reason, deref(rc.trailer.ExitCode))
			}
			if !strings.Contains(rc.trailer.Message, "forbidden") {
				t.Errorf("trailer message %q does not say why", rc.trailer.Message)
			}
			if recordedPath(r.stderr) != r.recordings[0] {
				t.Errorf("stderr does not name the recording: %q", r.stderr)
			}
		default:
			t.Errorf("several recordings: %v", r.recordings)
		}
	})
}

// TestBadKubeconfig: a kubeconfig file that does not exist, and one whose
// server is a closed port. Same message, same exit code, no hang, no
// recording.
func TestBadKubeconfig(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "does-not-exist.kubeconfig")
	closed := closedPortKubeconfig(t)
	for _, tt := range []struct{ name, kubeconfig, want string }{
		{"missing-file", missing, "does-not-exist.kubeconfig"},
		{"closed-port", closed, "connection to the server"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			eachProto(t, func(t *testing.T, p proto) {
				k, r := both(t, inv{kubeconfig: tt.kubeconfig, websocket: p.websocket, timeout: 30 * time.Second, args: []string{defaultPod, "--", "true"}})
				if k.code == 0 || !strings.Contains(k.stderr, tt.want) {
					t.Errorf("kubectl itself: exit %d, stderr %q; want an error naming %q", k.code, k.stderr, tt.want)
				}
				if normalizeKlog(r.stderr) != normalizeKlog(k.stderr) {
					t.Errorf("rexec adds to stderr (rexec minus kubectl): %q", lineDiff(normalizeKlog(r.stderr), normalizeKlog(k.stderr)))
				}
				for _, x := range []res{k, r} {
					if x.took > 15*time.Second {
						t.Errorf("took %v to fail", x.took)
					}
				}
				if len(r.recordings) != 0 {
					t.Errorf("left recordings %v", r.recordings)
				}
			})
		})
	}
}

// TestRecordDirWarning: the one other line rexec may add to stderr, when
// the recording directory is readable by others.
func TestRecordDirWarning(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	i := inv{kubeconfig: tc.AdminKubeconfig, websocket: true}
	r := runCmd(t, "kubectl-rexec", rexecBin, []string{"--kubeconfig", tc.AdminKubeconfig, "--record-dir", dir, defaultPod, "--", "true"}, i)
	if r.code != 0 || !strings.Contains(r.stderr, "warning: recording directory "+dir+" has mode 0755") {
		t.Errorf("exit %d, stderr %q; want a warning about mode 0755", r.code, r.stderr)
	}
	q := runCmd(t, "kubectl-rexec", rexecBin, []string{"--kubeconfig", tc.AdminKubeconfig, "--record-dir", dir, "-q", defaultPod, "--", "true"}, i)
	if q.code != 0 || q.stderr != "" {
		t.Errorf("with -q: exit %d, stderr %q; want nothing", q.code, q.stderr)
	}
}

// closedPortKubeconfig is the admin kubeconfig pointed at a loopback port
// nothing listens on.
func closedPortKubeconfig(t *testing.T) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(tc.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	for _, c := range cfg.Clusters {
		c.Server = "https://127.0.0.1:" + port
	}
	path := filepath.Join(t.TempDir(), "closed.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// createPod creates a pod with labels, annotations and containers and waits
// until rexec-node reports it Running.
func createPod(t *testing.T, name string, labels, annotations map[string]string, containers ...string) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: labels, Annotations: annotations}}
	for _, c := range containers {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{
			Name: c, Image: tc.NodeImage(), Command: []string{"sleep", "infinity"},
		})
	}
	pods := tc.Client.CoreV1().Pods("default")
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating pod %s: %v", name, err)
	}
	var got *corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		got = p
		return p.Status.Phase == corev1.PodRunning, nil
	})
	if err != nil {
		t.Fatalf("pod %s did not run: %v", name, err)
	}
	return got
}
