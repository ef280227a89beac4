// Package demo tests `make demo` (test/demo.sh) end to end, both ways it
// runs: on the quick server, as on a machine's first run, and on the real
// cluster; and then every command it prints as the next steps, as printed,
// in a shell of their own.
package demo
