#!/bin/sh
# Cross-compiles a static gateway binary: dist/linux-ARCH/ftps3.
#   scripts/build-release.sh [ARCH]   ARCH: amd64 or arm64 (default: this machine's)
set -eu
cd "$(dirname "$0")/.."
ARCH=${1:-$(go env GOARCH)}
mkdir -p "dist/linux-$ARCH"
CGO_ENABLED=0 GOOS=linux GOARCH=$ARCH go build -trimpath -ldflags='-s -w' -o "dist/linux-$ARCH/ftps3" ./app
echo "dist/linux-$ARCH/ftps3"
