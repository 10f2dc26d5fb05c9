#!/bin/sh
# Builds the gateway image from docker/Dockerfile.
#   scripts/build-image.sh [TAG] [ARCH]   (default: ftps3:dev, this machine's architecture)
set -eu
cd "$(dirname "$0")/.."
TAG=${1:-ftps3:dev}
ARCH=${2:-$(go env GOARCH)}
scripts/build-release.sh "$ARCH" >/dev/null
docker build -q -f docker/Dockerfile --build-arg TARGETARCH="$ARCH" -t "$TAG" . >/dev/null
echo "$TAG"
