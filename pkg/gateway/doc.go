// Package gateway owns the rexec gateway: the server that makes recording
// mandatory. It serves the aggregated API group rexec.kubectl-rexec.io
// (through an APIService), whose pods/exec and pods/attach subresources
// mirror the core ones and take the same query. For each request it
//
//   - trusts the user the API server names in X-Remote-* headers only on a
//     connection whose client certificate chains to the request-header CA
//     published in kube-system/extension-apiserver-authentication
//     (frontproxy.go), and answers 401 to anything else;
//   - opens the real pods/exec (or attach) upstream with client-go,
//     impersonating that user and adding the marker extra that only the
//     gateway may assert, which the shipped ValidatingAdmissionPolicy
//     requires (upstream.go);
//   - ends the client's stream in the gateway with upstream server code,
//     WebSocket v5 (wsstream) and SPDY (k8s.io/cri-streaming), and records
//     every byte, resize and the exit status through package session into
//     a signed recording (streams.go, exec.go);
//   - uploads the recording through package upload, with the spool on a
//     volume and live segments (upload.go).
//
// It fails closed: no recording, no session (503 with the reason); a
// recording that fails mid-session ends the session with the cause.
package gateway
