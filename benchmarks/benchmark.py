"""Serving and batch benchmark: ours against the floor and the usual way, in one run.

``make bench`` runs it. In a temporary tracking store it trains and registers the model with
``mlflow run .`` (timed, then once more under cProfile for the share spent in MLflow calls),
and registers two references:

- **floor**: a no-op pyfunc returning a constant (``floor_model.py``): the cost of
  ``mlflow models serve`` itself;
- **usual**: the plain ``mlflow.sklearn`` flavour of the same random forest, fed features
  the client engineered itself (what most tutorials serve);
- **ours**: ``models:/titanic@champion``, fed raw passenger records;
- **layer**: the same champion served by the serving layer (``make serve``: request ids,
  metrics and the prediction log on, written to a folder), to show what operating costs;
- **shadow**: the layer again, with another version of the model scoring every accepted
  record in shadow (``TITANIC_SHADOW_MODEL_URI``), measured against the layer without one.

Each is served on 127.0.0.1 and measured under the same client. These machines are noisy,
so every target is a ratio of two figures taken in this run. The figures go to
``test-output/benchmark/benchmark.json`` and ``benchmark.md``, and the Markdown table replaces
the one between the benchmark markers in docs/performance.md.

Usage: ``python -m benchmarks.benchmark [--quick] [--no-page]`` (``make bench``).
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import io
import json
import os
import pickle
import platform
import pstats
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from functools import partial
from importlib.metadata import version
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score

from benchmarks.processes import (
    PROJECT_ROOT,
    SHARED_DATA,
    VENV_BIN,
    free_port,
    start_process,
    stop_process,
)
from titanic_model.io.digests import file_manifest
from titanic_model.io.model_files import download_verified, load_verified_model
from titanic_model.io.runs import load_split
from titanic_model.model.pyfunc import load_pipeline, save_pipeline
from titanic_model.model.schema import LABEL, validate_passengers

OUTPUT = PROJECT_ROOT / "test-output" / "benchmark"
PAGE = PROJECT_ROOT / "docs" / "performance.md"
TABLE_START = "<!-- benchmark:start -->"
TABLE_END = "<!-- benchmark:end -->"
PROJECT_CODE = ("entrypoints", "titanic_model")
RECORD = {
    "PassengerId": 892, "Pclass": 3, "Name": "Kelly, Mr. James", "Sex": "male", "Age": 34.5,
    "SibSp": 0, "Parch": 0, "Ticket": "330911", "Fare": 7.8292, "Cabin": None, "Embarked": "Q",
}  # fmt: skip


# The floor's pyfunc, logged from code as ours is (never imported: it calls set_model).
FLOOR_MODEL = Path(__file__).with_name("floor_model.py")


@dataclass
class Settings:
    """How much to measure: requests, seconds and rows per figure, and interleaved rounds."""

    latency_requests: int
    throughput_seconds: float
    csv_rows: int
    batch_rows: tuple[int, ...]
    rounds: int
    engine_rows: int


FULL = Settings(latency_requests=1500, throughput_seconds=6.0, csv_rows=10_000,
                batch_rows=(1, 1_000, 100_000), rounds=10, engine_rows=1_000_000)  # fmt: skip
QUICK = Settings(latency_requests=300, throughput_seconds=1.5, csv_rows=2_000,
                 batch_rows=(1, 1_000, 10_000), rounds=3, engine_rows=50_000)  # fmt: skip
# The batch engines, as `mlflow run . -e predict` runs them: name, engine, input format.
ENGINES = (("pandas", "pandas", "csv"), ("spark_csv", "spark", "csv"),
           ("spark_parquet", "spark", "parquet"))  # fmt: skip
SPARK_MASTER = "local[2]"


# --- the tracking store and the three models -------------------------------------------------


EXPERIMENT = "titanic-benchmark"


@dataclass(frozen=True)
class Store:
    """A sqlite tracking store with local artifacts, and the environment of jobs run on it."""

    tracking_uri: str
    env: dict[str, str]

    @classmethod
    def create(cls, folder: Path, train_csv: Path) -> Store:
        """A new store in ``folder`` whose jobs train on ``train_csv``."""
        tracking_uri = f"sqlite:///{folder / 'mlflow.db'}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TITANIC_"))}
        env.update(
            MLFLOW_TRACKING_URI=tracking_uri,
            TITANIC_DATA_URI=str(train_csv),
            TITANIC_CACHE_DIR=str(folder / "cache"),
            PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        )
        mlflow.MlflowClient(tracking_uri).create_experiment(EXPERIMENT, str(folder / "artifacts"))
        return cls(tracking_uri, env)

    @property
    def client(self) -> mlflow.MlflowClient:
        """A client of the store."""
        return mlflow.MlflowClient(self.tracking_uri, registry_uri=self.tracking_uri)


def mlflow_run(store: Store) -> float:
    """Run ``mlflow run .`` (the main entry point, default grid); return its wall time."""
    started = time.perf_counter()
    command = [str(VENV_BIN / "mlflow"), "run", str(PROJECT_ROOT), "--env-manager", "local"]
    command += ["--experiment-name", EXPERIMENT]
    result = subprocess.run(command, env=store.env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"mlflow run failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def profiled_mlflow_run(project: Store, folder: Path) -> dict[str, float]:
    """Run ``mlflow run .`` again with its entry point under cProfile; where its time goes.

    MLflow runs the entry point with the ``python`` on PATH, so a shim placed first on PATH
    runs it under cProfile. Logging is the time inside MLflow functions called from the
    project's own code (runs, params, metrics, figures, the model, the registry), counted
    once per call site; importing MLflow is reported apart.
    """
    shim_dir = folder / "profiled-python"
    shim_dir.mkdir()
    profile = folder / "main.prof"
    shim = shim_dir / "python"
    shim.write_text(f'#!/bin/sh\nexec "{VENV_BIN / "python"}" -m cProfile -o "{profile}" "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    path = f"{shim_dir}{os.pathsep}{project.env['PATH']}"
    mlflow_run(Store(project.tracking_uri, project.env | {"PATH": path}))
    stats = pstats.Stats(str(profile)).stats
    total = max(entry[3] for entry in stats.values())  # the entry point module's cumulative time
    logging = sum(
        timing[3]
        for function, (*_, callers) in stats.items()
        if _in_package(function, "mlflow")
        for caller, timing in callers.items()
        if _in_project(caller)
    )
    importing = max(
        (entry[3] for function, entry in stats.items()
         if function[2] == "<module>" and function[0].endswith(f"mlflow{os.sep}__init__.py")),
        default=0.0,
    )  # fmt: skip
    return {
        "profiled_seconds": total,
        "logging_seconds": logging,
        "logging_share": logging / total,
        "mlflow_import_seconds": importing,
    }


def _in_package(function: tuple[str, int, str], package: str) -> bool:
    return f"{os.sep}{package}{os.sep}" in function[0]


def _in_project(function: tuple[str, int, str]) -> bool:
    return any(function[0].startswith(str(PROJECT_ROOT / part)) for part in PROJECT_CODE)


def register_references(pipeline, training: pd.DataFrame, holdout: pd.DataFrame) -> dict:
    """Log the floor and the usual model beside ours; return their URIs, accuracy and request.

    The usual model is our champion's forest as plain scikit-learn (same hyper-parameters,
    same seed), fitted on the features our pipeline gave the forest in training, so it has
    the same trees and the same accuracy; only how it is served differs.
    """
    features_step = pipeline.named_steps["features"]
    names = list(features_step.get_feature_names_out())
    labels = training[LABEL].astype(int)
    training_features = pd.DataFrame(
        clone(features_step).fit_transform(training.drop(columns=[LABEL]), labels), columns=names
    )
    usual = RandomForestClassifier(**pipeline.named_steps["classifier"].get_params())
    usual.fit(training_features, labels)
    holdout_features = pd.DataFrame(
        features_step.transform(holdout.drop(columns=[LABEL])), columns=names
    )
    with mlflow.start_run(run_name="benchmark-references"):
        floor_info = mlflow.pyfunc.log_model(name="floor", python_model=str(FLOOR_MODEL))
        usual_info = mlflow.sklearn.log_model(
            usual, name="usual", signature=infer_signature(training_features, labels),
            pip_requirements=[f"scikit-learn=={version('scikit-learn')}"],
            skops_trusted_types=["sklearn.tree._tree.Tree"],
        )  # fmt: skip
    record = validate_passengers(pd.DataFrame([RECORD]))
    return {
        "floor_uri": floor_info.model_uri,
        "usual_uri": usual_info.model_uri,
        "usual_holdout_accuracy": accuracy_score(
            holdout[LABEL].astype(int), usual.predict(holdout_features)
        ),
        "usual_request": pd.DataFrame(features_step.transform(record), columns=names),
    }


# --- clients ---------------------------------------------------------------------------------


@dataclass
class Endpoint:
    """A served model's ``/invocations`` and the body a client sends it."""

    port: int
    body: bytes
    content_type: str = "application/json"

    def connect(self) -> http.client.HTTPConnection:
        """A keep-alive connection to the server."""
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)

    def post(self, connection: http.client.HTTPConnection, body: bytes | None = None) -> bytes:
        """One request on ``connection``; the answer's body (a non-200 raises)."""
        connection.request(
            "POST", "/invocations", body or self.body, {"Content-Type": self.content_type}
        )
        response = connection.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {payload[:300]!r}")
        return payload


