"""Logged predictions as Label Studio tasks: which ones, and how a reviewer sees them (pure).

A task is one scored record of the prediction log. Its data holds the record's key
(``request_id``, ``record``), its ``PassengerId`` when one was logged, the model version that
answered (``titanic/<N>``), every logged field as it was logged, and ``passenger``: the same
fields as a person reads them, which the labelling interface shows. Nothing else reaches the
reviewers: a log that kept titles, not names, shows titles. The model's answer comes with the
task as a pre-annotation (``model_version``, ``score`` the probability of survival), so that a
reviewer confirms or corrects it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from titanic_model.model.schema import PASSENGER_FIELDS, PASSENGER_ID, FieldKind

#: The choice control reviewers answer with, the text it is about, and its two answers.
CONTROL = "survived"
SUBJECT = "passenger"
SURVIVED = "Survived"
DIED = "Died"
#: A reviewer's answer as the ``Survived`` column spells it.
OUTCOMES = {SURVIVED: 1, DIED: 0}
#: What identifies a logged record, in the log and in a task's data.
KEY = ("request_id", "record")
#: The labelling interface of the review project.
LABEL_CONFIG = f"""<View>
  <Header value="Did this passenger survive the sinking of the Titanic?"/>
  <Text name="{SUBJECT}" value="${SUBJECT}"/>
  <Choices name="{CONTROL}" toName="{SUBJECT}" choice="single-radio" showInline="true"
           required="true">
    <Choice value="{SURVIVED}"/>
    <Choice value="{DIED}"/>
  </Choices>
</View>"""
# The log's columns that are about the request and the answer, not the passenger.
_ENVELOPE = (
    "time",
    "request_id",
    "model_name",
    "model_version",
    "run_id",
    "status",
    "record",
    "survived",
    "probability",
)
_KINDS = {field.name: field.kind for field in PASSENGER_FIELDS}
_CLASSES = {1: "1st", 2: "2nd", 3: "3rd"}
_PORTS = {"C": "Cherbourg", "Q": "Queenstown", "S": "Southampton"}
_UNKNOWN = "unknown"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _plain(name: str, value: Any) -> Any:
    """A logged value as JSON carries it: integers as integers, missing as null."""
    if _missing(value):
        return None
    kind = _KINDS.get(name)
    if kind is FieldKind.INTEGER:
        return int(value)
    if kind is FieldKind.NUMBER:
        return float(value)
    return value.item() if isinstance(value, np.generic) else value


def model_version_label(model_name: str, version: Any, run_id: str) -> str:
    """Which model answered, as reviewers and Label Studio see it: ``titanic/3``.

    A model served from outside the registry has no version: ``run/<run id>``.
    """
    if _missing(version) or version == "":
        return f"run/{run_id}"
    return f"{model_name}/{version}"


def _family(siblings: Any, parents: Any) -> str:
    if _missing(siblings) or _missing(parents):
        return _UNKNOWN
    parts = []
    if siblings:
        parts.append(
            f"{int(siblings)} sibling{'s' if siblings != 1 else ''} or spouse"
            f"{'s' if siblings != 1 else ''}"
        )
    if parents:
        parts.append(
            f"{int(parents)} parent{'s' if parents != 1 else ''} or "
            f"{'children' if parents != 1 else 'child'}"
        )
    return ", ".join(parts) or "none"


def _age(age: Any) -> str:
    if _missing(age):
        return _UNKNOWN
    if age < 1:
        months = round(float(age) * 12)
        return f"{months} month{'s' if months != 1 else ''}"
    return f"{float(age):g}"


def describe_passenger(fields: Mapping[str, Any]) -> str:
    """The passenger as a person reads it, one line per field.

    Args:
        fields: The logged fields (``Pclass``, ``Sex``, ``Age``…; ``Name`` only if logged).

    Returns:
        Lines such as ``Class: 3rd``, ``Family aboard: 1 sibling or spouse``,
        ``Port: Southampton``; a missing value reads ``unknown``.
    """

    def text(name: str) -> str:
        value = fields.get(name)
        return _UNKNOWN if _missing(value) or value == "" else str(value)

    fare: Any = fields.get("Fare")
    pclass: Any = fields.get("Pclass")
    lines = [f"Name: {text('Name')}"] if "Name" in fields else []
    lines += [
        f"Class: {_UNKNOWN if _missing(pclass) else _CLASSES.get(int(pclass), str(pclass))}",
        f"Sex: {text('Sex')}",
        f"Age: {_age(fields.get('Age'))}",
        f"Family aboard: {_family(fields.get('SibSp'), fields.get('Parch'))}",
        f"Fare: {_UNKNOWN if _missing(fare) else f'£{float(fare):.2f}'}",
        f"Port: {_PORTS.get(str(fields.get('Embarked')), text('Embarked'))}",
        f"Title: {text('Title')}",
        f"Cabin: {text('Cabin')}",
        f"Ticket: {text('Ticket')}",
    ]
    return "\n".join(lines)


def distinct_records(scored: pd.DataFrame) -> pd.DataFrame:
    """The log's scored records, each key once (a line written twice is one record)."""
    return scored.drop_duplicates(list(KEY)).reset_index(drop=True)


def sample_records(scored: pd.DataFrame, size: int, strategy: str, seed: int) -> pd.DataFrame:
    """The records reviewers should see first.

    Args:
        scored: Distinct scored records (:func:`distinct_records`).
        size: How many at most.
        strategy: ``uncertainty``: the probabilities nearest 0.5 first (ties in key order);
            ``random``: a uniform sample drawn with ``seed``.
        seed: Seed of the random sample.

    Returns:
        The sample, in the order chosen: the same records and parameters give the same sample.
    """
    if strategy == "uncertainty":
        distance = (scored["probability"].astype(float) - 0.5).abs().to_numpy()
        order = np.lexsort(
            (scored["record"].to_numpy(), scored["request_id"].astype(str).to_numpy(), distance)
        )
        return scored.iloc[order[:size]]
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(scored), size=min(size, len(scored)), replace=False)
    return scored.iloc[picked]


def record_key(request_id: Any, record: Any) -> tuple[str, int]:
    """A record's key, typed alike whether it comes from the log or from a task."""
    return str(request_id), int(record)


def build_task(row: Mapping[Any, Any]) -> dict:
    """One Label Studio task, with the model's answer as its pre-annotation.

    Args:
        row: A scored record of the log (a row of its ``scored`` table).

    Returns:
        ``{"data": {...}, "predictions": [{...}]}`` as Label Studio imports it.
    """
    fields = {
        name: _plain(name, value)
        for name, value in row.items()
        if name not in _ENVELOPE and not (name == PASSENGER_ID and _missing(value))
    }
    if "Name" in fields and fields["Name"] is None:
        del fields["Name"]  # a column of the log's other lines, not logged for this one
    version = model_version_label(str(row["model_name"]), row["model_version"], str(row["run_id"]))
    request_id, record = record_key(row["request_id"], row["record"])
    answer = SURVIVED if int(row["survived"]) == 1 else DIED
    return {
        "data": {
            "request_id": request_id,
            "record": record,
            "model_version": version,
            **fields,
            SUBJECT: describe_passenger(fields),
        },
        "predictions": [
            {
                "model_version": version,
                "score": float(row["probability"]),
                "result": [
                    {
                        "from_name": CONTROL,
                        "to_name": SUBJECT,
                        "type": "choices",
                        "value": {"choices": [answer]},
                    }
                ],
            }
        ],
    }
