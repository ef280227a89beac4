// Package e2e runs the built kubectl-rexec binary and the real kubectl
// v1.37.2 side by side against one real cluster (package cluster: etcd,
// kube-apiserver, rexec-node, HAProxy) and checks that rexec behaves exactly
// like `kubectl exec` — same stdout, same stderr apart from its closing
// "Session recorded to" line, same exit code, over WebSocket and SPDY — and
// that every session it ran left a recording that tells the same story.
//
// The plugin binary comes from $REXEC_BIN (the Makefile's e2e target sets
// it). Outside CI, when it is unset, TestMain builds the plugin from the
// repository root; with CI=true an unset or missing $REXEC_BIN fails the run,
// as does a missing haproxy.
//
// There is no non-test code here: everything is in the _test.go files.
package e2e
