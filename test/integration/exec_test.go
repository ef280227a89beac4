package integration

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testserver"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

func pod(name string, labels map[string]string, annotations map[string]string, containers ...string) corev1.Pod {
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Labels: labels, Annotations: annotations},
		Spec:       corev1.PodSpec{NodeName: "node-1"},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "img/" + c + ":1"})
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: c, Ready: true})
	}
	return p
}

func cluster(t *testing.T, opts testserver.Options) (*testserver.Server, string) {
	t.Helper()
	if opts.Pods == nil {
		web := map[string]string{"app": "web"}
		opts.Pods = []corev1.Pod{
			pod("demo", nil, nil, "main"),
			pod("multi", nil, map[string]string{"kubectl.kubernetes.io/default-container": "second"}, "first", "second"),
			pod("web-abc", web, nil, "web"),
		}
		replicas := int32(1)
		opts.Deployments = []appsv1.Deployment{{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Spec: appsv1.DeploymentSpec{
				Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: web},
			},
		}}
	}
	if opts.User.Username == "" {
		opts.User = testserver.User{Username: "alice", UID: "uid-alice", Groups: []string{"devs", "system:authenticated"}}
	}
	srv := testserver.Start(t, opts)
	return srv, srv.Kubeconfig(t)
}

// readAll reads a recording to its end and returns the events per stream.
func readAll(t *testing.T, path string) (record.Header, map[byte][]byte, []record.Event, *record.Trailer, error) {
	t.Helper()
	r, err := record.Open(path)
	if err != nil {
		t.Fatalf("open recording: %v", err)
	}
	defer r.Close()
	streams := map[byte][]byte{}
	var events []record.Event
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return r.Header(), streams, events, r.Trailer(), nil
		}
		if err != nil {
			return r.Header(), streams, events, nil, err
		}
		events = append(events, ev)
		streams[ev.Code] = append(streams[ev.Code], ev.Data...)
	}
}

// checkRecording asserts the recording holds the session as the user saw it
// and replays to the same bytes.
func checkRecording(t *testing.T, r run, wantProto string, wantExit int) record.Header {
	t.Helper()
	if r.recording == "" {
		t.Fatalf("no recording written; stderr %q", r.stderr)
	}
	h, streams, events, tr, err := readAll(t, r.recording)
	if err != nil {
		t.Fatalf("read recording: %v", err)
	}
	if tr == nil {
		t.Fatalf("recording has no trailer")
	}
	if h.Version != 3 || h.Rexec == nil || h.Rexec.SessionID == "" {
		t.Fatalf("bad header %+v", h)
	}
	if !strings.HasSuffix(h.Rexec.Protocol, wantProto) {
		t.Errorf("header protocol %q, want suffix %q", h.Rexec.Protocol, wantProto)
	}
	if h.Rexec.User.Username != "alice" || len(h.Rexec.User.Groups) != 2 {
		t.Errorf("header user %+v, want alice with groups from the SelfSubjectReview", h.Rexec.User)
	}
	if got := string(streams['o']); got != r.stdout {
		t.Errorf("recorded stdout %q, terminal saw %q", got, r.stdout)
	}
	if got, want := string(streams['e']), withoutRecordedLine(r.stderr); !strings.HasPrefix(want, got) {
		t.Errorf("recorded stderr %q is not what the terminal saw first %q", got, want)
	}
	last := events[len(events)-1]
	if last.Code != 'x' || string(last.Data) != strconv.Itoa(wantExit) {
		t.Errorf("last event %c %q, want exit status %d", last.Code, last.Data, wantExit)
	}
	if tr.ExitCode == nil || *tr.ExitCode != wantExit || tr.Reason != string(record.ReasonExited) {
		t.Errorf("trailer %+v, want exited %d", tr, wantExit)
	}
	out, errOut := replayed(t, r.recording)
	if out != r.stdout || errOut != string(streams['e']) {
		t.Errorf("replay gave stdout %q stderr %q, want %q %q", out, errOut, r.stdout, streams['e'])
	}
	return h
}

func TestExitCodesAndStreams(t *testing.T) {
	_, kc := cluster(t, testserver.Options{})
	for _, p := range protocols {
		for _, tc := range []struct {
			code             int
			script           string
			wantOut, wantErr string
		}{
			{0, "echo out; echo err >&2", "out\n", "err\n"},
			{1, "echo one; exit 1", "one\n", "command terminated with exit code 1\n"},
			{3, "echo out; echo err >&2; exit 3", "out\n", "err\ncommand terminated with exit code 3\n"},
			{127, "no-such-command-xyz", "", ""},
		} {
			t.Run(p.name+"/exit"+strconv.Itoa(tc.code), func(t *testing.T) {
				r := rexec(t, kc, p.env, "", "demo", "--", "sh", "-c", tc.script)
				if r.code != tc.code {
					t.Fatalf("exit %d, want %d; stderr %q", r.code, tc.code, r.stderr)
				}
				if r.stdout != tc.wantOut {
					t.Errorf("stdout %q, want %q", r.stdout, tc.wantOut)
				}
				if tc.wantErr != "" && withoutRecordedLine(r.stderr) != tc.wantErr {
					t.Errorf("stderr %q, want %q", r.stderr, tc.wantErr)
				}
				if !strings.Contains(r.stderr, "Session recorded to "+r.recording) {
					t.Errorf("stderr does not name the recording: %q", r.stderr)
				}
				h := checkRecording(t, r, p.want, tc.code)
				if h.Rexec.Pod != "demo" || h.Rexec.Container != "main" || h.Rexec.Image != "img/main:1" || h.Rexec.Node != "node-1" {
					t.Errorf("header pod fields %+v", h.Rexec)
				}
			})
		}
	}
}

