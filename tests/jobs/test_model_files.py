"""Every loader's check of a version's files, and the version's own code answering.

Against the jobs' in-process store, whose artifacts are local files a test can rewrite as
an attacker with the artifact store's keys would.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

import titanic_model.model.features as process_features
from tests.passengers import make_passengers
from titanic_model.config import TrainConfig
from titanic_model.io.digests import TamperedModelError, file_manifest, manifest_digest
from titanic_model.io.model_files import download_verified, load_verified_model
from titanic_model.jobs.prepare import prepare
from titanic_model.jobs.train import train

# Each kind of file a version has: its metadata, its code (MLflow's copy and the package),
# its fitted state and its environment.
VERSION_FILES = [
    "MLmodel",
    "model_code.py",
    "code/titanic_model/__init__.py",
    "code/titanic_model/names.py",
    "code/titanic_model/model/features.py",
    "code/titanic_model/model/pyfunc.py",
    "artifacts/pipeline.skops",
    "requirements.txt",
    "python_env.yaml",
    "conda.yaml",
    "input_example.json",
]


@pytest.fixture(scope="module")
def version(store):
    name = store.new_model_name()
    with mlflow.start_run():
        prepare_run_id = prepare(store.prepare())
    with mlflow.start_run():
        config = TrainConfig.of(
            store.search(candidates="random_forest"), prepare_run_id=prepare_run_id,
            model_name=name,
        )  # fmt: skip
        return train(config)


@pytest.fixture
def stored_files(store, version):
    """The version's files in the artifact store; restored after each test."""
    folder = Path(store.client.get_model_version_download_uri(version.name, version.version))
    backup = folder.with_name("backup")
    shutil.copytree(folder, backup)
    yield folder
    shutil.rmtree(folder)
    backup.rename(folder)


def _uri(version) -> str:
    return f"models:/{version.name}/{version.version}"


def test_the_files_as_registered_load(version):
    model = load_verified_model(_uri(version))

    answers = model.predict(make_passengers(5).drop(columns=["Survived"]))
    assert list(answers.columns) == ["PassengerId", "survived", "probability"]


@pytest.mark.parametrize("changed", VERSION_FILES)
def test_a_changed_file_is_refused_by_name_before_anything_reads_it(
    version, stored_files, changed, tmp_path
):
    marker = tmp_path / "ran"
    target = stored_files / changed
    if changed.endswith(".py"):  # code that would leave a trace if it ever ran
        target.write_text(f"open({str(marker)!r}, 'w').close()\n" + target.read_text())
    else:
        target.write_bytes(target.read_bytes() + b"\n")

    with pytest.raises(TamperedModelError) as refused:
        load_verified_model(_uri(version))

    message = refused.value.message
    assert f"refusing {version.name}/{version.version}: {changed} was changed" in message
    assert "\n" not in message
    assert not marker.exists()


def test_an_added_or_a_removed_file_is_refused(version, stored_files):
    (stored_files / "code" / "titanic_model" / "sitecustomize.py").write_text("import os\n")
    with pytest.raises(TamperedModelError, match=r"code/titanic_model/sitecustomize\.py was added"):
        download_verified(_uri(version))
    (stored_files / "code" / "titanic_model" / "sitecustomize.py").unlink()
    (stored_files / "input_example.json").unlink()
    with pytest.raises(TamperedModelError, match=r"input_example\.json is missing"):
        download_verified(_uri(version))


def test_rewritten_digest_tags_do_not_fool_a_digest_pinned_in_git(store, version, stored_files):
    pinned = version.tags["model_digest"]
    (stored_files / "artifacts" / "pipeline.skops").write_bytes(b"not the pipeline")
    # Whoever can write the store may rewrite the tags too, to match what they wrote.
    forged = manifest_digest(file_manifest(stored_files))
    store.client.set_model_version_tag(version.name, version.version, "model_digest", forged)
    try:
        with pytest.raises(TamperedModelError, match=f"expected {pinned}"):
            download_verified(_uri(version), pinned)
    finally:
        store.client.set_model_version_tag(version.name, version.version, "model_digest", pinned)


def test_a_pinned_digest_is_checked_and_must_be_one(version):
    pinned = version.tags["model_digest"]
    assert download_verified(_uri(version), pinned).digest == pinned
    wrong = "sha256:" + "0" * 64
    with pytest.raises(TamperedModelError, match=f"its files have digest {pinned}, expected"):
        download_verified(_uri(version), wrong)
    with pytest.raises(TamperedModelError, match="invalid MODEL_DIGEST 'abc'"):
        download_verified(_uri(version), "abc")


def test_a_model_outside_the_registry_needs_a_pinned_digest(version, tmp_path):
    copy = Path(shutil.copytree(mlflow.artifacts.download_artifacts(_uri(version)), tmp_path / "m"))
    with pytest.raises(TamperedModelError, match="no model_digest tag"):
        download_verified(str(copy))
    assert download_verified(str(copy), version.tags["model_digest"]).version is None


def test_the_version_answers_with_its_own_code_whatever_the_process_runs(version, monkeypatch):
    passengers = make_passengers(20).drop(columns=["Survived"])
    before = load_verified_model(_uri(version)).predict(passengers)

    # This process's feature code changes (a checkout edited after the version was trained).
    monkeypatch.setattr(
        process_features, "extract_titles", lambda names: np.full(len(list(names)), "Rev", object)
    )
    model = load_verified_model(_uri(version))

    pd.testing.assert_frame_equal(model.predict(passengers), before, check_exact=True)
    assert type(model.unwrap_python_model()).__module__ == "titanic_model.model.pyfunc"
    import titanic_model.model.features as after  # the process keeps its own modules

    assert after is process_features
