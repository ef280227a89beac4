package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
	"github.com/kubectl-rexec/kubectl-rexec/test/cluster/cluster"
)

// rec is a recording read from end to end.
type rec struct {
	path    string
	header  record.Header
	events  []record.Event
	streams map[byte][]byte // concatenated data per code: 'o', 'e', 'i'
	resizes []string        // "COLSxROWS" of each r event
	exits   []string        // data of each x event
	trailer *record.Trailer
	endErr  error // io.EOF for a properly closed recording
}

func readRecording(t *testing.T, path string) *rec {
	t.Helper()
	r, err := record.Open(path)
	if err != nil {
		t.Fatalf("opening recording %s: %v", path, err)
	}
	defer func() { _ = r.Close() }()
	out := &rec{path: path, header: r.Header(), streams: map[byte][]byte{}}
	var last time.Duration
	for {
		ev, err := r.Next()
		if err != nil {
			out.endErr = err
			break
		}
		if ev.Time < last {
			t.Errorf("%s: event time goes backwards: %v after %v", path, ev.Time, last)
		}
		last = ev.Time
		out.events = append(out.events, ev)
		switch ev.Code {
		case 'o', 'e', 'i':
			out.streams[ev.Code] = append(out.streams[ev.Code], ev.Data...)
		case 'r':
			out.resizes = append(out.resizes, string(ev.Data))
		case 'x':
			out.exits = append(out.exits, string(ev.Data))
		}
	}
	out.trailer = r.Trailer()
	if !errors.Is(out.endErr, io.EOF) {
		t.Errorf("%s does not end cleanly: %v", path, out.endErr)
	}
	if out.trailer == nil {
		t.Fatalf("%s has no trailer", path)
	}
	return out
}

// onlyRecording checks that rexec left exactly one recording, named on its
// stderr (unless quiet), and reads it.
func onlyRecording(t *testing.T, r res) *rec {
	t.Helper()
	if len(r.recordings) != 1 {
		t.Fatalf("want exactly one recording in %s, got %v", r.recordDir, r.recordings)
	}
	if p := recordedPath(r.stderr); p != r.recordings[0] {
		t.Errorf("stderr names recording %q, the directory holds %q", p, r.recordings[0])
	}
	return readRecording(t, r.recordings[0])
}

// wantRec is what a recording must say about a session.
type wantRec struct {
	kubeconfig string // decides the user and groups
	proto      proto
	namespace  string // "default" when empty
	pod        string
	container  string
	argv       []string
	tty, stdin bool
	// Streams as the remote side saw them; nil skips the check (a tty's
	// output is compared separately).
	stdout, stderr, input []byte
	exit                  int
}

// identity is who SelfSubjectReview says each kubeconfig is.
func identity(kubeconfig string) (user string, groups []string) {
	switch kubeconfig {
	case tc.TokenKubeconfig:
		return cluster.TokenUser, []string{cluster.MastersGrp, "system:authenticated"}
	case tc.ViewerKubeconfig:
		return cluster.ViewerUser, []string{"system:authenticated"}
	default: // admin, proxy
		return cluster.AdminUser, []string{cluster.MastersGrp, "system:authenticated"}
	}
}

