from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline

from titanic_model.model.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES, PassengerFeatures
from titanic_model.model.forest import LowLatencyRandomForestClassifier
from titanic_model.model.pipeline import build_pipeline
from titanic_model.model.schema import PASSENGER_ID, check_passengers, validate_passengers
from titanic_model.names import CANDIDATES


def unusual_passengers() -> pd.DataFrame:
    """Records with categories never seen in training, validated as serving does."""
    raw = pd.DataFrame(
        [
            {"Pclass": 3, "Name": "Doe, Mr. John", "Sex": "male", "SibSp": 0, "Parch": 0,
             "Ticket": "349909", "Embarked": None},
            {"Pclass": 1, "Name": "van Melkebeke, Jonkheer. Johan", "Sex": "male", "Age": 38.0,
             "SibSp": 0, "Parch": 0, "Ticket": "110465", "Fare": 0.0, "Embarked": "S"},
            {"Pclass": 1, "Name": "Nobody", "Sex": "female", "Age": 40.0, "SibSp": 0,
             "Parch": 0, "Ticket": "PC 17599", "Fare": 30.0, "Cabin": "T", "Embarked": "C"},
            {"Pclass": 2, "Name": "Roe, Mrs. Jane", "Sex": "female", "Age": 0.5, "SibSp": 8,
             "Parch": 9, "Ticket": "W.E.P. 5734", "Fare": 9000.0, "Cabin": "A36 A38",
             "Embarked": "Q"},
            {"Pclass": 3, "Name": "Poe, Countess. Anna", "Sex": "female", "SibSp": 1,
             "Parch": 0, "Ticket": "SC/AH Basle 541", "Cabin": "G73"},
        ]
    )  # fmt: skip
    return validate_passengers(raw)


def feature_steps() -> PassengerFeatures:
    """The pipeline's unfitted feature step, with pandas output."""
    return build_pipeline(seed=0).named_steps["features"].set_output(transform="pandas")


def test_pipeline_steps_and_seed():
    pipeline = build_pipeline(seed=7)

    assert list(pipeline.named_steps) == ["features", "classifier"]
    assert isinstance(pipeline.named_steps["features"], PassengerFeatures)
    classifier = pipeline.named_steps["classifier"]
    assert type(classifier) is LowLatencyRandomForestClassifier
    assert isinstance(classifier, RandomForestClassifier)
    assert classifier.random_state == 7
    assert (classifier.n_estimators, classifier.n_jobs) == (200, 1)


@pytest.mark.parametrize("candidate", CANDIDATES)
def test_every_candidate_fits_and_predicts(candidate: str, raw_passengers, split_features):
    features, labels = split_features(raw_passengers)

    pipeline = build_pipeline(seed=0, candidate=candidate).fit(features, labels)

    assert pipeline.predict_proba(unusual_passengers()).shape == (5, 2)


def test_unknown_candidate_is_named():
    with pytest.raises(ValueError, match="unknown candidate 'svm'"):
        build_pipeline(seed=0, candidate="svm")


def test_pipeline_params_are_settable_by_grid_search_names():
    pipeline = build_pipeline(seed=0).set_params(
        classifier__n_estimators=5, classifier__max_depth=None, classifier__min_samples_leaf=4
    )

    classifier = pipeline.named_steps["classifier"]
    assert (classifier.n_estimators, classifier.max_depth, classifier.min_samples_leaf) == (
        5,
        None,
        4,
    )


def test_feature_steps_output_numeric_dataframe_without_missing_values(
    raw_passengers, split_features
):
    features, labels = split_features(raw_passengers)
    assert features["Age"].isna().any()
    assert features["Fare"].isna().any()
    assert features["Embarked"].isna().any()

    out = feature_steps().fit(features, labels).transform(features)

    assert isinstance(out, pd.DataFrame)
    assert len(out) == len(features)
    assert all(dtype == np.float64 for dtype in out.dtypes)
    assert not out.isna().any().any()
    assert set(NUMERIC_FEATURES) <= set(out.columns)
    for feature in CATEGORICAL_FEATURES:
        assert any(column.startswith(f"{feature}_") for column in out.columns)
    assert PASSENGER_ID not in out.columns
    assert "Name" not in out.columns


