#!/usr/bin/env bash
# Vendors asciinema-player's built browser bundle (JS, CSS and its LICENSE)
# into pkg/webplayer/asciinema-player/, from the npm registry, for
# `kubectl rexec export --format html` (embedded with go:embed).
#
# Reproducible: the version and the tarball's SHA-256 are pinned here; the
# script refuses a tarball with another hash, and writes the SHA-256 of each
# vendored file into VERSION, which pkg/webplayer's tests check against the
# embedded files. To move to another release, change VERSION and
# TARBALL_SHA256 (from `npm pack asciinema-player@X` and `sha256sum`), run
# this script, and run `go test ./pkg/webplayer/`.
set -euo pipefail
VERSION=3.18.0
TARBALL_SHA256=18d9703510fae9209da9e26ce3d13c59f083b4abcff003a3bba958e03918a862

cd "$(dirname "$0")/.."
dest=pkg/webplayer/asciinema-player
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

tarball=$(cd "$tmp" && npm pack --silent "asciinema-player@$VERSION")
got=$(sha256sum "$tmp/$tarball" | cut -d' ' -f1)
if [ "$got" != "$TARBALL_SHA256" ]; then
	echo "asciinema-player@$VERSION: tarball SHA-256 is $got, expected $TARBALL_SHA256; refusing it" >&2
	exit 1
fi
tar -xzf "$tmp/$tarball" -C "$tmp" package/LICENSE package/dist/bundle/asciinema-player.min.js package/dist/bundle/asciinema-player.css

mkdir -p "$dest"
cp "$tmp/package/LICENSE" "$dest/LICENSE"
cp "$tmp/package/dist/bundle/asciinema-player.min.js" "$dest/asciinema-player.min.js"
cp "$tmp/package/dist/bundle/asciinema-player.css" "$dest/asciinema-player.css"
{
	echo "asciinema-player $VERSION"
	echo "npm tarball $tarball sha256 $TARBALL_SHA256"
	(cd "$dest" && sha256sum LICENSE asciinema-player.min.js asciinema-player.css)
} >"$dest/VERSION"
chmod 0644 "$dest"/*
cat "$dest/VERSION"
