#!/usr/bin/env bash
# Label Studio on 127.0.0.1, where people review what the served model answered
# (docs/review.md). A service like PostgreSQL: it runs from a venv of its own, never the
# project's (it pins Django, pyarrow and more that clash with ours), installed on first use
# from deployment/label_studio/requirements.lock into a cached folder named after that file's
# digest, ${XDG_CACHE_HOME:-~/.cache}/titanic-mlops/label-studio-<digest>, shared by every
# checkout and every CI run on the machine. Its data (SQLite, uploads, the secret key) lives in
# LABEL_STUDIO_DIR; sign-up is closed (reviewers join through the organisation's invite link).
#
#   deployment/label_studio.sh up       install if needed, start it unless it runs; prints the
#                                       variables the request_labels and collect_labels jobs read
#   deployment/label_studio.sh env      the same variables again
#   deployment/label_studio.sh down     stop it (the data stays in LABEL_STUDIO_DIR)
#   deployment/label_studio.sh install  only install it (what the test suite starts early)
#   deployment/label_studio.sh lock     re-resolve label-studio==$VERSION into the lock file
#
# Settings: LABEL_STUDIO_DIR (.label-studio), LABEL_STUDIO_PORT (8090). The admin:
# LABEL_STUDIO_USERNAME (admin@localhost), LABEL_STUDIO_PASSWORD and LABEL_STUDIO_API_KEY (its
# API token, 6 to 40 letters, digits, - or _); each one unset is generated on the first `up`,
# printed once and kept in $LABEL_STUDIO_DIR/credentials (mode 600), never in the repository.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
VERSION=1.23.2
LABEL_STUDIO_DIR="$(realpath -m "${LABEL_STUDIO_DIR:-$root/.label-studio}")"
LABEL_STUDIO_PORT="${LABEL_STUDIO_PORT:-8090}"
url="http://127.0.0.1:$LABEL_STUDIO_PORT"
python="${PYTHON:-python3.11}"
lock="$root/deployment/label_studio/requirements.lock"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/titanic-mlops"
venv="$cache/label-studio-$(sha256sum "$lock" | cut -c1-16)"
credentials="$LABEL_STUDIO_DIR/credentials"
pid_file="$LABEL_STUDIO_DIR/label_studio.pid"

fail() { echo "error: $*" >&2; exit 1; }

