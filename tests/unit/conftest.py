"""Fixtures of the unit tests: hand-made passengers and a pipeline fitted on them."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest
from pydantic import AliasChoices
from sklearn.pipeline import Pipeline

from tests.passengers import make_passengers, split_features
from titanic_model.environment import (
    DataSettings,
    PredictionLogStorage,
    SparkSettings,
    StorageConfig,
)
from titanic_model.model.pipeline import build_pipeline
from titanic_model.serving.settings import ServingConfig


def _variables() -> set[str]:
    """Every environment variable that a settings class reads (its fields' aliases)."""
    aliases = [
        field.validation_alias
        for settings in (
            DataSettings,
            StorageConfig,
            PredictionLogStorage,
            SparkSettings,
            ServingConfig,
        )
        for field in settings.model_fields.values()
    ]
    return {
        name
        for alias in aliases
        for name in (alias.choices if isinstance(alias, AliasChoices) else [alias])
        if name
    }


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, str]], None]:
    """Set the variables the settings read to exactly ``variables``: the others are unset."""

    def set_exactly(variables: dict[str, str]) -> None:
        for name in _variables():
            monkeypatch.delenv(name, raising=False)
        for name, value in variables.items():
            monkeypatch.setenv(name, value)

    return set_exactly


@pytest.fixture(name="make_passengers", scope="session")
def make_passengers_fixture() -> Callable[[int], pd.DataFrame]:
    return make_passengers


@pytest.fixture(name="split_features", scope="session")
def split_features_fixture() -> Callable[[pd.DataFrame], tuple[pd.DataFrame, pd.Series]]:
    return split_features


@pytest.fixture
def raw_passengers() -> pd.DataFrame:
    """Twenty labelled raw passengers."""
    return make_passengers(20)


@pytest.fixture(scope="session")
def fitted_pipeline() -> Pipeline:
    """The full pipeline fitted on twenty passengers (shared: never refit or mutate it)."""
    features, labels = split_features(make_passengers(20))
    return build_pipeline(seed=0).fit(features, labels)
