#!/usr/bin/env bash
# flake-check.sh: runs the unit and integration suites RUNS times in a row
# (default 5) while a cold build of kube-apiserver loops in the background
# to load the machine, and prints one line per run. A test that waits on
# the clock instead of an event shows up here before it shows up in CI.
#
#   hack/flake-check.sh [RUNS]        (LOAD=0 runs without the background build)
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
runs="${1:-5}"
logs="$(mktemp -d "${TMPDIR:-/tmp}/rexec-flake.XXXXXX")"
load_pid=""
stop_load() {
	if [ -n "$load_pid" ]; then
		kill -- "-$load_pid" 2>/dev/null || kill "$load_pid" 2>/dev/null || true
		wait "$load_pid" 2>/dev/null || true
	fi
	rm -rf "$logs/gocache"
}
trap stop_load EXIT
if [ "${LOAD:-1}" = 1 ]; then
	# Its own process group, so that stopping it stops the compilers too.
	setsid bash -c "while true; do rm -rf '$logs/gocache'; GOCACHE='$logs/gocache' go build -C '$root/test/cluster/tools/apiserver' -o /dev/null k8s.io/kubernetes/cmd/kube-apiserver >/dev/null 2>&1; done" &
	load_pid=$!
fi
failed=0
for i in $(seq "$runs"); do
	start=$(date +%s)
	go test -count=1 ./pkg/... ./internal/... ./test/integration/ >"$logs/run$i.log" 2>&1
	rc=$?
	n="$(grep -c -- '^--- FAIL' "$logs/run$i.log")"
	echo "run $i: exit $rc, $(($(date +%s) - start)) s, load $(cut -d' ' -f1-3 /proc/loadavg), $n failing test(s)"
	if [ "$rc" != 0 ]; then
		failed=$((failed + 1))
		grep -- '--- FAIL' "$logs/run$i.log" | head -5
	fi
done
echo "logs in $logs"
[ "$failed" = 0 ]
