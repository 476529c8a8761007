"""The jobs in-process, against a temporary sqlite tracking store with local artifacts.

Each test module gets its own store; a test that registers versions names its own registered
model, so that tests in a module never see each other's versions or aliases.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.passengers import make_passengers
from tests.projects import activate_sqlite_store
from titanic_model.config import PrepareConfig, SearchConfig

# Small but real: every candidate, a few grid points, two folds.
QUICK_SEARCH = {
    "n_trees": "8", "max_depth": "3,5", "min_samples_leaf": "2", "learning_rate": "0.1",
    "logistic_c": "1", "cv_folds": "2",
}  # fmt: skip
_model_names = itertools.count(1)


@dataclass
class Store:
    """A temporary tracking store that the jobs log to (it is the active one)."""

    uri: str
    folder: Path
    data_uri: str

    @property
    def client(self) -> MlflowClient:
        return MlflowClient(self.uri, registry_uri=self.uri)

    def search(self, **params: str) -> SearchConfig:
        return SearchConfig.from_params(QUICK_SEARCH | params)

    def prepare(self, **params: str) -> PrepareConfig:
        return PrepareConfig.from_params({"data_uri": self.data_uri} | params)

    @staticmethod
    def new_model_name() -> str:
        return f"titanic-test-{next(_model_names)}"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    folder = tmp_path_factory.mktemp("store")
    data = folder / "passengers.csv"
    make_passengers(160).to_csv(data, index=False)
    with pytest.MonkeyPatch.context() as patch:
        yield Store(activate_sqlite_store(folder, "jobs", patch), folder, str(data))
