"""Feature engineering: validated passenger columns in, the model's numeric features out.

Each idea is a small pure function on arrays (the title in a name, a cabin's deck, a
ticket's parts, who travelled together). :class:`PassengerFeatures`, one scikit-learn
transformer, learns their state in ``fit`` (attributes ending with ``_``) and turns a
DataFrame into the model's feature matrix, so serving runs exactly the code and the state
that training used.

Why one transformer over numpy arrays, and not a chain of pandas transformers with a
``ColumnTransformer``: most served requests carry one passenger, and the per-call overhead
of a dozen pandas and scikit-learn steps (copies, index alignment, input checks, output
wrapping) cost about 20 ms per request, where the arithmetic costs microseconds. Every
column is read once into an array, and the output is one float matrix (a DataFrame with
:meth:`~PassengerFeatures.get_feature_names_out` columns under
``set_output(transform="pandas")``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

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
_NOT_ALPHANUMERIC = re.compile(r"[^A-Za-z0-9]")
RARE_TITLE = "Rare"
UNKNOWN_DECK = "U"
NO_TICKET_PREFIX = "NONE"

NUMERIC_FEATURES = (
    "Pclass",
    "Age",
    "SibSp",
    "Parch",
    "Fare",
    "FamilySize",
    "IsAlone",
    "FarePerPerson",
    "HasCabin",
    "TicketNumberLength",
    "TicketGroupSize",
    "GroupSurvival",
    "GroupKnown",
)
CATEGORICAL_FEATURES = ("Sex", "Embarked", "Title", "Deck", "TicketPrefix")
INFREQUENT = "infrequent"

# Validated passengers: a DataFrame from validate_passengers, or the columns that
# check_passengers returns (cheaper for a single served record).
Passengers = pd.DataFrame | Mapping[str, np.ndarray]


def _text(values: Iterable[object]) -> list[str | None]:
    """Stripped strings, None for anything missing."""
    return [v.strip() if isinstance(v, str) else None for v in values]


def _title(name: str | None) -> str | None:
    match = _TITLE_PATTERN.search(name) if name is not None else None
    if match is None:
        return None
    title = match.group(1).capitalize()
    return _TITLE_SYNONYMS.get(title, title)


def extract_titles(names: Iterable[object]) -> np.ndarray:
    """Extract the normalised title ("Mr", "Miss", …) from Kaggle-style names.

    Args:
        names: Names like ``"Braund, Mr. Owen Harris"``.

    Returns:
        An object array of titles, French spellings mapped to English ones; None where a
        name has no title or is missing.
    """
    return np.array([_title(name) for name in _text(names)] or [], dtype=object)


def cabin_decks(cabins: Iterable[object]) -> tuple[np.ndarray, np.ndarray]:
    """Whether a cabin is known, and its deck.

    Args:
        cabins: Cabin numbers like ``"C85"`` or ``"B57 B59"``; missing or blank when unknown.

    Returns:
        ``HasCabin`` (1.0 or 0.0) and ``Deck``: the first letter, upper-cased, or "U" when the
        cabin is unknown or does not start with a letter.
    """
    text = [cabin or None for cabin in _text(cabins)]
    has_cabin = np.array([cabin is not None for cabin in text], dtype="float64")
    decks = np.array(
        [cabin[0].upper() if cabin and cabin[0].isalpha() else UNKNOWN_DECK for cabin in text],
        dtype=object,
    )
    return has_cabin, decks


def split_tickets(tickets: Iterable[object]) -> tuple[np.ndarray, np.ndarray]:
    """A ticket's normalised prefix and the length of its number.

    Args:
        tickets: Raw tickets like ``"A/5. 21171"`` or ``"349909"``.

    Returns:
        The prefix upper-cased without punctuation (``"A5"``), "NONE" for purely numeric
        tickets; and the number of digits of the trailing number (0 when there is none).
    """
    prefixes, lengths = [], []
    for ticket in _text(tickets):
        match = _TICKET_PATTERN.match(ticket or "")
        assert match is not None  # the pattern's groups are optional: it matches any text
        prefix = _NOT_ALPHANUMERIC.sub("", match["prefix"]).upper()
        prefixes.append(prefix or NO_TICKET_PREFIX)
        lengths.append(len(match["number"]))
    return np.array(prefixes, dtype=object), np.array(lengths, dtype="float64")


def travel_group_keys(
    names: Iterable[object], tickets: Iterable[object], fares: np.ndarray
) -> tuple[list[str | None], list[str | None]]:
    """The two ways passengers are known to have travelled together.

    Args:
        names: Passenger names (the surname comes before the comma).
        tickets: Their tickets.
        fares: Their fares (NaN when missing).

    Returns:
        Per passenger, the ticket, and the surname with the fare (families sometimes
        bought several tickets at one price), as grouping keys; None where unknown.
    """
    rounded = np.round(np.asarray(fares, dtype="float64"), 2).tolist()
    surname_keys = [
        None if name is None or math.isnan(fare) else f"{name.split(',')[0].strip().lower()}|{fare}"
        for name, fare in zip(_text(names), rounded, strict=True)
    ]
    return _text(tickets), surname_keys


def _most_frequent(values: np.ndarray) -> object:
    """The most frequent value (the smallest on ties), or None when every value is missing."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    counts = pd.Series(present, dtype=object).value_counts()
    return min(counts.index[counts == counts.iloc[0]])


