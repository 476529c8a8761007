"""Champion and challenger in-process: the gate's ``promote_to``, ``compare`` and ``promote``.

The versions are real (trained and gated here); the prediction logs are written as the
serving layer writes them, with answers chosen so that the figures are known exactly.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import pandas as pd
import pytest

import titanic_model.jobs.evaluate as evaluate_module
from tests.champions import run_job, with_a_champion
from tests.passengers import make_passengers
from titanic_model.cli import main as cli_main
from titanic_model.config import CompareConfig, EvaluateConfig, PromoteConfig
from titanic_model.errors import ConfigError
from titanic_model.io.data import DataSourceError
from titanic_model.io.digests import TamperedModelError
from titanic_model.jobs.compare import compare
from titanic_model.jobs.evaluate import evaluate
from titanic_model.jobs.promote import promote
from titanic_model.jobs.release import release_patch
from titanic_model.model.schema import LABEL, PASSENGER_ID, check_passengers
from titanic_model.prediction_log import SERVED, SHADOW
from titanic_model.serving.log_writer import ModelIdentity, scored_lines

WEAK = {"candidates": "random_forest", "n_trees": "1", "max_depth": "1", "min_samples_leaf": "100"}
PASSENGERS = make_passengers(160)
TRUTH = PASSENGERS[LABEL].to_numpy()
_experiments = itertools.count(1)


def _aliases(store, name: str) -> dict[str, str]:
    return {k: str(v) for k, v in store.client.get_registered_model(name).aliases.items()}


@pytest.fixture(scope="module")
def gated(store):
    """v1 the champion; v2, trained alike (so as good), gated onto challenger."""
    name, register = with_a_champion(store)
    register()
    with mlflow.start_run() as run:
        evaluate(EvaluateConfig(model_name=name, promote_to="challenger"))
    return SimpleNamespace(name=name, register=register, evaluation=run.info.run_id)


def _identity(store, name: str, version: str) -> ModelIdentity:
    return ModelIdentity(name, version, store.client.get_model_version(name, version).run_id)


def _flip(answers: np.ndarray, share: float) -> np.ndarray:
    """The answers with every (1 / share)-th one wrong."""
    flipped = answers.copy()
    flipped[:: round(1 / share)] ^= 1
    return flipped


def _write_log(
    folder: Path,
    served: ModelIdentity,
    shadow: ModelIdentity,
    served_says,
    shadow_says,
    arrived: datetime | None = None,
) -> None:
    """What the serving layer logs for PASSENGERS in requests of 10, served and shadow."""
    folder.mkdir(parents=True, exist_ok=True)
    now = arrived or pd.Timestamp.now(tz="UTC").to_pydatetime()
    lines = []
    for start in range(0, len(PASSENGERS), 10):
        rows = slice(start, start + 10)
        columns = check_passengers(PASSENGERS.iloc[rows].drop(columns=[LABEL]))
        for identity, says, role in ((served, served_says, SERVED), (shadow, shadow_says, SHADOW)):
            answers = pd.DataFrame({"survived": says[rows], "probability": says[rows] * 0.8})
            lines += scored_lines(
                identity, f"req-{start}", now, columns, answers, full_names=False, role=role
            )
    with (folder / f"predictions-{len(list(folder.iterdir()))}.jsonl").open("w") as file:
        file.write("\n".join(lines) + "\n")


@pytest.fixture
def labels(tmp_path) -> Path:
    path = tmp_path / "labels.csv"
    PASSENGERS[[PASSENGER_ID, LABEL]].to_csv(path, index=False)
    return path


def _compare(store, log: Path, labels: Path | None, experiment: str, **params: str):
    """Run compare in-process; its run in the comparisons' experiment."""
    given = {"log_uri": str(log), "experiment_name": experiment} | params
    if labels is not None:
        given["labels_uri"] = str(labels)
    decision = run_job(compare, CompareConfig.from_params(given))
    experiment_id = store.client.get_experiment_by_name(experiment).experiment_id
    run = store.client.search_runs(
        [experiment_id], order_by=["attributes.start_time DESC"], max_results=1
    )[0]
    assert run.data.tags["decision"] == decision
    return run


