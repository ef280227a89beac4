// Package audit proves, against a real kube-apiserver, the link between a
// kubectl-rexec recording and the Kubernetes audit log: the plugin sends the
// session id as the exec request's Audit-ID header and stores it in the
// recording header as rexec.audit_id; kube-apiserver adopts a caller's
// Audit-ID as the auditID of its audit events for the request
// (k8s.io/apiserver pkg/endpoints/filters/audit_init.go). The test starts
// the cluster with an audit policy that logs pods/exec, runs the plugin over
// WebSocket and SPDY, and joins every recording with the apiserver's audit
// events for that exec request.
//
// It also proves the audit-log witness (docs/FORMAT.md section 6.2): the
// anchors a session sends land in the audit log, `verify --audit-log`
// finds an honest recording witnessed up to its close, and finds TAMPERED a
// recording the user rewrote and signed again with their own key, which
// `verify --pub` alone accepts.
//
// The plugin binary comes from $REXEC_BIN, or is built from the repository
// root when it is unset (outside CI). There is no non-test code here.
package audit
