#!/usr/bin/env bash
# The rexec gateway against direct exec, on one real cluster in one run
# (issue 13, "Performance"; `make bench-gateway`, and `make bench` after
# bench.sh). Three tools, alternated in rotation for every measurement:
#
#   (c) kubectl        real `kubectl exec` by a break-glass user (ops)
#   (b) direct         `kubectl rexec --via direct` by the same user: the
#                      plugin's own cost, recorded on the client
#   (a) gateway        `kubectl rexec --via gateway` by an ordinary user
#                      (dev, who may not use the core pods/exec): the
#                      client's recording plus the gateway's
#
# The cluster is rexec-cluster's (etcd, kube-apiserver, rexec-node on this
# host); deploy/ is applied through an overlay as in test/cluster/gateway,
# and the gateway binary runs as a host process behind the APIService.
#
#   throughput   256 MiB of zeros, of random bytes and of log-like text,
#                client stdout /dev/null, both client protocols; with it
#                the gateway's and kube-apiserver's CPU seconds per GiB
#                (/proc/PID/stat utime+stime around each run)
#   keys         p50/p99 echo round trip of single keystrokes into a
#                remote `cat` under -t (benchtool keys)
#   idle         GWBENCH_IDLE sessions held open by one client process
#                (gwtool idle: client-go, `cat` with stdin open), the
#                gateway's VmRSS and live Go heap per session, each client
#                protocol, on a freshly started gateway
#   upstream     (a) again with the gateway's --upstream-protocol
#                websocket (default) and spdy, alternated by restarting it
#   profiles     the gateway's CPU profile during each bulk transfer and
#                its heap profile with the idle sessions open, from its
#                loopback debug listener (--debug-listen), summarised with
#                go tool pprof -top
#
# Environment: BENCH_RUNS (6; a multiple of 3 puts each tool in each
# position equally), BENCH_KEYS (200), GWBENCH_ZERO_SIZE, GWBENCH_RANDOM_SIZE,
# GWBENCH_TEXT_SIZE (256M each), GWBENCH_IDLE (200; 0 skips), GWBENCH_IDLE_WAIT (70s:
# how long the sessions sit idle before they are measured), GWBENCH_UPSTREAM_RUNS
# (3; 0 skips), GWBENCH_PROFILE (1; 0 skips), REXEC_BIN
# (_output/bin/kubectl-rexec), GATEWAY_BIN (_output/bin/rexec-gateway),
# BENCH_KEEP=1 keeps the work directory (results.tsv, logs, profiles).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
RUNS="${BENCH_RUNS:-6}"
KEYS="${BENCH_KEYS:-200}"
ZERO_SIZE="${GWBENCH_ZERO_SIZE:-256M}"
RANDOM_SIZE="${GWBENCH_RANDOM_SIZE:-256M}"
TEXT_SIZE="${GWBENCH_TEXT_SIZE:-256M}"
IDLE="${GWBENCH_IDLE:-200}"
IDLE_WAIT="${GWBENCH_IDLE_WAIT:-70s}"
UP_RUNS="${GWBENCH_UPSTREAM_RUNS:-3}"
PROFILE="${GWBENCH_PROFILE:-1}"
REXEC_BIN="${REXEC_BIN:-$ROOT/_output/bin/kubectl-rexec}"
GATEWAY_BIN="${GATEWAY_BIN:-$ROOT/_output/bin/rexec-gateway}"
BIN_DIR="$(bash "$ROOT/test/cluster/build.sh" --print-bin-dir)"
KUBECTL="$BIN_DIR/kubectl"
POD=bench

die() {
	echo "gateway-bench.sh: $*" >&2
	exit 1
}
for f in "$REXEC_BIN" "$GATEWAY_BIN" "$KUBECTL" "$BIN_DIR/kube-apiserver" "$BIN_DIR/etcd"; do
	[ -x "$f" ] || die "$f missing: run make build build-gateway cluster-build"
