"""Fixtures shared by the whole suite: data locations and real local processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import label_studio
from tests.containers import Engine, start_build, start_engine, stop_engine, wait_for_image
from tests.processes import (
    PROJECT_ROOT,
    SHARED_DATA,
    VENV_BIN,
    free_port,
    start_mlflow_server,
    start_process,
    stop_process,
    wait_for_http,
)

# What the test run itself may leave in the checkout (all git-ignored).
_TEST_OUTPUT = {"test-output", ".pytest_cache", ".hypothesis", "__pycache__"}
_LABEL_STUDIO_INSTALL = pytest.StashKey()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop an install still running (a run that stopped early)."""
    installing = session.config.stash.get(_LABEL_STUDIO_INSTALL, None)
    if installing is not None:
        stop_process(installing)


@pytest.fixture(scope="session", autouse=True)
def _nothing_is_written_into_the_checkout() -> Iterator[None]:
    """Stores, artifacts and data go to temporary folders: a stray ./mlruns fails the run."""
    before = set(os.listdir(PROJECT_ROOT))
    yield
    assert set(os.listdir(PROJECT_ROOT)) - before - _TEST_OUTPUT == set()


def _data_file(variable: str, name: str) -> Path:
    path = Path(os.environ.get(variable) or SHARED_DATA / name)
    if not path.is_file():
        pytest.fail(f"{path} not found: set {variable} or put the Kaggle files in {SHARED_DATA}")
    return path.resolve()


@pytest.fixture(scope="session")
def train_csv() -> Path:
    """Kaggle's 891 labelled passengers (never copied into the repository)."""
    return _data_file("TITANIC_DATA_URI", "titanic_train.csv")


@pytest.fixture(scope="session")
def test_csv() -> Path:
    """Kaggle's 418 unlabelled passengers."""
    return _data_file("TITANIC_TEST_DATA_URI", "titanic_test.csv")


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real S3-speaking server (moto's standalone server) on 127.0.0.1; yields its URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    process = start_process(
        [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/moto-api/", process)
        yield url
    finally:
        stop_process(process)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``mlflow server`` shared by the session; yields its URL."""
    url, process = start_mlflow_server(tmp_path_factory.mktemp("mlflow-server"))
    try:
        yield url
    finally:
        stop_process(process)


# The Docker engine of this session, started once a collected test needs it.
_ENGINE = pytest.StashKey[Engine]()


def _needs_engine(item: pytest.Item) -> bool:
    return "docker_engine" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """What installs or builds in the background runs last, so that it overlaps the most.

    Label Studio's tests come after every other suite (its install, minutes on a machine
    without the cache, runs meanwhile), then the serving image's (it builds meanwhile).
    """
    items.sort(key=lambda item: (_needs_engine(item), item.path.name == label_studio.MODULE))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start what takes minutes in the background, if a collected test will need it.

    Label Studio's own venv is installed while the tests before its module run; the Docker
    engine starts and the serving image builds while the others run.
    """
    if session.config.option.collectonly:
        return
    if any(item.path.name == label_studio.MODULE for item in session.items):
        session.config.stash[_LABEL_STUDIO_INSTALL] = label_studio.install_in_background()
    if not any(map(_needs_engine, session.items)):
        return
    engine = start_engine()
    session.config.stash[_ENGINE] = engine
    session.config.add_cleanup(lambda: stop_engine(engine))
    start_build(engine)


@pytest.fixture(scope="session")
def docker_engine(request: pytest.FixtureRequest) -> Engine:
    """The session's Docker engine (``tests/containers.py``)."""
    return request.config.stash[_ENGINE]


# Module-scoped, as cheap after the first wait: pytest sets up session fixtures first, and a
# module's own (a tracking stack, a trained version) should get ready while the build ends.
@pytest.fixture(scope="module")
def serving_image(docker_engine: Engine) -> str:
    """The tag of the serving image, built on the stand-in base; waits for its build."""
    return wait_for_image(docker_engine)