func TestStdinReachesEOF(t *testing.T) {
	_, kc := cluster(t, testserver.Options{})
	input := strings.Repeat("line of input\n", 2000) + "last"
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			r := rexec(t, kc, p.env, input, "-i", "demo", "--", "cat")
			if r.code != 0 || r.stdout != input {
				t.Fatalf("exit %d, stdout %d bytes (want %d); stderr %q", r.code, len(r.stdout), len(input), r.stderr)
			}
			checkRecording(t, r, p.want, 0)
			_, streams, _, _, _ := readAll(t, r.recording)
			if string(streams['i']) != input {
				t.Errorf("recorded stdin %d bytes, want %d", len(streams['i']), len(input))
			}
		})
	}
}

func TestContainerSelection(t *testing.T) {
	srv, kc := cluster(t, testserver.Options{})
	for _, p := range protocols {
		t.Run(p.name+"/annotation", func(t *testing.T) {
			r := rexec(t, kc, p.env, "", "multi", "--", "sh", "-c", "echo hi")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			h := checkRecording(t, r, p.want, 0)
			if h.Rexec.Container != "second" {
				t.Errorf("container %q, want the annotated default 'second'", h.Rexec.Container)
			}
			if c := srv.LastCall(); c.Container != "second" {
				t.Errorf("server ran in container %q, want second", c.Container)
			}
		})
		t.Run(p.name+"/flag", func(t *testing.T) {
			r := rexec(t, kc, p.env, "", "multi", "-c", "first", "--", "sh", "-c", "echo hi")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if h := checkRecording(t, r, p.want, 0); h.Rexec.Container != "first" {
				t.Errorf("container %q, want first", h.Rexec.Container)
			}
			if c := srv.LastCall(); c.Container != "first" {
				t.Errorf("server ran in container %q, want first", c.Container)
			}
		})
		t.Run(p.name+"/bad-container", func(t *testing.T) {
			r := rexec(t, kc, p.env, "", "multi", "-c", "nope", "--", "true")
			if r.code != 1 || !strings.Contains(r.stderr, "container nope is not valid for pod multi out of: first, second") {
				t.Errorf("exit %d stderr %q", r.code, r.stderr)
			}
			if r.recording != "" {
				t.Errorf("a session that never started left a recording %s", r.recording)
			}
		})
	}
}

func TestTypeName(t *testing.T) {
	_, kc := cluster(t, testserver.Options{})
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			r := rexec(t, kc, p.env, "", "deploy/web", "--", "sh", "-c", "echo from-web")
			if r.code != 0 || r.stdout != "from-web\n" {
				t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
			}
			if h := checkRecording(t, r, p.want, 0); h.Rexec.Pod != "web-abc" {
				t.Errorf("pod %q, want web-abc", h.Rexec.Pod)
			}
		})
	}
	t.Run("pod-named-like-subcommand", func(t *testing.T) {
		replayPod := pod("replay", nil, nil, "main")
		_, kc := cluster(t, testserver.Options{Pods: []corev1.Pod{replayPod}})
		r := rexec(t, kc, nil, "", "pod/replay", "--", "sh", "-c", "echo ok")
		if r.code != 0 || r.stdout != "ok\n" {
			t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
	})
}

func TestMissingPod(t *testing.T) {
	_, kc := cluster(t, testserver.Options{})
	r := rexec(t, kc, nil, "", "nope", "--", "true")
	if r.code != 1 || strings.TrimSpace(r.stderr) != `Error from server (NotFound): pods "nope" not found` {
		t.Errorf("exit %d stderr %q", r.code, r.stderr)
	}
	if r.recording != "" {
		t.Errorf("missing pod left a recording")
	}
}

func TestWebSocketRefusedFallsBackToSPDY(t *testing.T) {
	srv, kc := cluster(t, testserver.Options{RejectWebSocket: true})
	r := rexec(t, kc, nil, "", "demo", "--", "sh", "-c", "echo fell-back")
	if r.code != 0 || r.stdout != "fell-back\n" {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	checkRecording(t, r, "(spdy)", 0)
	if got := srv.Upgrades(); len(got) != 2 || got[0] != "websocket" || got[1] != "spdy" {
		t.Errorf("upgrades %v, want a refused websocket then spdy", got)
	}
}

func TestNoWebSocketEnvForcesSPDY(t *testing.T) {
	srv, kc := cluster(t, testserver.Options{})
	r := rexec(t, kc, []string{"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false"}, "", "demo", "--", "true")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if got := srv.Upgrades(); len(got) != 1 || got[0] != "spdy" {
		t.Errorf("upgrades %v, want only spdy", got)
	}
}

func TestForbiddenSelfSubjectReviewStillRecords(t *testing.T) {
	_, kc := cluster(t, testserver.Options{ForbidSelfSubjectReview: true})
	r := rexec(t, kc, nil, "", "demo", "--", "sh", "-c", "echo ok")
	if r.code != 0 || r.stdout != "ok\n" {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	h, _, _, _, err := readAll(t, r.recording)
	if err != nil {
		t.Fatal(err)
	}
	if h.Rexec.User.Username != "unknown" || !strings.Contains(h.Rexec.User.Error, "forbidden") {
		t.Errorf("user %+v, want unknown with the reason", h.Rexec.User)
	}
}