# ---------------------------------------------------------------- the gate


def test_a_version_that_passes_the_gate_takes_challenger_and_champion_stays(store, gated):
    assert _aliases(store, gated.name) == {"champion": "1", "challenger": "2"}
    tags = store.client.get_model_version(gated.name, "2").tags
    assert tags["approval"] == "approved"
    assert re.fullmatch(r"challenger: roc_auc \d\.\d{4} vs champion v1 \d\.\d{4}",
                        tags["gate_decision"])  # fmt: skip
    run = store.client.get_run(gated.evaluation).data
    assert run.tags["champion_decision"] == tags["gate_decision"]
    assert run.tags["champion_version_before"] == "1"


def test_a_version_that_fails_the_gate_takes_no_alias(store, gated):
    weak = gated.register(**WEAK)
    run_job(evaluate, EvaluateConfig(model_name=gated.name, promote_to="challenger"))

    assert store.client.get_model_version(gated.name, weak.version).tags["approval"] == "rejected"
    assert _aliases(store, gated.name) == {"champion": "1", "challenger": "2"}


def test_the_challenger_alias_moves_last_and_a_failure_before_moves_nothing(
    store, gated, monkeypatch
):
    candidate = gated.register()

    def broken(*args, **kwargs):
        raise RuntimeError("the registry went away")

    monkeypatch.setattr(evaluate_module, "promote", broken)
    with pytest.raises(RuntimeError):
        run_job(evaluate, EvaluateConfig(model_name=gated.name, promote_to="challenger"))

    assert _aliases(store, gated.name) == {"champion": "1", "challenger": "2"}
    tags = store.client.get_model_version(gated.name, candidate.version).tags
    assert (tags["approval"], tags["gate_decision"]) == ("failed", "failed: the registry went away")


# ---------------------------------------------------------------- compare


def test_compare_logs_the_figures_of_the_log_and_a_decision(store, gated, tmp_path, labels):
    served, shadow = _flip(TRUTH, 0.25), _flip(TRUTH, 0.1)  # wrong on 40 and 16 of 160
    log = tmp_path / "log"
    _write_log(log, _identity(store, gated.name, "1"), _identity(store, gated.name, "2"),
               served, shadow)  # fmt: skip
    experiment = f"comparisons-{next(_experiments)}"

    run = _compare(store, log, labels, experiment)

    metrics = run.data.metrics
    assert metrics["pairs"] == metrics["labelled_pairs"] == 160
    assert metrics["agreement_rate"] == pytest.approx(np.mean(served == shadow))
    assert metrics["live_accuracy_served"] == pytest.approx(120 / 160)
    assert metrics["live_accuracy_shadow"] == pytest.approx(144 / 160)
    assert metrics["accuracy_gain"] == pytest.approx(24 / 160)
    assert 0 < metrics["accuracy_gain_ci_low"] < 24 / 160 < metrics["accuracy_gain_ci_high"]
    assert metrics["served_only_correct"] + 24 == metrics["shadow_only_correct"]
    assert 0 <= metrics["mcnemar_p_value"] < 0.01
    tags = run.data.tags
    assert tags["decision"] == "promote"
    assert (tags["served_model_name"], tags["served_model_version"]) == (gated.name, "1")
    assert (tags["shadow_model_name"], tags["shadow_model_version"]) == (gated.name, "2")
    assert run.info.run_name == "compare"
    assert run.data.params["min_labelled"] == "100"


