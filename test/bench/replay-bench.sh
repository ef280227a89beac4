#!/usr/bin/env bash
# Replay/catalog performance against issue 4's targets (docs/BENCHMARKS.md,
# "Replay, ls, export and grep"). Needs `make build`. Writes, once, a ~1 GiB
# recording and 10,000 small ones with the real recorder (pkg/record) under
# $TMPDIR/rexec-bench and reuses them.
#
#   bash test/bench/replay-bench.sh            # RUNS=5 by default
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BIN=${REXEC_BIN:-$ROOT/_output/bin/kubectl-rexec}
RUNS=${RUNS:-5}
WORK=${TMPDIR:-/tmp}/rexec-bench
BIG=$WORK/1g.cast.zst
SMALL=$WORK/128m.cast.zst
LS=$WORK/ls10k
TOOL=$WORK/benchtool
mkdir -p "$WORK"
[ -x "$BIN" ] || { echo "no $BIN: run make build" >&2; exit 1; }

(cd test/bench && go build -o "$TOOL" ./benchtool)
REXEC_BENCH_1G_FILE=$BIG go test -count=1 -run '^$' -bench '^BenchmarkWriteBig1G$' -benchtime 1x ./pkg/replay >/dev/null
REXEC_BENCH_1G_FILE=$SMALL REXEC_BENCH_1G_MIB=128 go test -count=1 -run '^$' -bench '^BenchmarkWriteBig1G$' -benchtime 1x ./pkg/replay >/dev/null
REXEC_BENCH_10K_DIR=$LS go test -count=1 -run '^$' -bench '^BenchmarkWrite10k$' -benchtime 1x ./pkg/catalog >/dev/null

get() { "$TOOL" get "$1"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
# measure NAME [-devnull] -- CMD...: RUNS runs, one TSV line each.
measure() {
	local name=$1; shift
	local i j
	for i in $(seq "$RUNS"); do
		j=$("$TOOL" run -timeout 10m "$@")
		if [ "$(get exit <<<"$j")" != 0 ]; then
			echo "$name: exit $(get exit <<<"$j"): $(get stderr <<<"$j" 2>/dev/null)" >&2
		fi
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$(get wall_s <<<"$j")" "$(get first_byte_ms <<<"$j")" \
			"$(get maxrss_kib <<<"$j")" "$(get bytes <<<"$j")" "$(load)"
	done
}

echo "# $(date -u +%FT%TZ) $("$BIN" version | head -1), RUNS=$RUNS, load $(load)"
echo "# $(ls -l "$BIG" | awk '{print $5}') bytes on disk: $BIG"
printf 'name\twall_s\tfirst_byte_ms\tmaxrss_kib\tbytes\tload1 load5 load15\n'
measure version -- "$BIN" version
measure first-byte -- "$BIN" replay --no-wait --from 0 "$BIG"
# seeks: a one-second window at points across the 1h03m52s session
# (1%, 10%, 25%, 50%, 75%, 90%, 99%), --to one second later
for w in 38s,39s 6m23s,6m24s 15m58s,15m59s 31m56s,31m57s 47m54s,47m55s 57m29s,57m30s 1h3m13s,1h3m14s; do
	measure "seek-${w%,*}" -- "$BIN" replay --no-wait --from "${w%,*}" --to "${w#*,}" "$BIG"
done
measure seek-end -- "$BIN" replay --no-wait --from end "$BIG"
measure ls-10k -devnull -- "$BIN" ls "$LS"
measure export-txt-128m -devnull -- "$BIN" export --format txt "$SMALL"
measure export-txt-1g -devnull -- "$BIN" export --format txt "$BIG"
measure grep-128m -devnull -- "$BIN" grep 'id=fc9d0e40' "$SMALL"
measure grep-1g -devnull -- "$BIN" grep 'id=fc9d0e40' "$BIG"

# Peak anonymous vs file-backed RSS (sampled from /proc every 50 ms): most of
# ru_maxrss is the binary's own pages (RssFile), not data.
rss() {
	local name=$1; shift
	"$@" >/dev/null 2>&1 & local p=$! ma=0 mf=0 a f
	while kill -0 "$p" 2>/dev/null; do
		read -r a f < <(awk '/RssAnon/{a=$2}/RssFile/{f=$2}END{print a+0, f+0}' "/proc/$p/status" 2>/dev/null || echo 0 0)
		[ "${a:-0}" -gt "$ma" ] && ma=$a
		[ "${f:-0}" -gt "$mf" ] && mf=$f
		sleep 0.05
	done
	wait "$p" || true
	printf 'rss\t%s\tRssAnon_max_kib=%s\tRssFile_max_kib=%s\t%s\n' "$name" "$ma" "$mf" "$(load)"
}
rss ls-10k "$BIN" ls "$LS"
rss seek-31m56s "$BIN" replay --no-wait --from 31m56s --to 31m57s "$BIG"
rss seek-end "$BIN" replay --no-wait --from end "$BIG"
rss export-txt-128m "$BIN" export --format txt "$SMALL"
rss export-txt-1g "$BIN" export --format txt "$BIG"
rss grep-128m "$BIN" grep id=fc9d0e40 "$SMALL"
rss grep-1g "$BIN" grep id=fc9d0e40 "$BIG"

# First output on a terminal (80x24 pty; the player redraws the screen from
# its emulator when seeking), if python3 is there.
command -v python3 >/dev/null || exit 0
ptyfirst() {
	python3 - "$@" <<'PY'
import os, pty, sys, time, select, signal, struct, fcntl, termios
t0 = time.monotonic()
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 80, 0, 0))
select.select([fd], [], [], 10)
print("%.1f" % ((time.monotonic() - t0) * 1000))
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
PY
}
for at in 0 38s 31m56s 1h3m13s end; do
	for i in $(seq "$RUNS"); do
		printf 'pty-first-byte\t--from %s\t%s ms\t%s\n' "$at" "$(ptyfirst "$BIN" replay --from "$at" "$BIG")" "$(load)"
	done
done
