"""The MLflow Project end to end: ``mlflow run`` as a user runs it, on two tracking backends.

The scenario runs against the embedded sqlite store and against a real ``mlflow server``
process: a full run registers version 1 and makes it champion, the model loads in a fresh
process that has not installed the project, a weaker model does not take the alias, and
failing runs leave the registry exactly as it was.

What the backend changes (runs, datasets, artifacts and the registry through the server's REST
API and its artifact proxy) runs on both: the full chain, the registered version and its
files, the fresh-process load, the gate and a run that fails after it started. What it does
not runs on sqlite alone (:data:`SQLITE_ONLY`): a retrain's identical metrics (the seed's
work), and the runs refused before any work (bad parameters, bad training data), whose only
trace in a store, a failed run and an unchanged registry, the server's failing run proves.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.entities import RunStatus

from tests.processes import PROJECT_ROOT
from tests.projects import (
    QUICK,
    QUICK_GRID,
    WEAK,
    Project,
    make_project,
    mlflow_params,
    project_on_sqlite,
)

pytestmark = pytest.mark.integration

#: Marks a test to run on the sqlite store only (see the module's docstring for why).
SQLITE_ONLY = pytest.mark.parametrize("project", ["sqlite"], indirect=True)


@pytest.fixture(scope="module", params=["sqlite", "server"])
def project(request, tmp_path_factory, train_csv) -> Project:
    folder = tmp_path_factory.mktemp(f"tracking-{request.param}")
    if request.param == "sqlite":
        return project_on_sqlite(folder, train_csv)
    # The server proxies artifacts to its own destination.
    return make_project(request.getfixturevalue("mlflow_server"), None, folder, train_csv)


@pytest.fixture(scope="module")
def first_run(project: Project) -> subprocess.CompletedProcess:
    """``mlflow run .`` with the quick grid: registers version 1."""
    return project.run(*QUICK)


def _children(project: Project, parent_id: str) -> dict[str, object]:
    return {
        run.info.run_name: run
        for run in project.runs()
        if run.data.tags.get("mlflow.parentRunId") == parent_id
    }


def test_main_run_chains_prepare_train_evaluate(project, first_run):
    assert first_run.returncode == 0, first_run.stderr[-3000:]
    # The model is logged as code: MLflow has nothing to warn about serialising it.
    assert "CloudPickle" not in first_run.stderr
    assert "pickle" not in first_run.stderr.lower()
    parents = [r for r in project.runs() if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == RunStatus.to_string(RunStatus.FINISHED)
    children = _children(project, parent.info.run_id)
    assert set(children) == {"prepare", "train", "evaluate"}

    prepare, train, evaluate = children["prepare"], children["train"], children["evaluate"]
    assert prepare.data.metrics["rows_raw"] == 891
    assert prepare.data.metrics["rows_holdout"] == 179
    assert {d.dataset.name for d in prepare.inputs.dataset_inputs} == {"train", "holdout"}
    assert all(d.dataset.digest for d in prepare.inputs.dataset_inputs)
    artifacts = {a.path for a in project.client.list_artifacts(prepare.info.run_id, "splits")}
    assert artifacts == {"splits/train.csv", "splits/holdout.csv"}

    # -P n_trees=40 reached train, and every grid point is a nested child run.
    assert train.data.params["n_trees"] == "40"
    assert train.data.tags["prepare_run_id"] == prepare.info.run_id
    grid = _children(project, train.info.run_id)
    assert len(grid) == 4
    assert {point.data.params["model"] for point in grid.values()} == {
        "random_forest", "hist_gradient_boosting", "logistic_regression"
    }  # fmt: skip
    for point in grid.values():
        for metric in ("accuracy", "precision", "recall", "f1", "roc_auc"):
            assert 0.0 <= point.data.metrics[f"cv_{metric}_mean"] <= 1.0
            assert point.data.metrics[f"cv_{metric}_std"] >= 0.0
    assert train.data.metrics["cv_accuracy_mean"] >= 0.78
    assert [d.dataset.digest for d in train.inputs.dataset_inputs] == [
        next(d.dataset.digest for d in prepare.inputs.dataset_inputs if d.dataset.name == "train")
    ]

    for metric in ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "brier_score"):
        assert metric in {k.removeprefix("holdout_") for k in evaluate.data.metrics}
    assert evaluate.data.metrics["holdout_roc_auc"] > 0.8
    assert 0.7 < evaluate.data.metrics["baseline_women_survive_accuracy"] < 0.85
    assert evaluate.data.metrics["baseline_majority_class_roc_auc"] == 0.5
    assert evaluate.data.metrics["importance_Sex"] > 0.0
    assert evaluate.data.metrics["importance_PassengerId"] == 0.0
    plots = {a.path for a in project.client.list_artifacts(evaluate.info.run_id, "plots")}
    assert plots == {
        f"plots/{name}.png"
        for name in ("confusion_matrix", "roc_curve", "precision_recall_curve", "calibration",
                     "permutation_importance")
    }  # fmt: skip
    assert evaluate.data.tags["champion_decision"] == "promoted: first champion"
    assert project.registry_state() == (["1"], {"champion": "1"})


def test_registered_version_records_its_lineage_and_model_card(project, first_run):
    version = project.client.get_model_version("titanic", "1")
    prepare_run_id = version.tags["prepare_run_id"]
    prepare = project.client.get_run(prepare_run_id)
    assert prepare.info.run_name == "prepare"
    assert version.tags["train_digest"] == prepare.data.tags["train_digest"]
    assert version.tags["holdout_digest"] == prepare.data.tags["holdout_digest"]
    assert float(version.tags["holdout_accuracy"]) > 0.7
    assert float(version.tags["cv_accuracy"]) > 0.75
    assert len(version.tags["git_commit"]) == 40
    card = version.description
    assert card.startswith("# Model card: titanic version 1\n")
    for section in ("## Data", "## Performance", "## Intended use", "## Limitations"):
        assert section in card
    assert prepare.data.tags["holdout_digest"] in card
    assert version.tags["git_commit"] in card


_FRESH_PROCESS_SCRIPT = """
import json, sys
# The development venv installs the project (editable) for its entry points; a client of the
# model has no project, so its finder goes first.
sys.meta_path[:] = [f for f in sys.meta_path if not f.__module__.startswith("__editable__")]
import pandas as pd
try:
    import titanic_model
