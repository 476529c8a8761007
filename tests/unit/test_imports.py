"""What importing the light modules loads: checked in a fresh interpreter, by module name."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.processes import PROJECT_ROOT


def _loaded_by(*modules: str) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    return set(json.loads(result.stdout))


@pytest.mark.parametrize(
    "modules",
    [
        ("titanic_model.model.schema", "titanic_model.config", "titanic_model.io.data"),
        ("titanic_model.names",),
        ("titanic_model.cli",),
    ],
)
def test_schema_config_data_and_the_cli_load_no_plotting_and_no_scikit_learn(modules):
    loaded = _loaded_by(*modules)
    assert not {m for m in loaded if m.split(".")[0] in ("matplotlib", "sklearn")}


def test_serving_loads_no_plotting_and_none_of_the_projects_training_code():
    # scikit-learn's estimators do load: skops reads the fitted forest with them.
    loaded = _loaded_by("titanic_model.model.pyfunc")
    assert not {m for m in loaded if m.split(".")[0] == "matplotlib"}
    assert not {m for m in loaded if m.startswith("titanic_model.") and m.split(".")[1] in
                ("config", "training", "metrics", "plots", "jobs", "registry", "runs")}  # fmt: skip


def test_the_model_and_the_pandas_engine_need_no_spark():
    # pyspark is the extra "spark": the serving image has none of it. (MLflow itself imports
    # pyspark when it is installed, and does without it otherwise.)
    loaded = _loaded_by("titanic_model.model.pyfunc", "titanic_model.jobs.predict")
    assert "titanic_model.batch.spark" not in loaded


def test_the_serving_launcher_loads_neither_mlflow_nor_prometheus_before_it_must():
    # prometheus_client picks its multiprocess mode when first imported: only after the
    # launcher has set PROMETHEUS_MULTIPROC_DIR. MLflow is imported once, by the worker.
    loaded = _loaded_by("titanic_model.serving.__main__")
    assert not {m for m in loaded if m.split(".")[0] in ("mlflow", "prometheus_client", "sklearn")}