def throughput(endpoint: Endpoint, clients: int, seconds: float) -> float:
    """Requests per second with ``clients`` keep-alive connections sending back to back."""
    counts = [0] * clients
    errors: list[str] = []
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(index: int) -> None:
        connection = endpoint.connect()
        endpoint.post(connection)
        start.wait()
        try:
            while time.perf_counter() < deadline[0]:
                endpoint.post(connection)
                counts[index] += 1
        except (OSError, RuntimeError, http.client.HTTPException) as error:
            errors.append(str(error))
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + 0.5 + seconds
    start.wait()
    time.sleep(0.5)  # let every connection settle before counting
    counted_from = sum(counts)
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} client errors, first: {errors[0]}")
    return (sum(counts) - counted_from) / (time.perf_counter() - began)


def latencies(endpoints: dict[str, Endpoint], settings: Settings) -> dict[str, dict[str, float]]:
    """Single-record latency of every server, measured in interleaved rounds.

    Each round sends a share of the requests to each server in turn, so that a slow spell of
    the machine falls on all of them alike.
    """
    samples: dict[str, list[float]] = {name: [] for name in endpoints}
    per_round = settings.latency_requests // settings.rounds
    for _ in range(settings.rounds):
        for name, endpoint in endpoints.items():
            # A fresh keep-alive connection per turn: an idle one would be closed by the server.
            connection = endpoint.connect()
            for _ in range(10):  # warm-up, untimed
                endpoint.post(connection)
            for _ in range(per_round):
                started = time.perf_counter()
                endpoint.post(connection)
                samples[name].append(time.perf_counter() - started)
            connection.close()
    figures = {}
    for name, times in samples.items():
        p50, p95, p99 = np.percentile(np.array(times) * 1000, [50, 95, 99])
        figures[name] = {"p50_ms": p50, "p95_ms": p95, "p99_ms": p99, "requests": len(times)}
    return figures


