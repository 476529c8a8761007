#!/usr/bin/env bash
# The survival page on one origin: the serving layer (python -m titanic_model.serving, MLflow's
# scoring app with /metrics and the prediction log) behind nginx (Debian's package).
#
#   deployment/web.sh start          serve MODEL_URI, then nginx on WEB_ADDRESS; Ctrl-C stops both
#   deployment/web.sh render DIR     only write DIR/nginx.conf (tests start nginx themselves)
#   deployment/web.sh health         exit 0 if /ping answers through nginx on WEB_ADDRESS (the
#                                    image's HEALTHCHECK)
#
# Settings (environment): MODEL_URI (models:/titanic@champion), MODEL_ADDRESS (127.0.0.1:5001),
# WEB_ADDRESS (127.0.0.1:8080), METRICS_ADDRESS (127.0.0.1:9100: /metrics, kept off
# WEB_ADDRESS), WORKERS (1), RUN_DIR (a new temporary folder), MLFLOW_TRACKING_URI and its
# credentials, and the serving layer's own (TITANIC_PREDICTION_LOG, …: see the README).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
MODEL_URI="${MODEL_URI:-models:/titanic@champion}"
MODEL_ADDRESS="${MODEL_ADDRESS:-127.0.0.1:5001}"
WEB_ADDRESS="${WEB_ADDRESS:-127.0.0.1:8080}"
METRICS_ADDRESS="${METRICS_ADDRESS:-127.0.0.1:9100}"

render() {
  local run_dir="$1"
  mkdir -p "$run_dir"/{client_body,proxy,fastcgi,uwsgi,scgi}
  # Started by root (CI, a developer's VM), nginx would run its workers as "nobody", who
  # cannot read a checkout inside a private folder: keep them as the user who started it.
  # The image runs as the unprivileged user app, where this line stays empty.
  local user_directive=""
  [ "$(id -u)" -ne 0 ] || user_directive="user root;"
  sed -e "s|@USER_DIRECTIVE@|$user_directive|" \
      -e "s|@RUN_DIR@|$run_dir|g" -e "s|@MODEL_ADDRESS@|$MODEL_ADDRESS|g" \
      -e "s|@WEB_ADDRESS@|$WEB_ADDRESS|g" -e "s|@METRICS_ADDRESS@|$METRICS_ADDRESS|g" \
      -e "s|@WEB_ROOT@|$here/web|g" \
      "$here/nginx/titanic-web.conf.template" > "$run_dir/nginx.conf"
  echo "$run_dir/nginx.conf"
}

# Global, not local: the traps run after start() has returned.
model_pid=""
nginx_pid=""

stop_both() {
  local pids=($model_pid $nginx_pid)
  [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true
  wait || true
}

start() {
  command -v nginx >/dev/null || { echo "nginx is not installed: apt-get install nginx" >&2; exit 1; }
  local run_dir="${RUN_DIR:-$(mktemp -d)}"
  render "$run_dir" >/dev/null
  # Asked to stop (docker stop, Ctrl-C): both stop, and that is a success.
  trap 'stop_both; exit 0' INT TERM
  trap stop_both EXIT
  PYTHONPATH="$here/..${PYTHONPATH:+:$PYTHONPATH}" python -m titanic_model.serving \
    --model_uri "$MODEL_URI" --host "${MODEL_ADDRESS%:*}" --port "${MODEL_ADDRESS##*:}" \
    --workers "${WORKERS:-1}" &
  model_pid=$!
  nginx -p "$run_dir" -e "$run_dir/error.log" -c "$run_dir/nginx.conf" -g "daemon off;" &
  nginx_pid=$!
  echo "The page: http://$WEB_ADDRESS/ (model $MODEL_URI on $MODEL_ADDRESS; logs in $run_dir)"
  # One of them ended by itself (the model did not load, nginx could not listen): a failure,
  # which the one that ended has explained; the other is stopped on the way out.
  local status=0
  wait -n "$model_pid" "$nginx_pid" || status=$?
  exit $((status == 0 ? 1 : status))
}

# nginx's listen address as a client reaches it: a wildcard host means this host.
health() {
  local host="${WEB_ADDRESS%:*}" port="${WEB_ADDRESS##*:}"
  [ "$host" != "$WEB_ADDRESS" ] || host=""
  case "$host" in "" | "*" | 0.0.0.0) host=127.0.0.1 ;; "[::]") host="[::1]" ;; esac
  python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=4)' \
    "http://$host:$port/ping"
}

case "${1:-}" in
  start) start ;;
  render) render "${2:?render needs a folder}" ;;
  health) health ;;
  *) echo "usage: $0 start | render DIR | health" >&2; exit 2 ;;
esac
