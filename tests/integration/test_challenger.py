"""Champion and challenger on the real serving layer: shadow scoring, compare, promote.

Two versions of ``titanic`` in a store of this module's own: v1 the champion, v2 the
challenger. v2 learnt from nearly every labelled passenger, v1's holdout included, so on v1's
holdout it is the better one by far: replayed through the layer (v1 served, v2 in shadow)
with their outcomes as labels, ``compare`` must say ``promote``; under outcomes where it is
the worse one, or with too few labels, ``promote`` must refuse. The replayed passengers are
Kaggle's labelled ones (the training file's holdout split): the outcomes of its 418 test
passengers are not known here.

A shadow that fails (a pipeline that raises on every prediction; files that do not match the
digest pinned for them) must never reach a client: the answers are those of the layer
without a shadow, and the failures are counted.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests

from tests.processes import stop_process, wait_for
from tests.projects import Project, json_records, make_project, serve_layer
from tests.serving_metrics import scrape, total
from titanic_model.cli import main as cli_main
from titanic_model.config import EvaluateConfig, PrepareConfig, SearchConfig, TrainConfig
from titanic_model.io.digests import file_manifest, manifest_digest
from titanic_model.io.runs import load_split
from titanic_model.jobs.evaluate import evaluate
from titanic_model.jobs.prepare import prepare
from titanic_model.jobs.release import release_patch
from titanic_model.jobs.train import train
from titanic_model.model.pipeline import build_pipeline
from titanic_model.model.pyfunc import save_pipeline
from titanic_model.model.schema import LABEL, PASSENGER_ID

pytestmark = pytest.mark.integration

SMALL = {"candidates": "random_forest", "n_trees": "30", "max_depth": "5",
         "min_samples_leaf": "4", "cv_folds": "2"}  # fmt: skip
# Deep trees on nearly everything: it remembers v1's holdout.
REMEMBERS = {"candidates": "random_forest", "n_trees": "60", "max_depth": "none",
             "min_samples_leaf": "1", "cv_folds": "2"}  # fmt: skip
COMPARISONS = "titanic-monitoring"


@dataclass
class Versions:
    project: Project
    folder: Path
    holdout: pd.DataFrame  # v1's holdout: labelled passengers from the training file
    served: mlflow.pyfunc.PyFuncModel  # v1, loaded in this process
    shadow: mlflow.pyfunc.PyFuncModel  # v2


@pytest.fixture(scope="module")
def versions(tmp_path_factory, train_csv) -> Iterator[Versions]:
    """v1 champion and v2 challenger, trained and gated in this process in a new store."""
    folder = tmp_path_factory.mktemp("challenger")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    project = make_project(uri, str(folder / "artifacts"), folder, train_csv)
    experiment = project.client.get_experiment_by_name("titanic-integration").experiment_id
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.setenv("MLFLOW_EXPERIMENT_ID", experiment)

        def run(job, config):
            with mlflow.start_run():
                return job(config)

        def data(**params: str) -> PrepareConfig:
            return PrepareConfig.from_params({"data_uri": str(train_csv), **params})

        first = run(prepare, data())
        run(train, TrainConfig.of(SearchConfig.from_params(SMALL), prepare_run_id=first))
        run(evaluate, EvaluateConfig())
        nearly_all = run(prepare, data(test_fraction="0.02", seed="7"))
        search = SearchConfig.from_params(REMEMBERS)
        run(train, TrainConfig.of(search, prepare_run_id=nearly_all))
        run(evaluate, EvaluateConfig(prepare_run_id=first, promote_to="challenger"))
        assert project.registry_state()[1] == {"champion": "1", "challenger": "2"}

        def loaded(version: str):
            return mlflow.pyfunc.load_model(
                project.client.get_model_version_download_uri("titanic", version)
            )

        yield Versions(project, folder, load_split(first, "holdout"), loaded("1"), loaded("2"))


# --- talking to a layer --------------------------------------------------------------------


def _records(passengers: pd.DataFrame) -> list[dict]:
    return json.loads(passengers.drop(columns=[LABEL], errors="ignore").to_json(orient="records"))


def _invoke(url: str, records: list[dict], request_id: str) -> requests.Response:
    return requests.post(
        f"{url}/invocations",
        json={"dataframe_records": records},
        headers={"X-Request-ID": request_id, "Connection": "close"},
        timeout=60,
    )


def _replay(url: str, passengers: pd.DataFrame, prefix: str) -> list[dict]:
    """The passengers in requests of 10, and one refused request; the answers, in order."""
    answers = []
    for start in range(0, len(passengers), 10):
        response = _invoke(url, _records(passengers.iloc[start : start + 10]), f"{prefix}-{start}")
        assert response.status_code == 200, response.text
        answers += response.json()["predictions"]
    refused = _invoke(url, [{**_records(passengers.head(1))[0], "Pclass": 9}], f"{prefix}-bad")
    assert refused.status_code == 400
    return answers


def _log_lines(folder: Path) -> list[dict]:
    return [
        json.loads(line)
        for path in sorted(folder.glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def _served_alone(versions: Versions, passengers: pd.DataFrame) -> list[dict]:
    """What the layer without a shadow answers: v1's answers, to the bit."""
    frame = passengers.drop(columns=[LABEL])
    return json_records(versions.served.predict(frame))