def throughputs(
    endpoints: dict[str, Endpoint], clients: int, settings: Settings
) -> dict[str, float]:
    """Requests per second of every server at ``clients``: the median of interleaved rounds."""
    rounds: dict[str, list[float]] = {name: [] for name in endpoints}
    for _ in range(3):
        for name, endpoint in endpoints.items():
            rounds[name].append(throughput(endpoint, clients, settings.throughput_seconds / 3))
    return {name: float(np.median(values)) for name, values in rounds.items()}


def cold_starts(models: dict, env: dict[str, str], folder: Path, rounds: int) -> dict[str, dict]:
    """Median cold start of every model over interleaved rounds, one server up at a time."""
    starts: dict[str, list[dict[str, float]]] = {name: [] for name in models}
    for attempt in range(min(rounds, 3)):
        for name, (uri, body) in models.items():
            server = start_server(name, uri, env, 1, folder / f"cold-{name}-{attempt}.log")
            try:
                starts[name].append(cold_start(server, Endpoint(server.port, body)))
            finally:
                stop_process(server.process)
    return {
        name: {key: float(np.median([s[key] for s in runs])) for key in runs[0]}
        for name, runs in starts.items()
    }


# --- servers ---------------------------------------------------------------------------------

SERVED = ("floor", "usual", "ours", "layer")


@dataclass
class Server:
    """A running server (``mlflow models serve`` or the layer) and when it was started."""

    process: subprocess.Popen
    port: int
    started: float


def serving_env(name: str, env: dict[str, str]) -> dict[str, str]:
    """The environment to serve model ``name`` in.

    The usual model is MLflow's own scikit-learn flavour. MLflow refuses it where pickles
    are refused: its skops allow-list travels inside the model, where ours is in our code.
    So it alone is served with MLFLOW_ALLOW_PICKLE_DESERIALIZATION=true.
    """
    return env | {"MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true"} if name == "usual" else env


def start_server(
    name: str,
    model_uri: str,
    env: dict[str, str],
    workers: int,
    log: Path,
    shadow_uri: str | None = None,
) -> Server:
    """Start model ``name`` on a free port (not waiting for it).

    The layer is ``python -m titanic_model.serving`` with its prediction log in a folder
    beside ``log`` (and ``shadow_uri`` in shadow, if given); the others are
    ``mlflow models serve``.
    """
    port = free_port()
    started = time.perf_counter()
    if shadow_uri is not None:
        env = env | {"TITANIC_SHADOW_MODEL_URI": shadow_uri}
    if name in ("layer", "shadow"):
        command = [str(VENV_BIN / "python"), "-m", "titanic_model.serving", "--model_uri",
                   model_uri, "--port", str(port), "--workers", str(workers)]  # fmt: skip
        env = env | {
            "PYTHONPATH": str(PROJECT_ROOT),
            "TITANIC_PREDICTION_LOG": str(log.with_suffix(".predictions")),
        }
    else:
        command = [str(VENV_BIN / "mlflow"), "models", "serve", "-m", model_uri,
                   "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port),
                   "--workers", str(workers)]  # fmt: skip
    process = start_process(command, log, serving_env(name, env))
    return Server(process, port, started)


