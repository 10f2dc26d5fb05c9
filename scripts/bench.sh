#!/bin/sh
# Measures the gateway against direct S3 access, in one run on this machine:
# builds a release gateway and the bench driver, installs MinIO (scripts/deps.sh),
# runs internal/benchtool and prints a table; figures also go to
# bench-results.json. Full run: under 10 minutes on 2 cores.
#   scripts/bench.sh            full run (1 GiB file, 20 and 100 concurrent uploads, 10,000 objects,
#                               500 files of 16 KiB and 100 of 1 MiB one by one, 10 sessions at once)
#   scripts/bench.sh -quick     a short run for everyday use
#   scripts/bench.sh -- -rounds 5 ...   any benchtool flag
set -eu
cd "$(dirname "$0")/.."
MINIO=$(scripts/deps.sh | tail -n 1)
OUT=${TMPDIR:-/tmp}/ftps3-bench-bin
mkdir -p "$OUT"
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$OUT/ftps3" ./app
go build -o "$OUT/benchtool" ./internal/benchtool
if [ "${1:-}" = "-quick" ]; then
	shift
	set -- -size 128MiB -rounds 3 -concurrency 10 -concurrent-size 16MiB -objects 2000 -logins 50 -small-files 200 -files-16k 200 -files-1m 30 "$@"
fi
[ "${1:-}" = "--" ] && shift
exec "$OUT/benchtool" -gateway "$OUT/ftps3" -minio "$MINIO" "$@"
