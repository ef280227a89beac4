#!/usr/bin/env bash
# record-tour.sh: records docs/tour.cast.zst, and docs/tour.cast (its
# asciicast v2 export), from a clean `make demo`, typing into an 80x20 tmux
# window, so that the tour can be redone whenever what it shows changes.
#
#   hack/record-tour.sh [USER]
#
# It clones HEAD (so the work tree must be clean: the version in the
# recording is that commit's, not -dirty) into USER's home, runs `make demo`
# there as USER (default: the current user), types the session, quits the
# replay, and copies the recording into docs/. The header then names USER,
# the clone's path and, with TOUR_HOSTNAME (run as root, in a UTS namespace
# of its own), that host name: a newcomer's machine rather than a
# developer's. USER needs the real test cluster built (one `make demo` or
# `make test` as USER first): the tour is recorded against it, not against
# the quick server.
#
# Needs tmux and git; runs `make` and `go` as USER.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
user="${1:-$(id -un)}"
hostname_="${TOUR_HOSTNAME:-}"
die() {
	echo "record-tour: $*" >&2
	exit 1
}
command -v tmux >/dev/null || die "tmux is required (apt-get install tmux)"
[[ -z "$(git -C "$root" status --porcelain)" ]] || die "the work tree has changes: commit them, the recording names the version"

home="$(getent passwd "$user" | cut -d: -f6)"
[[ -d $home ]] || die "no home directory for $user"
as_user() {
	if [[ $user == "$(id -un)" ]]; then
		env "$@"
	else
		setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups env HOME="$home" USER="$user" LOGNAME="$user" "$@"
	fi
}

# A clone of HEAD in USER's home, through a bundle so that USER needs no
# access to this work tree.
bundle="$(mktemp "${TMPDIR:-/tmp}/tour.XXXXXX.bundle")"
trap 'rm -f "$bundle"' EXIT
git -C "$root" bundle create -q "$bundle" HEAD
chmod 0644 "$bundle"
clone="$home/kubectl-rexec"
as_user rm -rf "$clone"
as_user git -c advice.detachedHead=false clone -q "$bundle" "$clone"
rec_dir="$home/.local/state/kubectl-rexec/recordings"
before="$(as_user sh -c "ls -1 '$rec_dir' 2>/dev/null" | sort || true)"

# tmux on a socket of its own; the window is what the recording's header
# calls the terminal (80x20). What it runs is a script in USER's home, so
# that no quoting crosses su, unshare and tmux.
sock="rexec-tour-$$"
tmx() { as_user tmux -L "$sock" "$@"; }
runner="$home/.rexec-tour-run.sh"
cat >"$runner" <<EOF
cd '$clone' || exit 1
export PATH=/usr/local/go/bin:\$PATH
make demo
echo TOUR-DONE
sleep 3600
EOF
chmod 0755 "$runner"
[[ $user == "$(id -un)" ]] || chown "$user" "$runner"
if [[ -n $hostname_ ]]; then
	[[ $(id -u) == 0 ]] || die "TOUR_HOSTNAME needs root (a UTS namespace)"
	unshare --uts sh -c "hostname '$hostname_' && exec setpriv --reuid='$user' --regid='$(id -g "$user")' --init-groups env HOME='$home' USER='$user' LOGNAME='$user' tmux -L '$sock' new-session -d -s tour -x 80 -y 20 'bash $runner'"
else
	tmx new-session -d -s tour -x 80 -y 20 "bash $runner"
fi
trap 'rm -f "$bundle" "$runner"; tmx kill-server 2>/dev/null || true' EXIT

screen() { tmx capture-pane -p -t tour; }
# wait_for TEXT [SECONDS]: until the window shows TEXT.
wait_for() {
	local deadline=$((SECONDS + ${2:-900}))
	until screen | grep -qF -- "$1"; do
		((SECONDS < deadline)) || die "timed out waiting for '$1'; the window shows:
$(screen)"
		sleep 0.5
	done
}
type_line() {
	sleep 1.2 # a human's pace, for the recording's timing
	tmx send-keys -t tour -l "$1"
	sleep 0.4
	tmx send-keys -t tour Enter
}

# wait_prompt: until the shell in the pod shows its prompt on the last line.
wait_prompt() {
	local deadline=$((SECONDS + 120))
	until screen | grep -v '^$' | tail -1 | grep -q '# *$'; do
		((SECONDS < deadline)) || die "no shell prompt; the window shows:
$(screen)"
		sleep 0.2
	done
}

wait_for "opening a recorded shell"
wait_prompt
type_line 'echo "hello from $POD_NAME"'
wait_for "hello from demo"
wait_prompt
type_line 'id; hostname; ls /'
wait_for "proc"
wait_prompt
type_line 'printf "\033[32mgreen\033[0m and plain\n"'
wait_for "green and plain"
wait_prompt
type_line 'exit 3'
wait_for "command terminated with exit code 3"
wait_for "■ end" 120 # the replay's status bar
sleep 1
tmx send-keys -t tour q
wait_for "TOUR-DONE"
tmx capture-pane -p -S - -t tour | grep -q "starting rexec-quick" &&
	die "make demo ran on the quick server: build the real cluster as $user first"

after="$(as_user sh -c "ls -1 '$rec_dir'" | sort)"
new="$(comm -13 <(echo "$before") <(echo "$after") | grep '\.cast\.zst$' | tail -1)"
[[ -n $new ]] || die "no new recording in $rec_dir"
cp "$rec_dir/$new" "$root/docs/tour.cast.zst"
chmod 0644 "$root/docs/tour.cast.zst"
as_user "$clone/_output/bin/kubectl-rexec" export --format asciicast-v2 "$rec_dir/$new" >"$root/docs/tour.cast"
echo "record-tour: docs/tour.cast.zst and docs/tour.cast from $new"
as_user "$clone/_output/bin/kubectl-rexec" info "$root/docs/tour.cast.zst"