def cold_start(server: Server, endpoint: Endpoint, timeout: float = 120.0) -> dict[str, float]:
    """Seconds from process start to the first ``/ping`` 200 and to the first prediction."""
    deadline = server.started + timeout
    ping = None
    while time.perf_counter() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}")
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        try:
            if ping is None:
                connection.request("GET", "/ping")
                if connection.getresponse().status == 200:
                    ping = time.perf_counter() - server.started
            if ping is not None:
                endpoint.post(connection)
                return {"to_ping_s": ping, "to_prediction_s": time.perf_counter() - server.started}
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
        time.sleep(0.02)
    raise TimeoutError(f"no prediction within {timeout:.0f} s")


def worker_memory_mb(server: Server) -> list[float]:
    """Resident memory of each serving worker: the leaf processes of the server's session."""
    processes = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            status = (entry / "status").read_text()
        except OSError:
            continue
        parent, session = int(fields[1]), int(fields[3])
        if session == server.process.pid:
            rss_kb = next(int(line.split()[1]) for line in status.splitlines()
                          if line.startswith("VmRSS:"))  # fmt: skip
            processes[int(entry.name)] = (parent, rss_kb / 1024)
    parents = {parent for parent, _ in processes.values()}
    return sorted(rss for pid, (_, rss) in processes.items() if pid not in parents)


def shadow_cost(
    model_uri: str, shadow_uri: str, env: dict[str, str], folder: Path, settings: Settings
) -> dict[str, dict[str, float]]:
    """The layer's single-record p50 and 1-client throughput, with a shadow and without.

    Two layers of one worker, the log on in both, measured in interleaved rounds under the
    same client: the shadow's work (a call per flush in the log's thread) shows only as the
    difference.
    """
    servers = {
        "layer": start_server("layer", model_uri, env, 1, folder / "shadow-cost-layer.log"),
        "shadow": start_server(
            "shadow", model_uri, env, 1, folder / "shadow-cost-shadow.log", shadow_uri
        ),
    }
    body = json.dumps({"dataframe_records": [RECORD]}).encode()
    try:
        endpoints = {name: Endpoint(server.port, body) for name, server in servers.items()}
        for name, endpoint in endpoints.items():
            cold_start(servers[name], endpoint)
        measured = latencies(endpoints, settings)
        figures = {name: {"p50_ms": f["p50_ms"]} for name, f in measured.items()}
        for name, rps in throughputs(endpoints, 1, settings).items():
            figures[name]["rps_1_client"] = rps
        logged = folder / "shadow-cost-shadow.predictions"
        shadow_lines = sum(
            text.count('"role": "shadow"') for text in map(Path.read_text, logged.glob("*.jsonl"))
        )
    finally:
        for server in servers.values():
            stop_process(server.process)
    if not shadow_lines:
        raise RuntimeError(f"the shadow {shadow_uri} scored nothing: see {folder}")
    return figures | {"shadow_uri": shadow_uri, "shadow_lines": shadow_lines}


# --- in-process --------------------------------------------------------------------------------


def drawn_passengers(test_csv: Path, rows: int) -> pd.DataFrame:
    """``rows`` of Kaggle's test passengers drawn with replacement (seeded), ids 1 to ``rows``."""
    passengers = pd.read_csv(test_csv, dtype={"Ticket": str})
    sample = passengers.sample(rows, replace=True, random_state=0).reset_index(drop=True)
    sample["PassengerId"] = np.arange(1, rows + 1)
    return sample


def raw_rows(test_csv: Path, rows: int) -> pd.DataFrame:
    """``rows`` raw passengers drawn from the test file, parsed as a client's CSV would be."""
    return pd.read_csv(io.StringIO(drawn_passengers(test_csv, rows).to_csv(index=False)))


def best_seconds(function, repeats: int) -> float:
    """The fastest of ``repeats`` calls of ``function``, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def in_process(model, test_csv: Path, sizes: tuple[int, ...]) -> list[dict[str, float]]:
    """Rows per second of ours (pyfunc ``predict``) and of the bare pipeline, same rows."""
    pipeline = model.unwrap_python_model().pipeline
    results = []
    for rows in sizes:
        frame = raw_rows(test_csv, rows)
        repeats = max(3, min(2000, 20_000 // rows))
        # Interleaved, so that both see the same machine.
        ours, bare = float("inf"), float("inf")
        for _ in range(3):
            ours = min(ours, best_seconds(partial(model.predict, frame), max(1, repeats // 3)))
            bare = min(
                bare, best_seconds(partial(pipeline.predict_proba, frame), max(1, repeats // 3))
            )
        results.append({"rows": rows, "ours_rows_per_s": rows / ours,
                        "bare_rows_per_s": rows / bare, "ratio": bare / ours})  # fmt: skip
    return results


# --- batch engines ------------------------------------------------------------------------------


def synthetic_passengers(test_csv: Path, rows: int) -> pd.DataFrame:
    """``rows`` raw passengers: Kaggle's test rows drawn again, ages and fares jittered."""
    rng = np.random.default_rng(0)
    sample = drawn_passengers(test_csv, rows)
    sample["Age"] = (sample["Age"] + rng.normal(0, 2, rows)).clip(0.2, 90).round(1)
    sample["Fare"] = (sample["Fare"] * rng.uniform(0.9, 1.1, rows)).round(4)
    return sample


