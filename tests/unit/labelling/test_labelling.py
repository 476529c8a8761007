"""Human review's pure core on small frames: sampling, tasks, majority and agreement, and the
monitor's join of keyed labels."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from titanic_model.config import CollectLabelsConfig, RequestLabelsConfig
from titanic_model.errors import ConfigError
from titanic_model.labelling.tasks import (
    LABEL_CONFIG,
    build_task,
    describe_passenger,
    distinct_records,
    model_version_label,
    sample_records,
)
from titanic_model.labelling.votes import LABEL_COLUMNS, collect, model_answers
from titanic_model.model.schema import SchemaError, check_passengers
from titanic_model.monitoring.quality import check_labels, join_labels
from titanic_model.prediction_log import read_prediction_log
from titanic_model.serving.log_writer import ModelIdentity, scored_lines

ARRIVED = datetime(2026, 11, 25, 8, tzinfo=UTC)
RECORDS = pd.DataFrame(
    {
        "PassengerId": [1, 2, 3, 4], "Pclass": [3, 1, 2, 3],
        "Name": ["Braund, Mr. Owen", "Cumings, Mrs. John", "Heikkinen, Miss. Laina",
                 "Palsson, Master. Gosta"],
        "Sex": ["male", "female", "female", "male"], "Age": [22, 38, np.nan, 0.75],
        "SibSp": [1, 1, 0, 3], "Parch": [0, 0, 0, 1],
        "Ticket": ["A/5 21171", "PC 17599", "STON/O2. 3101282", "349909"],
        "Fare": [7.25, 71.2833, np.nan, 21.075], "Cabin": [None, "C85", None, None],
        "Embarked": ["S", "C", None, "S"],
    }
)  # fmt: skip
PREDICTIONS = pd.DataFrame({"survived": [0, 1, 1, 0], "probability": [0.1, 0.9, 0.55, 0.35]})


def _scored(request_id: str = "req-a", *, full_names: bool = False, records=RECORDS):
    identity = ModelIdentity("titanic", "3", "run-3")
    columns = check_passengers(records)
    lines = scored_lines(identity, request_id, ARRIVED, columns, PREDICTIONS, full_names=full_names)
    return read_prediction_log(["\n".join(lines)]).scored


def test_a_passenger_reads_as_a_person_reads_it():
    text = describe_passenger(_scored().iloc[3].to_dict())
    assert text.splitlines() == [
        "Class: 3rd", "Sex: male", "Age: 9 months",
        "Family aboard: 3 siblings or spouses, 1 parent or child", "Fare: £21.07",
        "Port: Southampton", "Title: Master", "Cabin: unknown", "Ticket: 349909",
    ]  # fmt: skip
    missing = describe_passenger(_scored().iloc[2].to_dict())
    for line in ("Age: unknown", "Fare: unknown", "Port: unknown", "Family aboard: none"):
        assert line in missing.splitlines()


def test_a_task_holds_the_key_the_fields_and_the_models_answer_as_a_preannotation():
    task = build_task(_scored().iloc[1].to_dict())

    data = task["data"]
    assert (data["request_id"], data["record"], data["PassengerId"]) == ("req-a", 1, 2)
    assert data["model_version"] == "titanic/3"
    assert (data["Pclass"], data["Title"], data["Fare"]) == (1, "Mrs", 71.2833)
    assert data["Cabin"] == "C85"
    assert "Name" not in data  # titles, not names
    assert "Cumings" not in data["passenger"]
    assert data["passenger"].startswith("Class: 1st\nSex: female\nAge: 38\n")
    (prediction,) = task["predictions"]
    assert prediction == {
        "model_version": "titanic/3", "score": 0.9,
        "result": [{"from_name": "survived", "to_name": "passenger", "type": "choices",
                    "value": {"choices": ["Survived"]}}],
    }  # fmt: skip
    assert '<Choices name="survived" toName="passenger"' in LABEL_CONFIG


def test_names_reach_reviewers_only_when_the_log_kept_them_and_ids_only_when_logged():
    named = build_task(_scored(full_names=True).iloc[0].to_dict())["data"]
    assert named["Name"] == "Braund, Mr. Owen"
    assert named["passenger"].startswith("Name: Braund, Mr. Owen\nClass: 3rd")
    anonymous = _scored(records=RECORDS.drop(columns=["PassengerId"]))
    data = build_task(anonymous.iloc[0].to_dict())["data"]
    assert "PassengerId" not in data
    assert (data["request_id"], data["record"]) == ("req-a", 0)


def test_a_model_outside_the_registry_is_named_by_its_run():
    assert model_version_label("titanic", "7", "r") == "titanic/7"
    assert model_version_label("", None, "abc") == "run/abc"


def test_uncertainty_sampling_takes_the_probabilities_nearest_one_half_first():
    scored = distinct_records(pd.concat([_scored("req-a"), _scored("req-a"), _scored("req-b")]))
    assert len(scored) == 8  # a line written twice is one record

    sample = sample_records(scored, 3, "uncertainty", seed=0)

    assert sample["probability"].tolist() == [0.55, 0.55, 0.35]
    assert list(zip(sample["request_id"], sample["record"], strict=True)) == [
        ("req-a", 2), ("req-b", 2), ("req-a", 3),
    ]  # fmt: skip


def test_random_sampling_is_seeded_and_never_repeats_a_record():
    scored = distinct_records(pd.concat([_scored(f"req-{i}") for i in range(5)]))
    first = sample_records(scored, 6, "random", seed=7)
    assert first.equals(sample_records(scored, 6, "random", seed=7))
    assert not first.equals(sample_records(scored, 6, "random", seed=8))
    assert not first.duplicated(["request_id", "record"]).any()
    assert len(sample_records(scored, 100, "random", seed=7)) == 20


def _annotation(reviewer: int, choice: str | None, *, skipped: bool = False, at: str = "1"):
    result = [] if choice is None else [
        {"from_name": "survived", "to_name": "passenger", "type": "choices",
         "value": {"choices": [choice]}}
    ]  # fmt: skip
    return {"id": int(at) * 10 + reviewer, "completed_by": reviewer, "was_cancelled": skipped,
            "result": result, "updated_at": f"2026-11-25T08:0{at}:00Z"}  # fmt: skip


def _task(task_id: int, *annotations, passenger_id: int | None = None) -> dict:
    data = {"request_id": f"req-{task_id}", "record": 0, "model_version": "titanic/3"}
    if passenger_id is not None:
        data["PassengerId"] = passenger_id
    return {"id": task_id, "data": data, "annotations": list(annotations)}


def test_the_majority_of_reviewers_is_the_label_and_what_is_left_out_is_counted():
    tasks = [
        _task(1, _annotation(1, "Survived"), _annotation(2, "Survived"), passenger_id=11),
        _task(2, _annotation(1, "Died"), _annotation(2, "Survived"), _annotation(3, "Died")),
        _task(3, _annotation(1, "Died"), _annotation(2, "Survived")),  # a tie
        _task(4, _annotation(1, None, skipped=True), _annotation(2, None, skipped=True)),
        _task(5),  # nobody looked yet
        # Reviewer 1 changed their mind: their latest answer counts, once.
        _task(6, _annotation(1, "Survived", at="1"), _annotation(1, "Died", at="2")),
    ]
    models = {1: "Survived", 2: "Survived", 3: "Died", 4: "Died", 5: "Died", 6: "Died"}

    collection = collect(tasks, models, min_annotations=1)

    labels = collection.labels
    assert list(labels.columns) == list(LABEL_COLUMNS)
    assert labels["request_id"].tolist() == ["req-1", "req-2", "req-6"]
    assert labels["Survived"].tolist() == [1, 0, 0]
    assert labels["PassengerId"].isna().tolist() == [False, True, True]
    assert labels["PassengerId"].iloc[0] == 11
    assert labels["annotations"].tolist() == [2, 3, 1]
    assert labels["agreement"].tolist() == pytest.approx([1, 2 / 3, 1])
    assert (collection.tasks, collection.annotated) == (6, 5)
    assert (collection.skipped, collection.tied, collection.too_few) == (1, 1, 0)
    # Pairs of answers to one task: task 1 agrees (1/1), task 2 one of three, task 3 none.
    assert collection.reviewer_agreement == pytest.approx(2 / 5)
    # Answers that are the model's: 2 of task 1, 1 of 3 in task 2, 1 of 2 in task 3, 1 in 6.
    assert collection.model_agreement == pytest.approx(5 / 8)


def test_min_annotations_leaves_out_tasks_with_fewer_answers():
    tasks = [_task(1, _annotation(1, "Died")),
             _task(2, _annotation(1, "Died"), _annotation(2, "Died"))]  # fmt: skip
    collection = collect(tasks, {}, min_annotations=2)
    assert collection.labels["request_id"].tolist() == ["req-2"]
    assert collection.too_few == 1
    assert math.isnan(collection.model_agreement)  # no model answer known: no figure
    nobody = collect([_task(1)], {}, min_annotations=1)
    assert nobody.labels.empty
    assert math.isnan(nobody.reviewer_agreement)


def test_the_models_answer_is_the_prediction_of_the_version_that_answered():
    predictions = [
        {"task": 1, "model_version": "titanic/3", "result": _annotation(0, "Died")["result"]},
        {"task": 1, "model_version": "other", "result": _annotation(0, "Survived")["result"]},
        {"task": 2, "model_version": "titanic/3", "result": []},
    ]
    versions = {1: "titanic/3", 2: "titanic/3"}
    assert model_answers(predictions, versions) == {1: "Died"}


def test_keyed_labels_join_the_record_reviewed_with_or_without_a_passenger_id():
    scored = _scored("req-a", records=RECORDS.drop(columns=["PassengerId"]))
    scored = pd.concat([scored, _scored("007")], ignore_index=True)
    labels = pd.DataFrame(
        {
            "PassengerId": [None, None, 2, 3, 999],
            "Survived": [1, 0, 1, 0, 1],
            "request_id": ["req-a", "req-a", "007", None, "req-z"],
            "record": [0, 3, 1, None, 0],
            "annotations": [2, 1, 1, None, 1],
            "agreement": [1.0, 1.0, 1.0, None, 1.0],
        }
    )
    checked = check_labels(labels)

    joined = join_labels(scored, checked)

    got = joined.joined.sort_values(["request_id", "record"])
    assert list(zip(got["request_id"], got["record"], got["Survived"], strict=True)) == [
        ("007", 1, 1), ("007", 2, 0), ("req-a", 0, 1), ("req-a", 3, 0),
    ]  # fmt: skip
    # req-z/0 was never scored; 4 of the 8 records have no label.
    assert (joined.unknown_ids, joined.unlabelled) == (1, 4)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"PassengerId": [None], "Survived": [1], "request_id": [None], "record": [None]},
         "labels: row 0: no PassengerId, nor request_id and record"),
        ({"PassengerId": [None], "Survived": [1], "request_id": ["a"], "record": [-1]},
         "labels: row 0: record -1 is not an integer >= 0"),
        ({"PassengerId": ["x"], "Survived": [1], "request_id": ["a"], "record": [0]},
         "labels: row 0: PassengerId 'x' is not an integer"),
        ({"PassengerId": [None, None], "Survived": [1, 3], "request_id": ["a", "a"],
          "record": [0, 1]}, "labels: row 1: Survived 3 is not 0 or 1"),
        ({"PassengerId": [None, None], "Survived": [1, 0], "request_id": ["a", "a"],
          "record": [0, 0]}, "labels: request_id record a 0 has two different outcomes"),
    ],
)  # fmt: skip
def test_bad_keyed_labels_are_one_line_naming_the_row_and_column(labels, message):
    with pytest.raises(SchemaError) as raised:
        check_labels(pd.DataFrame(labels))
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("config", "params", "message"),
    [
        (RequestLabelsConfig, {"log_uri": "log", "strategy": "newest"},
         "invalid parameter strategy='newest': must be uncertainty or random"),
        (RequestLabelsConfig, {"log_uri": "log", "sample_size": "0"},
         "invalid parameter sample_size='0': must be an integer >= 1"),
        (RequestLabelsConfig, {"log_uri": "log", "since": "yesterday"},
         "invalid parameter since='yesterday': must be an ISO 8601 instant "
         "(2026-11-25T06:00:00Z) or duration (P1D, PT6H)"),
        (CollectLabelsConfig, {"output_uri": "https://example.org/labels.csv"},
         "invalid parameter output_uri='https://example.org/labels.csv': must be a local path "
         "or s3:// URI"),
        (CollectLabelsConfig, {"output_uri": "labels.csv", "min_annotations": "0"},
         "invalid parameter min_annotations='0': must be an integer >= 1"),
    ],
)  # fmt: skip
def test_bad_review_parameters_are_one_line_naming_the_rule(config, params, message):
    with pytest.raises(ConfigError) as raised:
        config.from_params(params)
    assert str(raised.value) == message


def test_label_studio_is_found_from_the_environment_and_must_be_there(monkeypatch):
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://127.0.0.1:8090/")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "key")
    settings = CollectLabelsConfig.from_params({"output_uri": "s3://bucket/labels.csv"})
    assert settings.label_studio.require() == ("http://127.0.0.1:8090", "key")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", " ")  # blank is unset
    missing = CollectLabelsConfig.from_params({"output_uri": "l.csv"})
    with pytest.raises(ConfigError, match=r"^LABEL_STUDIO_API_KEY is not set"):
        missing.label_studio.require()
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "k")
    monkeypatch.setenv("LABEL_STUDIO_URL", "ftp://host")
    wrong = CollectLabelsConfig.from_params({"output_uri": "l.csv"})
    with pytest.raises(ConfigError, match=r"must be an http:// or https:// URL$"):
        wrong.label_studio.require()
