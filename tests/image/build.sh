#!/usr/bin/env bash
# The serving image as the tests use it: deployment/Dockerfile built on the stand-in base
# (build_base.sh, made once per recipe and kept by the engine), with the network of this machine.
#
#   tests/image/build.sh IMAGE_TAG [CACHE_DIR]
#
# DOCKER_HOST names the engine; this script waits for it to answer. Each step prints how long
# it took. The engine's layer cache makes a rebuild whose inputs did not change take seconds.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
tag="${1:?usage: $0 IMAGE_TAG [CACHE_DIR]}"
cache="${2:-}"
# Named after its recipe and this machine's CA bundle: a change to either builds it anew.
recipe=("$root/tests/image/build_base.sh" /etc/ssl/certs/ca-certificates.crt)
base="titanic-base:bookworm-$(cat "${recipe[@]}" | sha256sum | cut -c1-12)"

for _ in $(seq 1 120); do docker version >/dev/null 2>&1 && break; sleep 0.5; done
docker version >/dev/null

if ! docker image inspect "$base" >/dev/null 2>&1; then
  SECONDS=0
  "$root/tests/image/build_base.sh" "$base" "$cache"
  echo "base: ${SECONDS} s"
fi
SECONDS=0
docker build --quiet --network host --build-arg BASE_IMAGE="$base" \
  -f "$root/deployment/Dockerfile" -t "$tag" "$root" >/dev/null
# The images this tag replaced (a changed lock file would otherwise leave 750 MB behind), then
# the bases of earlier recipes, which nothing is built on any more.
docker image prune --force >/dev/null
docker images titanic-base --format '{{.Repository}}:{{.Tag}}' | { grep -vxF "$base" || true; } \
  | xargs -r docker rmi >/dev/null 2>&1 || true
echo "image $tag: ${SECONDS} s"
