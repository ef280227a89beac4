#!/usr/bin/env bash
# kubectl rexec against kubectl exec, side by side on one real cluster in one
# run (`make bench` calls this after `make build cluster-build`).
#
# Starts its own cluster (rexec-cluster up, state in a temporary directory,
# down on exit), then alternates the two tools (A/B, B/A, ...) for every
# measurement, BENCH_RUNS times each, and prints the medians, the ratio
# rexec/kubectl and PASS/MISS against the targets. A MISS never fails the
# run; a broken measurement (a tool exiting non-zero) does.
#
#   throughput   head -c 1G /dev/zero, and cat of a 256 MiB random file and
#                of 256 MiB of log-like text prepared in the pod, stdout to
#                /dev/null, both protocols; each twice: with every process
#                sharing the cores, and pinned (the cluster and the remote
#                command on CPU 0, the client alone on CPU 1, as when it runs
#                on a machine of its own); the client's CPU per GiB
#                (user+sys) of each tool, and what rexec adds
#   keys         p50/p99 echo round trip of single keystrokes typed into a
#                remote `cat` under -t (stty -icanon -echo), via a pty
#   startup      invocation to the first byte of `echo x`
#   rss          peak RSS of the client process (getrusage ru_maxrss)
#   size         recording sizes; a scripted interactive session against
#                zstd -19 and gzip -9 of the same asciicast text
#
# Environment: BENCH_RUNS (5), BENCH_STARTUP_RUNS (4 x BENCH_RUNS),
# BENCH_KEYS (200), BENCH_ZERO_SIZE (1G), BENCH_RANDOM_SIZE (256M),
# BENCH_TEXT_SIZE (256M), BENCH_PARTS ("throughput keys startup session":
# which measurements to run), BENCH_PIN (1 with 2 cores or more: the
# pinned throughput runs; 0 skips them),
# REXEC_BIN (_output/bin/kubectl-rexec), REXEC_E2E_BIN_DIR (build.sh's),
# BENCH_KEEP=1 keeps the work directory (results.tsv, logs).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
RUNS="${BENCH_RUNS:-5}"
STARTUP_RUNS="${BENCH_STARTUP_RUNS:-$((RUNS * 4))}"
KEYS="${BENCH_KEYS:-200}"
ZERO_SIZE="${BENCH_ZERO_SIZE:-1G}"
RANDOM_SIZE="${BENCH_RANDOM_SIZE:-256M}"
TEXT_SIZE="${BENCH_TEXT_SIZE:-256M}"
REXEC_BIN="${REXEC_BIN:-$ROOT/_output/bin/kubectl-rexec}"
PARTS=" ${BENCH_PARTS:-throughput keys startup session} "
NCPU=$(nproc)
PIN="${BENCH_PIN:-$((NCPU >= 2))}"
BIN_DIR="$(bash "$ROOT/test/cluster/build.sh" --print-bin-dir)"
KUBECTL="$BIN_DIR/kubectl"
POD=bench

die() {
	echo "bench.sh: $*" >&2
	exit 1
}
for f in "$REXEC_BIN" "$KUBECTL" "$BIN_DIR/rexec-cluster"; do
	[ -x "$f" ] || die "$f missing: run make build cluster-build"
done
for c in zstd gzip numfmt go taskset; do
	command -v "$c" >/dev/null || die "$c is not installed"
done
if [ "$PIN" = 1 ] && ((NCPU < 2)); then
	die "BENCH_PIN=1 needs 2 cores or more, this machine has $NCPU"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/rexec-bench.XXXXXX")"
