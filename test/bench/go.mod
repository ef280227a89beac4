module github.com/kubectl-rexec/kubectl-rexec/test/bench

go 1.26.8

require github.com/creack/pty v1.1.24
