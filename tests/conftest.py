"""Fixtures shared by the whole suite: data locations and real local processes."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import containers, label_studio
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


# What takes minutes in the background: started once per run, by the process that runs no tests
# when xdist distributes them (its controller), else by pytest itself.
_ENGINE = pytest.StashKey[containers.StartedEngine]()
_BACKGROUND_STARTED = pytest.StashKey[bool]()


def _published_engine(testrunuid: str) -> Path:
    """Where the controller writes the engine's folder for the workers of run ``testrunuid``."""
    return Path(tempfile.gettempdir()) / f"titanic-tests-{testrunuid}.engine"


def _in_module(nodeid: str, module: str) -> bool:
    return nodeid.split("::")[0].endswith("/" + module)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Real processes first, then the in-process suites, then what waits on the background.

    With xdist (``--dist loadfile --no-loadscope-reorder``) the files go to the workers in this
    order: the long integration files first, the many short ones filling in after them. Label
    Studio's tests come last but the serving image's, which come last of all, so that Label
    Studio's install and the image's build (minutes on a machine without their caches) overlap
    the most.
    """
    items.sort(
        key=lambda item: (
            _in_module(item.nodeid, containers.MODULE),
            _in_module(item.nodeid, label_studio.MODULE),
            item.get_closest_marker("integration") is None,
        )
    )


def _start_background(config: pytest.Config, nodeids: list[str]) -> None:
    """Install Label Studio, start the Docker engine and build the image, if a test needs them."""
    config.stash[_BACKGROUND_STARTED] = True
    if any(_in_module(nodeid, label_studio.MODULE) for nodeid in nodeids):
        config.stash[_LABEL_STUDIO_INSTALL] = label_studio.install_in_background()
    if not any(_in_module(nodeid, containers.MODULE) for nodeid in nodeids):
        return
    started = containers.start_engine()
    config.stash[_ENGINE] = started
    config.add_cleanup(lambda: containers.stop_engine(started))
    containers.start_build(started)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Without xdist, start the background work once the tests are known."""
    if session.config.option.collectonly or hasattr(session.config, "workerinput"):
        return
    _start_background(session.config, [item.nodeid for item in session.items])


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids: list[str]) -> None:
    """With xdist, the controller starts it when the first worker has collected.

    The workers find the engine in the file :func:`_published_engine` names.
    """
    config = node.config
    if config.stash.get(_BACKGROUND_STARTED, False) or config.option.collectonly:
        return
    _start_background(config, ids)
    started = config.stash.get(_ENGINE, None)
    if started is not None:
        where = _published_engine(node.workerinput["testrunuid"])
        containers.publish(started.engine, where)
        config.add_cleanup(lambda: where.unlink(missing_ok=True))


@pytest.fixture(scope="session")
def docker_engine(request: pytest.FixtureRequest) -> containers.Engine:
    """The run's Docker engine (``tests/containers.py``)."""
    workerinput = getattr(request.config, "workerinput", None)
    if workerinput is not None:
        return containers.published(_published_engine(workerinput["testrunuid"]))
    return request.config.stash[_ENGINE].engine


# Module-scoped, as cheap after the first wait: pytest sets up session fixtures first, and a
# module's own (a tracking stack, a trained version) should get ready while the build ends.
@pytest.fixture(scope="module")
def serving_image(docker_engine: containers.Engine) -> str:
    """The tag of the serving image, built on the stand-in base; waits for its build."""
    return containers.wait_for_image(docker_engine)
