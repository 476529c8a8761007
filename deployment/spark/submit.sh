#!/usr/bin/env bash
# Batch scoring on a Spark cluster: the `predict` job with engine=spark, through spark-submit.
#
#   deployment/spark/submit.sh --input_uri s3://lake/passengers/ --output_uri s3://lake/scored \
#     [--rejects_uri …] [--model_uri models:/titanic@champion] [--overwrite true]
#
# The driver runs this checkout's job (shipped as --py-files, so cluster deploy mode works too)
# and logs a run to MLFLOW_TRACKING_URI. The executors need the project's Python environment,
# not this repository: the model carries its own code. Pack the environment once, and name the
# archive in PYSPARK_ENV_ARCHIVE (docs/batch.md); spark-submit unpacks it on every executor.
#
# Settings: SPARK_MASTER (default local[*]), SPARK_DEPLOY_MODE (client), PYSPARK_ENV_ARCHIVE
# (a packed environment, .tar.gz), SPARK_SUBMIT_OPTIONS (more options, e.g. for s3a://:
# --packages org.apache.hadoop:hadoop-aws:3.5.0 --conf spark.hadoop.fs.s3a.endpoint=…).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv_bin="$root/.venv/bin"
submit="$( [ -x "$venv_bin/spark-submit" ] && echo "$venv_bin/spark-submit" || echo spark-submit )"
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
(cd "$root" && python3 -m zipfile -c "$build/titanic.zip" titanic_model entrypoints)

options=(--master "${SPARK_MASTER:-local[*]}" --deploy-mode "${SPARK_DEPLOY_MODE:-client}"
         --name titanic-predict --py-files "$build/titanic.zip")
# The driver's Python: the venv's in client mode (where this script runs).
[ -x "$venv_bin/python" ] && export PYSPARK_DRIVER_PYTHON="${PYSPARK_DRIVER_PYTHON:-$venv_bin/python}"
if [ -n "${PYSPARK_ENV_ARCHIVE:-}" ]; then
  options+=(--archives "$PYSPARK_ENV_ARCHIVE#environment")
  export PYSPARK_PYTHON=./environment/bin/python  # the executors', inside the unpacked archive
fi
# shellcheck disable=SC2086 # SPARK_SUBMIT_OPTIONS is a list of options, split on purpose
exec "$submit" "${options[@]}" ${SPARK_SUBMIT_OPTIONS:-} \
  "$root/entrypoints/__main__.py" predict --engine spark "$@"
