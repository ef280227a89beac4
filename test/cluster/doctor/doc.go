// Package doctor runs `kubectl rexec doctor` — the built plugin binary —
// against one real cluster (package cluster: etcd, kube-apiserver v1.37.2,
// rexec-node, and Debian's HAProxy in TCP mode with a 3 s "timeout tunnel"):
// an all-passing report with the admin kubeconfig; the viewer kubeconfig,
// which may read pods but not exec, failing the permission step with a
// hint; an idle session through HAProxy cut after ~3 s and the proxy
// timeout named; the token kubeconfig, whose token must never appear in
// the output; and an API server address nothing listens on.
//
// The plugin binary comes from $REXEC_BIN, as for package e2e; outside CI,
// when it is unset, TestMain builds it from the repository root. With
// CI=true an unset $REXEC_BIN or a missing haproxy fails the run: nothing
// is skipped in CI.
//
// There is no non-test code here: everything is in the _test.go files.
package doctor
