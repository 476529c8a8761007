"""Reading passenger CSVs from real servers: S3 (moto's standalone server) and HTTP."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.processes import PROJECT_ROOT, VENV_BIN, free_port
from tests.projects import S3_CREDENTIALS, s3_client
from titanic_model.environment import StorageConfig
from titanic_model.io.data import DataSourceError, read_passenger_csv

pytestmark = pytest.mark.integration


@pytest.fixture
def bucket(moto_server: str, train_csv: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A bucket on the moto server holding the training CSV; credentials in the environment."""
    for name, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    name = f"titanic-{free_port()}"
    s3 = s3_client(moto_server)
    s3.create_bucket(Bucket=name)
    s3.upload_file(str(train_csv), name, "raw/train.csv")
    return name


def test_reads_a_csv_from_s3(bucket, moto_server):
    storage = StorageConfig(s3_endpoint_url=moto_server)
    passengers = read_passenger_csv(f"s3://{bucket}/raw/train.csv", storage)
    assert len(passengers) == 891
    assert passengers["Ticket"].map(type).eq(str).all()


def test_a_missing_s3_object_is_one_line(bucket, moto_server):
    storage = StorageConfig(s3_endpoint_url=moto_server)
    with pytest.raises(DataSourceError) as error:
        read_passenger_csv(f"s3://{bucket}/raw/nope.csv", storage)
    assert str(error.value).startswith(f"cannot read data_uri s3://{bucket}/raw/nope.csv")
    assert "\n" not in str(error.value)


def test_prepare_reads_s3_with_the_endpoint_from_the_environment(bucket, moto_server, tmp_path):
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    MlflowClient(tracking_uri).create_experiment("s3", artifact_location=str(tmp_path / "art"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TITANIC_"))}
    env.update(
        S3_CREDENTIALS,
        MLFLOW_TRACKING_URI=tracking_uri,
        MLFLOW_S3_ENDPOINT_URL=moto_server,
        PATH=f"{VENV_BIN}{os.pathsep}{env['PATH']}",
    )
    uri = f"s3://{bucket}/raw/train.csv"
    result = subprocess.run(
        [str(VENV_BIN / "mlflow"), "run", str(PROJECT_ROOT), "-e", "prepare",
         "--env-manager", "local", "--experiment-name", "s3", "-P", f"data_uri={uri}"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = MlflowClient(tracking_uri).search_runs(
        [MlflowClient(tracking_uri).get_experiment_by_name("s3").experiment_id]
    )
    assert run.data.tags["data_uri"] == uri
    assert run.data.metrics["rows_raw"] == 891


@pytest.fixture
def http_server(train_csv: Path, tmp_path: Path) -> Iterator[str]:
    """A plain HTTP server on 127.0.0.1 serving a folder with the training CSV."""
    folder = tmp_path / "www"
    folder.mkdir()
    shutil.copy(train_csv, folder / "train.csv")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_https_data_is_downloaded_once_into_the_cache(http_server, tmp_path):
    storage = StorageConfig(cache_dir=tmp_path / "cache")
    uri = f"{http_server}/train.csv"
    assert len(read_passenger_csv(uri, storage)) == 891
    cached = list((tmp_path / "cache").iterdir())
    assert [path.name.endswith("-train.csv") for path in cached] == [True]
    (tmp_path / "www" / "train.csv").unlink()  # the server can no longer serve it
    assert len(read_passenger_csv(uri, storage)) == 891


def test_an_unreachable_url_says_how_to_use_a_local_copy(tmp_path):
    storage = StorageConfig(cache_dir=tmp_path / "cache")
    uri = f"http://127.0.0.1:{free_port()}/train.csv"
    with pytest.raises(DataSourceError) as error:
        read_passenger_csv(uri, storage)
    message = str(error.value)
    assert message.startswith(f"cannot download data_uri {uri}")
    assert "-P data_uri=" in message
    assert "TITANIC_DATA_URI" in message
    assert "\n" not in message
    assert not any((tmp_path / "cache").glob("*.csv"))