STATE="$WORK/state"
REC="$WORK/rec"
RESULTS="$WORK/results.tsv"
LOG="$WORK/bench.log"
cleanup() {
	if [ -f "$STATE/state.json" ]; then
		"$BIN_DIR/rexec-cluster" down --state-dir "$STATE" >>"$LOG" 2>&1 || echo "bench.sh: rexec-cluster down failed, see $LOG" >&2
	fi
	if [ -n "${BENCH_KEEP:-}" ]; then
		echo "bench.sh: kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

BEGIN=$(date +%s)
say() { printf '[%4ds] %s\n' $(($(date +%s) - BEGIN)) "$*" >&2; }

say "building benchtool"
(cd "$HERE" && go build -o "$WORK/benchtool" ./benchtool)
BT="$WORK/benchtool"

say "starting the cluster (state $STATE)"
"$BIN_DIR/rexec-cluster" up --state-dir "$STATE" --pod "$POD" >>"$LOG" 2>&1 || {
	cat "$LOG" >&2
	die "rexec-cluster up failed"
}

# Both tools see the same environment: no kuberc, a private HOME (discovery
# cache), the admin kubeconfig.
export HOME="$WORK/home" KUBERC=off KUBECONFIG="$STATE/admin.kubeconfig" TERM=xterm
unset KUBECTL_REXEC_DIR XDG_STATE_HOME KUBECTL_REMOTE_COMMAND_WEBSOCKETS
mkdir -p "$HOME" "$REC"
chmod 700 "$REC"

# Both clients run from fresh copies. How a binary's pages sit in the page
# cache changes its peak RSS by 20-30 MB on this kernel: one just written by
# the Go linker (which writes through mmap) is mapped in large pieces, one
# copied (or installed, or read back after eviction) is not; kubectl's was
# linked long ago and rexec's just now, so without the copies the RSS
# comparison would measure that, not the programs.
cp "$KUBECTL" "$WORK/kubectl" && KUBECTL="$WORK/kubectl"
cp "$REXEC_BIN" "$WORK/kubectl-rexec" && REXEC_BIN="$WORK/kubectl-rexec"
KUBECTL_EXEC=("$KUBECTL" exec)
REXEC_EXEC=("$REXEC_BIN" -q --record-dir "$REC")
PLUGIN_EXEC=("$KUBECTL" rexec -q --record-dir "$REC") # kubectl's plugin dispatch
PLUGIN_DIR="$WORK/plugin-bin"
mkdir -p "$PLUGIN_DIR"
ln -s "$REXEC_BIN" "$PLUGIN_DIR/kubectl-rexec"

# tool_cmd TOOL sets CMD to the tool's exec prefix.
tool_cmd() {
	case "$1" in
	kubectl) CMD=("${KUBECTL_EXEC[@]}") ;;
	rexec) CMD=("${REXEC_EXEC[@]}") ;;
	plugin) CMD=("${PLUGIN_EXEC[@]}") ;;
	esac
}

# order I prints the tools in run I's order: A/B on odd runs, B/A on even.
order() {
	if (($1 % 2)); then echo kubectl rexec; else echo rexec kubectl; fi
}

ws_of() { if [ "$1" = websocket ]; then echo true; else echo false; fi; }

