// Package testserver owns the in-process Kubernetes API stand-in that the
// plugin's integration tests talk to with real client-go and kubectl code.
//
// It serves, over TLS, just enough of the API for kubectl's exec path:
// discovery, /version and the health endpoints, pods and deployments (get
// and list with selectors), a SelfSubjectReview, SelfSubjectAccessReviews,
// optional bearer-token authentication, and the pods/exec subresource.
// The exec subresource is not a mock: SPDY requests are served by the
// kubelet's upstream stream server (k8s.io/cri-streaming
// remotecommand.ServeExec), and WebSocket v5 requests
// go through kube-apiserver's own stream translator
// (k8s.io/apiserver/pkg/util/proxy) to a second TLS server acting as the
// kubelet, exactly as kube-apiserver wires them. Commands run as local
// processes through package testexec.
//
// Tests can refuse either upgrade, cut connections mid-session, and read
// back which upgrade each exec request used, its Audit-ID and its query.
package testserver
