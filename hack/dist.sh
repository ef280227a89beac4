#!/usr/bin/env bash
# make dist: reproducible release archives for every platform krew serves, their
# checksums, and the krew manifest rendered with those checksums.
#
#   dist/kubectl-rexec_<version>_<os>_<arch>.tar.gz   linux, darwin
#   dist/kubectl-rexec_<version>_windows_amd64.zip
#       each holds kubectl-rexec[.exe], LICENSE and the completion helper
#       (kubectl_complete-rexec; kubectl_complete-rexec.cmd for windows)
#   dist/SHA256SUMS                                   sha256sum format
#   dist/plugin.yaml                                  hack/plugin.yaml.tmpl, rendered
#
# and, for a release version (vX.Y.Z, all platforms), ./plugin.yaml too.
#
# Same source, same Go toolchain, same VERSION/COMMIT/SOURCE_DATE_EPOCH: same
# bytes. The binaries are built with -trimpath -buildvcs=false CGO_ENABLED=0;
# archive entries get fixed mtimes, owner 0:0 and normalized modes, in name
# order; gzip -n stores no name or time; zip -X stores no uid/gid or extra
# timestamps, and runs with TZ=UTC because zip keeps local DOS times.
#
# Environment (all optional):
#   VERSION            vX.Y.Z[-pre]. Default: git describe --tags --always --dirty;
#                      one that is not a semantic version (an untagged tree, say
#                      ca3e277-dirty) becomes v0.0.0-<that>, since krew requires
#                      semver.
#   COMMIT             default: git rev-parse --short HEAD
#   SOURCE_DATE_EPOCH  archive mtimes. Default: the last commit's time.
#   PLATFORMS          default: "linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64"
#   DIST_DIR           default: dist (relative to the repository root)
#   UPDATE_MANIFEST    1/0: also write ./plugin.yaml. Default: 1 when VERSION is
#                      vX.Y.Z without a pre-release and PLATFORMS is the default.
#   GO                 default: go
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
GO="${GO:-go}"
PKG=github.com/kubectl-rexec/kubectl-rexec
ALL_PLATFORMS="linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64"
PLATFORMS="${PLATFORMS:-$ALL_PLATFORMS}"
DIST_DIR="${DIST_DIR:-dist}"

log() { printf 'dist: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}

# The same version `make build` stamps (hack/version.sh).
VERSION="$(VERSION="${VERSION:-}" bash "$ROOT/hack/version.sh")" || die "no version"
COMMIT="${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"
# 1980-01-01, the earliest time a zip entry can hold, when there is no git.
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 315532800)}"
export SOURCE_DATE_EPOCH
if [[ -z ${UPDATE_MANIFEST:-} ]]; then
	UPDATE_MANIFEST=0
	if [[ $VERSION =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ && $PLATFORMS == "$ALL_PLATFORMS" ]]; then
		UPDATE_MANIFEST=1
	fi
fi

# GNU tar for --sort=name and friends (BSD tar has no equivalent).
TAR=tar
if ! tar --version 2>/dev/null | grep -q 'GNU tar'; then
	command -v gtar >/dev/null 2>&1 || die "GNU tar is required (on macOS: brew install gnu-tar)"
	TAR=gtar
fi
for tool in gzip sha256sum; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done
if [[ $PLATFORMS == *windows/* ]]; then
	command -v zip >/dev/null 2>&1 || die "zip is required for the windows archive (apt-get install zip)"
fi

mkdir -p "$DIST_DIR"
DIST_DIR="$(cd "$DIST_DIR" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/rexec-dist.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# Only what this run builds is listed: stale archives of another version in
# DIST_DIR are left alone but never end up in SHA256SUMS or the manifest.
rm -f "$DIST_DIR/SHA256SUMS" "$DIST_DIR/plugin.yaml"

ldflags="-s -w -X $PKG/pkg/cmd.Version=$VERSION -X $PKG/pkg/cmd.Commit=$COMMIT"
log "version $VERSION, commit $COMMIT, SOURCE_DATE_EPOCH $SOURCE_DATE_EPOCH, $("$GO" env GOVERSION)"

archives=()
for platform in $PLATFORMS; do
	goos="${platform%/*}"
	goarch="${platform#*/}"
	stage="$work/${goos}_${goarch}"
	mkdir -p "$stage"
	exe=kubectl-rexec
	helper=kubectl_complete-rexec
	helper_src="$ROOT/kubectl_complete-rexec"
	if [[ $goos == windows ]]; then
		exe+=.exe
		helper+=.cmd
		helper_src="$ROOT/hack/kubectl_complete-rexec.cmd"
	fi
	start=$(date +%s)
	# GOAMD64/GOARM64 pinned to their defaults: an environment that sets them
	# would otherwise change the code.
	env CGO_ENABLED=0 GOOS="$goos" GOARCH="$goarch" GOAMD64=v1 GOARM64=v8.0 GOFLAGS= \
		"$GO" build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$stage/$exe" ./cmd/kubectl-rexec
	cp "$ROOT/LICENSE" "$stage/LICENSE"
	cp "$helper_src" "$stage/$helper"
	chmod 0755 "$stage/$exe" "$stage/$helper"
	chmod 0644 "$stage/LICENSE"
	touch -h -d "@$SOURCE_DATE_EPOCH" "$stage/$exe" "$stage/$helper" "$stage/LICENSE"

	name="kubectl-rexec_${VERSION}_${goos}_${goarch}"
	if [[ $goos == windows ]]; then
		archive="$name.zip"
		rm -f "$work/$archive"
		# -X: no uid/gid or extended-time fields; -D: no directory entries;
		# files in a fixed order; TZ=UTC for the DOS timestamps.
		(cd "$stage" && TZ=UTC zip -q -X -D -9 "$work/$archive" LICENSE "$exe" "$helper")
	else
		archive="$name.tar.gz"
		"$TAR" --sort=name --format=gnu --mtime="@$SOURCE_DATE_EPOCH" \
			--owner=0 --group=0 --numeric-owner --mode='u+rw,go+r,go-w' \
			-C "$stage" -cf - LICENSE "$exe" "$helper" | gzip -n -9 >"$work/$archive"
	fi
	mv -f "$work/$archive" "$DIST_DIR/$archive"
	archives+=("$archive")
	log "$archive ($(du -h "$DIST_DIR/$archive" | cut -f1), built in $(($(date +%s) - start))s)"
done

(cd "$DIST_DIR" && sha256sum "${archives[@]}" >SHA256SUMS.tmp && mv -f SHA256SUMS.tmp SHA256SUMS)
env GOFLAGS= "$GO" run ./hack/krew-manifest -template hack/plugin.yaml.tmpl \
	-sums "$DIST_DIR/SHA256SUMS" -version "$VERSION" >"$work/plugin.yaml"
mv -f "$work/plugin.yaml" "$DIST_DIR/plugin.yaml"
if [[ $UPDATE_MANIFEST == 1 ]]; then
	cp "$DIST_DIR/plugin.yaml" "$ROOT/plugin.yaml"
	log "plugin.yaml updated for $VERSION"
fi
cat "$DIST_DIR/SHA256SUMS"
