"""Data drift between the passengers a model learnt from and those it is asked about (pure).

Each monitored field gets the test suited to its type: Kolmogorov-Smirnov for numbers, a
chi-square test of homogeneity for categories (both from scipy), and a population stability
index (PSI) on bins fixed by the reference. Missing values are compared on their own, as the
change in their share, and left out of the tests. A field is flagged when the test rejects
"same distribution" **and** the PSI says the shift is large, or when its share of missing
values moves by more than a threshold: with thousands of rows, a test alone flags
differences too small to matter, and a PSI alone flags noise on a few rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np
import pandas as pd
from scipy import stats

# PSI's bins never hold exactly nothing: log(0) is undefined.
_PSI_FLOOR = 1e-4
# Numeric fields are cut at the reference's deciles.
_NUMERIC_BINS = 10


class DriftKind(Enum):
    """How a field's drift is measured."""

    NUMBER = "number"
    CATEGORY = "category"
    MISSING_ONLY = "missing only"


#: The monitored fields: the raw input fields a model reads (``Title`` derived from ``Name``).
#: Identifiers and free text (``PassengerId``, ``Name``, ``Ticket``) have no distribution to
#: compare; ``Cabin`` is watched for how often it is missing.
MONITORED_FIELDS: dict[str, DriftKind] = {
    "Pclass": DriftKind.CATEGORY,
    "Sex": DriftKind.CATEGORY,
    "Age": DriftKind.NUMBER,
    "SibSp": DriftKind.NUMBER,
    "Parch": DriftKind.NUMBER,
    "Fare": DriftKind.NUMBER,
    "Cabin": DriftKind.MISSING_ONLY,
    "Embarked": DriftKind.CATEGORY,
    "Title": DriftKind.CATEGORY,
}


@dataclass(frozen=True)
class Thresholds:
    """When a field counts as drifted.

    Attributes:
        p_value: A test's p-value below this rejects "same distribution".
        psi: A PSI above this is a large shift (0.1 is the usual "some", 0.25 "major").
        missing_share: A change in the share of missing values above this.
    """

    p_value: float = 0.01
    psi: float = 0.2
    missing_share: float = 0.1


@dataclass(frozen=True)
class FieldDrift:
    """One field, reference against current.

    Attributes:
        field: The field.
        kind: How it was measured.
        p_value: The test's p-value (NaN for missing-only fields or too few values).
        psi: The population stability index (NaN likewise).
        missing_share_reference: Share of missing values in the reference.
        missing_share_current: Share of missing values now.
    """

    field: str
    kind: DriftKind
    p_value: float
    psi: float
    missing_share_reference: float
    missing_share_current: float

    @property
    def missing_share_change(self) -> float:
        """How much the share of missing values moved (positive: more missing now)."""
        return self.missing_share_current - self.missing_share_reference

    def flagged(self, thresholds: Thresholds) -> bool:
        """Whether this field drifted, by ``thresholds``."""
        shifted = self.p_value < thresholds.p_value and self.psi > thresholds.psi
        return shifted or abs(self.missing_share_change) > thresholds.missing_share


def population_stability_index(reference: np.ndarray, current: np.ndarray) -> float:
    """PSI of two distributions over the same bins: sum of (cur - ref) * ln(cur / ref).

    Args:
        reference: Share (or count) of the reference in each bin.
        current: Share (or count) of the current data in the same bins.

    Returns:
        0 for identical distributions; above 0.2 is commonly read as a large shift.
    """
    ref = np.maximum(reference / reference.sum(), _PSI_FLOOR)
    cur = np.maximum(current / current.sum(), _PSI_FLOOR)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def _missing(values: pd.Series) -> np.ndarray:
    return values.isna().to_numpy()


def numeric_drift(field: str, reference: pd.Series, current: pd.Series) -> FieldDrift:
    """KS test and PSI (reference deciles) of a numeric field, missing values aside."""
    ref_missing, cur_missing = _missing(reference), _missing(current)
    ref = reference[~ref_missing].to_numpy(dtype=float)
    cur = current[~cur_missing].to_numpy(dtype=float)
    p_value = psi = math.nan
    if len(ref) and len(cur):
        p_value = float(stats.ks_2samp(ref, cur).pvalue)
        # Deciles of a discrete field repeat: the distinct edges make its bins.
        edges = np.unique(np.quantile(ref, np.linspace(0, 1, _NUMERIC_BINS + 1)))
        inner = edges[1:-1]  # values beyond the reference's range fall in the end bins
        psi = population_stability_index(
            np.bincount(np.searchsorted(inner, ref, side="right"), minlength=len(inner) + 1),
            np.bincount(np.searchsorted(inner, cur, side="right"), minlength=len(inner) + 1),
        )
    return FieldDrift(
        field, DriftKind.NUMBER, p_value, psi, float(ref_missing.mean()), float(cur_missing.mean())
    )


def categorical_drift(field: str, reference: pd.Series, current: pd.Series) -> FieldDrift:
    """Chi-square test of homogeneity and PSI of a categorical field, missing values aside."""
    ref_missing, cur_missing = _missing(reference), _missing(current)
    ref = reference[~ref_missing].astype(str)
    cur = current[~cur_missing].astype(str)
    p_value = psi = math.nan
    if len(ref) and len(cur):
        categories = sorted(set(ref) | set(cur))
        ref_counts = ref.value_counts().reindex(categories, fill_value=0).to_numpy()
        cur_counts = cur.value_counts().reindex(categories, fill_value=0).to_numpy()
        if len(categories) > 1:
            table = np.vstack([ref_counts, cur_counts])
            p_value = float(stats.chi2_contingency(table).pvalue)
        else:
            p_value = 1.0  # one category on both sides: nothing moved
        psi = population_stability_index(ref_counts, cur_counts)
    return FieldDrift(
        field,
        DriftKind.CATEGORY,
        p_value,
        psi,
        float(ref_missing.mean()),
        float(cur_missing.mean()),
    )


def missing_drift(field: str, reference: pd.Series, current: pd.Series) -> FieldDrift:
    """Only the shares of missing values of a field (free text, such as ``Cabin``)."""
    return FieldDrift(
        field,
        DriftKind.MISSING_ONLY,
        math.nan,
        math.nan,
        float(_missing(reference).mean()),
        float(_missing(current).mean()),
    )


_MEASURES = {
    DriftKind.NUMBER: numeric_drift,
    DriftKind.CATEGORY: categorical_drift,
    DriftKind.MISSING_ONLY: missing_drift,
}


def field_drifts(reference: pd.DataFrame, current: pd.DataFrame) -> list[FieldDrift]:
    """Every monitored field's drift.

    Args:
        reference: The passengers the model learnt from, validated, with ``Title``.
        current: The passengers it was asked about, likewise.

    Returns:
        One :class:`FieldDrift` per field of :data:`MONITORED_FIELDS`, in its order.
    """
    return [
        _MEASURES[kind](field, reference[field], current[field])
        for field, kind in MONITORED_FIELDS.items()
    ]


def flagged_fields(drifts: list[FieldDrift], thresholds: Thresholds) -> list[str]:
    """The fields that drifted, in :data:`MONITORED_FIELDS` order."""
    return [drift.field for drift in drifts if drift.flagged(thresholds)]
