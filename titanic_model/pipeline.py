"""The scikit-learn pipeline: raw passenger columns in, survival probability out."""

from __future__ import annotations

from sklearn.base import ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from titanic_model.features import (
    CabinFeatures,
    FamilyFeatures,
    FarePerPerson,
    GroupMedianImputer,
    GroupSurvival,
    TicketFeatures,
    TitleExtractor,
)

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


def build_feature_steps() -> Pipeline:
    """Build the feature-engineering part: raw passenger columns in, model columns out.

    Returns:
        An unfitted pipeline whose output is a numeric DataFrame.
    """
    engineered = Pipeline(
        [
            ("title", TitleExtractor(min_count=10)),
            ("family", FamilyFeatures()),
            ("cabin", CabinFeatures()),
            ("ticket", TicketFeatures()),
            ("fare_per_person", FarePerPerson()),
            ("age_by_title", GroupMedianImputer(column="Age", by="Title")),
            ("group_survival", GroupSurvival()),
        ]
    )
    encode = ColumnTransformer(
        [
            (
                "numeric",
                make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                list(NUMERIC_FEATURES),
            ),
            (
                "categorical",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    # Rare and unseen categories share one column instead of failing at serving.
                    OneHotEncoder(
                        handle_unknown="infrequent_if_exist",
                        min_frequency=10,
                        sparse_output=False,
                    ),
                ),
                list(CATEGORICAL_FEATURES),
            ),
        ],
        verbose_feature_names_out=False,
    )
    return Pipeline([("engineer", engineered), ("encode", encode)]).set_output(transform="pandas")


CANDIDATES = ("random_forest", "hist_gradient_boosting", "logistic_regression")


def build_classifier(candidate: str, seed: int) -> ClassifierMixin:
    """A fresh classifier of one of the :data:`CANDIDATES`, seeded, with sensible defaults.

    Args:
        candidate: ``"random_forest"``, ``"hist_gradient_boosting"`` or ``"logistic_regression"``.
        seed: Random state, so that a fit is reproducible.

    Returns:
        The unfitted classifier; the grid search sets its hyper-parameters.
    """
    if candidate == "random_forest":
        return RandomForestClassifier(n_estimators=200, random_state=seed, n_jobs=1)
    if candidate == "hist_gradient_boosting":
        return HistGradientBoostingClassifier(
            max_iter=200, max_depth=4, l2_regularization=1.0, random_state=seed
        )
    if candidate == "logistic_regression":
        return LogisticRegression(C=1.0, max_iter=2000)
    raise ValueError(f"unknown candidate {candidate!r}: expected one of {', '.join(CANDIDATES)}")


def build_pipeline(seed: int, candidate: str = "random_forest") -> Pipeline:
    """Build the full, unfitted model pipeline.

    Args:
        seed: Random state of the classifier, so that a fit is reproducible.
        candidate: Which classifier ends the pipeline (one of :data:`CANDIDATES`).

    Returns:
        ``Pipeline([("features", …), ("classifier", …)])``; the grid search may swap the
        classifier and set its hyper-parameters (``classifier__*``).
    """
    return Pipeline(
        [("features", build_feature_steps()), ("classifier", build_classifier(candidate, seed))]
    )
