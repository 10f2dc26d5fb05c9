#!/bin/sh
# Starts a MinIO server on 127.0.0.1:9000 with a bucket, for running the
# gateway against S3 by hand; prints the variables to use. Ctrl-C stops it.
set -eu
cd "$(dirname "$0")/.."
MINIO=$(scripts/deps.sh | tail -n 1)
DATA=${MINIO_DATA:-$(mktemp -d)}
mkdir -p "$DATA/ftps3"
cat <<MSG
MinIO data in $DATA; bucket "ftps3". Run the gateway with:
  AWS_ENDPOINT_URL_S3=http://127.0.0.1:9000 AWS_S3_BUCKET_NAME=ftps3 AWS_S3_BUCKET_REGION=us-east-1 \\
  AWS_ACCESS_KEY_ID=minioadmin AWS_SECRET_ACCESS_KEY=minioadmin \\
  FTP_USERS__0__LOGIN=me FTP_USERS__0__PASSWORD=secret go run ./app
MSG
MINIO_ROOT_USER=minioadmin MINIO_ROOT_PASSWORD=minioadmin exec "$MINIO" server --address 127.0.0.1:9000 --console-address 127.0.0.1:9001 "$DATA"