// checkRecording checks a finished session's recording: the header's
// identity and placement, the streams, the exit event and the trailer.
func checkRecording(t *testing.T, rc *rec, w wantRec) {
	t.Helper()
	h := rc.header
	if h.Version != 3 {
		t.Errorf("header version %d, want 3", h.Version)
	}
	m := h.Rexec
	if m == nil {
		t.Fatalf("header has no rexec object: %+v", h)
	}
	ns := w.namespace
	if ns == "" {
		ns = "default"
	}
	user, groups := identity(w.kubeconfig)
	if m.User.Username != user || m.User.Error != "" {
		t.Errorf("header user %+v, want %q", m.User, user)
	}
	for _, g := range groups {
		if !slices.Contains(m.User.Groups, g) {
			t.Errorf("header groups %v lack %q", m.User.Groups, g)
		}
	}
	pod, err := tc.Client.CoreV1().Pods(ns).Get(context.Background(), w.pod, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("getting pod %s/%s: %v", ns, w.pod, err)
	}
	image := ""
	for _, c := range pod.Spec.Containers {
		if c.Name == w.container {
			image = c.Image
		}
	}
	server := tc.Server
	if w.kubeconfig == tc.ProxyKubeconfig {
		server = tc.ProxyServer
	}
	for _, f := range []struct{ name, got, want string }{
		{"namespace", m.Namespace, ns},
		{"pod", m.Pod, w.pod},
		{"pod_uid", m.PodUID, string(pod.UID)},
		{"container", m.Container, w.container},
		{"node", m.Node, cluster.NodeName},
		{"image", m.Image, image},
		{"server", m.Server, server},
		{"context", m.Context, "rexec-e2e"},
		{"protocol", m.Protocol, w.proto.header},
		{"title", h.Title, ns + "/" + w.pod + "/" + w.container},
	} {
		if f.got != f.want {
			t.Errorf("header %s = %q, want %q", f.name, f.got, f.want)
		}
	}
	if !slices.Equal(m.Argv, w.argv) {
		t.Errorf("header argv %q, want %q", m.Argv, w.argv)
	}
	if m.TTY != w.tty || m.Stdin != w.stdin {
		t.Errorf("header tty %v stdin %v, want %v %v", m.TTY, m.Stdin, w.tty, w.stdin)
	}
	if m.SessionID == "" || !strings.Contains(filepath.Base(rc.path), "_"+m.SessionID[:min(8, len(m.SessionID))]+".cast.zst") {
		t.Errorf("session id %q is not in the file name %s", m.SessionID, filepath.Base(rc.path))
	}

	for _, s := range []struct {
		code byte
		want []byte
	}{{'o', w.stdout}, {'e', w.stderr}, {'i', w.input}} {
		if s.want != nil && !bytes.Equal(rc.streams[s.code], s.want) {
			t.Errorf("recorded %q stream %q, want %q", s.code, clip(string(rc.streams[s.code])), clip(string(s.want)))
		}
	}

	code := strconv.Itoa(w.exit)
	if !slices.Equal(rc.exits, []string{code}) {
		t.Errorf("x events %q, want one with %q", rc.exits, code)
	}
	if n := len(rc.events); n == 0 || rc.events[n-1].Code != 'x' {
		t.Errorf("the last event is not the exit status")
	}
	tr := rc.trailer
	if tr.Reason != string(record.ReasonExited) || tr.ExitCode == nil || *tr.ExitCode != w.exit {
		t.Errorf("trailer reason %q exit %v, want %q %d (message %q)", tr.Reason, deref(tr.ExitCode), record.ReasonExited, w.exit, tr.Message)
	}
	if tr.Events != int64(len(rc.events)) {
		t.Errorf("trailer counts %d events, read %d", tr.Events, len(rc.events))
	}
	if tr.Bytes.O != int64(len(rc.streams['o'])) || tr.Bytes.E != int64(len(rc.streams['e'])) || tr.Bytes.I != int64(len(rc.streams['i'])) {
		t.Errorf("trailer bytes %+v, read o=%d e=%d i=%d", tr.Bytes, len(rc.streams['o']), len(rc.streams['e']), len(rc.streams['i']))
	}
}

func deref(p *int) string {
	if p == nil {
		return "null"
	}
	return strconv.Itoa(*p)
}

// replay runs `kubectl-rexec replay --no-wait -q [FLAGS] FILE`.
func replay(t *testing.T, path string, flags ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append(append([]string{"replay", "--no-wait", "-q"}, flags...), path)
	cmd := exec.CommandContext(ctx, rexecBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("replay %s: %v (stderr %q)", path, err, errb.String())
	}
	return out.String(), errb.String()
}

// checkReplay checks that replaying the recording prints what the terminal
// got: stdout exactly, and stderr as the remote command wrote it (kubectl's
// own closing messages, such as "command terminated with exit code 3", are
// not part of the session). flags go to replay (--raw for binary output,
// which replay's default terminal filter would alter).
func checkReplay(t *testing.T, rc *rec, stdout, remoteStderr string, flags ...string) {
	t.Helper()
	out, errOut := replay(t, rc.path, flags...)
	if out != stdout {
		t.Errorf("replay stdout %q, the terminal got %q", clip(out), clip(stdout))
	}
	if errOut != remoteStderr {
		t.Errorf("replay stderr %q, the remote command wrote %q", clip(errOut), clip(remoteStderr))
	}
}

// kubectlTail is what kubectl itself prints on stderr after a remote
// command exits with code.
func kubectlTail(code int) string {
	if code == 0 {
		return ""
	}
	return fmt.Sprintf("command terminated with exit code %d\n", code)
}