done
for c in numfmt go curl getconf; do
	command -v "$c" >/dev/null || die "$c is not installed"
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/rexec-gwbench.XXXXXX")"
STATE="$WORK/state"
REC="$WORK/rec"
GWREC="$WORK/gateway-rec"
PROF="$WORK/profiles"
RESULTS="$WORK/results.tsv"
LOG="$WORK/bench.log"
GWPID=""
CLUSTER_BIN="$WORK/bin"
cleanup() {
	stop_gateway
	if [ -f "$STATE/state.json" ]; then
		"$CLUSTER_BIN/rexec-cluster" down --state-dir "$STATE" >>"$LOG" 2>&1 || echo "gateway-bench.sh: rexec-cluster down failed, see $LOG" >&2
	fi
	if [ -n "${BENCH_KEEP:-}" ]; then
		echo "gateway-bench.sh: kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

BEGIN=$(date +%s)
say() { printf '[%4ds] %s\n' $(($(date +%s) - BEGIN)) "$*" >&2; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

say "building benchtool, gwtool, rexec-node and rexec-cluster"
(cd "$HERE" && go build -o "$WORK/benchtool" ./benchtool)
(cd "$HERE/gwtool" && go build -o "$WORK/gwtool" .)
if [ "$PROFILE" = 1 ]; then
	go tool pprof -h >/dev/null 2>&1 || true # the first use builds it (minutes on a loaded machine)
fi
BT="$WORK/benchtool"
GT="$WORK/gwtool"
# The cluster's own binaries from this tree: the shared cache holds
# whatever tree ran build.sh last, which may predate the aggregation layer.
mkdir -p "$CLUSTER_BIN"
for b in etcd kube-apiserver kubectl; do ln -s "$BIN_DIR/$b" "$CLUSTER_BIN/$b"; done
(cd "$ROOT/test/cluster" && go build -o "$CLUSTER_BIN/rexec-node" ./cmd/rexec-node && go build -o "$CLUSTER_BIN/rexec-cluster" ./cmd/rexec-cluster)

say "starting the cluster (state $STATE)"
"$CLUSTER_BIN/rexec-cluster" up --state-dir "$STATE" --bin-dir "$CLUSTER_BIN" --pod "$POD" >>"$LOG" 2>&1 || {
	cat "$LOG" >&2
	die "rexec-cluster up failed"
}
APIPID="$(cat "$STATE/pids/kube-apiserver.pid")"
NODEPID="$(cat "$STATE/pids/rexec-node.pid")"

say "installing deploy/ (overlay: the gateway on this host), users dev and ops (break-glass)"
SETUP="$("$GT" setup -state "$STATE" -deploy "$ROOT/deploy" -out "$WORK/gw")" || die "gwtool setup failed"
eval "$SETUP"

# Every tool sees the same environment: no kuberc, a private HOME
# (discovery cache), the protocol switch set per measurement.
export HOME="$WORK/home" KUBERC=off TERM=xterm
unset KUBECONFIG KUBECTL_REXEC_DIR XDG_STATE_HOME KUBECTL_REMOTE_COMMAND_WEBSOCKETS
mkdir -p "$HOME" "$REC" "$PROF"
chmod 700 "$REC"

# Fresh copies of both clients (see bench.sh: how a binary's pages sit in
# the page cache changes its RSS; here it also keeps the runs comparable).
cp "$KUBECTL" "$WORK/kubectl" && KUBECTL="$WORK/kubectl"
cp "$REXEC_BIN" "$WORK/kubectl-rexec" && REXEC_BIN="$WORK/kubectl-rexec"
cp "$GATEWAY_BIN" "$WORK/rexec-gateway" && GATEWAY_BIN="$WORK/rexec-gateway"

# start_gateway UPSTREAM: the gateway as its ServiceAccount, as the
# Deployment runs it, with its debug listener on loopback; waits until the
# API server routes to it.
start_gateway() {
	rm -rf "$GWREC" "$WORK/spool"
	"$GATEWAY_BIN" --kubeconfig "$GW_KUBECONFIG" --listen "127.0.0.1:$GW_PORT" --instance bench-gw \
		--bootstrap rexec-system/rexec-gateway --record-dir "$GWREC" --spool-dir "$WORK/spool" \
		--policy "$GW_POLICY" --drain-timeout 10s --upstream-protocol "$1" \
		--debug-listen "127.0.0.1:$GW_DEBUG_PORT" >>"$WORK/gateway.log" 2>&1 &
	GWPID=$!
	"$GT" wait -kubeconfig "$DEV_KUBECONFIG" -pid "$GWPID" || {
		tail -20 "$WORK/gateway.log" >&2
		die "the gateway did not come up"
	}
}

stop_gateway() {
	if [ -n "$GWPID" ]; then
		kill -TERM "$GWPID" 2>/dev/null || true
		wait "$GWPID" 2>/dev/null || true
		GWPID=""
	fi
}

# cpu_ticks PID: utime + stime of a process, in clock ticks.
TICK="$(getconf CLK_TCK)"
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

KUBECTL_EXEC=("$KUBECTL" --kubeconfig "$OPS_KUBECONFIG" exec)
DIRECT_EXEC=("$REXEC_BIN" --kubeconfig "$OPS_KUBECONFIG" -q --record-dir "$REC" --via direct)
GATEWAY_EXEC=("$REXEC_BIN" --kubeconfig "$DEV_KUBECONFIG" -q --record-dir "$REC" --via gateway)

# tool_cmd TOOL sets CMD to the tool's exec prefix.
tool_cmd() {
	case "$1" in
	kubectl) CMD=("${KUBECTL_EXEC[@]}") ;;
	direct) CMD=("${DIRECT_EXEC[@]}") ;;
	gateway | up-*) CMD=("${GATEWAY_EXEC[@]}") ;;
	esac
}