# --- champion served, challenger in shadow -------------------------------------------------


@dataclass
class Shadowed:
    url: str
    log: Path
    answers: list[dict]
    lines: list[dict]


@pytest.fixture(scope="module")
def shadowed(versions) -> Iterator[Shadowed]:
    """The champion served by two workers, the challenger in shadow; the holdout replayed."""
    log = versions.folder / "shadowed"
    env = {"TITANIC_PREDICTION_LOG": str(log),
           "TITANIC_SHADOW_MODEL_URI": "models:/titanic@challenger"}  # fmt: skip
    url, process = serve_layer(
        versions.project, "models:/titanic@champion", versions.folder, workers=2, env=env
    )
    try:
        answers = _replay(url, versions.holdout, "replay")
        expected = 2 * len(versions.holdout) + 1  # served and shadow per record, one refusal
        lines = wait_for(
            lambda: len(found := _log_lines(log)) == expected and found,
            f"{expected} log lines",
        )
        yield Shadowed(url, log, answers, lines)
    finally:
        stop_process(process)


def test_the_champion_answers_as_alone_and_the_challenger_answers_in_the_log(versions, shadowed):
    holdout = versions.holdout
    assert shadowed.answers == _served_alone(versions, holdout)

    scored = [line for line in shadowed.lines if line["status"] == 200]
    served = {(x["request_id"], x["record"]): x for x in scored if x["role"] == "served"}
    shadow = {(x["request_id"], x["record"]): x for x in scored if x["role"] == "shadow"}
    assert served.keys() == shadow.keys()
    assert len(served) == len(holdout)
    client = versions.project.client
    v1, v2 = (client.get_model_version("titanic", v).run_id for v in ("1", "2"))
    assert {(x["model_version"], x["run_id"]) for x in served.values()} == {("1", v1)}
    assert {(x["model_version"], x["run_id"]) for x in shadow.values()} == {("2", v2)}
    for key, line in served.items():
        assert (shadow[key]["time"], shadow[key]["input"]) == (line["time"], line["input"])
    # The shadow's answers are v2's own, to the bit, on the same records.
    ordered = sorted(shadow.values(), key=lambda x: (int(x["request_id"].split("-")[1]),
                                                      x["record"]))  # fmt: skip
    expected = json_records(versions.shadow.predict(holdout.drop(columns=[LABEL])))
    assert [(x["survived"], x["probability"]) for x in ordered] == [
        (e["survived"], e["probability"]) for e in expected
    ]
    [refusal] = [line for line in shadowed.lines if line["status"] != 200]
    assert refusal["role"] == "served"


