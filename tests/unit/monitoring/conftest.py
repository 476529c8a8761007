"""A window of the prediction log, as the serving layer writes it, assessed without MLflow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from tests.passengers import make_passengers
from titanic_model.model.schema import LABEL, PASSENGER_ID, check_passengers, validate_passengers
from titanic_model.monitoring.assessment import (
    WindowAssessment,
    assess,
    build_reference,
    records_of,
    versions,
)
from titanic_model.monitoring.drift import Thresholds
from titanic_model.monitoring.quality import check_labels, join_labels, live_quality
from titanic_model.prediction_log import read_prediction_log
from titanic_model.serving.log_writer import ModelIdentity, rejected_line, scored_lines

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
#: The version answering first, on 40 passengers like those it learnt from, then the one
#: answering now, on 120 who all travel first class (a drift of ``Pclass``), and two refusals.
OLD, NEW = ModelIdentity("titanic", "1", "run-1"), ModelIdentity("titanic", "2", "run-2")
POPULATION = make_passengers(360)
ASKED_BEFORE = POPULATION.sample(40, random_state=3)
ASKED_NOW = POPULATION.sample(120, random_state=2).assign(Pclass=1)


def _lines(identity: ModelIdentity, passengers: pd.DataFrame, at: datetime) -> list[str]:
    """What the serving layer logs for ``passengers``, in requests of 10."""
    lines = []
    for start in range(0, len(passengers), 10):
        records = passengers.iloc[start : start + 10].drop(columns=[LABEL])
        probabilities = np.where(records["Sex"] == "female", 0.8, 0.2)
        answers = pd.DataFrame({"survived": (probabilities >= 0.5).astype(int),
                                "probability": probabilities})  # fmt: skip
        request_id = f"{identity.version}-{start}"
        lines += scored_lines(identity, request_id, at, check_passengers(records), answers,
                              full_names=False)  # fmt: skip
    return lines


@pytest.fixture(scope="session")
def log_lines() -> list[str]:
    return [
        *_lines(OLD, ASKED_BEFORE, NOW - timedelta(hours=2)),
        *_lines(NEW, ASKED_NOW, NOW - timedelta(hours=1)),
        *[rejected_line(NEW, f"bad-{i}", NOW, 400, "row 0: ...", {"Age": 1, "Sex": i})
          for i in (1, 2)],
    ]  # fmt: skip


@pytest.fixture(scope="session")
def window(log_lines) -> WindowAssessment:
    """Both versions assessed against one training split; the current one's live quality."""
    training = validate_passengers(POPULATION, with_label=True)
    rng = np.random.default_rng(5)
    holdout_labels = rng.integers(0, 2, 120)
    holdout_probabilities = np.clip(holdout_labels * 0.5 + rng.random(120) * 0.5, 0, 1)
    table = read_prediction_log(["\n".join(log_lines)])
    assessments = []
    for name, version, run_id in versions(table.scored):
        seen = build_reference(
            name, version, run_id, training, holdout_labels, holdout_probabilities
        )
        assessments.append(assess(seen, records_of(table.scored, name, run_id), Thresholds()))
    labels = check_labels(POPULATION[[PASSENGER_ID, LABEL]])
    labelled = join_labels(assessments[-1].scored, labels)
    quality = live_quality(labelled.labels, labelled.probabilities)
    return WindowAssessment(table, assessments, quality, labelled)
