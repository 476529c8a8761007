#!/usr/bin/env bash
# A remote tracking stack on 127.0.0.1, for real: PostgreSQL (Debian's package) as MLflow's
# backend store, an S3-speaking object store (moto's standalone server here; MinIO or S3 in
# production, chosen by MLFLOW_S3_ENDPOINT_URL) and `mlflow server` proxying artifacts to
# s3://$BUCKET/artifacts. The server runs MLflow's basic-auth app behind the project's request
# filter (--app-name titanic-basic-auth, titanic_model/tracking_server): every call needs a
# user and password, its users and permissions live in PostgreSQL beside the tracking data
# (database mlflow_auth), `python -m titanic_model.access` gives each role its user, and only
# the server holds the artifact store's keys: clients reach artifacts through its proxy
# (docs/deployment.md#who-may-do-what).
#
#   deployment/stack.sh up      start what is not running yet, set up the roles' users; prints
#                               the variables to export, with the training user's credentials
#   deployment/stack.sh env ROLE   the same variables for ROLE: training, serving, monitoring, admin
#   deployment/stack.sh down    stop everything (moto keeps objects in memory: they go too)
#   deployment/stack.sh restart-tracking   stop and start PostgreSQL and mlflow server only
#
# Settings: STACK_DIR (.stack), PG_PORT (5433), S3_PORT (9000), MLFLOW_PORT (5000),
# MLFLOW_WORKERS (1: the server's worker processes), BUCKET (mlflow), and, for an external object store instead of moto, MLFLOW_S3_ENDPOINT_URL
# with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY: the server's alone, never printed. The
# prediction log has a bucket and keys of its own, which `env serving|monitoring` print:
# LOG_BUCKET (prediction-log), TITANIC_PREDICTION_LOG_S3_ENDPOINT_URL (the stack's S3 server),
# TITANIC_PREDICTION_LOG_AWS_ACCESS_KEY_ID and _SECRET_ACCESS_KEY. Passwords: MLFLOW_AUTH_ADMIN_PASSWORD (the
# admin's, used when the permission database is first created) and TITANIC_TRAINING_PASSWORD,
# TITANIC_SERVING_PASSWORD, TITANIC_MONITORING_PASSWORD; each one unset is generated on the first
# `up`, printed once and kept in $STACK_DIR/credentials (mode 600), never in the repository.
# The server's hardening: ALLOWED_HOSTS (the Host headers it answers) and CORS_ORIGINS (the
# browser origins it lets call its API), both 127.0.0.1 and localhost on MLFLOW_PORT by default.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
STACK_DIR="$(mkdir -p "${STACK_DIR:-$root/.stack}" && cd "${STACK_DIR:-$root/.stack}" && pwd)"
PG_PORT="${PG_PORT:-5433}"
S3_PORT="${S3_PORT:-9000}"
MLFLOW_PORT="${MLFLOW_PORT:-5000}"
MLFLOW_WORKERS="${MLFLOW_WORKERS:-1}"
BUCKET="${BUCKET:-mlflow}"
ALLOWED_HOSTS="${ALLOWED_HOSTS:-127.0.0.1:$MLFLOW_PORT,localhost:$MLFLOW_PORT}"
CORS_ORIGINS="${CORS_ORIGINS:-http://127.0.0.1:$MLFLOW_PORT,http://localhost:$MLFLOW_PORT}"
ROLES=(training serving monitoring)
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-stack-local}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-stack-local}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
use_moto=$([ -z "${MLFLOW_S3_ENDPOINT_URL:-}" ] && echo yes || echo no)
export MLFLOW_S3_ENDPOINT_URL="${MLFLOW_S3_ENDPOINT_URL:-http://127.0.0.1:$S3_PORT}"
LOG_BUCKET="${LOG_BUCKET:-prediction-log}"
log_endpoint="${TITANIC_PREDICTION_LOG_S3_ENDPOINT_URL:-$MLFLOW_S3_ENDPOINT_URL}"
log_key="${TITANIC_PREDICTION_LOG_AWS_ACCESS_KEY_ID:-prediction-log}"
log_secret="${TITANIC_PREDICTION_LOG_AWS_SECRET_ACCESS_KEY:-prediction-log}"
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
  as_pg "$pg_bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'mlflow_auth'" | grep -q 1 \
    || as_pg "$pg_bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres mlflow_auth
}

