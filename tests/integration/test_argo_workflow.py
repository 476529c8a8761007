"""The Argo training workflow, proven short of the cluster.

Its manifest is checked against Argo Workflows' own API models (the argo-workflows SDK,
strictly: wrong types and unknown fields fail). Then every step's command is rendered from
the workflow's own parameter list, exactly as Argo would substitute it, and run two at a
time against a real ``mlflow server``, in the training experiment as the admin created it:
every hyperparameter set must end as a run named after the workflow and a registered version,
and the best of this workflow's, alone, must become champion, whatever else the experiment
holds.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml
from argo_workflows.configuration import Configuration
from argo_workflows.model.io_argoproj_workflow_v1alpha1_workflow import (
    IoArgoprojWorkflowV1alpha1Workflow,
)
from argo_workflows.model_utils import OpenApiModel, validate_and_convert_types
from mlflow import MlflowClient

from tests.processes import PROJECT_ROOT, VENV_BIN, start_mlflow_server, stop_process
from tests.projects import WEAK, make_project
from titanic_model.names import TRAINING_EXPERIMENT

pytestmark = pytest.mark.integration

WORKFLOW = PROJECT_ROOT / "deployment" / "argo" / "training-workflow.yaml"
WORKFLOW_NAME = "titanic-training-test"
OTHER_RUN_NAME = "titanic-training-other"


def _unknown_fields(data: object, model: type, path: str = "") -> list[str]:
    """Fields of ``data`` that ``model`` (an SDK model class) does not define, recursively."""
    if not (isinstance(data, dict) and isinstance(model, type) and issubclass(model, OpenApiModel)):
        return []
    known = {json_name: python_name for python_name, json_name in model.attribute_map.items()}
    unknown = []
    for key, value in data.items():
        if key not in known:
            unknown.append(f"{path}.{key}")
            continue
        for kind in model.openapi_types[known[key]]:
            inner = kind[0] if isinstance(kind, list) else kind
            values = value if isinstance(kind, list) and isinstance(value, list) else [value]
            for item in values:
                unknown += _unknown_fields(item, inner, f"{path}.{key}")
    return unknown


def test_workflow_matches_argos_api_strictly():
    manifest = yaml.safe_load(WORKFLOW.read_text())
    validate_and_convert_types(
        manifest, (IoArgoprojWorkflowV1alpha1Workflow,), ["workflow"], True, True,
        configuration=Configuration(discard_unknown_keys=False),
    )  # fmt: skip
    assert _unknown_fields(manifest, IoArgoprojWorkflowV1alpha1Workflow) == []


def test_the_strict_check_would_catch_an_unknown_field():
    manifest = yaml.safe_load(WORKFLOW.read_text())
    manifest["spec"]["templates"][1]["container"]["comand"] = ["typo"]
    assert _unknown_fields(manifest, IoArgoprojWorkflowV1alpha1Workflow) == [
        ".spec.templates.container.comand"
    ]


def _render(text: str, values: dict[str, str]) -> str:
    def substitute(match: re.Match) -> str:
        return values[match.group(1)]

    return re.sub(r"\{\{([\w.\-]+)\}\}", substitute, text)


def _commands(data_uri: str) -> tuple[list[dict], list[list[str]], list[str]]:
    """The hyperparameter sets and every step's command, as Argo renders them.

    Returns:
        The sets (each with its candidate), the train commands (one per set, in the same
        order) and the last step's.
    """
    spec = yaml.safe_load(WORKFLOW.read_text())["spec"]
    parameters = {p["name"]: p["value"] for p in spec["arguments"]["parameters"]}
    parameters["data-uri"] = data_uri  # as `argo submit -p data-uri=…` would
    globals_ = {f"workflow.parameters.{k}": v for k, v in parameters.items()}
    globals_["workflow.name"] = WORKFLOW_NAME
    templates = {t["name"]: t for t in spec["templates"]}
    train_steps, (final_step,) = templates[spec["entrypoint"]]["steps"]

    def container_command(template: dict, inputs: dict[str, str]) -> list[str]:
        container = template["container"]
        values = globals_ | {f"inputs.parameters.{k}": v for k, v in inputs.items()}
        return [_render(part, values) for part in container["command"] + container.get("args", [])]

    items, trains = [], []
    for step in train_steps:  # one parallel step per candidate, fanned out over its sets
        for item in json.loads(_render(step["withParam"], globals_)):
            inputs = {
                p["name"]: _render(p["value"], {f"item.{k}": v for k, v in item.items()})
                for p in step["arguments"]["parameters"]
            }
            command = container_command(templates[step["template"]], inputs)
            items.append(item | {"candidates": _option(command, "candidates")})
            trains.append(command)
    return items, trains, container_command(templates[final_step["template"]], {})


def _option(command: list[str], name: str) -> str:
    """The value of ``-P name=value`` in an ``mlflow run`` command."""
    (value,) = [a.split("=", 1)[1] for a in command if a.startswith(f"{name}=")]
    return value


def test_each_candidate_is_sent_only_its_own_hyperparameters():
    own = {
        "random_forest": {"n_trees", "max_depth", "min_samples_leaf", "max_features"},
        "hist_gradient_boosting": {"learning_rate"},
        "logistic_regression": {"logistic_c"},
    }
    items, trains, _ = _commands("s3://titanic/train.csv")
    assert {item["candidates"] for item in items} == set(own)
    for command in trains:
        sent = {a.split("=", 1)[0] for a in command if "=" in a and not a.startswith("--")}
        candidate = _option(command, "candidates")
        assert sent == {"data_uri", "candidates"} | own[candidate], command


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory) -> Iterator[str]:
    url, process = start_mlflow_server(tmp_path_factory.mktemp("argo-tracking"))
    try:
        yield url
    finally:
        stop_process(process)


def test_every_step_runs_in_the_training_experiment_and_this_workflows_best_becomes_champion(
    tracking_server, train_csv, tmp_path
):
    # The experiment exists, as the admin makes it (titanic_model/access.py); another
    # workflow's better version in it must not be this workflow's best.
    MlflowClient(tracking_server).create_experiment(TRAINING_EXPERIMENT)
    project = make_project(tracking_server, None, tmp_path, train_csv, TRAINING_EXPERIMENT)
    items, trains, final = _commands(str(train_csv))
    assert len(trains) == 5

    def run(command: list[str]) -> subprocess.CompletedProcess:
        assert command[0] == "mlflow"
        return subprocess.run(
            [str(VENV_BIN / "mlflow"), *command[1:]], cwd=PROJECT_ROOT, env=project.env,
            capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip

    # The registered model exists (on the shared server the admin creates it): both workflows
    # add versions to it at once.
    project.client.create_registered_model("titanic")
    with ThreadPoolExecutor(max_workers=2) as pool:  # two at a time, as a small cluster would
        other = pool.submit(
            project.run, *WEAK, "--run-name", OTHER_RUN_NAME, entry_point="train"
        )  # another workflow's train step, running beside ours
        results = list(pool.map(run, trains))
    assert other.result().returncode == 0, other.result().stderr[-3000:]
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]
    client = project.client
    experiment = client.get_experiment_by_name(TRAINING_EXPERIMENT)
    (other_run,) = client.search_runs(
        [experiment.experiment_id], f"attributes.run_name = '{OTHER_RUN_NAME}'"
    )
    (other_version,) = client.search_model_versions(f"run_id = '{other_run.info.run_id}'")
    # Seemingly the best of all: picked, were the runs of other names not left out.
    client.set_model_version_tag("titanic", other_version.version, "cv_accuracy", "1.0")
    finished = run(final)
    assert finished.returncode == 0, finished.stderr[-3000:]

    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    ours = [r for r in runs if r.info.run_name == WORKFLOW_NAME]
    train_runs = [r for r in ours if r.data.tags.get("mlflow.project.entryPoint") == "train"]
    # Every hyperparameter set ended as a train run with its parameters, named after the
    # workflow.
    assert len(train_runs) == len(items)
    for item in items:
        matching = [r for r in train_runs if all(r.data.params[k] == v for k, v in item.items())]
        assert len(matching) == 1, item
    versions = client.search_model_versions("name = 'titanic'")
    assert len(versions) == len(trains) + 1
    mine = [v for v in versions if v.run_id in {r.info.run_id for r in train_runs}]
    best = max(mine, key=lambda v: float(v.tags["cv_accuracy"]))
    aliases = client.get_registered_model("titanic").aliases
    assert {k: str(v) for k, v in aliases.items()} == {"champion": str(best.version)}
    (evaluation,) = [
        r for r in ours if r.data.tags.get("mlflow.project.entryPoint") == "evaluate_best"
    ]
    assert evaluation.data.tags["champion_decision"] == "promoted: first champion"
    assert evaluation.data.tags["best_of_run_name"] == WORKFLOW_NAME
