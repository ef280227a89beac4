#!/usr/bin/env bash
# version.sh: the version stamped into kubectl-rexec by `make build`,
# `make install` and `make dist` alike: $VERSION when set, else `git describe
# --tags --always --dirty`. One that is not a semantic version (an untagged
# tree gives a commit such as 2cbe5e8, or 2cbe5e8-dirty) becomes
# v0.0.0-<that>, since krew requires semver and `version` should not
# differ between the two builds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
semver_re='^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$'
v="${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
if [[ ! $v =~ $semver_re ]]; then
	v="v0.0.0-${v//[^0-9A-Za-z.-]/-}"
	if [[ ! $v =~ $semver_re ]]; then
		echo "version.sh: cannot make a semantic version of $v" >&2
		exit 1
	fi
fi
echo "$v"
