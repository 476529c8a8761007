"""Answer every row, a bad one with the rule it broke instead of a refusal (the reason mode).

The model's ``invalid_rows=reason`` mode: batch scoring uses it in both engines (the pandas
job, and Spark through ``mlflow.pyfunc.spark_udf``), so a row gets the same answer, or the
same reason, whichever engine reads it. Each row is validated once: the good rows are
answered from the canonical values the check produced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from titanic_model.model.schema import PASSENGER_ID, check_rows
from titanic_model.names import PROBABILITY_COLUMN, REASON_COLUMN, SURVIVED_COLUMN

#: The columns of :func:`score_with_reasons`' answer, one per input row.
REASONED_COLUMNS = (PASSENGER_ID, SURVIVED_COLUMN, PROBABILITY_COLUMN, REASON_COLUMN)


def _missing_integers(length: int) -> pd.api.extensions.ExtensionArray:
    return pd.arrays.IntegerArray(np.zeros(length, "int64"), np.ones(length, dtype=bool))


def score_with_reasons(
    rows: pd.DataFrame, answer_valid: Callable[[Mapping[str, np.ndarray]], pd.DataFrame]
) -> pd.DataFrame:
    """Score rows into one answer per row, in input order, with a reason instead of a refusal.

    Args:
        rows: Raw passenger rows, in any index.
        answer_valid: The model's answer (``survived``, ``probability``) for the canonical
            columns of valid rows.

    Returns:
        :data:`REASONED_COLUMNS`: ``PassengerId`` (as given), ``survived`` and ``probability``
        for a scored row and an empty ``reason``; for a rejected row, missing answers and the
        rule it broke. ``PassengerId`` and ``survived`` are nullable integers. (An empty
        string, not a missing one: MLflow's ``spark_udf`` turns a missing string into "None".)

    Raises:
        SchemaError: When a required column is absent altogether.
    """
    columns, reasons = check_rows(rows)
    good = np.flatnonzero(reasons == None)  # noqa: E711 (elementwise, on an object array)
    ids, survived = _missing_integers(len(rows)), _missing_integers(len(rows))
    probability = np.full(len(rows), np.nan)
    if PASSENGER_ID in rows.columns:
        given = columns[PASSENGER_ID][good]
        known = ~np.isnan(given)
        ids[good[known]] = given[known].astype("int64")
    if len(good):
        scored = answer_valid({name: values[good] for name, values in columns.items()})
        survived[good] = scored[SURVIVED_COLUMN].to_numpy()
        probability[good] = scored[PROBABILITY_COLUMN].to_numpy()
    return pd.DataFrame(
        {
            PASSENGER_ID: ids,
            SURVIVED_COLUMN: survived,
            PROBABILITY_COLUMN: probability,
            REASON_COLUMN: np.where(reasons == None, "", reasons).astype(object),  # noqa: E711
        }
    )
