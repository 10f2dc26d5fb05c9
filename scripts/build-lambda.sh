#!/bin/sh
# Builds the DNS sync Lambda for provided.al2023 on arm64: a static
# "bootstrap" binary, zipped as the CDK stack deploys it.
#   scripts/build-lambda.sh [OUT_DIR]   (default: dist/) → OUT_DIR/dnssync.zip
set -eu
OUT=${1:-}
case $OUT in
"") ;;
/*) ;;
*) OUT=$(pwd)/$OUT ;; # relative to the caller, not to the repository
esac
cd "$(dirname "$0")/.."
OUT=${OUT:-dist}
mkdir -p "$OUT/dnssync"
CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -trimpath -tags lambda.norpc -ldflags='-s -w' \
	-o "$OUT/dnssync/bootstrap" ./lambdas/dnssync
rm -f "$OUT/dnssync.zip"
python3 - "$OUT/dnssync/bootstrap" "$OUT/dnssync.zip" <<'PY'
import sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
info = zipfile.ZipInfo("bootstrap", date_time=(2020, 1, 1, 0, 0, 0))
info.external_attr = 0o100755 << 16  # an executable file
info.compress_type = zipfile.ZIP_DEFLATED
with open(src, "rb") as f, zipfile.ZipFile(dst, "w") as z:
    z.writestr(info, f.read())
PY
echo "$OUT/dnssync.zip"
