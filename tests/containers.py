"""A Docker engine of the tests' own, the serving image built in it, and containers run from it.

The engine is Debian's ``dockerd`` (package ``docker.io``), started as root with no bridge and
no iptables rules: containers share the host's network (``--network host``) and bind
127.0.0.1, and no network is ever created. It keeps its images in a cache folder, so that the
base stand-in and the image's dependency layer are built once per machine, not per run; a
second session running at the same time gets a fresh engine of its own instead.

The build (``tests/image/build.sh``) starts in the background as soon as pytest has collected
a test that needs the image, and the tests that need it run last (``tests/conftest.py``). With
xdist, pytest's controller starts both and the workers find the engine by its folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import yaml

from tests.processes import PROJECT_ROOT

BUILD_SCRIPT = PROJECT_ROOT / "tests" / "image" / "build.sh"
DEPLOYMENT_MANIFEST = PROJECT_ROOT / "deployment" / "kubernetes" / "deployment.yaml"
IMAGE_TAG = "titanic-mlops:test"
#: The test module that needs the engine and the image.
MODULE = "test_image.py"
# Kept between runs (the base and the dependency layer take minutes to build cold).
CACHE_DIR = Path(
    os.environ.get("TITANIC_DOCKER_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "titanic-mlops/docker"
)


@dataclass(frozen=True)
class Engine:
    """A running ``dockerd`` as its clients see it: its folder (socket, build log and status).

    Only its folder is shared: an xdist worker gets it from the process that started the engine
    (:func:`publish` and :func:`published`).
    """

    folder: Path

    @property
    def host(self) -> str:
        return f"unix://{self.folder / 'docker.sock'}"

    @property
    def build_log(self) -> Path:
        return self.folder / "build.log"

    @property
    def build_status(self) -> Path:
        """The build's exit status, written when it ends."""
        return self.folder / "build.status"

    def docker(self, *args: str, timeout: float = 120, env: Mapping[str, str] | None = None):
        """Run the docker client against this engine; return the completed process."""
        return subprocess.run(
            ["docker", *args],
            env={**os.environ, **(env or {}), "DOCKER_HOST": self.host},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@dataclass
class StartedEngine:
    """What the process that started the engine owns: ``dockerd``, its lock and the build."""

    engine: Engine
    process: subprocess.Popen
    lock: IO | None
    build: subprocess.Popen | None = None


def _stop_dockerd(pid: int, timeout: float = 30) -> None:
    """SIGTERM the dockerd ``pid``, wait for it to go, SIGKILL it if it does not."""
    comm = Path(f"/proc/{pid}/comm")
    if not comm.exists() or comm.read_text().strip() != "dockerd":
        return  # gone, and the number may be another process's now
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)