def test_the_metrics_tell_the_shadow_apart_and_count_no_shadow_error(versions, shadowed):
    metrics = scrape(shadowed.url)
    info = {dict(labels)["role"]: dict(labels)["version"]
            for (name, labels), _ in metrics.items() if name == "titanic_model_info"}  # fmt: skip
    assert info == {"served": "1", "shadow": "2"}
    assert total(metrics, "titanic_shadow_errors_total") == 0
    # The served answers only: the canary's positive-rate check counts these.
    assert total(metrics, "titanic_predictions_total") == len(versions.holdout)


# --- compare and promote, end to end --------------------------------------------------------


def _directly_from_the_log(lines: list[dict], labels: pd.DataFrame) -> dict[str, float]:
    """The figures compare must find, computed here from the log's lines."""
    outcome = dict(zip(labels[PASSENGER_ID], labels[LABEL], strict=True))
    answers: dict[tuple, dict[str, int]] = {}
    for line in lines:
        if line["status"] == 200:
            key = (line["request_id"], line["record"])
            answers.setdefault(key, {"id": line["input"][PASSENGER_ID]})[line["role"]] = line[
                "survived"
            ]
    truth = np.array([outcome[a["id"]] for a in answers.values()])
    served = np.array([a["served"] for a in answers.values()])
    shadow = np.array([a["shadow"] for a in answers.values()])
    return {
        "pairs": len(answers),
        "labelled_pairs": len(truth),
        "agreement_rate": float(np.mean(served == shadow)),
        "live_accuracy_served": float(np.mean(served == truth)),
        "live_accuracy_shadow": float(np.mean(shadow == truth)),
        "served_only_correct": int(np.sum((served == truth) & (shadow != truth))),
        "shadow_only_correct": int(np.sum((served != truth) & (shadow == truth))),
    }


def _cli(capsys, *argv: str) -> tuple[int, list[str]]:
    status = cli_main(list(argv))
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    return status, errors


def _last_comparison(versions: Versions):
    client = versions.project.client
    experiment = client.get_experiment_by_name(COMPARISONS).experiment_id
    return client.search_runs([experiment], order_by=["attributes.start_time DESC"])[0]


def _compare(versions, shadowed, capsys, labels: Path, *params: str):
    status, errors = _cli(capsys, "compare", "--log_uri", str(shadowed.log),
                          "--labels_uri", str(labels), *params)  # fmt: skip
    assert (status, errors) == (0, [])
    return _last_comparison(versions)


def _labels(versions: Versions, name: str, flipped: bool = False) -> Path:
    labels = versions.holdout[[PASSENGER_ID, LABEL]]
    if flipped:
        labels = labels.assign(**{LABEL: 1 - labels[LABEL]})
    path = versions.folder / name
    labels.to_csv(path, index=False)
    return path


def test_compares_accuracies_are_those_computed_directly_from_the_log(versions, shadowed, capsys):
    labels = _labels(versions, "labels.csv")
    run = _compare(versions, shadowed, capsys, labels)

    expected = _directly_from_the_log(shadowed.lines, pd.read_csv(labels))
    metrics = run.data.metrics
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value, abs=1e-12), name
    gain = expected["live_accuracy_shadow"] - expected["live_accuracy_served"]
    assert metrics["accuracy_gain"] == pytest.approx(gain, abs=1e-12)
    low, high = metrics["accuracy_gain_ci_low"], metrics["accuracy_gain_ci_high"]
    assert low < gain < high
    # The stated rule, on the figures logged: enough labels, the lower bound above 0.
    assert metrics["labelled_pairs"] >= 100
    assert run.data.tags["decision"] == ("promote" if low > 0 else "keep") == "promote"
    assert (run.data.tags["served_model_version"], run.data.tags["shadow_model_version"]) == (
        "1", "2",
    )  # fmt: skip


