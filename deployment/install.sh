#!/usr/bin/env bash
# The one install script: a virtual environment with exactly the pinned dependencies.
# `make install` (developers and CI) and deployment/Dockerfile (the image) both run it.
#
#   deployment/install.sh [VENV_DIR]        default: .venv in the repository
#   PROFILE=runtime deployment/install.sh   only what training and serving need (the image);
#                                           the default, dev, adds the test and lint tools
# Either way every Python version comes from requirements.lock. The dev profile also installs
# the project itself (editable: its entry points) and the npm packages the tests validate custom resources with, from their package-lock.json
# (it needs node and npm; the runtime profile, the image, needs neither).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-$root/.venv}"
python="${PYTHON:-python3.11}"
profile="${PROFILE:-dev}"

"$python" -m venv "$venv"
case "$profile" in
  dev)
    # Checked first, so a missing npm fails before minutes of pip.
    if ! command -v npm >/dev/null; then
      echo "the dev profile needs node and npm (for tests/deployment/crd_schemas); install them first" >&2
      exit 1
    fi
    "$venv/bin/pip" install --quiet --requirement "$root/requirements.lock"
    # The project itself, editable and without dependencies, for its entry points: the
    # tracking server's app (mlflow server --app-name titanic-basic-auth, deployment/stack.sh).
    # Built with pyproject's pinned setuptools ([build-system]).
    "$venv/bin/pip" install --quiet --no-deps --editable "$root"
    npm ci --prefix "$root/tests/deployment/crd_schemas" --no-audit --no-fund --loglevel=error ;;
  runtime)
    # pyproject's runtime dependencies, resolved within the lock's pins.
    "$venv/bin/python" -c 'import sys, tomllib; print("\n".join(tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]))' \
      "$root/pyproject.toml" > "$venv/runtime-requirements.txt"
    "$venv/bin/pip" install --quiet --constraint "$root/requirements.lock" \
      --requirement "$venv/runtime-requirements.txt" ;;
  *) echo "PROFILE must be dev or runtime, not $profile" >&2; exit 2 ;;
esac
"$venv/bin/python" -c "import mlflow, pandas, sklearn"
echo "installed the $profile profile into $venv (mlflow $("$venv/bin/python" -c 'import mlflow; print(mlflow.__version__)'))"