def start_engine() -> StartedEngine:
    """Start ``dockerd`` on the cache folder, or on a new one if another session holds it."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    lock = (CACHE_DIR / "lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        folder = CACHE_DIR
    except BlockingIOError:
        lock.close()
        lock, folder = None, Path(tempfile.mkdtemp(prefix="titanic-docker-"))
    pidfile = folder / "dockerd.pid"
    if pidfile.exists():  # left by a session that was killed: nothing else holds the lock
        with contextlib.suppress(ValueError):
            _stop_dockerd(int(pidfile.read_text()))
        pidfile.unlink(missing_ok=True)
    log = (folder / "dockerd.log").open("wb")
    # Niced: the build uses what the other tests leave of the CPU, and its containers inherit it.
    process = subprocess.Popen(
        ["nice", "-n", "10", "dockerd", "--bridge=none", "--iptables=false",
         "--data-root", str(folder / "data"), "--exec-root", str(folder / "exec"),
         "--pidfile", str(pidfile), "-H", f"unix://{folder / 'docker.sock'}",
         # Its own containerd namespaces: a system Docker's containerd may be shared.
         "--containerd-namespace", "titanic-tests",
         "--containerd-plugins-namespace", "titanic-tests-plugins"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    return StartedEngine(Engine(folder), process, lock)


def start_build(started: StartedEngine) -> None:
    """Build the serving image in the background (base stand-in first, if missing).

    Its exit status goes to :attr:`Engine.build_status`, which any process can wait on.
    """
    engine = started.engine
    engine.build_status.unlink(missing_ok=True)
    # Renamed into place once written: a status file that exists is whole.
    record_status = '"$@"; echo $? > "$STATUS.new"; mv "$STATUS.new" "$STATUS"'
    started.build = subprocess.Popen(
        ["bash", "-c", record_status, "build", str(BUILD_SCRIPT), IMAGE_TAG, str(engine.folder)],
        stdout=engine.build_log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "DOCKER_HOST": engine.host, "STATUS": str(engine.build_status)},
        start_new_session=True,
    )


def wait_for_image(engine: Engine, timeout: float = 1200) -> str:
    """Wait for the background build; return the image's tag or raise with the build's log."""
    deadline = time.monotonic() + timeout
    while not engine.build_status.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    status = engine.build_status.read_text().strip() if engine.build_status.exists() else ""
    if status != "0":
        dockerd_log = (engine.folder / "dockerd.log").read_text()[-2000:]
        raise RuntimeError(
            f"the image build ended with {status or 'no status'}:\n"
            f"{engine.build_log.read_text()[-4000:]}\ndockerd's log:\n{dockerd_log}"
        )
    return IMAGE_TAG


def publish(engine: Engine, path: Path) -> None:
    """Write where ``engine`` is to ``path``, for the xdist workers."""
    path.write_text(str(engine.folder))


def published(path: Path) -> Engine:
    """The engine :func:`publish` wrote to ``path``."""
    return Engine(Path(path.read_text()))


def stop_engine(started: StartedEngine) -> None:
    """Stop the build if it still runs, then the engine (its containers with it)."""
    if started.build is not None and started.build.poll() is None:
        os.killpg(started.build.pid, signal.SIGTERM)
        started.build.wait()
    if started.process.poll() is None:
        started.process.terminate()
        try:
            started.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(started.process.pid, signal.SIGKILL)
            started.process.wait()
    folder = started.engine.folder
    if started.lock is not None:
        started.lock.close()
    else:  # a fresh engine's folder: its images go with it, and the mount dockerd leaves
        subprocess.run(["umount", str(folder / "exec/netns/default")], check=False,
                       capture_output=True)  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Container:
    """A container of the image: its id, and what docker says about it."""

    engine: Engine
    id: str

    def inspect(self) -> dict:
        result = self.engine.docker("inspect", self.id)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)[0]

    def logs(self) -> str:
        """Its standard output and error, interleaved as they came."""
        result = self.engine.docker("logs", self.id)
        return result.stdout + result.stderr

    def exec(self, *command: str) -> subprocess.CompletedProcess:
        return self.engine.docker("exec", self.id, *command)

    def wait_for(self, condition, what: str, timeout: float = 180) -> dict:
        """Poll ``docker inspect`` until ``condition(state)``; return that state."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.inspect()["State"]
            if condition(state):
                return state
            time.sleep(0.3)
        logs = self.logs()
        raise TimeoutError(f"container {self.id[:12]} not {what} in {timeout:.0f} s:\n{logs}")

    def wait_exit(self, timeout: float = 180) -> int:
        """Wait until it has stopped; return its exit code."""
        return self.wait_for(lambda s: s["Status"] == "exited", "exited", timeout)["ExitCode"]


def pod_volume_mounts() -> list[str]:
    """Where the Deployment's pod can write (its volumes), the rest of its root being read-only."""
    manifest = yaml.safe_load(DEPLOYMENT_MANIFEST.read_text())
    (container,) = manifest["spec"]["template"]["spec"]["containers"]
    return [mount["mountPath"] for mount in container["volumeMounts"]]


def docker_run_args(env: Mapping[str, str]) -> list[str]:
    """``-e NAME`` for each variable: the values go through the client's environment, so that
    no password shows in a command line."""
    return [option for name in env for option in ("-e", name)]


@contextlib.contextmanager
def run_container(
    engine: Engine,
    image: str,
    env: Mapping[str, str],
    *,
    options: Sequence[str] = (),
    command: Sequence[str] = (),
) -> Iterator[Container]:
    """Run ``image`` detached as a pod runs it; remove it on the way out.

    As ``deployment/kubernetes/deployment.yaml``: the image's own user, a read-only root file
    system where only the pod's volumes (``/tmp``, the metrics folder) are writable, no
    capabilities, no privilege escalation. On the host's network, so every address in ``env``
    must be 127.0.0.1's.

    Args:
        engine: The engine to run it in.
        image: Its image.
        env: Its environment (``WEB_ADDRESS``, ``MODEL_URI``, credentials…).
        options: More ``docker run`` options (``--health-interval``…).
        command: Instead of the image's command.
    """
    writable = [f"--tmpfs={path}:exec,mode=1777" for path in pod_volume_mounts()]
    result = engine.docker(
        "run", "--detach", "--network", "host", "--read-only", *writable,
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        *docker_run_args(env), *options, image, *command,
        env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    container = Container(engine, result.stdout.strip())
    try:
        yield container
    finally:
        engine.docker("rm", "--force", container.id)