alive() { [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; }

# Label Studio reads every setting as LABEL_STUDIO_<NAME>, then HEARTEX_<NAME>, then plain
# <NAME>: a shell's USERNAME, PASSWORD, HOST or DEBUG would become its admin, host or debug
# mode. So it runs in an empty environment with every setting it reads spelt out. `launcher`
# prefixes the command (exec setsid).
run_label_studio() {
  local data="$1"
  shift
  ${launcher:-} env -i PATH="$venv/bin:/usr/bin:/bin" HOME="$data" LANG=C.UTF-8 \
    LABEL_STUDIO_BASE_DATA_DIR="$data" LABEL_STUDIO_DATABASE_NAME="$data/label_studio.sqlite3" \
    LABEL_STUDIO_HOST= LABEL_STUDIO_PORT="$LABEL_STUDIO_PORT" LABEL_STUDIO_DEBUG=false \
    LABEL_STUDIO_LOG_LEVEL=WARNING \
    LABEL_STUDIO_ALLOWED_HOSTS="127.0.0.1,localhost" \
    LABEL_STUDIO_CORS_ALLOWED_ORIGINS="$url,http://localhost:$LABEL_STUDIO_PORT" \
    LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK=true \
    LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true \
    LABEL_STUDIO_SENTRY_DSN= LABEL_STUDIO_FRONTEND_SENTRY_DSN= \
    LABEL_STUDIO_LATEST_VERSION_CHECK=false LABEL_STUDIO_COLLECT_ANALYTICS=false \
    LABEL_STUDIO_CONVERTER_DOWNLOAD_RESOURCES=false \
    LABEL_STUDIO_USERNAME="${admin_username:-}" LABEL_STUDIO_PASSWORD="${admin_password:-}" \
    LABEL_STUDIO_USER_TOKEN="${admin_api_key:-}" \
    "$venv/bin/python" -m label_studio.server "$@"
}

install() {
  [ -f "$venv/.installed" ] && return 0
  command -v "$python" >/dev/null || fail "Label Studio needs $python (or PYTHON=...) to install"
  mkdir -p "$cache"
  # One installer at a time (the test suite may have started one in the background).
  exec 9>"$venv.lock"
  flock 9
  [ -f "$venv/.installed" ] && return 0
  echo "# Installing Label Studio $VERSION into $venv (once per lock file)" >&2
  rm -rf "$venv"
  "$python" -m venv "$venv"
  # Every version is pinned in the lock: no resolution, and `pip check` proves it complete.
  "$venv/bin/pip" install --quiet --no-deps --requirement "$lock"
  "$venv/bin/pip" check >/dev/null
  # An empty database with every migration applied, once: a new LABEL_STUDIO_DIR starts from a
  # copy instead of spending 80 s migrating SQLite.
  local scratch
  scratch="$(mktemp -d)"
  run_label_studio "$scratch" version >"$scratch/migrate.log" 2>&1 \
    || { cat "$scratch/migrate.log" >&2; fail "Label Studio could not set up its database"; }
  mv "$scratch/label_studio.sqlite3" "$venv/template.sqlite3"
  rm -rf "$scratch"
  touch "$venv/.installed"
}

# One of the admin's credentials: the environment's when given, else the one kept from an
# earlier `up`, else a new one, printed this once. Label Studio takes them only when it creates
# its admin, so a value that differs from the kept one is refused rather than ignored.
credential() {
  local name="$1" variable="$2" make="$3" given="${!2:-}" file="$credentials/$1"
  (umask 077; mkdir -p "$credentials")
  if [ -s "$file" ]; then
    [ -z "$given" ] || [ "$given" = "$(cat "$file")" ] || fail "$variable differs from the" \
      "$name Label Studio in $LABEL_STUDIO_DIR was set up with ($file): unset it, or remove" \
      "$LABEL_STUDIO_DIR to start afresh"
  elif [ -n "$given" ]; then
    (umask 077; printf '%s' "$given" >"$file")
  else
    (umask 077; "$venv/bin/python" -c "$make" >"$file")
    echo "# Generated the Label Studio admin's $name (kept in $file): $(cat "$file")" >&2
  fi
  cat "$file"
}

port_in_use() {
  "$venv/bin/python" -c "import socket, sys; sys.exit(socket.socket().connect_ex(('127.0.0.1', $LABEL_STUDIO_PORT)) != 0)"
}

# 0 when the server answers with `status` (a number) to a GET of `path` with the admin's key.
answers() {
  "$venv/bin/python" - "$url$1" "$(cat "$credentials/api-key")" "$2" <<'PY'
import sys, urllib.error, urllib.request
request = urllib.request.Request(sys.argv[1], headers={"Authorization": f"Token {sys.argv[2]}"})
try:
    status = urllib.request.urlopen(request, timeout=5).status
except urllib.error.HTTPError as error:
    status = error.code
except OSError:
    status = 0
sys.exit(status != int(sys.argv[3]))
PY
}

variables() {
  [ -s "$credentials/api-key" ] \
    || fail "no Label Studio credentials in $LABEL_STUDIO_DIR: run '$0 up' first"
  echo "export LABEL_STUDIO_URL=$url LABEL_STUDIO_API_KEY=$(cat "$credentials/api-key")"
}

up() {
  install
  (umask 077; mkdir -p "$LABEL_STUDIO_DIR")
  admin_username="$(credential username LABEL_STUDIO_USERNAME 'print("admin@localhost", end="")')"
  admin_password="$(credential password LABEL_STUDIO_PASSWORD \
    'import secrets; print(secrets.token_urlsafe(18), end="")')"
  admin_api_key="$(credential api-key LABEL_STUDIO_API_KEY \
    'import secrets; print(secrets.token_hex(20), end="")')"
  [[ "$admin_api_key" =~ ^[A-Za-z0-9_-]{6,40}$ ]] \
    || fail "LABEL_STUDIO_API_KEY must be 6 to 40 letters, digits, - or _"
  if ! alive; then
    # Label Studio would quietly move to the next free port: a taken one is an error here.
    ! port_in_use || fail "port $LABEL_STUDIO_PORT on 127.0.0.1 is in use: set LABEL_STUDIO_PORT"
    local database="$LABEL_STUDIO_DIR/label_studio.sqlite3"
    [ -f "$database" ] || (umask 077; cp "$venv/template.sqlite3" "$database")
    # Its own session (setsid): `down` stops it with whatever it started.
    # exec: the background subshell becomes Label Studio, so $! is its process (and group).
    (launcher="exec setsid" run_label_studio "$LABEL_STUDIO_DIR" start --no-browser \
      --internal-host 127.0.0.1 --port "$LABEL_STUDIO_PORT" \
      </dev/null >"$LABEL_STUDIO_DIR/label_studio.log" 2>&1) &
    echo $! >"$pid_file"
    for _ in $(seq 1 360); do
      alive || { tail -20 "$LABEL_STUDIO_DIR/label_studio.log" >&2; fail "Label Studio exited"; }
      answers /health 200 && break
      sleep 0.5
    done
    answers /health 200 || fail "Label Studio did not answer on $url; see $LABEL_STUDIO_DIR/label_studio.log"
  fi
  answers /api/current-user/whoami 200 || fail "Label Studio on $url refuses the API key in" \
    "$credentials/api-key: its admin was set up with another one (remove $LABEL_STUDIO_DIR to start afresh)"
  echo "# Label Studio $VERSION is up on $url (log: $LABEL_STUDIO_DIR/label_studio.log); reviewers"
  echo "# log in there. For request_labels and collect_labels:"
  variables
}

down() {
  if alive; then
    local pid
    pid="$(cat "$pid_file")"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
    for _ in $(seq 1 80); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file"
}

relock() {
  local scratch
  scratch="$(mktemp -d)"
  "$python" -m venv "$scratch"
  "$scratch/bin/pip" install --quiet "label-studio==$VERSION"
  {
    echo "# Label Studio's own environment (deployment/label_studio.sh installs it into a venv of its own,"
    echo "# never the project's): 'pip freeze --all --exclude pip' of a venv where 'pip install"
    echo "# label-studio==$VERSION' was run with Python 3.11. Regenerate with 'deployment/label_studio.sh lock'."
    "$scratch/bin/pip" freeze --all --exclude pip
  } >"$lock"
  rm -rf "$scratch"
}

case "${1:-}" in
  up) up ;;
  env) variables ;;
  down) down ;;
  install) install ;;
  lock) relock ;;
  *) echo "usage: $0 up | env | down | install | lock" >&2; exit 2 ;;
esac
