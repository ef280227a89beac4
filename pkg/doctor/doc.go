// Package doctor owns `kubectl rexec doctor`: the engine that walks the path
// of an exec session one hop at a time — the kubeconfig, the network to the
// API server (DNS, TCP, TLS, health), the caller's identity and RBAC, the
// pod, the WebSocket and SPDY upgrades, the stream itself and, on request,
// an idle session — and reports each check as passed, warned or failed with
// a one-line hint, naming the first broken hop.
//
// Run takes plain configuration (kubectl's ConfigFlags for the kubeconfig)
// and returns a Report; it does not print, read flags or exit, so it is
// tested without cobra. The Report renders itself as text (Report.WriteText)
// or JSON. Package cmd turns the command line into a Config and the Report
// into output and the exit code (0 when no check failed, 1 otherwise).
//
// The report never holds a credential: authentication is described by kind
// (client certificate subject, token source, exec plugin command, auth
// provider name), proxy URLs are shown without passwords, and the exec
// plugin's output is never read by this package.
package doctor