def test_compare_without_labels_measures_the_agreement_only(store, gated, tmp_path):
    log = tmp_path / "log"
    _write_log(log, _identity(store, gated.name, "1"), _identity(store, gated.name, "2"),
               TRUTH, _flip(TRUTH, 0.5))  # fmt: skip

    run = _compare(store, log, None, f"comparisons-{next(_experiments)}")

    assert run.data.tags["decision"] == "insufficient_labels"
    assert run.data.metrics["agreement_rate"] == pytest.approx(0.5)
    assert "live_accuracy_served" not in run.data.metrics


def test_compare_pairs_no_answer_stamped_after_its_now(store, tmp_path):
    """An empty until is now (README): answers stamped tomorrow are outside the window."""
    served, shadow = ModelIdentity("windows", "1", "run-1"), ModelIdentity("windows", "2", "run-2")
    log = tmp_path / "log"
    _write_log(log, served, shadow, TRUTH, TRUTH)  # both answered alike: agreement 1
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    _write_log(log, served, shadow, TRUTH, 1 - TRUTH, tomorrow)  # a clock ahead: never alike

    run = _compare(store, log, None, f"comparisons-{next(_experiments)}")

    assert (run.data.metrics["pairs"], run.data.metrics["agreement_rate"]) == (160, 1.0)


