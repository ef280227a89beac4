package session

import (
	"io"
	"net/url"
	"os"
	"os/user"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	kterm "k8s.io/kubectl/pkg/util/term"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// header describes the session for the recording: who, where, what and when.
// It never holds a credential: the server URL loses any user info, and the
// client argv is passed in already redacted.
func (e *Executor) header(u *url.URL, config *rest.Config, id string, now time.Time, stdin, tty bool) record.Header {
	q := u.Query()
	meta := &record.Meta{
		FormatVersion: record.FormatVersion,
		SessionID:     id,
		User:          e.cfg.Identity.User(),
		Context:       e.cfg.Context,
		Cluster:       e.cfg.Cluster,
		Server:        safeServer(config.Host),
		Container:     q.Get("container"),
		Argv:          q["command"],
		ClientArgv:    e.cfg.ClientArgv,
		TTY:           tty,
		Stdin:         stdin,
		ClientHost:    hostname(),
		ClientUser:    osUser(),
		Version:       e.cfg.Version,
		Start:         now.UTC(),
		AuditID:       id,
		Reason:        e.cfg.Reason,
		Ticket:        e.cfg.Ticket,
		InputOmitted:  stdin && e.cfg.OmitInput,
	}
	if e.redactsInput(stdin, tty) {
		meta.InputRedaction = record.InputRedactionUnechoed
	}
	meta.Namespace, meta.Pod = podFromPath(u.Path)
	if e.cfg.Pod != nil {
		if pod := e.cfg.Pod(); pod != nil {
			meta.Namespace, meta.Pod = pod.Namespace, pod.Name
			meta.PodUID = string(pod.UID)
			meta.Node = pod.Spec.NodeName
			meta.Image = imageOf(pod, meta.Container)
		}
	}
	cols, rows := termSize(e.cfg.ErrOut)
	return record.Header{
		Version:   3,
		Term:      record.Term{Cols: cols, Rows: rows, Type: os.Getenv("TERM")},
		Timestamp: now.Unix(),
		Command:   strings.Join(meta.Argv, " "),
		Title:     meta.Namespace + "/" + meta.Pod + "/" + meta.Container,
		Env:       map[string]string{"TERM": os.Getenv("TERM")},
		Rexec:     meta,
	}
}

// podFromPath reads namespace and pod from .../namespaces/NS/pods/NAME/exec.
func podFromPath(p string) (string, string) {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	var ns, pod string
	for i := 0; i+1 < len(parts); i++ {
		switch parts[i] {
		case "namespaces":
			ns = parts[i+1]
		case "pods":
			pod = parts[i+1]
		}
	}
	return ns, pod
}

func imageOf(pod *corev1.Pod, container string) string {
	for _, c := range pod.Spec.Containers {
		if c.Name == container {
			return c.Image
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == container {
			return c.Image
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == container {
			return c.Image
		}
	}
	return ""
}

// safeServer drops any user info from the server URL so that a password
// written into a kubeconfig's server field never reaches the recording.
func safeServer(host string) string {
	u, err := url.Parse(host)
	if err != nil || u.User == nil {
		return host
	}
	u.User = nil
	return u.String()
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}

func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}

// termSize is the size of the user's terminal, or 80x24 when there is none:
// asciicast needs a size even for a session without a terminal.
func termSize(errOut io.Writer) (int, int) {
	for _, f := range []io.Writer{os.Stdout, errOut} {
		if f == nil {
			continue
		}
		if s := (kterm.TTY{Out: f}).GetSize(); s != nil && s.Width > 0 && s.Height > 0 {
			return int(s.Width), int(s.Height)
		}
	}
	return 80, 24
}
