#!/bin/sh
# Installs what the tests and benchmarks need, once, and caches it:
#   - MinIO (pinned, built with `go install` into $FTPS3_CACHE/bin),
#   - curl, lftp, rclone, OpenSSH's sftp and Python's paramiko (Debian
#     packages) if missing,
#   - cfn-lint (a pip package) if missing: into a virtual environment in
#     $FTPS3_CACHE/venv, else `pip install --user`; linked as
#     $FTPS3_CACHE/bin/cfn-lint either way.
# Prints the MinIO binary path on its last line.
set -eu

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c # the Go proxy serves this pseudo-version
CACHE=${FTPS3_CACHE:-$HOME/.cache/ftps3}
BIN=$CACHE/bin
mkdir -p "$BIN"

if [ ! -x "$BIN/minio" ] || [ "$(cat "$BIN/minio.version" 2>/dev/null)" != "$MINIO_VERSION" ]; then
	echo "deps: building MinIO $MINIO_VERSION into $BIN (several minutes, once)" >&2
	(cd / && GOBIN=$BIN GOFLAGS=-buildvcs=false go install "github.com/minio/minio@$MINIO_VERSION")
	echo "$MINIO_VERSION" >"$BIN/minio.version"
fi

missing=""
# rclone copies and checks files over SFTP with the checksum commands.
for tool in curl lftp rclone; do
	command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
command -v sftp >/dev/null 2>&1 || missing="$missing openssh-client"
# The active-active proof (internal/nlbsim) runs each simulated host in a
# network namespace of its own.
command -v ip >/dev/null 2>&1 || missing="$missing iproute2"
command -v nsenter >/dev/null 2>&1 || missing="$missing util-linux"
# Debian's paramiko is for Debian's python3 (/usr/bin/python3), which the
# SFTP tests look for when the python3 on PATH lacks it.
if ! python3 -c 'import paramiko' >/dev/null 2>&1 && ! /usr/bin/python3 -c 'import paramiko' >/dev/null 2>&1; then
	missing="$missing python3-paramiko"
fi
if [ -n "$missing" ]; then
	echo "deps: installing$missing" >&2
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >&2
fi
command -v python3 >/dev/null 2>&1 || echo "deps: python3 not found; the ftplib tests will fail" >&2

# cfn-lint validates the synthesized CloudFormation templates (infra tests).
CFN_LINT_VERSION=1.51.0
if [ ! -x "$BIN/cfn-lint" ]; then
	if found=$(command -v cfn-lint 2>/dev/null); then
		ln -sf "$found" "$BIN/cfn-lint"
	else
		echo "deps: installing cfn-lint $CFN_LINT_VERSION" >&2
		if python3 -m venv "$CACHE/venv" >&2 && "$CACHE/venv/bin/pip" install -q "cfn-lint==$CFN_LINT_VERSION" >&2; then
			ln -sf "$CACHE/venv/bin/cfn-lint" "$BIN/cfn-lint"
		elif python3 -m pip install -q --user "cfn-lint==$CFN_LINT_VERSION" >&2; then
			ln -sf "$(python3 -m site --user-base)/bin/cfn-lint" "$BIN/cfn-lint"
		else
			echo "deps: could not install cfn-lint (pip install cfn-lint==$CFN_LINT_VERSION)" >&2
			exit 1
		fi
	fi
fi

echo "$BIN/minio"
