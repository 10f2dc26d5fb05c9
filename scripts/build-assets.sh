#!/bin/sh
# Builds what the CDK stack deploys: the gateway binary for the hosts'
# architecture (the image asset copies it) and the DNS sync Lambda.
# cdk.json runs this before every synth and deploy.
set -eu
cd "$(dirname "$0")/.."
scripts/build-release.sh arm64 >/dev/null
scripts/build-release.sh amd64 >/dev/null
scripts/build-lambda.sh dist >/dev/null
echo "assets built in dist/"