def _peak_rss_mb(process: subprocess.Popen) -> float:
    """Poll a process until it ends; its peak resident memory (VmHWM), in MB."""
    peak = 0.0
    status = Path(f"/proc/{process.pid}/status")
    while process.poll() is None:
        try:
            line = next(x for x in status.read_text().splitlines() if x.startswith("VmHWM"))
            peak = max(peak, int(line.split()[1]) / 1024)
        except (OSError, StopIteration):
            pass
        time.sleep(0.1)
    return peak


def batch_engines(env: dict[str, str], folder: Path, test_csv: Path, rows: int) -> dict:
    """Rows per second of ``predict`` with each engine on the same synthetic rows.

    Each run is the job as a user starts it (``python -m entrypoints predict``): from the
    process start to the last file written, Spark's JVM and the model's loading included.
    The peak memory is the job's Python process (Spark's driver): it never holds the rows.
    """
    passengers = synthetic_passengers(test_csv, rows)
    inputs = {"csv": folder / "synthetic.csv", "parquet": folder / "synthetic.parquet"}
    passengers.to_csv(inputs["csv"], index=False)
    # Row groups of 100,000 rows, as a warehouse writes them: Spark splits the file by them.
    passengers.to_parquet(inputs["parquet"], index=False, row_group_size=100_000)
    results: dict[str, object] = {"rows": rows, "spark_master": SPARK_MASTER}
    outputs = {}
    for name, engine, kind in ENGINES:
        outputs[name] = folder / f"predictions-{name}" / ("all.csv" if engine == "pandas" else "")
        command = [
            sys.executable, "-m", "entrypoints", "predict", "--input_uri", str(inputs[kind]),
            "--engine", engine, "--output_uri", str(outputs[name]),
        ]  # fmt: skip
        run_env = {**env, "PYTHONPATH": str(PROJECT_ROOT), "MLFLOW_EXPERIMENT_NAME": EXPERIMENT,
                   "SPARK_MASTER": SPARK_MASTER}  # fmt: skip
        print(f"batch: {name}", flush=True)
        started = time.perf_counter()
        process = subprocess.Popen(
            command, env=run_env, cwd=folder, stdout=subprocess.DEVNULL,
            stderr=(folder / f"batch-{name}.log").open("w"),
        )  # fmt: skip
        peak = _peak_rss_mb(process)
        seconds = time.perf_counter() - started
        if process.returncode != 0:
            raise RuntimeError(f"batch {name} failed: see {folder / f'batch-{name}.log'}")
        results[name] = {"seconds": seconds, "rows_per_s": rows / seconds, "driver_peak_mb": peak}
    expected = pd.read_csv(outputs["pandas"], float_precision="round_trip")
    results["identical"] = all(
        pd.read_parquet(outputs[name]).sort_values("row", ignore_index=True).equals(expected)
        for name in ("spark_csv", "spark_parquet")
    )
    return results


def pipeline_loading(pipeline, folder: Path) -> dict[str, float]:
    """Seconds to load the fitted pipeline from its skops file, and from a pickle for scale.

    The registry holds the skops file (no pickle); the pickle is written and read here only,
    to show what the safe format costs at a server's start.
    """
    skops_path, pickle_path = folder / "pipeline.skops", folder / "pipeline.pickle"
    save_pipeline(pipeline, skops_path)
    # The served model runs its version's own code, modules pickle cannot name; the same
    # pipeline read back from its skops file is made of the checkout's classes.
    pickle_path.write_bytes(pickle.dumps(load_pipeline(skops_path)))
    return {
        "skops_seconds": best_seconds(partial(load_pipeline, skops_path), 5),
        "pickle_seconds": best_seconds(lambda: pickle.loads(pickle_path.read_bytes()), 5),
        "skops_kb": skops_path.stat().st_size / 1024,
        "pickle_kb": pickle_path.stat().st_size / 1024,
    }


def version_checking(model_uri: str) -> dict[str, float]:
    """Seconds to download a version's files and check them against its digest.

    What every loader adds to a start (``io/model_files.py``); the hashing alone, for scale.
    """
    folder = download_verified(model_uri).path
    return {
        "download_and_check_seconds": best_seconds(partial(download_verified, model_uri), 3),
        "hash_seconds": best_seconds(partial(file_manifest, folder), 5),
        "files": len(file_manifest(folder)),
    }


# --- the run -------------------------------------------------------------------------------------


def machine() -> dict[str, object]:
    """What the figures were measured on: CPU, cores, memory and the main versions."""
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(memory_kb / 2**20, 1),
        "python": platform.python_version(), "mlflow": version("mlflow"),
        "scikit-learn": version("scikit-learn"), "pandas": version("pandas"),
        "date": datetime.date.today().isoformat(),
    }  # fmt: skip