# The password of a user: the environment's when given, else the one kept from an earlier
# `up`, else a new one, printed this once. Kept in $STACK_DIR/credentials/<user>, mode 600.
password() {
  local user="$1" given="${!2:-}" file="$STACK_DIR/credentials/$1"
  (umask 077; mkdir -p "$STACK_DIR/credentials")
  if [ -n "$given" ]; then
    (umask 077; printf '%s' "$given" >"$file")
  elif [ ! -s "$file" ]; then
    (umask 077; python -c "import secrets; print(secrets.token_urlsafe(24), end='')" >"$file")
    echo "# Generated the password of '$user' (kept in $file): $(cat "$file")" >&2
  fi
  cat "$file"
}

role_variable() { echo "TITANIC_${1^^}_PASSWORD"; }

moto_up() {
  alive "$STACK_DIR/moto.pid" && return 0
  setsid moto_server -H 127.0.0.1 -p "$S3_PORT" >"$STACK_DIR/moto.log" 2>&1 &
  echo $! >"$STACK_DIR/moto.pid"
  wait_http "$MLFLOW_S3_ENDPOINT_URL/moto-api/"
}

# Create BUCKET at ENDPOINT with the keys KEY and SECRET, unless it exists.
bucket_up() {
  python - "$@" <<'PY'
import sys, boto3, botocore
bucket, endpoint, key, secret = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key,
                  aws_secret_access_key=secret)
try:
    s3.head_bucket(Bucket=bucket)
except botocore.exceptions.ClientError:
    s3.create_bucket(Bucket=bucket)
PY
}

mlflow_up() {
  alive "$STACK_DIR/mlflow.pid" && return 0
  # No secret in this file: the admin's password reaches the server through its environment.
  # NO_PERMISSIONS: a user sees and changes only what it was granted or created itself.
  # The credential cache: a password is hashed once a minute per user, not on every call (the
  # filter and MLflow each check it); with one worker, a password changed through the API
  # takes effect at once.
  (umask 077; cat >"$STACK_DIR/basic_auth.ini" <<INI
[mlflow]
default_permission = NO_PERMISSIONS
database_uri = postgresql+psycopg2://postgres@127.0.0.1:$PG_PORT/mlflow_auth
admin_username = admin
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
auth_cache_ttl_seconds = 60
INI
  )
  local admin_password secret_key
  admin_password="$(password admin MLFLOW_AUTH_ADMIN_PASSWORD)"
  # Signs the login forms' CSRF tokens; kept, so that a restart does not void open forms.
  secret_key="$(password flask-secret-key MLFLOW_FLASK_SERVER_SECRET_KEY 2>/dev/null)"
  # The job-runner workers (~2.5 GB) serve MLflow features this project does not use. A
  # session of its own: stopped, the server and its uvicorn worker go together.
  MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false MLFLOW_AUTH_CONFIG_PATH="$STACK_DIR/basic_auth.ini" \
    MLFLOW_AUTH_ADMIN_PASSWORD="$admin_password" MLFLOW_FLASK_SERVER_SECRET_KEY="$secret_key" \
    setsid mlflow server --app-name titanic-basic-auth \
    --backend-store-uri "postgresql+psycopg2://postgres@127.0.0.1:$PG_PORT/mlflow" \
    --artifacts-destination "s3://$BUCKET/artifacts" \
    --host 127.0.0.1 --port "$MLFLOW_PORT" --workers "$MLFLOW_WORKERS" \
    --allowed-hosts "$ALLOWED_HOSTS" --cors-allowed-origins "$CORS_ORIGINS" \
    >"$STACK_DIR/mlflow.log" 2>&1 &
  echo $! >"$STACK_DIR/mlflow.pid"
  wait_http "http://127.0.0.1:$MLFLOW_PORT/health"
}