def test_a_log_without_shadow_answers_is_one_line_and_nothing_is_logged(store, gated, tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    columns = check_passengers(PASSENGERS.head(3).drop(columns=[LABEL]))
    answers = pd.DataFrame({"survived": [0, 1, 0], "probability": [0.1, 0.9, 0.2]})
    served = _identity(store, gated.name, "1")
    now = pd.Timestamp.now(tz="UTC").to_pydatetime()
    (log / "p.jsonl").write_text(
        "\n".join(scored_lines(served, "a", now, columns, answers, full_names=False)) + "\n"
    )
    experiment = f"comparisons-{next(_experiments)}"

    config = CompareConfig.from_params({"log_uri": str(log), "experiment_name": experiment})
    with pytest.raises(DataSourceError, match="answered by both the served model and a shadow"):
        run_job(compare, config)

    assert store.client.get_experiment_by_name(experiment) is None


# ---------------------------------------------------------------- promote


@pytest.fixture(scope="module")
def promotion(store, gated, tmp_path_factory):
    """A comparisons' experiment, a release file, and a way to log comparisons of v1 and v2."""
    folder = tmp_path_factory.mktemp("promotion")
    experiment = f"comparisons-{next(_experiments)}"
    labels = folder / "labels.csv"
    PASSENGERS[[PASSENGER_ID, LABEL]].to_csv(labels, index=False)
    logs = itertools.count()

    def compared(shadow_version: str = "2", better: bool = True, **params: str):
        served, shadow = _flip(TRUTH, 0.25), _flip(TRUTH, 0.1)
        if not better:
            served, shadow = shadow, served
        log = folder / f"log-{next(logs)}"
        _write_log(log, _identity(store, gated.name, "1"),
                   ModelIdentity(gated.name, shadow_version, "run"), served, shadow)  # fmt: skip
        return _compare(store, log, labels, experiment, **params)

    def promoted():
        config = PromoteConfig(
            model_name=gated.name, experiment_name=experiment, output=str(folder / "release.yaml")
        )
        return run_job(promote, config)

    return SimpleNamespace(
        compared=compared, promoted=promoted, output=folder / "release.yaml", experiment=experiment
    )


def _refused(store, gated, promotion, message: str, error=ConfigError) -> None:
    with pytest.raises(error) as raised:
        promotion.promoted()
    assert message in str(raised.value), raised.value
    assert "\n" not in str(raised.value)
    assert _aliases(store, gated.name)["champion"] == "1"
    assert _aliases(store, gated.name)["challenger"] == "2"
    assert not promotion.output.exists()


def test_promote_refuses_a_pair_never_compared(store, gated, promotion):
    promotion.compared(shadow_version="3")  # another pair: says promote, about v3
    _refused(store, gated, promotion, "no comparison of champion v1 (served) with challenger v2")


@pytest.mark.parametrize(
    ("params", "decision"),
    [({"better": False}, "keep"), ({"min_labelled": "1000"}, "insufficient_labels")],
)
def test_promote_refuses_when_the_last_comparison_does_not_say_promote(
    store, gated, promotion, params, decision
):
    promotion.compared()  # an earlier comparison said promote: only the last one counts
    last = promotion.compared(**params)
    assert last.data.tags["decision"] == decision
    _refused(store, gated, promotion, f"run {last.info.run_id}, decided {decision!r}")


def test_promote_says_why_in_one_error_line_from_the_command_line(store, gated, promotion, capsys):
    promotion.compared(better=False)
    status = cli_main(["promote", "--model_name", gated.name, "--experiment_name",
                       "nowhere", "--output", str(promotion.output)])  # fmt: skip
    errors = capsys.readouterr().err.strip().splitlines()
    assert status == 1
    assert errors == [
        "error: no comparison of champion v1 (served) with challenger v2 (shadow) in "
        "experiment 'nowhere': run compare on a window where the challenger scored in shadow"
    ]


def test_promote_refuses_a_challenger_the_gate_did_not_approve(store, gated, promotion):
    promotion.compared()
    store.client.set_model_version_tag(gated.name, "2", "approval", "failed")
    try:
        _refused(store, gated, promotion, "the gate has not approved it (approval=failed)")
    finally:
        store.client.set_model_version_tag(gated.name, "2", "approval", "approved")


def test_promote_refuses_a_challenger_whose_files_changed(store, gated, promotion):
    promotion.compared()
    folder = Path(store.client.get_model_version_download_uri(gated.name, "2"))
    original = (folder / "MLmodel").read_bytes()
    (folder / "MLmodel").write_bytes(original + b"\n")
    try:
        _refused(store, gated, promotion, "MLmodel was changed", TamperedModelError)
    finally:
        (folder / "MLmodel").write_bytes(original)


def test_promote_moves_champion_removes_challenger_and_pins_the_release(store, gated, promotion):
    comparison = promotion.compared()

    with mlflow.start_run() as run:
        promote(
            PromoteConfig(
                model_name=gated.name,
                experiment_name=promotion.experiment,
                output=str(promotion.output),
            )
        )

    # challenger stays on the new champion: removing an alias takes MANAGE, which no role has.
    assert _aliases(store, gated.name) == {"champion": "2", "challenger": "2"}
    version = store.client.get_model_version(gated.name, "2")
    assert version.tags["comparison_run_id"] == comparison.info.run_id
    digest = version.tags["model_digest"]
    assert promotion.output.read_text() == release_patch(f"models:/{gated.name}/2", digest)
    tags = store.client.get_run(run.info.run_id).data.tags
    assert (tags["champion_version_before"], tags["comparison_run_id"]) == (
        "1", comparison.info.run_id,
    )  # fmt: skip
    assert (tags["model_uri"], tags["model_digest"]) == (f"models:/{gated.name}/2", digest)
    # A challenger that is the champion is no challenger.
    with pytest.raises(ConfigError, match=f"challenger v2 of '{gated.name}' is champion already"):
        promotion.promoted()


def test_a_shadow_that_is_the_served_version_is_not_loaded(store, gated, tmp_path, caplog):
    from titanic_model.serving.app import load_shadow, resolve_model
    from titanic_model.serving.prometheus import ServingMetrics

    served, _ = resolve_model(f"models:/{gated.name}@champion")
    metrics = ServingMetrics(str(tmp_path))
    other = load_shadow(f"models:/{gated.name}/1", None, metrics, served)
    itself = load_shadow(f"models:/{gated.name}@challenger", None, metrics, served)

    assert served.version == "2"
    assert (other.identity.version, other.model is not None) == ("1", True)
    assert itself is None
    assert "is the served version: no shadow" in caplog.text
