#!/usr/bin/env bash
# make image: the rexec-gateway OCI image, linux/amd64 and linux/arm64, built
# without a container daemon, reproducible, and checked by reading it back.
#
#   dist/rexec-gateway_<version>_oci.tar     OCI image layout archive: one index, both platforms
#   dist/rexec-gateway_<version>_oci.digest  the index digest (what a pushed tag points at)
#
# Same source, Go toolchain, CA bundle, VERSION/COMMIT/SOURCE_DATE_EPOCH: same
# bytes. The gateway is built with CGO_ENABLED=0 -trimpath -buildvcs=false and
# GOAMD64/GOARM64 pinned; hack/image (its own Go module) writes the image.
#
# Environment (all optional):
#   VERSION            default: git describe --tags --always --dirty; characters an
#                      image tag cannot hold become '-'
#   COMMIT             default: git rev-parse --short HEAD
#   SOURCE_DATE_EPOCH  every time in the image. Default: the last commit's time.
#   PLATFORMS          default: "linux/amd64 linux/arm64"
#   CA_CERTS           a PEM bundle to ship instead of the one made here from the
#                      Debian ca-certificates package (see below)
#   DIST_DIR           default: dist
#   PUSH               REGISTRY/REPO:TAG to push to after the checks (docker/podman login credentials)
#   GO                 default: go
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
GO="${GO:-go}"
PLATFORMS="${PLATFORMS:-linux/amd64 linux/arm64}"
DIST_DIR="${DIST_DIR:-dist}"
CA_CERTS="${CA_CERTS:-}"
export LC_ALL=C # glob order, in the CA bundle

log() { printf 'image: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}

[[ -d cmd/rexec-gateway ]] || die "cmd/rexec-gateway is not in this tree: nothing to put in the image"
VERSION="${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
VERSION="${VERSION//[^0-9A-Za-z_.-]/-}"
COMMIT="${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
export SOURCE_DATE_EPOCH

mkdir -p "$DIST_DIR"
DIST_DIR="$(cd "$DIST_DIR" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/rexec-image.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# /etc/ssl/certs/ca-certificates.crt is not shipped as it is: update-ca-certificates
# appends every CA in /usr/local/share/ca-certificates (a company or proxy CA)
# and drops those deselected in /etc/ca-certificates.conf. The bundle is made
# instead the way update-ca-certificates makes it from the package alone: the
# package's certificates, unmodified (dpkg --verify), in name order. Same
# package version, same bytes.
ca_version=""
if [[ -z $CA_CERTS ]]; then
	ca_version="$(dpkg-query -W -f='${Version}' ca-certificates 2>/dev/null)" ||
		die "the Debian ca-certificates package is not installed: apt-get install ca-certificates (or set CA_CERTS to a PEM bundle)"
	changed="$(dpkg --verify ca-certificates 2>&1 | grep /usr/share/ca-certificates/ || true)"
	[[ -z $changed ]] || die "files of the ca-certificates package were changed: $changed; apt-get install --reinstall ca-certificates"
	CA_CERTS="$work/ca-certificates.crt"
	for crt in /usr/share/ca-certificates/mozilla/*.crt; do
		sed -e '$a\' "$crt" # a final newline, as update-ca-certificates adds
	done >"$CA_CERTS"
fi
[[ -r $CA_CERTS ]] || die "cannot read the CA bundle $CA_CERTS"
log "CA bundle $CA_CERTS${ca_version:+ (ca-certificates $ca_version)}: $(grep -c 'BEGIN CERTIFICATE' "$CA_CERTS") certificates, sha256 $(sha256sum "$CA_CERTS" | cut -d' ' -f1)"

log "version $VERSION, commit $COMMIT, SOURCE_DATE_EPOCH $SOURCE_DATE_EPOCH, $("$GO" env GOVERSION)"

binaries=()
for platform in $PLATFORMS; do
	goos="${platform%/*}"
	goarch="${platform#*/}"
	out="$work/${goos}_${goarch}/rexec-gateway"
	start=$(date +%s)
	# GOAMD64/GOARM64 pinned to their defaults: an environment that sets them
	# would otherwise change the code.
	env CGO_ENABLED=0 GOOS="$goos" GOARCH="$goarch" GOAMD64=v1 GOARM64=v8.0 GOFLAGS= \
		"$GO" build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=$VERSION" -o "$out" ./cmd/rexec-gateway
	log "gateway $platform built in $(($(date +%s) - start))s ($(stat -c %s "$out") bytes)"
	binaries+=(-binary "$platform=$out")
done

start=$(date +%s)
env GOFLAGS= "$GO" build -C hack/image -o "$work/rexec-image" .
log "hack/image built in $(($(date +%s) - start))s"
name="rexec-gateway_${VERSION}_oci"
"$work/rexec-image" "${binaries[@]}" \
	-ca-certs "$CA_CERTS" -ca-certs-version "$ca_version" \
	-version "$VERSION" -revision "$COMMIT" -created "$SOURCE_DATE_EPOCH" \
	-out "$DIST_DIR/$name.tar" -digest-file "$DIST_DIR/$name.digest" \
	${PUSH:+-push "$PUSH"}
