"""Feature engineering as scikit-learn transformers: DataFrame in, DataFrame out.

Every transformer keeps the columns it receives and adds its own, so they chain in any
order inside one :class:`~sklearn.pipeline.Pipeline`. Whatever is learnt from data is learnt
in ``fit`` and kept in attributes ending with ``_``; serving therefore runs exactly the code
and the state that training used.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

# Kaggle names read "Surname, Title. Given names": the title is the first word after the
# comma ("the Countess" drops its article); the dot after it may be missing.
_TITLE_PATTERN = re.compile(r",\s*(?:the\s+)?([A-Za-z]+)", re.IGNORECASE)
# French and honorific spellings of the common titles.
_TITLE_SYNONYMS = {"Mlle": "Miss", "Ms": "Miss", "Mme": "Mrs", "Lady": "Mrs", "Sir": "Mr"}
# A ticket is an optional prefix ("A/5", "PC", "LINE") and an optional trailing number.
_TICKET_PATTERN = re.compile(r"^(?P<prefix>.*?)\s*(?P<number>\d*)$")
RARE_TITLE = "Rare"
UNKNOWN_DECK = "U"


class _DataFrameTransformer(TransformerMixin, BaseEstimator):
    """Base for transformers that add columns to a DataFrame.

    Subclasses set ``added_columns`` and implement ``_add_features``.
    """

    added_columns: tuple[str, ...] = ()

    def fit(self, frame: pd.DataFrame, y: object = None) -> _DataFrameTransformer:
        """Learn nothing; stateless transformers are fitted as soon as they see columns."""
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Return a copy of ``frame`` with this transformer's columns added."""
        check_is_fitted(self, "feature_names_in_")
        return self._add_features(frame.copy())

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """Names of the output columns: the input's plus the added ones."""
        check_is_fitted(self, "feature_names_in_")
        return np.asarray([*self.feature_names_in_, *self.added_columns], dtype=object)

    def _add_features(self, frame: pd.DataFrame) -> pd.DataFrame:
        raise NotImplementedError


def extract_title(names: pd.Series) -> pd.Series:
    """Extract the normalised title ("Mr", "Miss", …) from Kaggle-style names.

    Args:
        names: Names like ``"Braund, Mr. Owen Harris"``.

    Returns:
        The title, with French spellings mapped to English ones; NaN where none is found.
    """
    titles = names.astype(object).str.extract(_TITLE_PATTERN, expand=False).str.capitalize()
    return titles.replace(_TITLE_SYNONYMS)


class TitleExtractor(_DataFrameTransformer):
    """Add ``Title`` from ``Name``, grouping titles rarer than ``min_count`` as "Rare".

    Args:
        min_count: Titles seen fewer times than this in ``fit`` become "Rare", and so do
            titles never seen in ``fit`` and names without a title.
    """

    added_columns = ("Title",)

    def __init__(self, min_count: int = 10):
        self.min_count = min_count

    def fit(self, frame: pd.DataFrame, y: object = None) -> TitleExtractor:
        """Learn which titles are frequent enough to keep."""
        super().fit(frame, y)
        counts = extract_title(frame["Name"]).value_counts()
        self.frequent_titles_ = sorted(counts[counts >= self.min_count].index)
        return self

    def _add_features(self, frame: pd.DataFrame) -> pd.DataFrame:
        titles = extract_title(frame["Name"])
        frame["Title"] = titles.where(titles.isin(self.frequent_titles_), RARE_TITLE)
        return frame


