// Package sandbox is the e2e node's container runtime stand-in: it runs
// the commands of exec sessions (Executor, driven by the kubelet's upstream
// stream server) in a root filesystem of their own made from a static
// busybox, in new mount, PID, UTS and IPC namespaces and, where the kernel
// allows, a user namespace in which container root is an unprivileged host
// user (Runtime, Detect). Without a static busybox or namespaces it runs
// them on the host and says so (IsolationHost). rexec-node and rexec-quick
// both use it; any binary that links it can be re-executed as the
// sandbox's init (see init.go).
package sandbox
