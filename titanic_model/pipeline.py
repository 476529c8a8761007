"""The scikit-learn pipeline: raw passenger columns in, survival probability out."""

from __future__ import annotations

from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from titanic_model.features import (
    CabinFeatures,
    FamilyFeatures,
    FarePerPerson,
    GroupMedianImputer,
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


def build_pipeline(seed: int) -> Pipeline:
    """Build the full, unfitted model pipeline.

    Args:
        seed: Random state of the classifier, so that a fit is reproducible.

    Returns:
        ``Pipeline([("features", …), ("classifier", RandomForestClassifier)])``; the
        classifier's hyper-parameters are set by the grid search (``classifier__*``).
    """
    return Pipeline(
        [
            ("features", build_feature_steps()),
            ("classifier", RandomForestClassifier(random_state=seed, n_jobs=1)),
        ]
    )
