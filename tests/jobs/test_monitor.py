"""The monitoring job in-process: a real registered model, logs in the serving layer's format."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import pandas as pd
import pytest

from tests.passengers import make_passengers
from tests.processes import free_port
from titanic_model.config import MonitorConfig, RequestLabelsConfig, TrainConfig
from titanic_model.errors import DriftDetectedError
from titanic_model.io.data import DataSourceError
from titanic_model.jobs.monitor import monitor
from titanic_model.jobs.prepare import prepare
from titanic_model.jobs.request_labels import request_labels
from titanic_model.jobs.train import train
from titanic_model.model.schema import LABEL, PASSENGER_ID, SchemaError, check_passengers
from titanic_model.monitoring.drift import MONITORED_FIELDS
from titanic_model.serving.log_writer import ModelIdentity, rejected_line, scored_lines

_experiments = itertools.count(1)


@pytest.fixture(scope="module")
def served(store):
    """A registered version, and a way to write what the serving layer would log for it."""
    name = store.new_model_name()
    with mlflow.start_run():
        prepare_run_id = mlflow.active_run().info.run_id
        prepare(store.prepare())
    with mlflow.start_run():
        train(TrainConfig.of(store.search(), prepare_run_id=prepare_run_id, model_name=name))
    version = store.client.get_model_version(name, "1")
    model = mlflow.pyfunc.load_model(f"models:/{name}/1")
    return SimpleNamespace(
        name=name,
        model=model,
        identity=ModelIdentity(name, "1", version.run_id),
    )


def _write_log(served, folder: Path, passengers: pd.DataFrame, arrived: datetime) -> list[dict]:
    """Score ``passengers`` in requests of 10 and log them as the serving layer does."""
    folder.mkdir(parents=True, exist_ok=True)
    lines, answers = [], []
    for start in range(0, len(passengers), 10):
        records = passengers.iloc[start : start + 10].drop(columns=[LABEL], errors="ignore")
        predictions = served.model.predict(records)
        columns = check_passengers(records)  # as the model validated them
        lines += scored_lines(
            served.identity, f"req-{start}", arrived, columns, predictions, full_names=False
        )
        answers += predictions.to_dict(orient="records")
    with (folder / "predictions-test.jsonl").open("a") as file:
        file.write("\n".join(lines) + "\n")
    return answers


def _config(store, log: Path, **params: str) -> MonitorConfig:
    experiment = f"monitoring-{next(_experiments)}"
    mlflow.MlflowClient().create_experiment(experiment, str(store.folder / experiment))
    return MonitorConfig.from_params({"log_uri": str(log), "experiment_name": experiment} | params)


def _run(config: MonitorConfig):
    with mlflow.start_run() as project_run:
        monitor(config)
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(config.experiment_name)
    [run] = client.search_runs([experiment.experiment_id])
    return run, client.get_run(project_run.info.run_id)


@pytest.fixture(scope="module")
def passengers() -> pd.DataFrame:
    return make_passengers(160)


NOW = datetime.now(UTC)


def test_the_same_population_shows_no_drift(store, served, passengers, tmp_path):
    _write_log(served, tmp_path / "log", passengers, NOW)

    run, project_run = _run(_config(store, tmp_path / "log"))

    assert run.data.tags["drift_fields"] == ""
    assert run.data.tags["prediction_drift"] == "false"
    assert (run.data.tags["model_name"], run.data.tags["model_version"]) == (served.name, "1")
    assert run.info.run_name == "monitor"
    assert project_run.data.tags["monitoring_run_id"] == run.info.run_id
    metrics = run.data.metrics
    for field in ("Pclass", "Sex", "Age", "SibSp", "Parch", "Fare", "Embarked", "Title"):
        assert 0 <= metrics[f"drift_psi_{field}"] < 0.2, field
        assert 0 <= metrics[f"drift_p_value_{field}"] <= 1, field
    assert "drift_missing_share_change_Cabin" in metrics
    assert (metrics["rows_scored"], metrics["requests"], metrics["log_lines_corrupt"]) == (
        160,
        16,
        0,
    )
    tags = store.client.get_model_version(served.name, "1").tags
    assert tags["monitoring_run_id"] == run.info.run_id
    assert tags["monitoring_drift_fields"] == ""


def test_a_shifted_class_mix_and_older_passengers_are_flagged(store, served, passengers, tmp_path):
    shifted = passengers.assign(Pclass=1, Age=passengers["Age"] + 30)
    _write_log(served, tmp_path / "log", shifted, NOW)

    run, _ = _run(_config(store, tmp_path / "log"))

    assert run.data.tags["drift_fields"] == "Pclass,Age"
    assert run.data.metrics["drift_psi_Pclass"] > 0.2
    tags = store.client.get_model_version(served.name, "1").tags
    assert tags["monitoring_drift_fields"] == "Pclass,Age"


def test_labels_give_exactly_the_accuracy_of_the_served_answers(
    store, served, passengers, tmp_path
):
    # The log says what the layer served: here 20 answers the model gets right today were
    # served wrong (an older model, a bug). A monitor that predicted again would miss them.
    records = passengers.drop(columns=[LABEL])
    now_says = served.model.predict(records).reset_index(drop=True)
    truth = passengers[LABEL].to_numpy()
    served_wrong = np.flatnonzero(now_says["survived"].to_numpy() == truth)[:20]
    logged = now_says.copy()
    logged.loc[served_wrong, "survived"] = 1 - logged.loc[served_wrong, "survived"]
    logged.loc[served_wrong, "probability"] = 0.1 + 0.8 * logged.loc[served_wrong, "survived"]
    lines = []
    for start in range(0, len(passengers), 10):
        rows = slice(start, start + 10)
        lines += scored_lines(
            served.identity, f"req-{start}", NOW, check_passengers(records.iloc[rows]),
            logged.iloc[rows], full_names=False,
        )  # fmt: skip
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "predictions-test.jsonl").write_text("\n".join(lines) + "\n")
    labels = passengers[[PASSENGER_ID, LABEL]]
    unknown = pd.DataFrame({PASSENGER_ID: [9001, 9002], LABEL: [1, 0]})
    pd.concat([labels, unknown]).to_csv(tmp_path / "labels.csv", index=False)

    run, _ = _run(_config(store, tmp_path / "log", labels_uri=str(tmp_path / "labels.csv")))

    expected = float(np.mean(logged["survived"].to_numpy() == truth))
    model_now = float(np.mean(now_says["survived"].to_numpy() == truth))
    assert expected == pytest.approx(model_now - 20 / 160)
    metrics = run.data.metrics
    assert metrics["live_accuracy"] == pytest.approx(expected, abs=1e-12)
    assert metrics["live_accuracy_ci_low"] <= expected <= metrics["live_accuracy_ci_high"]
    assert "live_roc_auc" in metrics
    assert "live_brier_score" in metrics
    assert (metrics["live_rows"], metrics["labels_unknown_ids"]) == (160, 2)
    assert metrics["predictions_unlabelled"] == 0
    assert "holdout_accuracy" in metrics
    version_tags = store.client.get_model_version(served.name, "1").tags
    assert float(version_tags["monitoring_live_accuracy"]) == pytest.approx(expected, abs=1e-4)


def test_the_report_shows_every_field_the_tests_and_the_live_quality(
    store, served, passengers, tmp_path
):
    _write_log(served, tmp_path / "log", passengers, NOW)
    passengers[[PASSENGER_ID, LABEL]].to_csv(tmp_path / "labels.csv", index=False)

    run, _ = _run(_config(store, tmp_path / "log", labels_uri=str(tmp_path / "labels.csv")))

    report = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/monitoring_report.html")
    for field in ("Pclass", "Sex", "Age", "SibSp", "Parch", "Fare", "Cabin", "Embarked", "Title"):
        assert f"<td>{field}</td>" in report, field
    assert report.count("<img") == 9 + 1 + 1  # the fields, the probabilities, calibration
    assert "Live quality: 160 labelled record(s)" in report
    drift = pd.read_csv(mlflow.artifacts.download_artifacts(f"runs:/{run.info.run_id}/drift.csv"))
    assert drift["field"].tolist() == [*MONITORED_FIELDS, "probability"]
    assert drift["flagged"].tolist() == [False] * 10
    assert len(drift) == 10


def test_corrupt_lines_and_refusals_are_counted_not_fatal(store, served, passengers, tmp_path):
    _write_log(served, tmp_path / "log", passengers, NOW)
    refusals = [
        rejected_line(served.identity, f"bad-{i}", NOW, 400, "row 0: field 'Age': ...", {"Age": 1})
        for i in range(4)
    ]
    (tmp_path / "log" / "predictions-other.jsonl").write_text(
        "\n".join(refusals) + "\n{not json\n" + '{"schema_version": 1}\n'
    )

    run, _ = _run(_config(store, tmp_path / "log"))

    metrics = run.data.metrics
    assert metrics["log_lines_corrupt"] == 2
    assert (metrics["requests_refused"], metrics["rejected_records_Age"]) == (4, 1 * 4)
    assert metrics["rejection_rate"] == pytest.approx(4 / (16 + 4))


def test_the_window_selects_lines_by_time(store, served, passengers, tmp_path):
    _write_log(served, tmp_path / "log", passengers, NOW - timedelta(days=3))
    _write_log(served, tmp_path / "log", passengers.head(40), NOW)
    # From a clock ahead: after the job's now, where a window with an empty until ends.
    _write_log(served, tmp_path / "log", passengers.head(20), NOW + timedelta(days=1))

    run, _ = _run(_config(store, tmp_path / "log", since="P1D"))

    assert run.data.metrics["rows_scored"] == 40
    assert run.data.params["since"] == "P1D"


def test_request_labels_samples_no_record_stamped_after_its_now(
    store, served, passengers, tmp_path, monkeypatch
):
    """An empty until is now (README), for the reviewers' sample as for the monitor."""
    # Nowhere to send tasks: the job must find its window empty before it tries.
    monkeypatch.setenv("LABEL_STUDIO_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "key")
    _write_log(served, tmp_path / "log", passengers.head(20), NOW + timedelta(days=1))
    config = RequestLabelsConfig.from_params({"log_uri": str(tmp_path / "log")})

    with pytest.raises(DataSourceError) as raised, mlflow.start_run():
        request_labels(config)

    assert str(raised.value) == (
        f"no scored record in log_uri {tmp_path / 'log'} between the start and now "
        "(20 line(s) read, 0 unreadable)"
    )


@pytest.mark.parametrize(
    ("setup", "params", "error", "message"),
    [
        (lambda log: None, {}, DataSourceError, "no such folder"),
        (lambda log: log.mkdir(), {}, DataSourceError, "no .jsonl file there"),
        (lambda log: (log.mkdir(), (log / "x.jsonl").write_text("garbage\n{}\n")), {},
         DataSourceError, "none of its 2 line(s) is a prediction-log line"),
        ("old log", {"since": "PT1H"}, DataSourceError, "no prediction-log line in"),
        ("old log", {"labels_uri": "LABELS"}, SchemaError, "labels: missing column(s) Survived"),
    ],
    ids=["missing", "empty", "unreadable", "empty-window", "bad-labels"],
)  # fmt: skip
def test_bad_input_is_one_line_and_nothing_is_logged(
    store, served, passengers, tmp_path, setup, params, error, message
):
    log = tmp_path / "log"
    if setup == "old log":
        _write_log(served, log, passengers, NOW - timedelta(days=2))
        pd.DataFrame({PASSENGER_ID: [1]}).to_csv(tmp_path / "labels.csv", index=False)
        params = {
            k: str(tmp_path / "labels.csv") if v == "LABELS" else v for k, v in params.items()
        }
        if "labels_uri" in params:
            params["since"] = "P3D"
    else:
        setup(log)
    config = _config(store, log, **params)

    with pytest.raises(error) as raised, mlflow.start_run():
        monitor(config)

    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
    experiment = mlflow.MlflowClient().get_experiment_by_name(config.experiment_name)
    assert mlflow.MlflowClient().search_runs([experiment.experiment_id]) == []


def test_fail_on_drift_fails_after_logging_everything(store, served, passengers, tmp_path):
    _write_log(served, tmp_path / "log", passengers.assign(Pclass=1), NOW)
    config = _config(store, tmp_path / "log", fail_on_drift="true")

    with pytest.raises(DriftDetectedError) as raised, mlflow.start_run():
        monitor(config)

    experiment = mlflow.MlflowClient().get_experiment_by_name(config.experiment_name)
    [run] = mlflow.MlflowClient().search_runs([experiment.experiment_id])
    assert str(raised.value) == f"drift in Pclass (monitoring run {run.info.run_id})"
    assert run.data.tags["drift_fields"] == "Pclass"


def test_only_what_clients_were_answered_is_monitored(store, served, passengers, tmp_path):
    answers = _write_log(served, tmp_path / "log", passengers, NOW)
    # A shadow scored the same records (another version, no registry entry): not monitored.
    shadow = ModelIdentity(served.name, "99", "shadow-run")
    records = passengers.drop(columns=[LABEL])
    lines = scored_lines(
        shadow, "req-0", NOW, check_passengers(records), served.model.predict(records),
        full_names=False, role="shadow",
    )  # fmt: skip
    (tmp_path / "log" / "predictions-shadow.jsonl").write_text("\n".join(lines) + "\n")
    passengers[[PASSENGER_ID, LABEL]].to_csv(tmp_path / "labels.csv", index=False)

    run, _ = _run(_config(store, tmp_path / "log", labels_uri=str(tmp_path / "labels.csv")))

    metrics = run.data.metrics
    assert (metrics["rows_scored"], metrics["live_rows"], metrics["log_lines"]) == (160, 160, 320)
    assert run.data.tags["model_version"] == "1"
    predicted = np.array([answer["survived"] for answer in answers])
    accuracy = float(np.mean(predicted == passengers[LABEL].to_numpy()))
    assert metrics["live_accuracy"] == pytest.approx(accuracy, abs=1e-12)