except ImportError:
    pass
else:
    sys.exit("titanic_model is importable: the test would not prove code_paths")
import mlflow
passengers = pd.read_csv(sys.argv[1])
predictions = mlflow.pyfunc.load_model("models:/titanic/1").predict(passengers)
print(json.dumps(predictions.to_dict(orient="list")))
"""


def test_model_loads_in_a_fresh_process_without_the_project(
    project, first_run, test_csv, tmp_path, monkeypatch
):
    """Without the project installed, and with MLflow told to refuse any pickled model."""
    env = {k: v for k, v in project.env.items() if k != "PYTHONPATH"}
    assert env["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] == "false"
    result = subprocess.run(
        [sys.executable, "-c", _FRESH_PROCESS_SCRIPT, str(test_csv)],
        cwd=tmp_path,  # not the project folder: titanic_model must come from the model itself
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    predictions = pd.DataFrame(json.loads(result.stdout.strip().splitlines()[-1]))
    passengers = pd.read_csv(test_csv)
    assert predictions["PassengerId"].tolist() == passengers["PassengerId"].tolist()
    # The answers of the same version loaded in this process, to the last bit (JSON carries
    # every digit of a float).
    monkeypatch.setenv("MLFLOW_TRACKING_URI", project.tracking_uri)
    expected = mlflow.pyfunc.load_model("models:/titanic/1").predict(passengers)
    pd.testing.assert_frame_equal(predictions, expected, check_exact=True)


def test_logged_model_carries_signature_example_and_pinned_requirements(
    project, first_run, monkeypatch, tmp_path
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", project.tracking_uri)
    folder = Path(mlflow.artifacts.download_artifacts("models:/titanic/1", dst_path=tmp_path))
    requirements = (folder / "requirements.txt").read_text().split()
    assert "mlflow==3.17.2" in requirements
    assert all("==" in line for line in requirements)
    # What serving needs besides the model's libraries: skops to read the pipeline, and the
    # compiled event loop and parser that keep TCP_NODELAY with several workers.
    assert {line.split("==")[0] for line in requirements} >= {
        "scikit-learn", "pandas", "numpy", "skops", "uvloop", "httptools"
    }  # fmt: skip
    # The model's code and only it: the model subpackage and the names it imports.
    shipped = {p.relative_to(folder / "code").as_posix() for p in (folder / "code").rglob("*.py")}
    model = {
        f"titanic_model/model/{p.name}"
        for p in (PROJECT_ROOT / "titanic_model" / "model").glob("*.py")
    }
    assert shipped == {"titanic_model/__init__.py", "titanic_model/names.py"} | model

    def refuse(constant):
        raise ValueError(f"{constant} is not strict JSON")

    example = json.loads((folder / "input_example.json").read_text(), parse_constant=refuse)
    assert example
    logged = mlflow.models.Model.load(folder)
    assert logged.signature.inputs is None  # the model validates its input itself
    assert [c.name for c in logged.signature.outputs.inputs] == [
        "PassengerId", "survived", "probability"
    ]  # fmt: skip
    schema = {field["name"]: field for field in logged.metadata["input_schema"]}
    assert {name for name, field in schema.items() if not field["required"]} == {
        "PassengerId", "Age", "Fare", "Cabin", "Embarked"
    }  # fmt: skip
    assert schema["Embarked"]["allowed"] == ["C", "Q", "S"]


def test_the_registered_model_holds_no_pickle(project, first_run, monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", project.tracking_uri)
    folder = Path(mlflow.artifacts.download_artifacts("models:/titanic/1", dst_path=tmp_path))
    files = {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}

    assert not {f for f in files if f.endswith((".pkl", ".pickle", ".joblib", ".cloudpickle"))}
    assert {"model_code.py", "artifacts/pipeline.skops"} <= files
    for path in files - {f for f in files if f.startswith("code/")}:
        assert not (folder / path).read_bytes().startswith(b"\x80"), path  # a pickle's opcode
    flavor = mlflow.models.Model.load(folder).flavors["python_function"]
    assert flavor["loader_module"] == "mlflow.pyfunc.loaders.code_model"
    assert "python_model" not in flavor


@SQLITE_ONLY
def test_same_data_and_parameters_give_the_same_model(project, first_run):
    prepare_run_id = project.client.get_model_version("titanic", "1").tags["prepare_run_id"]
    result = project.run(*QUICK, "-P", f"prepare_run_id={prepare_run_id}", entry_point="train")
    assert result.returncode == 0, result.stderr[-3000:]
    trains = [r for r in project.runs() if r.data.tags.get("prepare_run_id") == prepare_run_id]
    trains = [r for r in trains if "cv_accuracy_mean" in r.data.metrics]
    assert len(trains) == 2
    assert trains[0].data.metrics == trains[1].data.metrics
    assert project.registry_state() == (["1", "2"], {"champion": "1"})


def test_a_weaker_model_does_not_take_the_champion_alias(project, first_run):
    before_versions, _ = project.registry_state()
    trained = project.run(*WEAK, entry_point="train")
    assert trained.returncode == 0, trained.stderr[-3000:]
    evaluated = project.run(entry_point="evaluate")
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    newest = str(max(int(v) for v in before_versions) + 1)
    assert project.registry_state() == ([*before_versions, newest], {"champion": "1"})
    decision = project.latest_run().data.tags["champion_decision"]
    assert decision.startswith("kept v1: roc_auc")


def _failing_run(project: Project, override: dict[str, str], message: str) -> list:
    """``mlflow run .`` with ``override``: it fails in one ``error:`` line, registry untouched.

    Returns:
        The runs it started, oldest first (the first one failed).
    """
    before = project.registry_state()
    runs_before = len(project.runs())
    result = project.run(*mlflow_params(**{**QUICK_GRID, **override}))
    assert result.returncode != 0
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1
    assert error_lines[0].startswith(message)
    assert "Traceback" not in result.stderr.split("error:")[0]
    assert project.registry_state() == before
    new_runs = sorted(project.runs(), key=lambda r: r.info.start_time)[runs_before:]
    assert new_runs
    assert new_runs[0].info.status == RunStatus.to_string(RunStatus.FAILED)
    return new_runs


def test_a_run_failing_after_it_started_leaves_the_registry_untouched(project, first_run):
    _failing_run(
        project, {"data_uri": "/no/such/file.csv"}, "error: cannot read data_uri /no/such/file.csv"
    )


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"n_trees": "-3"}, "error: invalid parameter n_trees='-3': must be"),
        ({"test_fraction": "2"}, "error: invalid parameter test_fraction='2"),
    ],
)
def test_bad_parameters_stop_the_run_before_any_work(project, first_run, override, message):
    # Stopped before any work: no child run was started.
    assert len(_failing_run(project, override, message)) == 1


@SQLITE_ONLY
def test_bad_training_data_fails_with_the_column_named(project, first_run, train_csv, tmp_path):
    passengers = pd.read_csv(train_csv)
    cases = {
        "no_sex.csv": (passengers.drop(columns=["Sex"]), "missing required column(s): Sex"),
        "text_age.csv": (passengers.assign(Age="old"), "field 'Age': 'old' is not a number"),
        "empty.csv": (None, "the file is empty"),
    }
    before = project.registry_state()
    for name, (frame, _) in cases.items():
        if frame is None:
            (tmp_path / name).write_text("")
        else:
            frame.to_csv(tmp_path / name, index=False)
    # One after the other: SQLite serialises writers, and a run waiting too long for the lock
    # would fail for a reason that is not the one under test.
    results = {name: project.run(*QUICK, "-P", f"data_uri={tmp_path / name}") for name in cases}
    for name, (_, message) in cases.items():
        assert results[name].returncode != 0, name
        assert message in results[name].stderr, (name, results[name].stderr[-2000:])
    assert project.registry_state() == before
