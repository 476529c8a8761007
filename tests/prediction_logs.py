"""Prediction-log text as the serving layer writes it, for the tests that read logs back."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from titanic_model.model.schema import check_passengers
from titanic_model.serving.log_writer import ModelIdentity, scored_lines

IDENTITY = ModelIdentity("titanic", "2", "run-2")
RECORDS = pd.DataFrame(
    {
        "PassengerId": [1, 2, 3], "Pclass": [3, 1, 2],
        "Name": ["Braund, Mr. Owen", "Cumings, Mrs. John", "Heikkinen, Miss. Laina"],
        "Sex": ["male", "female", "female"], "Age": [22, 38, np.nan], "SibSp": [1, 1, 0],
        "Parch": [0, 0, 0], "Ticket": ["A/5 21171", "PC 17599", "STON/O2. 3101282"],
    }
)  # fmt: skip
PREDICTIONS = pd.DataFrame({"survived": [0, 1, 1], "probability": [0.1, 0.9, 0.6]})


def at(hour: int) -> datetime:
    """25 November 2026 at ``hour`` o'clock, UTC."""
    return datetime(2026, 11, 25, hour, tzinfo=UTC)


def log_text(hour: int, request_id: str) -> str:
    """The lines of one request of :data:`RECORDS` answered :data:`PREDICTIONS` at ``hour``."""
    columns = check_passengers(RECORDS)
    lines = scored_lines(IDENTITY, request_id, at(hour), columns, PREDICTIONS, full_names=False)
    return "\n".join(lines) + "\n"
