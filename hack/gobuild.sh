#!/usr/bin/env bash
# gobuild.sh LABEL [go build flags and packages...]: `go build -v` that says
# what it is doing. A first build on a cold Go cache compiles hundreds of
# packages for minutes without a word; this prints a line every
# PROGRESS_INTERVAL seconds (15) with the time so far, the modules downloaded
# and packages compiled, and the package being compiled, then one line at the
# end. A build that takes less than the interval prints nothing. On failure
# it prints go's messages and exits with go's status.
#
# Environment: GO (default go), PROGRESS_INTERVAL (seconds, default 15).
set -euo pipefail

label="$1"
shift
interval="${PROGRESS_INTERVAL:-15}"
log="$(mktemp "${TMPDIR:-/tmp}/gobuild.XXXXXX")"
trap 'rm -f "$log"' EXIT

# -v prints each package as it is compiled, and go prints "go: downloading
# MODULE VERSION" for each module it fetches, all on stderr.
"${GO:-go}" build -v "$@" 2>"$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$log"' INT TERM

start=$SECONDS
next=$((start + interval))
say() {
	local mods pkgs last
	mods=$(grep -c '^go: downloading ' "$log" || true)
	pkgs=$(grep -c '^[^ #:]*$' "$log" || true)
	last=$(grep '^[^ #:]*$' "$log" | tail -1 || true)
	printf '    %s: %s, %d modules downloaded, %d packages compiled%s\n' \
		"$label" "$(elapsed)" "$mods" "$pkgs" "${1:-${last:+, now $last}}"
}
elapsed() {
	local s=$((SECONDS - start))
	if ((s >= 60)); then printf '%dm%02ds' $((s / 60)) $((s % 60)); else printf '%ds' "$s"; fi
}

while kill -0 "$pid" 2>/dev/null; do
	sleep 1
	if ((SECONDS >= next)); then
		say
		next=$((SECONDS + interval))
	fi
done
rc=0
wait "$pid" || rc=$?
if ((rc != 0)); then
	# Everything that is not a bare package path: compiler errors, go's own.
	grep -v '^[^ #:]*$' "$log" >&2 || true
	echo "    $label: go build failed after $(elapsed) (exit $rc)" >&2
	exit "$rc"
fi
if ((SECONDS - start >= interval)); then
	say ", done"
fi
