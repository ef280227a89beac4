#!/usr/bin/env bash
# make demo (after make build): a recorded `kubectl rexec -it demo -- sh`
# through real kubectl's plugin dispatch, then its replay.
#
# The pod is rexec-node's: a busybox root filesystem with namespaces of its
# own, so nothing of this machine is reachable from the shell.
#
# Where it runs:
#   - the real test cluster (etcd, kube-apiserver v1.37.2, rexec-node) when
#     its binaries are built (test/cluster/build.sh);
#   - else, on a machine's first run, the quick server (rexec-quick: an
#     in-process API stand-in and the same node sandbox, seconds to build
#     once the plugin is), while the real cluster builds in the background
#     (minutes); the demo moves to the real cluster at its end if the build
#     is done by then, and every later `make demo` uses it.
#
# Environment: REXEC_E2E_STATE_DIR, REXEC_E2E_BIN_DIR and KUBECTL_REXEC_DIR
# as everywhere; REXEC_DEMO_BUILD_CLUSTER=0 skips the background build (for
# test/cluster/demo, which runs this script both ways).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

say() { printf '==> %s\n' "$*"; }
build_sh() { bash "$root/test/cluster/build.sh" "$@"; }
bin_dir="$(build_sh --print-bin-dir)"
state="${REXEC_E2E_STATE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-rexec-e2e/state}"
export REXEC_E2E_STATE_DIR="$state"
mkdir -p "$state/logs"
build_log="$state/logs/cluster-build.log"
rec_dir="${KUBECTL_REXEC_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/kubectl-rexec/recordings}"

real_built() {
	local b
	for b in etcd kube-apiserver kubectl; do [ -x "$bin_dir/$b" ] || return 1; done
}
# A build.sh holds the lock on the bin dir while it runs.
build_running() { [ -e "$bin_dir/.build.lock" ] && ! flock -n "$bin_dir/.build.lock" true 2>/dev/null; }
real_running() {
	[ -f "$state/env" ] && "$bin_dir/rexec-cluster" env --state-dir "$state" >/dev/null 2>&1 &&
		(. "$state/env" && [ -z "${REXEC_E2E_QUICK:-}" ] && kubectl get --raw /readyz >/dev/null 2>&1)
}

# real_up: the real cluster with pod demo, reusing one that runs.
real_up() {
	say "building rexec-node and rexec-cluster (seconds)"
	build_sh rexec-node rexec-cluster
	if [ -x "$bin_dir/rexec-quick" ]; then # a quick server from an earlier run goes
		"$bin_dir/rexec-quick" down --state-dir "$state" >/dev/null
	fi
	if real_running; then
		say "reusing the running test cluster in $state"
	else
		say "starting the test cluster: etcd, kube-apiserver v1.37.2, rexec-node (state in $state)"
		"$bin_dir/rexec-cluster" up --state-dir "$state" --pod demo
	fi
}

# quick_up: kubectl and rexec-quick, the real cluster's build in the
# background, and the quick server with pod demo.
quick_up() {
	say "first run here: the real cluster is not built yet (kube-apiserver takes ~5-10 min on 2 cores)."
	say "until it is, the demo runs on rexec-quick. Building kubectl v1.37.2 and rexec-quick (~1-2 min cold)"
	build_sh kubectl rexec-quick
	if [ "${REXEC_DEMO_BUILD_CLUSTER:-1}" = 0 ]; then
		say "not building the real cluster (REXEC_DEMO_BUILD_CLUSTER=0)"
	elif build_running; then
		say "the real cluster is already being built in the background"
	else
		say "building the real cluster in the background: tail -f $build_log"
		(setsid nohup bash "$root/test/cluster/build.sh" >"$build_log" 2>&1 </dev/null &)
	fi
	if "$bin_dir/rexec-cluster" env --state-dir "$state" >/dev/null 2>&1; then
		"$bin_dir/rexec-cluster" down --state-dir "$state" >/dev/null
	fi
	"$bin_dir/rexec-quick" down --state-dir "$state" >/dev/null
	say "starting rexec-quick (API stand-in + the node's sandbox, in-process; state in $state)"
	"$bin_dir/rexec-quick" up --state-dir "$state" --pod demo
}

if real_built; then
	real_up
	quick=0
else
	quick_up
	quick=1
fi

# demo.env: one file to source for this cluster, kubectl and kubectl-rexec.
cat >"$state/demo.env" <<EOF
# make demo: source me for the test cluster (KUBECONFIG), its kubectl and kubectl-rexec
. '$state/env'
export PATH='$root/_output/bin':"\$PATH"
EOF
# shellcheck disable=SC1091
. "$state/demo.env"

image="$(kubectl get pod demo -o jsonpath='{.spec.containers[0].image}')"
say "kubectl plugin list"
kubectl plugin list 2>/dev/null | grep rexec || true
say "pod demo runs $image: a root filesystem and namespaces of its own, not this machine's files"
if [ -t 0 ] && [ -t 1 ]; then
	say "opening a recorded shell: kubectl rexec -it demo -- sh   (type 'exit' to end it)"
	kubectl rexec -it demo -- sh || true
else
	say "no terminal: running a scripted session: kubectl rexec -i demo -- sh"
	printf 'echo "hello from $POD_NAME"\nls /\nexit 7\n' |
		kubectl rexec -i demo -- sh || echo "(remote exit code $?)"
fi

latest="$(ls -1t "$rec_dir"/*.cast.zst 2>/dev/null | head -1 || true)"
if [ -z "$latest" ]; then
	echo "no recording found in $rec_dir" >&2
	exit 1
fi
echo
if [ -t 0 ] && [ -t 1 ]; then
	say "replaying $latest"
	say "it stops on the session's last screen: press q to leave (space pauses, ←/→ seek, ] next command)"
else
	say "replaying $latest"
fi
kubectl rexec replay --idle-time-limit 1s "$latest"
echo

if [ "$quick" = 1 ]; then
	if real_built && ! build_running; then
		say "the real cluster finished building in the background: moving the demo pod to it"
		real_up
		. "$state/demo.env"
	else
		say "the real cluster is still building in the background (tail -f $build_log);"
		say "the quick server keeps running until then. Run make demo again once the build is done to use the real one."
	fi
fi

say "the recording: $latest"
say "next, in your shell (from $root):"
cat <<EOF
    . '$state/demo.env'    # kubectl v1.37.2, kubectl-rexec and this cluster's KUBECONFIG
    kubectl rexec ls                              # the sessions recorded so far
    kubectl rexec replay '$latest'
    kubectl rexec -it demo -- sh                  # another recorded session
    kubectl rexec export --format asciicast-v3 '$latest' | head -3   # plain asciicast v3 inside
    make install                                  # kubectl-rexec on your PATH, for your own clusters
    make cluster-down                             # stop the test cluster
EOF