record() { printf '%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }

get() { "$BT" get "$1" <<<"$2"; }

# check_exit JSON WANT WHAT: a measurement whose tool failed is worthless.
check_exit() {
	local code
	code="$(get exit "$1")"
	[ "$code" = "$2" ] || die "$3 exited $code (want $2): $1"
}

# rec_size prints the size of the one recording in $REC and empties it.
rec_size() {
	local f n=0
	for f in "$REC"/*.cast.zst; do
		[ -e "$f" ] || continue
		n=$(stat -c %s "$f")
	done
	rm -f "$REC"/*
	echo "$n"
}

say "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
say "kubectl-rexec $("$REXEC_BIN" version 2>/dev/null | head -1 || echo unknown), kubectl $("$KUBECTL" version --client 2>/dev/null | head -1)"
say "runs: $RUNS (start-up $STARTUP_RUNS), keystrokes $KEYS, zero $ZERO_SIZE, random $RANDOM_SIZE, text $TEXT_SIZE; parts:$PARTS; pinned runs: $PIN"

part() { [[ "$PARTS" == *" $1 "* ]]; }

# pin_server CPUS puts every thread of the cluster's processes (etcd,
# kube-apiserver, the node and, through the node, each remote command it
# starts from then on) on CPUS.
pin_server() {
	local f
	for f in "$STATE"/pids/*.pid; do
		taskset -a -p -c "$1" "$(cat "$f")" >/dev/null || die "taskset -a -p -c $1 $(basename "$f" .pid) failed"
	done
}

# --- throughput -------------------------------------------------------------
if part throughput; then
	say "preparing $RANDOM_SIZE of random data in the pod's working directory"
	"$KUBECTL" exec "$POD" -- sh -c "head -c $(numfmt --from=iec "$RANDOM_SIZE") /dev/urandom > rand.bin" || die "preparing rand.bin failed"
	say "preparing $TEXT_SIZE of log-like text (colours, timestamps, ids) in the pod's working directory"
	"$KUBECTL" exec "$POD" -- sh -c "awk 'BEGIN { srand(1); split(\"GET POST PUT DELETE\", m, \" \"); split(\"32mINFO 33mWARN 31mERROR 36mDEBUG\", l, \" \");
	for (i = 0; i < 4000000; i++) printf \"\\033[90m2026-11-27T06:%02d:%02d.%06dZ\\033[0m \\033[%s\\033[0m %s /api/v1/namespaces/ns-%d/pods/web-%x status=%d latency=%dms user=u%d id=%08x\\r\\n\",
		int(i / 60000) % 60, int(i / 1000) % 60, int(rand() * 1000000), l[int(rand() * 4) + 1], m[int(rand() * 4) + 1], int(rand() * 40), int(rand() * 65536),
		200 + int(rand() * 4) * 100, int(rand() * 2000), int(rand() * 500), int(rand() * 4294967295) }' | head -c $(numfmt --from=iec "$TEXT_SIZE") > text.txt" || die "preparing text.txt failed"
fi

# throughput MODE NAME SIZE_BYTES -- remote command...: MODE shared (every
# process on every core) or pinned (pin_server 0 first; the client, through
# benchtool, on CPU 1).
throughput() {
	local mode="$1" name="$2" bytes="$3" proto i tool json wall variant pre=()
	shift 4
	if [ "$mode" = pinned ]; then pre=(taskset -c 1); fi
	for proto in websocket spdy; do
		variant="$proto"
		if [ "$mode" = pinned ]; then variant="$proto pinned"; fi
		for ((i = 1; i <= RUNS; i++)); do
			for tool in $(order "$i"); do
				tool_cmd "$tool"
				json="$(KUBECTL_REMOTE_COMMAND_WEBSOCKETS="$(ws_of "$proto")" "${pre[@]}" "$BT" run -devnull -- "${CMD[@]}" "$POD" -- "$@")"
				if [ "$(get exit "$json")" != 0 ]; then
					# Seen once in hundreds of runs on a 2-core machine at load 36:
					# the stream ended without the command's status. One retry, said.
					say "throughput $name $variant run $i $tool failed, retrying once: $json"
					rm -f "$REC"/*
					json="$(KUBECTL_REMOTE_COMMAND_WEBSOCKETS="$(ws_of "$proto")" "${pre[@]}" "$BT" run -devnull -- "${CMD[@]}" "$POD" -- "$@")"
				fi
				check_exit "$json" 0 "$tool $name $variant"
				wall="$(get wall_s "$json")"
				record "throughput_$name" "$variant" "$tool" "$(awk -v b="$bytes" -v s="$wall" 'BEGIN { printf "%.2f", b / 1048576 / s }')"
				record "cpugib_$name" "$variant" "$tool" "$(awk -v u="$(get user_s "$json")" -v s="$(get sys_s "$json")" -v b="$bytes" 'BEGIN { printf "%.3f", (u + s) / (b / 1073741824) }')"
				if [ "$mode" = shared ]; then
					record "rss_$name" "$variant" "$tool" "$(awk -v k="$(get maxrss_kib "$json")" 'BEGIN { printf "%.1f", k / 1024 }')"
				fi
				if [ "$tool" = rexec ]; then
					record "size_rec_$name" "$variant" rexec "$(rec_size)"
				fi
				say "throughput $name $variant run $i $tool: ${wall}s, load $(cut -d' ' -f1 /proc/loadavg)"
			done
		done
	done
}
sources() { # MODE
	throughput "$1" "zero_${ZERO_SIZE,,}" "$(numfmt --from=iec "$ZERO_SIZE")" -- head -c "$(numfmt --from=iec "$ZERO_SIZE")" /dev/zero
	throughput "$1" "random_${RANDOM_SIZE,,}" "$(numfmt --from=iec "$RANDOM_SIZE")" -- cat rand.bin
	throughput "$1" "text_${TEXT_SIZE,,}" "$(numfmt --from=iec "$TEXT_SIZE")" -- cat text.txt
}
if part throughput; then
	sources shared
	if [ "$PIN" = 1 ]; then
		say "pinning the cluster to CPU 0, the clients to CPU 1"
		pin_server 0
		sources pinned
		pin_server "0-$((NCPU - 1))"
	fi

	# The asciicast text behind one zero run's recording (how much the
	# writer escaped and compressed), from one extra rexec run.
	KUBECTL_REMOTE_COMMAND_WEBSOCKETS=true "${REXEC_EXEC[@]}" "$POD" -- head -c "$(numfmt --from=iec "$ZERO_SIZE")" /dev/zero >/dev/null
	ZERO_REC=$(ls "$REC"/*.cast.zst)
	ZERO_TEXT=$(zstd -dc "$ZERO_REC" | wc -c)
	ZERO_ZST=$(stat -c %s "$ZERO_REC")
	rm -f "$REC"/*
fi

# --- keystroke latency --------------------------------------------------------
if part keys; then
	CAT_SCRIPT='stty -icanon -echo min 1 time 0; echo READY; exec cat'
	for proto in websocket spdy; do
		for ((i = 1; i <= RUNS; i++)); do
			for tool in $(order "$i"); do
				tool_cmd "$tool"
				json="$(KUBECTL_REMOTE_COMMAND_WEBSOCKETS="$(ws_of "$proto")" "$BT" keys -n "$KEYS" -- "${CMD[@]}" -it "$POD" -- sh -c "$CAT_SCRIPT")"
				check_exit "$json" 130 "$tool keys $proto" # ^C ends the remote cat
				record keys_p50 "$proto" "$tool" "$(get p50_ms "$json")"
				record keys_p99 "$proto" "$tool" "$(get p99_ms "$json")"
				record rss_keys "$proto" "$tool" "$(awk -v k="$(get maxrss_kib "$json")" 'BEGIN { printf "%.1f", k / 1024 }')"
				if [ "$tool" = rexec ]; then
					record size_rec_keys "$proto" rexec "$(rec_size)"
				fi
				say "keys $proto run $i $tool: p50 $(get p50_ms "$json") ms, p99 $(get p99_ms "$json") ms"
			done
		done
	done
fi

# --- start-up ---------------------------------------------------------------------
if part startup; then
	for proto in websocket spdy; do
		for ((i = 1; i <= STARTUP_RUNS; i++)); do
			for tool in $(order "$i") plugin; do
				tool_cmd "$tool"
				json="$(PATH="$PLUGIN_DIR:$PATH" KUBECTL_REMOTE_COMMAND_WEBSOCKETS="$(ws_of "$proto")" "$BT" run -- "${CMD[@]}" "$POD" -- echo x)"
				check_exit "$json" 0 "$tool startup $proto"
				[ "$(get bytes "$json")" = 2 ] || die "$tool startup $proto: output is not x: $json"
				fb="$(get first_byte_ms "$json")"
				case "$tool" in
				plugin) record startup "$proto (kubectl rexec)" rexec "$fb" ;;
				*)
					record startup "$proto" "$tool" "$fb"
					record rss_echo "$proto" "$tool" "$(awk -v k="$(get maxrss_kib "$json")" 'BEGIN { printf "%.1f", k / 1024 }')"
					# kubectl exec is the baseline of the plugin-dispatch row too
					if [ "$tool" = kubectl ]; then record startup "$proto (kubectl rexec)" kubectl "$fb"; fi
					;;
				esac
				rm -f "$REC"/*
			done
		done
		say "startup $proto: $STARTUP_RUNS runs each"
	done
fi

# --- a scripted interactive session -------------------------------------------------
if part session; then
	say "scripted interactive session ($(grep -cv '^#' "$HERE/session.txt") commands)"
	json="$("$BT" session -script "$HERE/session.txt" -- "${REXEC_EXEC[@]}" -it "$POD" -- env 'PS1=bench$ ' sh -i)"
	check_exit "$json" 0 "rexec session"
	SESSION_REC=$(ls "$REC"/*.cast.zst)
	SESSION_TEXT=$(zstd -dc "$SESSION_REC" | wc -c)
	SESSION_ZST=$(stat -c %s "$SESSION_REC")
	SESSION_Z19=$(zstd -dc "$SESSION_REC" | zstd -19 -c | wc -c)
	SESSION_GZ9=$(zstd -dc "$SESSION_REC" | gzip -9 -c | wc -c)
	SESSION_EVENTS=$(zstd -dc "$SESSION_REC" | tail -n +2 | wc -l)
	rm -f "$REC"/*
fi

# --- report -----------------------------------------------------------------------
echo
echo "kubectl rexec vs kubectl exec — medians of $RUNS runs ($STARTUP_RUNS for start-up), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo
"$BT" report "$RESULTS"
if part throughput; then
	echo
	echo "throughput A/B: medians of $RUNS runs per cell"
	"$BT" abtable "$RESULTS"
fi
echo
echo "recording sizes (bytes)"
if part session; then
	printf '  %-44s %12s\n' "scripted session ($SESSION_EVENTS events): asciicast text" "$SESSION_TEXT"
	printf '  %-44s %12s  (%.1f%% of text)\n' "  rexec recording (.cast.zst)" "$SESSION_ZST" "$(awk -v a="$SESSION_ZST" -v b="$SESSION_TEXT" 'BEGIN { print 100 * a / b }')"
	printf '  %-44s %12s  (rexec/zstd-19 %.2f)\n' "  zstd -19 of the same text" "$SESSION_Z19" "$(awk -v a="$SESSION_ZST" -v b="$SESSION_Z19" 'BEGIN { print a / b }')"
	printf '  %-44s %12s  (rexec/gzip-9 %.2f)\n' "  gzip -9 of the same text" "$SESSION_GZ9" "$(awk -v a="$SESSION_ZST" -v b="$SESSION_GZ9" 'BEGIN { print a / b }')"
fi
if part throughput; then
	printf '  %-44s %12s\n' "$ZERO_SIZE of zeros: asciicast text" "$ZERO_TEXT"
	printf '  %-44s %12s\n' "  rexec recording (.cast.zst)" "$ZERO_ZST"
	echo "  (size_rec_* rows above: medians per protocol; random data is stored as base64 'O' events)"
fi
echo
say "done"
