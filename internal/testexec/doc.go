// Package testexec owns the command runner that stands in for a container
// runtime in the plugin's integration tests. Its Executor implements the
// upstream k8s.io/cri-streaming remotecommand.Executor interface, so the
// kubelet's own stream server code (remotecommand.ServeExec) drives real
// local processes: plain pipes without a TTY, a real pseudo-terminal with
// one, real exit codes, and process groups that are killed when the client
// goes away.
//
// The process handling relies on Linux (waitid with WNOWAIT and /proc); on
// other systems the Executor refuses to run anything.
package testexec