def run(settings: Settings, folder: Path, train_csv: Path, test_csv: Path) -> dict:
    """Train, register, serve and measure everything in a store under ``folder``."""
    project = Store.create(folder, train_csv)
    env = project.env
    # This process reads the same store: splits, the champion, and the references it logs.
    os.environ["MLFLOW_TRACKING_URI"] = project.tracking_uri
    mlflow.set_tracking_uri(project.tracking_uri)
    mlflow.set_experiment(EXPERIMENT)
    client = project.client
    results: dict[str, object] = {"machine": machine()}

    print("mlflow run . (timed)", flush=True)
    results["mlflow_run"] = {"wall_seconds": mlflow_run(project)}
    champion = client.get_model_version_by_alias("titanic", "champion")
    champion_uri = "models:/titanic@champion"
    print("mlflow run . (profiled)", flush=True)
    results["mlflow_run"] |= profiled_mlflow_run(project, folder)
    client.set_registered_model_alias("titanic", "champion", champion.version)

    ours = load_verified_model(champion_uri)
    prepare_run = champion.tags["prepare_run_id"]
    training, holdout = (
        validate_passengers(load_split(prepare_run, name), with_label=True)
        for name in ("train", "holdout")
    )
    references = register_references(ours.unwrap_python_model().pipeline, training, holdout)
    ours_holdout = accuracy_score(
        holdout[LABEL].astype(int), ours.predict(holdout.drop(columns=[LABEL]))["survived"]
    )
    results["accuracy"] = {
        "ours_cv_accuracy": float(champion.tags["cv_accuracy"]),
        "ours_holdout_accuracy": ours_holdout,
        "usual_holdout_accuracy": references["usual_holdout_accuracy"],
        "holdout_rows": len(holdout),
    }

    usual_body = json.dumps(
        {"dataframe_split": references["usual_request"].to_dict(orient="split", index=False)}
    ).encode()
    raw_body = json.dumps({"dataframe_records": [RECORD]}).encode()
    models = {
        "floor": (references["floor_uri"], raw_body),
        "usual": (references["usual_uri"], usual_body),
        "ours": (champion_uri, raw_body),
        "layer": (champion_uri, raw_body),
    }
    csv_frame = raw_rows(test_csv, settings.csv_rows)
    csv_body = csv_frame.to_csv(index=False).encode()
    serving: dict[str, dict] = {name: {} for name in models}
    print("cold starts", flush=True)
    for name, starts in cold_starts(models, env, folder, settings.rounds).items():
        serving[name]["cold_start"] = starts
    for workers in (1, 2):
        print(f"serving with {workers} worker(s)", flush=True)
        servers = {
            name: start_server(name, uri, env, workers, folder / f"serve-{name}-{workers}.log")
            for name, (uri, _) in models.items()
        }
        try:
            endpoints = {
                name: Endpoint(servers[name].port, body) for name, (_, body) in models.items()
            }
            for name, endpoint in endpoints.items():
                cold_start(servers[name], endpoint)  # wait until it answers
            if workers == 1:
                for name, figures in latencies(endpoints, settings).items():
                    serving[name]["latency"] = figures
            for clients in (1, 4, 16):
                for name, rps in throughputs(endpoints, clients, settings).items():
                    serving[name][f"rps_{clients}_clients_{workers}_workers"] = rps
            for name, server in servers.items():
                serving[name][f"worker_memory_mb_{workers}_workers"] = worker_memory_mb(server)
            if workers == 1:
                csv_http = {}
                for name in ("ours", "layer"):
                    csv_endpoint = Endpoint(servers[name].port, csv_body, "text/csv")
                    connection = csv_endpoint.connect()
                    csv_http[name] = best_seconds(partial(csv_endpoint.post, connection), 3)
                    connection.close()
        finally:
            for server in servers.values():
                stop_process(server.process)
    results["serving"] = serving
    print("the layer with a shadow", flush=True)
    other = next(
        v.version
        for v in client.search_model_versions("name = 'titanic'")
        if str(v.version) != str(champion.version)
    )  # the profiled run's version
    results["shadow"] = shadow_cost(champion_uri, f"models:/titanic/{other}", env, folder, settings)
    results["csv"] = {
        "rows": settings.csv_rows,
        "http_seconds": csv_http["ours"],
        "layer_http_seconds": csv_http["layer"],
        "in_process_seconds": best_seconds(lambda: ours.predict(csv_frame), 3),
    }
    print("in-process", flush=True)
    results["in_process"] = in_process(ours, test_csv, settings.batch_rows)
    results["pipeline_loading"] = pipeline_loading(ours.unwrap_python_model().pipeline, folder)
    results["version_checking"] = version_checking(champion_uri)
    results["batch"] = batch_engines(env, folder, test_csv, settings.engine_rows)
    return results


# --- report ---------------------------------------------------------------------------------------