class PassengerFeatures(TransformerMixin, BaseEstimator):
    """Turn validated passenger records into the model's numeric feature matrix.

    Engineered features:

    - ``Title`` from ``Name``; titles seen fewer than ``min_title_count`` times in ``fit``,
      unseen titles and names without one are "Rare".
    - ``FamilySize`` (the passenger plus relatives aboard), ``IsAlone`` and
      ``FarePerPerson`` (a ticket's fare is for the whole family on it).
    - ``HasCabin`` and ``Deck``.
    - ``TicketPrefix``, ``TicketNumberLength`` and ``TicketGroupSize``: how many passengers
      shared the ticket in the data seen by ``fit`` (1 for a ticket never seen).
    - ``Age`` filled with its median among passengers of the same title (a "Master" is a
      boy), else the overall median.
    - ``GroupSurvival``: how the passenger's travelling companions fared (same ticket first,
      else same surname and fare), with ``GroupKnown``; ``group_prior`` when none is known.
      On the rows it is fitted on, ``fit_transform`` leaves each passenger's own outcome
      out, so the model never sees its own label; within cross-validation the held-out fold
      sees the training folds' groups only, so the CV score does not leak either.

    Encoding, learnt in ``fit`` like the rest: numeric features missing after engineering
    (a missing fare) get their training median, then are standardised; categorical ones are
    one-hot encoded, categories seen fewer than ``min_category_count`` times (and unseen
    ones) sharing one ``<feature>_infrequent`` column, a missing ``Embarked`` counting as
    the most frequent port.

    Args:
        min_title_count: How often a title must appear in ``fit`` to be kept.
        min_category_count: How often a category must appear in ``fit`` to get its own column.
        group_prior: The survival rate given to a passenger with no known companion.
    """

    def __init__(
        self, min_title_count: int = 10, min_category_count: int = 10, group_prior: float = 0.5
    ):
        self.min_title_count = min_title_count
        self.min_category_count = min_category_count
        self.group_prior = group_prior

    def fit(self, frame: Passengers, y: object = None) -> PassengerFeatures:
        """Learn every feature's state from labelled passengers.

        Args:
            frame: Validated passengers (see :func:`~titanic_model.model.schema.validate_passengers`
                and :func:`~titanic_model.model.schema.check_passengers`).
            y: 0/1 survival labels, one per row; the travelling groups' survival needs them.

        Returns:
            The fitted transformer.
        """
        self.fit_transform(frame, y)
        return self

    def fit_transform(self, frame: Passengers, y: object = None, **fit_params) -> np.ndarray:
        """Fit, then describe the fitted rows, their own outcomes left out of their groups.

        Args:
            frame: Validated passenger columns.
            y: 0/1 survival labels, one per row.
            **fit_params: Unused; accepted for scikit-learn's interface.

        Returns:
            The feature matrix of ``frame``'s rows.
        """
        if y is None:
            raise ValueError("PassengerFeatures needs the survival labels to fit")
        outcomes = np.asarray(y, dtype="float64")
        self.feature_names_in_ = np.asarray(list(frame), dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        columns = _columns(frame)

        titles = extract_titles(columns["Name"])
        known, counts = np.unique(titles[titles != None], return_counts=True)  # noqa: E711
        self.frequent_titles_ = frozenset(known[counts >= self.min_title_count].tolist())
        tickets = _text(columns["Ticket"])
        self.ticket_counts_ = pd.Series(tickets, dtype=object).value_counts().to_dict()
        ages = pd.Series(columns["Age"])
        grouped_titles = self._group_titles(titles)
        self.overall_age_median_ = float(ages.median()) if ages.notna().any() else 0.0
        self.age_medians_ = ages.groupby(grouped_titles).median().dropna().to_dict()
        self.group_outcomes_ = [
            _survivors_and_members(keys, outcomes)
            for keys in travel_group_keys(columns["Name"], columns["Ticket"], columns["Fare"])
        ]

        numeric, categorical = self._engineer(columns, own_outcomes=outcomes)
        self.numeric_fill_ = _nan_medians(numeric)
        numeric = np.where(np.isnan(numeric), self.numeric_fill_, numeric)
        self.numeric_mean_ = numeric.mean(axis=0)
        variance = numeric.var(axis=0)
        # StandardScaler's test: a variance within the rounding error of the mean's is a
        # constant column (30.1 repeated has a tiny non-zero variance), scaled by 1.
        eps, rows = np.finfo("float64").eps, len(numeric)
        constant = variance <= rows * eps * variance + (rows * self.numeric_mean_ * eps) ** 2
        self.numeric_scale_ = np.where(constant, 1.0, np.sqrt(variance))
        self.categorical_fill_: list[Any] = [_most_frequent(values) for values in categorical]
        categorical = self._fill_categories(categorical)
        self.categories_ = []
        for values in categorical:
            levels, level_counts = np.unique(values.astype(str), return_counts=True)
            frequent = levels[level_counts >= self.min_category_count].tolist()
            self.categories_.append(
                (frequent, bool((level_counts < self.min_category_count).any()))
            )
        return self._encode(numeric, categorical)

    def transform(self, frame: Passengers) -> np.ndarray:
        """Compute the feature matrix of new passengers with the state learnt in ``fit``.

        Args:
            frame: Validated passenger columns.

        Returns:
            One row per passenger, columns as :meth:`get_feature_names_out`.
        """
        check_is_fitted(self, "categories_")
        numeric, categorical = self._engineer(_columns(frame), own_outcomes=None)
        numeric = np.where(np.isnan(numeric), self.numeric_fill_, numeric)
        return self._encode(numeric, self._fill_categories(categorical))

    def engineer(self, frame: Passengers, y: object = None) -> pd.DataFrame:
        """The engineered features of passengers, before imputation, scaling and encoding.

        What the encoders see: to look at a passenger's features, and to compare the encoding
        with scikit-learn's encoders (the tests do).

        Args:
            frame: Validated passenger columns.
            y: When ``frame`` holds the rows the transformer was fitted on, their 0/1
                outcomes: each is left out of its own travelling group, as in ``fit``.

        Returns:
            :data:`NUMERIC_FEATURES` (NaN where missing), then :data:`CATEGORICAL_FEATURES`
            (None where missing), one row per passenger.
        """
        check_is_fitted(self, "categories_")
        own_outcomes = None if y is None else np.asarray(y, dtype="float64")
        numeric, categorical = self._engineer(_columns(frame), own_outcomes=own_outcomes)
        table = pd.DataFrame(numeric, columns=list(NUMERIC_FEATURES))
        for name, values in zip(CATEGORICAL_FEATURES, categorical, strict=True):
            table[name] = pd.Series(values, dtype=object)
        return table

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """Names of the output columns: the numeric features, then one per category."""
        check_is_fitted(self, "categories_")
        names = list(NUMERIC_FEATURES)
        for feature, (frequent, has_infrequent) in zip(
            CATEGORICAL_FEATURES, self.categories_, strict=True
        ):
            names += [f"{feature}_{level}" for level in frequent]
            names += [f"{feature}_{INFREQUENT}"] if has_infrequent else []
        return np.asarray(names, dtype=object)

    def _group_titles(self, titles: np.ndarray) -> np.ndarray:
        return np.array(
            [t if t in self.frequent_titles_ else RARE_TITLE for t in titles.tolist()], dtype=object
        )

    def _engineer(
        self, columns: dict[str, np.ndarray], own_outcomes: np.ndarray | None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """The numeric features as a matrix and the categorical ones as arrays."""
        titles = self._group_titles(extract_titles(columns["Name"]))
        family_size = columns["SibSp"] + columns["Parch"] + 1.0
        has_cabin, decks = cabin_decks(columns["Cabin"])
        prefixes, number_lengths = split_tickets(columns["Ticket"])
        tickets = _text(columns["Ticket"])
        group_sizes = np.array([self.ticket_counts_.get(t, 1) for t in tickets], dtype="float64")
        ages = columns["Age"]
        age_medians = np.array(
            [self.age_medians_.get(t, self.overall_age_median_) for t in titles.tolist()],
            dtype="float64",
        )
        group_survival = self._group_survival(columns, own_outcomes)
        numeric = np.column_stack(
            [
                columns["Pclass"],
                np.where(np.isnan(ages), age_medians, ages),
                columns["SibSp"],
                columns["Parch"],
                columns["Fare"],
                family_size,
                (family_size == 1.0).astype("float64"),
                columns["Fare"] / family_size,
                has_cabin,
                number_lengths,
                group_sizes,
                np.where(np.isnan(group_survival), self.group_prior, group_survival),
                (~np.isnan(group_survival)).astype("float64"),
            ]
        )
        sexes = np.array(_text(columns["Sex"]), dtype=object)
        ports = np.array(_text(columns["Embarked"]), dtype=object)
        return numeric, [sexes, ports, titles, decks, prefixes]

    def _group_survival(
        self, columns: dict[str, np.ndarray], own_outcomes: np.ndarray | None
    ) -> np.ndarray:
        """Companions' survival rate per passenger; NaN when no companion is known."""
        keys = travel_group_keys(columns["Name"], columns["Ticket"], columns["Fare"])
        rate = np.full(len(keys[0]), np.nan)
        for group_keys, outcomes in zip(keys, self.group_outcomes_, strict=True):
            counts = np.array(
                [outcomes.get(k, (np.nan, np.nan)) for k in group_keys], dtype=np.float64
            )
            survivors, members = counts.reshape(-1, 2).T
            if own_outcomes is not None:
                survivors, members = survivors - own_outcomes, members - 1
            with np.errstate(invalid="ignore", divide="ignore"):
                group_rate = np.where(members > 0, survivors / members, np.nan)
            rate = np.where(np.isnan(rate), group_rate, rate)
        return rate

    def _fill_categories(self, categorical: list[np.ndarray]) -> list[np.ndarray]:
        filled = []
        for values, fill in zip(categorical, self.categorical_fill_, strict=True):
            missing = values == None  # noqa: E711 - element-wise test on an object array
            filled.append(np.where(missing, fill, values) if missing.any() else values)
        return filled

    def _encode(self, numeric: np.ndarray, categorical: list[np.ndarray]) -> np.ndarray:
        """Standardise the numeric features and one-hot encode the categorical ones."""
        widths = [len(frequent) + has_infrequent for frequent, has_infrequent in self.categories_]
        matrix = np.zeros((len(numeric), numeric.shape[1] + sum(widths)))
        matrix[:, : numeric.shape[1]] = (numeric - self.numeric_mean_) / self.numeric_scale_
        offset = numeric.shape[1]
        rows = np.arange(len(numeric))
        for values, (frequent, has_infrequent), width in zip(
            categorical, self.categories_, widths, strict=True
        ):
            # An unseen category joins the infrequent column, or gets no column at all.
            position = {level: i for i, level in enumerate(frequent)}
            fallback = len(frequent) if has_infrequent else -1
            codes = np.array([position.get(str(v), fallback) for v in values.tolist()], dtype=int)
            hit = codes >= 0
            matrix[rows[hit], offset + codes[hit]] = 1.0
            offset += width
        return matrix


def _columns(passengers: Passengers) -> dict[str, np.ndarray]:
    """The passenger columns the features read, as arrays: float64 numbers, object text."""
    numbers = ("Pclass", "Age", "SibSp", "Parch", "Fare")
    texts = ("Name", "Sex", "Ticket", "Cabin", "Embarked")
    columns = {name: np.asarray(passengers[name], dtype="float64") for name in numbers}
    columns |= {name: np.asarray(passengers[name], dtype=object) for name in texts}
    return columns


def _nan_medians(matrix: np.ndarray) -> np.ndarray:
    """Per-column median of the present values (0 for a column with none)."""
    medians = np.zeros(matrix.shape[1])
    for j in range(matrix.shape[1]):
        present = matrix[~np.isnan(matrix[:, j]), j]
        medians[j] = np.median(present) if len(present) else 0.0
    return medians


def _survivors_and_members(
    keys: list[str | None], outcomes: np.ndarray
) -> dict[str | None, tuple[float, float]]:
    """Per group key, how many of its passengers survived and how many there were."""
    groups: dict[str | None, tuple[float, float]] = {}
    for key, outcome in zip(keys, outcomes.tolist(), strict=True):
        if key is not None:
            survivors, members = groups.get(key, (0.0, 0.0))
            groups[key] = (survivors + outcome, members + 1.0)
    return groups
