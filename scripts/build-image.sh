#!/bin/sh
# Builds the gateway image from docker/Dockerfile, from a context staged the
# way the CDK image asset stages it: the Dockerfile and one binary,
# dist/linux-ARCH/ftps3.
#   scripts/build-image.sh [TAG] [ARCH]   (default: ftps3:dev, this machine's architecture)
set -eu
cd "$(dirname "$0")/.."
TAG=${1:-ftps3:dev}
ARCH=${2:-$(go env GOARCH)}
scripts/build-release.sh "$ARCH" >/dev/null
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/docker" "$ctx/dist/linux-$ARCH"
cp docker/Dockerfile "$ctx/docker/"
cp "dist/linux-$ARCH/ftps3" "$ctx/dist/linux-$ARCH/"
docker build -q -f docker/Dockerfile --platform "linux/$ARCH" -t "$TAG" "$ctx" >/dev/null
echo "$TAG"