def test_feature_steps_handle_unseen_categories(raw_passengers, split_features):
    features, labels = split_features(raw_passengers)
    steps = feature_steps().fit(features, labels)

    out = steps.transform(unusual_passengers())

    assert list(out.columns) == list(steps.transform(features).columns)
    assert not out.isna().any().any()


def test_fitted_pipeline_predicts_probabilities_for_unseen_categories(fitted_pipeline):
    records = unusual_passengers()

    probabilities = fitted_pipeline.predict_proba(records)

    assert probabilities.shape == (len(records), 2)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert list(fitted_pipeline.classes_) == [0, 1]


def test_fitted_pipeline_predicts_its_training_rows(
    fitted_pipeline, raw_passengers, split_features
):
    features, labels = split_features(raw_passengers)

    predicted = fitted_pipeline.predict(features)

    assert set(predicted) <= {0, 1}
    # A forest on twenty rows mostly memorises them.
    assert (predicted == labels.to_numpy()).mean() >= 0.8


def test_same_seed_gives_identical_probabilities(raw_passengers, split_features):
    features, labels = split_features(raw_passengers)
    records = pd.concat([features, unusual_passengers()], ignore_index=True)

    first = build_pipeline(seed=3).fit(features, labels).predict_proba(records)
    second = build_pipeline(seed=3).fit(features, labels).predict_proba(records)

    np.testing.assert_array_equal(first, second)


def test_clone_of_the_pipeline_refits_identically(fitted_pipeline, raw_passengers, split_features):
    features, labels = split_features(raw_passengers)

    refitted = clone(fitted_pipeline).fit(features, labels)

    np.testing.assert_array_equal(
        refitted.predict_proba(unusual_passengers()),
        fitted_pipeline.predict_proba(unusual_passengers()),
    )


@pytest.mark.parametrize("new_ids", ["shifted", "reversed", "missing"])
def test_passenger_id_does_not_change_predictions(
    fitted_pipeline: Pipeline, raw_passengers, split_features, new_ids: str
):
    features, _ = split_features(raw_passengers)
    other = features.copy()
    if new_ids == "shifted":
        other[PASSENGER_ID] = other[PASSENGER_ID] + 1000
    elif new_ids == "reversed":
        other[PASSENGER_ID] = other[PASSENGER_ID].to_numpy()[::-1]
    else:
        other[PASSENGER_ID] = np.nan

    np.testing.assert_array_equal(
        fitted_pipeline.predict_proba(other), fitted_pipeline.predict_proba(features)
    )


def test_passenger_id_does_not_change_training(raw_passengers, split_features):
    features, labels = split_features(raw_passengers)
    renumbered = features.assign(**{PASSENGER_ID: features[PASSENGER_ID] * 7 + 500})

    first = build_pipeline(seed=1).fit(features, labels).predict_proba(unusual_passengers())
    second = build_pipeline(seed=1).fit(renumbered, labels).predict_proba(unusual_passengers())

    np.testing.assert_array_equal(first, second)


def test_prediction_of_a_row_does_not_depend_on_the_batch(fitted_pipeline):
    records = unusual_passengers()

    together = fitted_pipeline.predict_proba(records)
    alone = np.vstack(
        [fitted_pipeline.predict_proba(records.iloc[[i]]) for i in range(len(records))]
    )

    np.testing.assert_allclose(alone, together)


def test_checked_columns_predict_like_the_validated_frame(fitted_pipeline, make_passengers):
    raw = make_passengers(30).drop(columns=["Survived"])

    np.testing.assert_array_equal(
        fitted_pipeline.predict_proba(check_passengers(raw)),
        fitted_pipeline.predict_proba(validate_passengers(raw)),
    )


def test_forest_probabilities_equal_scikit_learns(raw_passengers, split_features):
    features, labels = split_features(raw_passengers)
    pipeline = build_pipeline(seed=5).fit(features, labels)
    forest = pipeline.named_steps["classifier"]
    # The forest learnt from fit_transform's rows, each passenger's own outcome left out.
    training_rows = clone(pipeline.named_steps["features"]).fit_transform(features, labels)
    reference = RandomForestClassifier(**forest.get_params()).fit(training_rows, labels)
    records = pd.concat([features, unusual_passengers()], ignore_index=True)

    np.testing.assert_allclose(
        pipeline.predict_proba(records),
        reference.predict_proba(pipeline.named_steps["features"].transform(records)),
        rtol=0,
        atol=1e-12,
    )
