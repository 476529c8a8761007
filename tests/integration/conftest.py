"""Fixtures of the integration tests: a store with a registered model, shared by modules."""

from __future__ import annotations

import mlflow
import pytest

from tests.projects import QUICK, Project, project_on_sqlite


@pytest.fixture(scope="session")
def registered(tmp_path_factory, train_csv) -> Project:
    """A temporary sqlite store where ``mlflow run .`` registered version 1 as champion."""
    project = project_on_sqlite(tmp_path_factory.mktemp("registered"), train_csv)
    result = project.run(*QUICK)
    assert result.returncode == 0, result.stderr[-3000:]
    return project


@pytest.fixture(scope="session")
def in_process(registered) -> mlflow.pyfunc.PyFuncModel:
    """The same registered version, loaded in this process from its local artifacts."""
    path = registered.client.get_model_version_download_uri("titanic", "1")
    return mlflow.pyfunc.load_model(path)