class FamilyFeatures(_DataFrameTransformer):
    """Add ``FamilySize`` (the passenger plus relatives aboard) and ``IsAlone``."""

    added_columns = ("FamilySize", "IsAlone")

    def _add_features(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame["FamilySize"] = frame["SibSp"] + frame["Parch"] + 1
        frame["IsAlone"] = (frame["FamilySize"] == 1).astype("float64")
        return frame


class CabinFeatures(_DataFrameTransformer):
    """Add ``HasCabin`` and ``Deck`` (the cabin's letter, "U" when unknown)."""

    added_columns = ("HasCabin", "Deck")

    def _add_features(self, frame: pd.DataFrame) -> pd.DataFrame:
        cabin = frame["Cabin"].astype(object).str.strip().replace("", np.nan)
        frame["HasCabin"] = cabin.notna().astype("float64")
        first_letter = cabin.str[:1].str.upper()
        frame["Deck"] = first_letter.where(first_letter.str.isalpha().fillna(False), UNKNOWN_DECK)
        return frame


def ticket_prefix(tickets: pd.Series) -> pd.Series:
    """Normalise the letters before a ticket's number: ``"A/5. 21171"`` becomes ``"A5"``.

    Args:
        tickets: Raw ticket strings.

    Returns:
        The upper-cased prefix without punctuation, or "NONE" for purely numeric tickets.
    """
    prefix = tickets.astype(object).str.strip().str.extract(_TICKET_PATTERN)["prefix"]
    return _normalised_prefix(prefix)


def _normalised_prefix(prefix: pd.Series) -> pd.Series:
    prefix = prefix.str.replace(r"[^A-Za-z0-9]", "", regex=True).str.upper()
    return prefix.where(prefix != "", "NONE")


class TicketFeatures(_DataFrameTransformer):
    """Add ``TicketPrefix``, ``TicketNumberLength`` and ``TicketGroupSize``.

    ``TicketGroupSize`` counts the passengers who shared the ticket in the data seen by ``fit``
    (people travelling together bought one ticket); a ticket never seen counts as 1.
    """

    added_columns = ("TicketPrefix", "TicketNumberLength", "TicketGroupSize")

    def fit(self, frame: pd.DataFrame, y: object = None) -> TicketFeatures:
        """Learn how many passengers travelled on each ticket."""
        super().fit(frame, y)
        self.ticket_counts_ = frame["Ticket"].astype(object).str.strip().value_counts().to_dict()
        return self

    def _add_features(self, frame: pd.DataFrame) -> pd.DataFrame:
        tickets = frame["Ticket"].astype(object).str.strip()
        parts = tickets.str.extract(_TICKET_PATTERN)  # one regex pass for prefix and number
        frame["TicketPrefix"] = _normalised_prefix(parts["prefix"])
        frame["TicketNumberLength"] = parts["number"].str.len().astype("float64")
        counts = tickets.map(self.ticket_counts_).astype("float64")
        frame["TicketGroupSize"] = counts.fillna(1.0)
        return frame


class FarePerPerson(_DataFrameTransformer):
    """Add ``FarePerPerson``: a ticket's fare is for the whole family travelling on it.

    Must run after :class:`FamilyFeatures`; a missing fare stays missing for the imputer.
    """

    added_columns = ("FarePerPerson",)

    def _add_features(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame["FarePerPerson"] = frame["Fare"] / frame["FamilySize"]
        return frame


class GroupMedianImputer(_DataFrameTransformer):
    """Fill missing values of ``column`` with its median within groups of ``by``.

    Age is missing for a fifth of passengers and varies strongly by title (a "Master" is a
    boy), so a per-title median is far better than a global one.

    Args:
        column: The column to fill.
        by: The grouping column; groups unseen in ``fit`` get the overall median.
    """

    def __init__(self, column: str = "Age", by: str = "Title"):
        self.column = column
        self.by = by

    def fit(self, frame: pd.DataFrame, y: object = None) -> GroupMedianImputer:
        """Learn the median of ``column`` per group and overall."""
        super().fit(frame, y)
        values = frame[self.column].astype("float64")
        self.overall_median_ = float(values.median()) if values.notna().any() else 0.0
        self.group_medians_ = values.groupby(frame[self.by]).median().dropna().to_dict()
        return self

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """Names of the output columns: the input's, unchanged."""
        check_is_fitted(self, "feature_names_in_")
        return np.asarray(self.feature_names_in_, dtype=object)

    def _add_features(self, frame: pd.DataFrame) -> pd.DataFrame:
        group_median = frame[self.by].map(self.group_medians_).astype("float64")
        filled = frame[self.column].astype("float64").fillna(group_median)
        frame[self.column] = filled.fillna(self.overall_median_)
        return frame


def travel_groups(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """The two ways passengers are known to have travelled together.

    Args:
        frame: Passengers with ``Ticket``, ``Name`` and ``Fare``.

    Returns:
        The ticket, and the surname with the fare (families sometimes bought several tickets
        at one price), as grouping keys.
    """
    surname = frame["Name"].astype(object).str.split(",").str[0].str.strip().str.lower()
    fare = frame["Fare"].astype("float64").round(2).astype(str)
    return frame["Ticket"].astype(object).str.strip(), surname + "|" + fare


class GroupSurvival(_DataFrameTransformer):
    """Add ``GroupSurvival``: how the passenger's travelling companions fared, and ``GroupKnown``.

    Families and friends travelling on one ticket (or under one surname and fare) tended to
    live or die together. ``fit`` learns, per group, how many of its passengers survived.
    A passenger's companions are looked up by ticket first, then by surname and fare; one
    with no known companion gets ``prior`` and ``GroupKnown`` 0.

    On the rows it is fitted on, ``fit_transform`` leaves each passenger's own outcome out
    (their companions only), so the model never sees its own label; within cross-validation
    the held-out fold is transformed with the training folds' groups only, so the CV score
    does not leak either.

    Args:
        prior: The survival rate given to a passenger whose companions are unknown.
    """

    added_columns = ("GroupSurvival", "GroupKnown")

    def __init__(self, prior: float = 0.5):
        self.prior = prior

    def fit(self, frame: pd.DataFrame, y: object = None) -> GroupSurvival:
        """Learn the number of passengers and of survivors of every travelling group."""
        super().fit(frame, y)
        if y is None:
            raise ValueError("GroupSurvival needs the survival labels to fit")
        outcomes = pd.Series(np.asarray(y, dtype="float64"), index=frame.index)
        self.group_outcomes_ = [
            outcomes.groupby(key).agg(["sum", "count"]) for key in travel_groups(frame)
        ]
        return self

    def fit_transform(self, frame: pd.DataFrame, y: object = None, **fit_params) -> pd.DataFrame:
        """Fit, then describe the fitted rows by their companions only (own outcome left out)."""
        self.fit(frame, y)
        own = pd.Series(np.asarray(y, dtype="float64"), index=frame.index)
        return self._with_rates(frame.copy(), own)

    def _add_features(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self._with_rates(frame, None)

    def _with_rates(self, frame: pd.DataFrame, own: pd.Series | None) -> pd.DataFrame:
        rate = pd.Series(np.nan, index=frame.index)
        for key, outcomes in zip(travel_groups(frame), self.group_outcomes_, strict=True):
            survivors = key.map(outcomes["sum"]).astype("float64")
            members = key.map(outcomes["count"]).astype("float64")
            if own is not None:
                survivors, members = survivors - own, members - 1
            rate = rate.fillna((survivors / members).where(members > 0))
        frame["GroupSurvival"] = rate.fillna(self.prior)
        frame["GroupKnown"] = rate.notna().astype("float64")
        return frame