def targets(results: dict) -> list[tuple[str, str, bool]]:
    """Each target: what it asks, the figure measured, and whether it is met."""
    serving, csv, largest = results["serving"], results["csv"], results["in_process"][-1]
    ours, layer = serving["ours"], serving["layer"]
    p50 = {name: figures["latency"]["p50_ms"] for name, figures in serving.items()}
    scaling = ours["rps_16_clients_2_workers"] / ours["rps_16_clients_1_workers"]
    layer_scaling = layer["rps_16_clients_2_workers"] / layer["rps_16_clients_1_workers"]
    csv_ratio = csv["http_seconds"] / csv["in_process_seconds"]
    cold = ours["cold_start"]["to_prediction_s"]
    layer_cold = layer["cold_start"]["to_prediction_s"]
    batch = results["batch"]
    spark_speedup = batch["spark_csv"]["rows_per_s"] / batch["pandas"]["rows_per_s"]
    memory = max(
        memory
        for figures in (ours, layer)
        for memory in figures["worker_memory_mb_1_workers"] + figures["worker_memory_mb_2_workers"]
    )
    shadow = results["shadow"]
    shadow_p50 = shadow["shadow"]["p50_ms"] / shadow["layer"]["p50_ms"]
    return [
        ("single record p50: ours <= 1.5 x floor", f"{p50['ours'] / p50['floor']:.2f} x",
         p50["ours"] <= 1.5 * p50["floor"]),
        ("single record p50: ours <= usual", f"{p50['ours'] / p50['usual']:.2f} x",
         p50["ours"] <= p50["usual"]),
        (f"in-process, {largest['rows']:,} rows: ours >= 0.9 x bare pipeline",
         f"{largest['ratio']:.2f} x", largest["ratio"] >= 0.9),
        (f"{csv['rows']:,}-row CSV over HTTP <= 1.5 x in-process", f"{csv_ratio:.2f} x",
         csv_ratio <= 1.5),
        ("16 clients: 2 workers >= 1.6 x 1 worker", f"{scaling:.2f} x", scaling >= 1.6),
        ("single record p50, log and metrics on: layer <= 1.5 x floor",
         f"{p50['layer'] / p50['floor']:.2f} x", p50["layer"] <= 1.5 * p50["floor"]),
        ("16 clients, log and metrics on: layer's 2 workers >= 1.6 x 1 worker",
         f"{layer_scaling:.2f} x", layer_scaling >= 1.6),
        ("single record p50, a shadow scoring every record: layer <= 1.1 x without",
         f"{shadow_p50:.2f} x", shadow_p50 <= 1.1),
        ("cold start to first prediction <= 5 s (`mlflow models serve`)", f"{cold:.1f} s",
         cold <= 5.0),
        ("cold start to first prediction <= 5 s (the layer, `make serve`)",
         f"{layer_cold:.1f} s", layer_cold <= 5.0),
        ("memory per serving worker <= 400 MB", f"{memory:.0f} MB", memory <= 400),
        (f"batch, {batch['rows']:,} rows: Spark {batch['spark_master']} >= 1.5 x pandas engine",
         f"{spark_speedup:.2f} x", spark_speedup >= 1.5),
        ("batch: Spark's answers = the pandas engine's, bit for bit",
         "yes" if batch["identical"] else "no", batch["identical"]),
    ]  # fmt: skip


def _serving_rows(serving: dict) -> list[str]:
    def row(label: str, figure) -> str:
        cells = " | ".join(figure(serving[name]) for name in SERVED)
        return f"| {label} | {cells} |"

    rows = [
        row(f"single record, {q} (ms)", lambda s, q=q: f"{s['latency'][f'{q}_ms']:.2f}")
        for q in ("p50", "p95", "p99")
    ]
    for workers in (1, 2):
        for clients in (1, 4, 16):
            key = f"rps_{clients}_clients_{workers}_workers"
            label = f"requests/s, {clients} clients, {workers} worker{'s' * (workers > 1)}"
            rows.append(row(label, lambda s, key=key: f"{s[key]:.0f}"))
    rows += [
        row("cold start to /ping (s)", lambda s: f"{s['cold_start']['to_ping_s']:.1f}"),
        row("cold start to a prediction (s)",
            lambda s: f"{s['cold_start']['to_prediction_s']:.1f}"),
        row("memory per worker, 1 / 2 workers (MB)", lambda s: " / ".join(
            f"{max(s[f'worker_memory_mb_{w}_workers']):.0f}" for w in (1, 2))),
    ]  # fmt: skip
    return rows


