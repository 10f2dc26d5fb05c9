#!/bin/sh
# Runs every test: installs the tools they need (scripts/deps.sh), builds
# the CDK assets, then `go vet` and `go test` (with the race detector outside
# infra/). Tests that need S3 start their own MinIO on 127.0.0.1 with a
# temporary data directory and stop it; real-client tests drive curl, lftp
# and Python's ftplib against the gateway; the image tests use Docker; the
# infra tests synthesize the app, build its image assets as `cdk deploy`
# does, and run cfn-lint ($FTPS3_CFN_LINT) on every synthesized template.
set -eu
cd "$(dirname "$0")/.."

FTPS3_MINIO_BIN=$(scripts/deps.sh | tail -n 1)
export FTPS3_MINIO_BIN
FTPS3_CFN_LINT=$(dirname "$FTPS3_MINIO_BIN")/cfn-lint # installed by deps.sh
export FTPS3_CFN_LINT
export FTPS3_REQUIRE_SERVICES=1 # a missing tool fails the run instead of skipping
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20

scripts/build-assets.sh # what the CDK app packages (the synth tests need it)
go vet ./...
# The race detector covers our code; the CDK packages run without it, since
# jsii-runtime-go's own shutdown races (it waits on its node process twice).
go test -race -count=1 -timeout 25m "$@" $(go list ./... | grep -v '/infra')
go test -count=1 -timeout 15m "$@" ./infra/...
# Brief fuzzing of what clients send: command lines in a session, paths, and
# the SFTP requests the fast path reads. Minimizing a new input may take 60 s
# by default, the whole budget: 1 s here leaves the time to fuzzing.
go test -run '^$' -fuzz '^FuzzControlSession$' -fuzztime 15s -fuzzminimizetime 1s ./app/ftp
go test -run '^$' -fuzz '^FuzzPathMapping$' -fuzztime 10s -fuzzminimizetime 1s ./app/objfs
go test -run '^$' -fuzz '^FuzzFastPath$' -fuzztime 10s -fuzzminimizetime 1s ./app/sftp