# order I prints the three tools rotated by run I, so that over three runs
# each tool runs first, second and third once.
order() {
	case $(($1 % 3)) in
	1) echo kubectl direct gateway ;;
	2) echo direct gateway kubectl ;;
	0) echo gateway kubectl direct ;;
	esac
}

ws_of() { if [ "$1" = websocket ]; then echo true; else echo false; fi; }
record() { printf '%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }
get() { "$BT" get "$1" <<<"$2"; }
per_gib() { awk -v t="$1" -v hz="$TICK" -v b="$2" 'BEGIN { printf "%.3f", t / hz / (b / 1073741824) }'; }

check_exit() {
	local code
	code="$(get exit "$1")"
	[ "$code" = "$2" ] || die "$3 exited $code (want $2): $1"
}

clear_recordings() { rm -f "$REC"/* "$GWREC"/*.cast.zst 2>/dev/null || true; }

say "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r), load $(load)"
say "kubectl-rexec $("$REXEC_BIN" version 2>/dev/null | head -1 || echo unknown), $("$GATEWAY_BIN" --version), kubectl $("$KUBECTL" version --client 2>/dev/null | head -1)"
say "runs: $RUNS, keystrokes $KEYS, zero $ZERO_SIZE, random $RANDOM_SIZE, text $TEXT_SIZE, idle sessions $IDLE, upstream runs $UP_RUNS"

# The set-up is the mandatory-recording one: dev's plain exec is refused,
# once the API server has loaded the new ValidatingAdmissionPolicy and its
# binding (a policy takes effect a moment after it is created).
policy_in_force=""
for _ in $(seq 120); do
	if out="$("$KUBECTL" --kubeconfig "$DEV_KUBECONFIG" exec "$POD" -- true 2>&1)"; then
		sleep 0.5
		continue
	fi
	case "$out" in
	*"are recorded"*) policy_in_force=1 && break ;;
	*) die "dev's plain kubectl exec failed, but not by the policy: $out" ;;
	esac
done
[ -n "$policy_in_force" ] || die "dev's plain kubectl exec was still allowed after a minute: the ValidatingAdmissionPolicy is not in force"

# --- idle sessions (first: a fresh gateway per protocol) ------------------------
idle_protos="websocket spdy"
if ((IDLE < 2)); then idle_protos=""; fi # GWBENCH_IDLE=0 (or 1) skips them
for proto in $idle_protos; do
	start_gateway websocket
	heap=()
	if [ "$PROFILE" = 1 ]; then heap=(-heap-profile "$PROF/heap-idle-$proto.pprof"); fi
	say "idle: opening $IDLE sessions over $proto (load $(load))"
	if ! json="$("$GT" idle -kubeconfig "$DEV_KUBECONFIG" -pod "$POD" -n "$IDLE" -protocol "$proto" -pid "$GWPID" \
		-apiserver-pid "$APIPID" -debug "http://127.0.0.1:$GW_DEBUG_PORT" -idle "$IDLE_WAIT" "${heap[@]}" 2>"$WORK/idle-$proto.err")"; then
		# A failed idle measurement is a finding, not a reason to skip the rest.
		say "idle $proto FAILED: $(tail -c 600 "$WORK/idle-$proto.err")"
		record idle_failed "$proto" gateway 1
		stop_gateway
		continue
	fi
	echo "$json" >"$WORK/idle-$proto.json"
	record idle_rss_per_session "$proto" gateway "$(get rss_per_session_kib "$json")"
	record idle_heap_per_session "$proto" gateway "$(get heap_per_session_kib "$json")"
	record idle_open_rss_per_session "$proto" gateway "$(get open_rss_per_session_kib "$json")"
	record idle_open_heap_per_session "$proto" gateway "$(get open_heap_per_session_kib "$json")"
	record idle_open_rss_marginal "$proto" gateway "$(get rss_marginal_kib "$json")"
	record idle_open_heap_marginal "$proto" gateway "$(get heap_marginal_kib "$json")"
	record idle_stack_per_session "$proto" gateway "$(get stack_per_session_kib "$json")"
	record idle_goroutines_per_session "$proto" gateway "$(get goroutines_per_session "$json")"
	record idle_apiserver_rss "$proto" gateway "$(get apiserver_rss_per_session_kib "$json")"
	say "idle $proto: $(get sessions "$json") sessions opened in $(get open_s "$json") s: per session RSS $(get open_rss_per_session_kib "$json") KiB, heap $(get open_heap_per_session_kib "$json") KiB; idle $(get idle_s "$json") s: RSS $(get rss_per_session_kib "$json") KiB, heap $(get heap_per_session_kib "$json") KiB, $(get goroutines_per_session "$json") goroutines; ended ok $(get ended_ok "$json")"
	stop_gateway
done

start_gateway websocket

# --- throughput -------------------------------------------------------------
say "preparing $RANDOM_SIZE of random data and $TEXT_SIZE of log-like text in the pod"
"${KUBECTL_EXEC[@]}" "$POD" -- sh -c "head -c $(numfmt --from=iec "$RANDOM_SIZE") /dev/urandom > rand.bin" || die "preparing rand.bin failed"
"${KUBECTL_EXEC[@]}" "$POD" -- sh -c "awk 'BEGIN { srand(1); split(\"GET POST PUT DELETE\", m, \" \"); split(\"32mINFO 33mWARN 31mERROR 36mDEBUG\", l, \" \");
	for (i = 0; i < 4000000; i++) printf \"\\033[90m2026-11-27T06:%02d:%02d.%06dZ\\033[0m \\033[%s\\033[0m %s /api/v1/namespaces/ns-%d/pods/web-%x status=%d latency=%dms user=u%d id=%08x\\r\\n\",
		int(i / 60000) % 60, int(i / 1000) % 60, int(rand() * 1000000), l[int(rand() * 4) + 1], m[int(rand() * 4) + 1], int(rand() * 40), int(rand() * 65536),
		200 + int(rand() * 4) * 100, int(rand() * 2000), int(rand() * 500), int(rand() * 4294967295) }' | head -c $(numfmt --from=iec "$TEXT_SIZE") > text.txt" || die "preparing text.txt failed"

# transfer METRIC_PREFIX TOOL PROTO NAME BYTES -- remote command: one run;
# besides the throughput, the CPU seconds per GiB of every process on the
# path (client, kube-apiserver, the gateway, rexec-node; the remote command
# itself is the same for all), which this loaded machine measures more
# steadily than wall time.
transfer() {
	local prefix="$1" tool="$2" proto="$3" name="$4" bytes="$5" json wall g0 g1 a0 a1 n0 n1 client
	shift 6
	tool_cmd "$tool"
	g0="$(cpu_ticks "$GWPID")"
	a0="$(cpu_ticks "$APIPID")"
	n0="$(cpu_ticks "$NODEPID")"
	json="$(KUBECTL_REMOTE_COMMAND_WEBSOCKETS="$(ws_of "$proto")" "$BT" run -devnull -- "${CMD[@]}" "$POD" -- "$@")"
	g1="$(cpu_ticks "$GWPID")"
	a1="$(cpu_ticks "$APIPID")"
	n1="$(cpu_ticks "$NODEPID")"
	check_exit "$json" 0 "$tool $name $proto"
	wall="$(get wall_s "$json")"
	client="$(awk -v u="$(get user_s "$json")" -v s="$(get sys_s "$json")" -v hz="$TICK" 'BEGIN { printf "%d", (u + s) * hz }')"
	if [ "$tool" = kubectl ] || [ "$tool" = direct ]; then g1=$g0; fi # idle meanwhile; its timers are not this run's
	record "${prefix}throughput_$name" "$proto" "$tool" "$(awk -v b="$bytes" -v s="$wall" 'BEGIN { printf "%.2f", b / 1048576 / s }')"
	record "${prefix}cpu_total_$name" "$proto" "$tool" "$(per_gib $((client + a1 - a0 + g1 - g0 + n1 - n0)) "$bytes")"
	record "${prefix}cpu_client_$name" "$proto" "$tool" "$(per_gib "$client" "$bytes")"
	record "${prefix}cpu_apiserver_$name" "$proto" "$tool" "$(per_gib $((a1 - a0)) "$bytes")"
	if [ "$tool" != kubectl ] && [ "$tool" != direct ]; then
		record "${prefix}cpu_gateway_$name" "$proto" "$tool" "$(per_gib $((g1 - g0)) "$bytes")"
	fi
	record "${prefix}cpu_node_$name" "$proto" "$tool" "$(per_gib $((n1 - n0)) "$bytes")"
	clear_recordings
	say "${prefix}throughput $name $proto $tool: ${wall}s, CPU s client $(per_gib "$client" 1073741824) apiserver $(per_gib $((a1 - a0)) 1073741824) gateway $(per_gib $((g1 - g0)) 1073741824) node $(per_gib $((n1 - n0)) 1073741824) (load $(load))"
}

DATA=(
	"zero_${ZERO_SIZE,,}|$(numfmt --from=iec "$ZERO_SIZE")|head -c $(numfmt --from=iec "$ZERO_SIZE") /dev/zero"
	"random_${RANDOM_SIZE,,}|$(numfmt --from=iec "$RANDOM_SIZE")|cat rand.bin"
	"text_${TEXT_SIZE,,}|$(numfmt --from=iec "$TEXT_SIZE")|cat text.txt"
)
for d in "${DATA[@]}"; do
	IFS='|' read -r name bytes cmd <<<"$d"
	for proto in websocket spdy; do
		for ((i = 1; i <= RUNS; i++)); do
			for tool in $(order "$i"); do
				# shellcheck disable=SC2086 # the remote command's words
				transfer "" "$tool" "$proto" "$name" "$bytes" -- $cmd
			done
		done
	done
done

# --- keystroke latency --------------------------------------------------------
CAT_SCRIPT='stty -icanon -echo min 1 time 0; echo READY; exec cat'
keys() { # PREFIX TOOL PROTO
	local json
	tool_cmd "$2"
	json="$(KUBECTL_REMOTE_COMMAND_WEBSOCKETS="$(ws_of "$3")" "$BT" keys -n "$KEYS" -- "${CMD[@]}" -it "$POD" -- sh -c "$CAT_SCRIPT")"
	check_exit "$json" 130 "$2 keys $3" # ^C ends the remote cat
	record "${1}keys_p50" "$3" "$2" "$(get p50_ms "$json")"
	record "${1}keys_p99" "$3" "$2" "$(get p99_ms "$json")"
	clear_recordings
	say "${1}keys $3 $2: p50 $(get p50_ms "$json") ms, p99 $(get p99_ms "$json") ms (load $(load))"
}
for proto in websocket spdy; do
	for ((i = 1; i <= RUNS; i++)); do
		for tool in $(order "$i"); do
			keys "" "$tool" "$proto"
		done
	done
done

# --- where the gateway's time goes: CPU profiles of bulk transfers -------------
if [ "$PROFILE" = 1 ]; then
	for d in "${DATA[@]}"; do
		IFS='|' read -r name bytes cmd <<<"$d"
		out="$PROF/cpu-$name.pprof"
		curl -sf -o "$out" "http://127.0.0.1:$GW_DEBUG_PORT/debug/pprof/profile?seconds=10" &
		cpid=$!
		n=0
		while kill -0 "$cpid" 2>/dev/null || ((n == 0)); do
			# shellcheck disable=SC2086
			KUBECTL_REMOTE_COMMAND_WEBSOCKETS=true "${GATEWAY_EXEC[@]}" "$POD" -- $cmd >/dev/null
			clear_recordings
			n=$((n + 1))
		done
		wait "$cpid" || die "CPU profile of the gateway failed"
		say "CPU profile of the gateway, $name over websocket ($n transfers): $out"
	done
fi

# --- the gateway's upstream protocol ------------------------------------------
for ((i = 1; i <= UP_RUNS; i++)); do
	ups="websocket spdy"
	if ((i % 2 == 0)); then ups="spdy websocket"; fi
	for up in $ups; do
		stop_gateway
		start_gateway "$up"
		for d in "${DATA[@]}"; do
			IFS='|' read -r name bytes cmd <<<"$d"
			for proto in websocket spdy; do
				# shellcheck disable=SC2086
				transfer up_ "up-$up" "$proto" "$name" "$bytes" -- $cmd
			done
		done
		for proto in websocket spdy; do
			keys up_ "up-$up" "$proto"
		done
	done
done
stop_gateway

# --- report -----------------------------------------------------------------------
echo
echo "the rexec gateway against direct exec — medians of $RUNS runs (upstream: $UP_RUNS), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), load average at the end $(load)"
echo "(c) kubectl exec as a break-glass user; (b) kubectl rexec --via direct, same user; (a) kubectl rexec --via gateway as an ordinary user"
echo "idle: $IDLE sessions from one client-go process on a fresh gateway; idle_open_*: just opened, (all - none) / $IDLE, marginal (all - half) / half; idle_*: after $IDLE_WAIT idle"
echo
"$GT" report "$RESULTS"
if [ "$PROFILE" = 1 ]; then
	for f in "$PROF"/*.pprof; do
		echo
		echo "== go tool pprof -top $(basename "$f")"
		go tool pprof -top -nodecount=25 "$f" 2>/dev/null | sed -n '1,32p'
	done
fi
echo
say "done"