def markdown(results: dict) -> str:
    """The figures as Markdown: serving table, in-process table, notes and targets."""
    m, acc, csv, run_, load, check = (
        results[k]
        for k in (
            "machine",
            "accuracy",
            "csv",
            "mlflow_run",
            "pipeline_loading",
            "version_checking",
        )
    )
    lines = [
        f"Measured on {m['date']}: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; "
        f"Python {m['python']}, MLflow {m['mlflow']}, scikit-learn {m['scikit-learn']}, "
        f"pandas {m['pandas']}.",
        "",
        "| served model | floor | usual | ours | layer |",
        "|---|---:|---:|---:|---:|",
        *_serving_rows(results["serving"]),
        "",
        "| in-process `predict` | ours (rows/s) | bare pipeline (rows/s) | ours / bare |",
        "|---|---:|---:|---:|",
    ]
    for r in results["in_process"]:
        lines.append(
            f"| {r['rows']:,} rows | {r['ours_rows_per_s']:,.0f} | {r['bare_rows_per_s']:,.0f} "
            f"| {r['ratio']:.2f} |"
        )
    shadow = results["shadow"]
    lines += [
        "",
        "| the layer, 1 worker, log on | single record, p50 (ms) | requests/s, 1 client |",
        "|---|---:|---:|",
    ]
    for name, label in (("layer", "without a shadow"),
                        ("shadow", f"with `{shadow['shadow_uri']}` in shadow")):  # fmt: skip
        figures = shadow[name]
        lines.append(f"| {label} | {figures['p50_ms']:.2f} | {figures['rps_1_client']:.0f} |")
    batch = results["batch"]
    lines += [
        "",
        f"| `predict`, {batch['rows']:,} synthetic rows | rows/s | seconds | driver peak (MB) |",
        "|---|---:|---:|---:|",
    ]
    for name, label in (("pandas", "pandas engine, CSV"),
                        ("spark_csv", f"Spark {batch['spark_master']}, CSV"),
                        ("spark_parquet", f"Spark {batch['spark_master']}, Parquet")):  # fmt: skip
        figures = batch[name]
        lines.append(
            f"| {label} | {figures['rows_per_s']:,.0f} | {figures['seconds']:.1f} "
            f"| {figures['driver_peak_mb']:.0f} |"
        )
    lines += [
        "",
        f"- {csv['rows']:,}-row CSV request: {csv['http_seconds']:.2f} s over HTTP "
        f"({csv['layer_http_seconds']:.2f} s through the layer, logging every row), "
        f"{csv['in_process_seconds']:.2f} s in-process.",
        "- Loading the fitted pipeline (part of the cold start): "
        f"{load['skops_seconds'] * 1000:.0f} ms from its skops file "
        f"({load['skops_kb']:,.0f} KB), where a pickle, which the registry no longer holds, "
        f"takes {load['pickle_seconds'] * 1000:.0f} ms ({load['pickle_kb']:,.0f} KB).",
        f"- Checking the version's {check['files']} files against its digest (part of every "
        f"loader's start): {check['download_and_check_seconds'] * 1000:.0f} ms to download "
        f"and check them, of which {check['hash_seconds'] * 1000:.0f} ms hashing.",
        f"- `mlflow run .` (default grid): {run_['wall_seconds']:.1f} s. Profiled, its entry "
        f"point spends {run_['logging_share']:.0%} of its time ({run_['logging_seconds']:.1f} "
        f"of {run_['profiled_seconds']:.1f} s) in MLflow calls (runs, params, metrics, "
        f"figures, the model, the registry), and {run_['mlflow_import_seconds']:.1f} s "
        f"importing MLflow.",
        f"- Accuracy of the served model: CV {acc['ours_cv_accuracy']:.3f}, holdout "
        f"{acc['ours_holdout_accuracy']:.3f} ({acc['holdout_rows']} passengers); the usual "
        f"model's holdout accuracy: {acc['usual_holdout_accuracy']:.3f}.",
        "",
        "| target | measured | met |",
        "|---|---:|:---:|",
    ]
    for what, figure, met in targets(results):
        lines.append(f"| {what} | {figure} | {'yes' if met else '**no**'} |")
    return "\n".join(lines) + "\n"


def update_page(table: str, page: Path = PAGE) -> None:
    """Replace the table between the benchmark markers of ``page``."""
    text = page.read_text()
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    page.write_text(text[:start] + "\n" + table + text[end:])


def main() -> None:
    """``make bench``: run, write the report, update docs/performance.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer requests and rows (a smoke run)"
    )
    parser.add_argument("--no-page", action="store_true", help="leave docs/performance.md alone")
    args = parser.parse_args()
    train_csv = Path(os.environ.get("TITANIC_DATA_URI") or SHARED_DATA / "titanic_train.csv")
    test_csv = Path(os.environ.get("TITANIC_TEST_DATA_URI") or SHARED_DATA / "titanic_test.csv")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="titanic-benchmark-") as folder:
        results = run(QUICK if args.quick else FULL, Path(folder), train_csv, test_csv)
    results["settings"] = "quick" if args.quick else "full"
    (OUTPUT / "benchmark.json").write_text(json.dumps(results, indent=2, default=float))
    table = markdown(results)
    (OUTPUT / "benchmark.md").write_text(table)
    if not args.no_page and not args.quick:
        update_page(table)
    print(table)


if __name__ == "__main__":
    sys.exit(main())
