#!/usr/bin/env bash
# make demo: start the embedded test cluster (real kube-apiserver + etcd and
# our node stand-in), open a recorded `kubectl rexec -it demo -- sh` through
# real kubectl's plugin dispatch, and replay the session when it ends.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/test/cluster"

cluster() { go run ./cmd/rexec-cluster "$@"; }

state="${REXEC_E2E_STATE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-rexec-e2e/state}"
if [ -f "$state/env" ] && cluster env >/dev/null 2>&1 && (. "$state/env" && kubectl get --raw /readyz >/dev/null 2>&1); then
	echo "==> reusing the running test cluster in $state"
else
	echo "==> starting the test cluster (etcd, kube-apiserver v1.37.2, rexec-node) in $state"
	cluster up --pod demo
fi
# shellcheck disable=SC1091
. "$state/env"
export PATH="$root/_output/bin:$PATH" # kubectl finds kubectl-rexec here
rec_dir="${KUBECTL_REXEC_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/kubectl-rexec/recordings}"

echo "==> kubectl plugin list"
kubectl plugin list 2>/dev/null | grep rexec || true
if [ -t 0 ] && [ -t 1 ]; then
	echo "==> opening a recorded shell: kubectl rexec -it demo -- sh   (type 'exit' to end it)"
	kubectl rexec -it demo -- sh || true
else
	echo "==> no terminal: running a scripted session: kubectl rexec -i demo -- sh"
	printf 'echo "hello from $POD_NAME"\nls -la | head -3\necho done\nexit 7\n' |
		kubectl rexec -i demo -- sh || echo "(remote exit code $?)"
fi

latest="$(ls -1t "$rec_dir"/*.cast.zst 2>/dev/null | head -1 || true)"
if [ -z "$latest" ]; then
	echo "no recording found in $rec_dir" >&2
	exit 1
fi
echo
echo "==> replaying $latest"
kubectl rexec replay --idle-time-limit 1s "$latest"
echo
echo "==> the recording is $latest"
echo "    plain asciicast v3 inside: zstd -dc '$latest' | head"
echo "    replay it again:           kubectl rexec replay '$latest'"
echo "    use the cluster yourself:  . '$state/env'"
echo "    stop the cluster:          make cluster-down"