def test_a_better_challenger_is_promoted_a_worse_one_or_too_few_labels_never(
    versions, shadowed, capsys
):
    output = versions.folder / "release.yaml"
    promote = ("promote", "--output", str(output))
    labels = _labels(versions, "labels.csv")

    too_few = _compare(versions, shadowed, capsys, labels, "--min_labelled", "1000")
    assert too_few.data.tags["decision"] == "insufficient_labels"
    status, errors = _cli(capsys, *promote)
    assert (status, len(errors)) == (1, 1)
    assert "decided 'insufficient_labels'" in errors[0]

    # Outcomes under which the challenger is the worse one.
    worse = _compare(versions, shadowed, capsys, _labels(versions, "flipped.csv", flipped=True))
    assert worse.data.metrics["accuracy_gain"] < 0
    assert worse.data.tags["decision"] == "keep"
    status, errors = _cli(capsys, *promote)
    assert (status, len(errors)) == (1, 1)
    assert "decided 'keep'" in errors[0]
    assert versions.project.registry_state()[1] == {"champion": "1", "challenger": "2"}
    assert not output.exists()

    better = _compare(versions, shadowed, capsys, labels)
    assert better.data.tags["decision"] == "promote"
    assert _cli(capsys, *promote) == (0, [])

    assert versions.project.registry_state()[1] == {"champion": "2", "challenger": "2"}
    version = versions.project.client.get_model_version("titanic", "2")
    assert version.tags["comparison_run_id"] == better.info.run_id
    assert output.read_text() == release_patch("models:/titanic/2", version.tags["model_digest"])


# --- shadows that fail ----------------------------------------------------------------------


def _broken_copy(versions: Versions) -> tuple[Path, str]:
    """v1's files with a pipeline that was never fitted (it raises on every prediction),
    and the digest of those files, as a deployer would pin it."""
    original = Path(versions.project.client.get_model_version_download_uri("titanic", "1"))
    broken = versions.folder / "broken-shadow"
    shutil.copytree(original, broken)
    save_pipeline(build_pipeline(seed=0), broken / "artifacts" / "pipeline.skops")
    return broken, manifest_digest(file_manifest(broken))


@pytest.mark.parametrize("failure", ["raises-on-predict", "fails-verification"])
def test_a_failing_shadow_never_reaches_a_client_and_is_counted(versions, failure):
    log = versions.folder / f"log-{failure}"
    if failure == "raises-on-predict":
        uri, digest = _broken_copy(versions)
        stage = "predict"
    else:
        uri, digest = "models:/titanic/2", "sha256:" + "0" * 64
        stage = "load"
    env = {"TITANIC_PREDICTION_LOG": str(log), "TITANIC_SHADOW_MODEL_URI": str(uri),
           "TITANIC_SHADOW_MODEL_DIGEST": digest}  # fmt: skip
    folder = versions.folder / failure
    folder.mkdir()
    url, process = serve_layer(versions.project, "models:/titanic/1", folder, env=env)
    try:
        passengers = versions.holdout.head(40)
        assert _replay(url, passengers, failure) == _served_alone(versions, passengers)
        requests_scored = len(passengers) // 10
        errors = "titanic_shadow_errors_total"
        wait_for(
            lambda: total(scrape(url), errors, stage=stage) == requests_scored,
            f"{requests_scored} shadow errors counted at stage {stage}",
        )
        lines = wait_for(lambda: len(found := _log_lines(log)) == 41 and found, "41 lines")
        assert {line["role"] for line in lines} == {"served"}
        metrics = scrape(url)
        assert total(metrics, "titanic_requests_total", status="500") == 0
        roles = {dict(labels)["role"] for (name, labels) in metrics
                 if name == "titanic_model_info"}  # fmt: skip
        assert roles == ({"served", "shadow"} if stage == "predict" else {"served"})
    finally:
        stop_process(process)
    output = next(folder.glob("layer-*.log")).read_text()
    assert "Traceback" not in output
    if stage == "load":
        assert f"shadow model {uri} not loaded, serving without it: " in output