# Stop the process group a pid file names (each server leads its own), SIGKILL after 5 s.
stop_pid() {
  if alive "$1"; then
    local group
    group="$(cat "$1")"
    kill -TERM -- "-$group" 2>/dev/null || kill "$group"
    for _ in $(seq 1 20); do kill -0 "$group" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$group" 2>/dev/null || true
  fi
  rm -f "$1"
}

tracking_down() {
  stop_pid "$STACK_DIR/mlflow.pid"
  if [ -f "$STACK_DIR/postgres/PG_VERSION" ]; then
    as_pg "$pg_bin/pg_ctl" --pgdata "$STACK_DIR/postgres" --wait stop >/dev/null 2>&1 || true
  fi
}

# The roles' users and permissions, as the admin (titanic_model/access.py: idempotent).
access_up() {
  local role passwords=()
  for role in "${ROLES[@]}"; do
    passwords+=("$(role_variable "$role")=$(password "$role" "$(role_variable "$role")")")
  done
  env "${passwords[@]}" PYTHONPATH="$root" MLFLOW_TRACKING_URI="http://127.0.0.1:$MLFLOW_PORT" \
    MLFLOW_TRACKING_USERNAME=admin \
    MLFLOW_TRACKING_PASSWORD="$(password admin MLFLOW_AUTH_ADMIN_PASSWORD)" \
    python -W ignore::DeprecationWarning -m titanic_model.access >/dev/null
}

# What a shell needs to work as USER: the server and the user's credentials, pickled models
# refused; training's experiment; for serving and monitoring, the prediction log's bucket and
# keys. Never the artifact store's keys: clients reach artifacts through the server's proxy.
variables() {
  local file="$STACK_DIR/credentials/$1"
  [ -s "$file" ] || { echo "error: no credentials of '$1' in $STACK_DIR: run '$0 up' first" >&2; exit 1; }
  echo "export MLFLOW_TRACKING_URI=http://127.0.0.1:$MLFLOW_PORT"
  echo "export MLFLOW_TRACKING_USERNAME=$1 MLFLOW_TRACKING_PASSWORD=$(cat "$file")"
  echo "export MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false"
  case "$1" in
    training)  # the experiment training writes into, which access.py creates as the admin
      echo "export MLFLOW_EXPERIMENT_NAME=$(PYTHONPATH="$root" python -c \
        'from titanic_model.names import TRAINING_EXPERIMENT; print(TRAINING_EXPERIMENT)')" ;;
    serving | monitoring)
      [ "$1" = monitoring ] || echo "export TITANIC_PREDICTION_LOG=s3://$LOG_BUCKET/predictions"
      echo "export TITANIC_PREDICTION_LOG_S3_ENDPOINT_URL=$log_endpoint"
      echo "export TITANIC_PREDICTION_LOG_AWS_ACCESS_KEY_ID=$log_key" \
        "TITANIC_PREDICTION_LOG_AWS_SECRET_ACCESS_KEY=$log_secret" ;;
  esac
}

up() {
  postgres_up
  [ "$use_moto" = no ] || moto_up
  bucket_up "$BUCKET" "$MLFLOW_S3_ENDPOINT_URL" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
  bucket_up "$LOG_BUCKET" "$log_endpoint" "$log_key" "$log_secret"
  mlflow_up
  access_up
  echo "# The stack is up (logs in $STACK_DIR). Point MLflow, the project and its clients at it,"
  echo "# as the training user ('$0 env serving|monitoring|admin' for the others):"
  variables training
}

case "${1:-}" in
  up) up ;;
  env)
    case "${2:-}" in
      training | serving | monitoring | admin) variables "$2" ;;
      *) echo "usage: $0 env training | serving | monitoring | admin" >&2; exit 2 ;;
    esac ;;
  down) stop_pid "$STACK_DIR/moto.pid" & tracking_down; wait ;;
  restart-tracking) tracking_down; postgres_up; mlflow_up ;;
  *) echo "usage: $0 up | env ROLE | down | restart-tracking" >&2; exit 2 ;;
esac
