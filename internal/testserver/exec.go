package testserver

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/util/proxy"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/wsstream"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/podopts"
)

// Stream settings of the kubelet's streaming server (its defaults).
const (
	streamIdleTimeout     = 4 * time.Hour
	streamCreationTimeout = remotecommand.DefaultStreamCreationTimeout
)

// streamProtocols are the SPDY protocols served, the kubelet's own list
// (v4 down to v1). v5 is deliberately absent: cri-streaming's SPDY path has
// no handler for it, and over SPDY clients settle on v4 with a kubelet.
var streamProtocols = remotecommand.SupportedStreamingProtocols

// serveExec is the pods/exec subresource of the API server. After the
// checks kube-apiserver makes (pod exists, container valid, streams
// asked for), it hands the request over the way ExecREST.Connect does: a
// translating handler sends WebSocket v5 requests to the apiserver's
// stream translator, which dials the kubelet stand-in over SPDY, and every
// other request (SPDY, older WebSocket protocols) to the kubelet's stream
// server code, here called directly.
func (s *Server) serveExec(w http.ResponseWriter, r *http.Request, namespace, name string) {
	protocol, offered := upgradeOf(r)
	idx := s.recordExec(ExecRequest{
		Method:       r.Method,
		Namespace:    namespace,
		Pod:          name,
		Protocol:     protocol,
		Subprotocols: offered,
		AuditID:      r.Header.Get("Audit-ID"),
		Query:        r.URL.Query(),
	})
	refuse := func(err *apierrors.StatusError) {
		s.setRefused(idx, int(err.ErrStatus.Code))
		writeStatus(w, err)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		refuse(apierrors.NewMethodNotSupported(schema.GroupResource{Resource: "pods/exec"}, strings.ToLower(r.Method)))
		return
	}
	if (protocol == "websocket" && s.opts.RejectWebSocket) || (protocol == "spdy" && s.opts.RejectSPDY) {
		refuse(apierrors.NewForbidden(schema.GroupResource{Resource: "pods/exec"}, name,
			fmt.Errorf("%s upgrades are not allowed by this server", protocol)))
		return
	}
	pod := s.store.pod(namespace, name)
	if pod == nil {
		refuse(apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, name))
		return
	}

	opts, err := podopts.Exec(r.URL.Query())
	if err != nil {
		refuse(apierrors.NewBadRequest(err.Error()))
		return
	}
	container, err := validateContainer(opts.Container, pod)
	if err != nil {
		refuse(statusFor(err))
		return
	}
	if len(opts.Command) == 0 {
		refuse(apierrors.NewBadRequest("you must specify at least one command for the container"))
		return
	}
	if !opts.Stdin && !opts.Stdout && !opts.Stderr {
		refuse(apierrors.NewBadRequest("you must specify at least 1 of stdin, stdout, stderr"))
		return
	}

	if s.opts.CutAfter > 0 {
		if c := connOf(r.Context()); c != nil {
			t := time.AfterFunc(s.opts.CutAfter, func() { _ = c.Close() })
			defer t.Stop()
		}
	}

	// The kubelet's own option parsing, as on the kubelet side: a TTY has
	// no separate stderr.
	streamOpts := &remotecommand.Options{
		Stdin:  opts.Stdin,
		Stdout: opts.Stdout,
		Stderr: opts.Stderr && !opts.TTY,
		TTY:    opts.TTY,
	}
	direct := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		remotecommand.ServeExec(w, r, s.runner, podFullName(pod), string(pod.UID), container, opts.Command,
			streamOpts, streamIdleTimeout, streamCreationTimeout, streamProtocols)
	})
	translator := proxy.NewStreamTranslatorHandler(s.kubeletExecURL(pod, container, opts), s.kubeletTransport, 0, proxy.Options{
		Stdin:  opts.Stdin,
		Stdout: opts.Stdout,
		Stderr: opts.Stderr,
		Tty:    opts.TTY,
	})
	proxy.NewTranslatingHandler(direct, translator, wsstream.IsWebSocketRequestWithStreamCloseProtocol).ServeHTTP(w, r)
}

// kubeletHandler is the kubelet stand-in: GET or POST
// /exec/NAMESPACE/POD/CONTAINER?command=...&input=1&output=1&error=1&tty=1,
// the URL kube-apiserver builds for a pod's node, served by the kubelet's
// stream server code with the kubelet's option parsing.
func (s *Server) kubeletHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/exec/{namespace}/{pod}/{container}", func(w http.ResponseWriter, r *http.Request) {
		s.kubeletExecs.Add(1)
		streamOpts, err := remotecommand.NewOptions(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		pod := s.store.pod(r.PathValue("namespace"), r.PathValue("pod"))
		if pod == nil {
			http.Error(w, "pod does not exist", http.StatusNotFound)
			return
		}
		remotecommand.ServeExec(w, r, s.runner, podFullName(pod), string(pod.UID), r.PathValue("container"),
			r.URL.Query()["command"], streamOpts, streamIdleTimeout, streamCreationTimeout, streamProtocols)
	})
	return mux
}

// kubeletExecURL is the location kube-apiserver's ExecLocation computes:
// the node's exec path with the streams as the kubelet's parameters.
func (s *Server) kubeletExecURL(pod *corev1.Pod, container string, opts *corev1.PodExecOptions) *url.URL {
	u, _ := url.Parse(s.kubelet.URL) // httptest's own URL always parses
	u.Path = fmt.Sprintf("/exec/%s/%s/%s", pod.Namespace, pod.Name, container)
	params := url.Values{}
	for param, on := range map[string]bool{
		corev1.ExecStdinParam:  opts.Stdin,
		corev1.ExecStdoutParam: opts.Stdout,
		corev1.ExecStderrParam: opts.Stderr,
		corev1.ExecTTYParam:    opts.TTY,
	} {
		if on {
			params.Set(param, "1")
		}
	}
	for _, c := range opts.Command {
		params.Add("command", c)
	}
	u.RawQuery = params.Encode()
	return u
}

// podFullName is how the kubelet names a pod to the runtime.
func podFullName(pod *corev1.Pod) string {
	return pod.Name + "_" + pod.Namespace
}

// upgradeOf tells which stream upgrade r asks for and the protocols offered.
func upgradeOf(r *http.Request) (string, []string) {
	switch {
	case wsstream.IsWebSocketRequest(r):
		return "websocket", headerList(r.Header.Values("Sec-WebSocket-Protocol"))
	case httpstream.IsUpgradeRequest(r) && strings.EqualFold(r.Header.Get("Upgrade"), "SPDY/3.1"):
		return "spdy", headerList(r.Header.Values(httpstream.HeaderProtocolVersion))
	}
	return "none", nil
}

func headerList(values []string) []string {
	var out []string
	for _, v := range values {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// validateContainer picks the container as kube-apiserver does: the only
// one when none is named, else the named one, which must exist.
func validateContainer(container string, pod *corev1.Pod) (string, error) {
	if container == "" {
		switch len(pod.Spec.Containers) {
		case 1:
			return pod.Spec.Containers[0].Name, nil
		case 0:
			return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s", pod.Name))
		default:
			return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %s", pod.Name, containerNames(pod)))
		}
	}
	for _, n := range containerNames(pod) {
		if n == container {
			return container, nil
		}
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", container, pod.Name))
}

func containerNames(pod *corev1.Pod) []string {
	var names []string
	for _, c := range pod.Spec.InitContainers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		names = append(names, c.Name)
	}
	return names
}
