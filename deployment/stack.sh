#!/usr/bin/env bash
# A remote tracking stack on 127.0.0.1, for real: PostgreSQL (Debian's package) as MLflow's
# backend store, an S3-speaking object store (moto's standalone server here; MinIO or S3 in
# production, chosen by MLFLOW_S3_ENDPOINT_URL) and `mlflow server` proxying artifacts to
# s3://$BUCKET/artifacts.
#
#   deployment/stack.sh up      start what is not running yet; prints the variables to export
#   deployment/stack.sh down    stop everything (moto keeps objects in memory: they go too)
#   deployment/stack.sh restart-tracking   stop and start PostgreSQL and mlflow server only
#
# Settings: STACK_DIR (.stack), PG_PORT (5433), S3_PORT (9000), MLFLOW_PORT (5000),
# BUCKET (mlflow), and, for an external object store instead of moto, MLFLOW_S3_ENDPOINT_URL
# with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
STACK_DIR="$(mkdir -p "${STACK_DIR:-$root/.stack}" && cd "${STACK_DIR:-$root/.stack}" && pwd)"
PG_PORT="${PG_PORT:-5433}"
S3_PORT="${S3_PORT:-9000}"
MLFLOW_PORT="${MLFLOW_PORT:-5000}"
BUCKET="${BUCKET:-mlflow}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-stack-local}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-stack-local}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
use_moto=$([ -z "${MLFLOW_S3_ENDPOINT_URL:-}" ] && echo yes || echo no)
export MLFLOW_S3_ENDPOINT_URL="${MLFLOW_S3_ENDPOINT_URL:-http://127.0.0.1:$S3_PORT}"
PATH="$root/.venv/bin:$PATH"
# Debian keeps PostgreSQL's tools in /usr/lib/postgresql/<version>/bin, off the PATH.
pg_bin="$(dirname "$(readlink -f "$(command -v initdb 2>/dev/null \
  || ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | tail -1)")")"

# PostgreSQL refuses to run as root: run its tools as the postgres user when we are root.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_http() {
  for _ in $(seq 1 120); do
    python -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=2)" "$1" \
      2>/dev/null && return 0
    sleep 0.5
  done
  echo "$1 did not answer; see $STACK_DIR/*.log" >&2
  return 1
}

postgres_up() {
  local data="$STACK_DIR/postgres"
  if [ ! -f "$data/PG_VERSION" ]; then
    mkdir -p "$data"
    [ "$(id -u)" -ne 0 ] || chown postgres "$STACK_DIR" "$data"
    as_pg "$pg_bin/initdb" --pgdata "$data" --username postgres --auth trust >/dev/null
  fi
  if ! as_pg "$pg_bin/pg_ctl" --pgdata "$data" status >/dev/null 2>&1; then
    as_pg "$pg_bin/pg_ctl" --pgdata "$data" --log "$data/server.log" --wait \
      -o "-h 127.0.0.1 -p $PG_PORT -k $data" start >/dev/null
  fi
  as_pg "$pg_bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'mlflow'" | grep -q 1 \
    || as_pg "$pg_bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres mlflow
}

moto_up() {
  alive "$STACK_DIR/moto.pid" && return 0
  moto_server -H 127.0.0.1 -p "$S3_PORT" >"$STACK_DIR/moto.log" 2>&1 &
  echo $! >"$STACK_DIR/moto.pid"
  wait_http "$MLFLOW_S3_ENDPOINT_URL/moto-api/"
}

bucket_up() {
  python - "$BUCKET" <<'PY'
import os, sys, boto3, botocore
s3 = boto3.client("s3", endpoint_url=os.environ["MLFLOW_S3_ENDPOINT_URL"])
try:
    s3.head_bucket(Bucket=sys.argv[1])
except botocore.exceptions.ClientError:
    s3.create_bucket(Bucket=sys.argv[1])
PY
}

mlflow_up() {
  alive "$STACK_DIR/mlflow.pid" && return 0
  # The job-runner workers (~2.5 GB) serve MLflow features this project does not use.
  MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow server \
    --backend-store-uri "postgresql+psycopg2://postgres@127.0.0.1:$PG_PORT/mlflow" \
    --artifacts-destination "s3://$BUCKET/artifacts" \
    --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 1 \
    >"$STACK_DIR/mlflow.log" 2>&1 &
  echo $! >"$STACK_DIR/mlflow.pid"
  wait_http "http://127.0.0.1:$MLFLOW_PORT/health"
}

stop_pid() {
  if alive "$1"; then
    kill "$(cat "$1")"
    for _ in $(seq 1 40); do kill -0 "$(cat "$1")" 2>/dev/null || break; sleep 0.25; done
  fi
  rm -f "$1"
}

tracking_down() {
  stop_pid "$STACK_DIR/mlflow.pid"
  if [ -f "$STACK_DIR/postgres/PG_VERSION" ]; then
    as_pg "$pg_bin/pg_ctl" --pgdata "$STACK_DIR/postgres" --wait stop >/dev/null 2>&1 || true
  fi
}

up() {
  postgres_up
  [ "$use_moto" = no ] || moto_up
  bucket_up
  mlflow_up
  cat <<VARS
# The stack is up (logs in $STACK_DIR). Point MLflow, the project and its clients at it:
export MLFLOW_TRACKING_URI=http://127.0.0.1:$MLFLOW_PORT
export MLFLOW_S3_ENDPOINT_URL=$MLFLOW_S3_ENDPOINT_URL
export AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
VARS
}

case "${1:-}" in
  up) up ;;
  down) tracking_down; stop_pid "$STACK_DIR/moto.pid" ;;
  restart-tracking) tracking_down; postgres_up; mlflow_up ;;
  *) echo "usage: $0 up | down | restart-tracking" >&2; exit 2 ;;
esac
