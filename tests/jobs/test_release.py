"""The release pins exactly the approved version's URI and digest in the kustomize patch."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import mlflow
import pytest
import yaml

from tests.processes import PROJECT_ROOT
from titanic_model.config import EvaluateConfig, ReleaseConfig, TrainConfig
from titanic_model.errors import ConfigError
from titanic_model.io.digests import TamperedModelError
from titanic_model.jobs.evaluate import evaluate
from titanic_model.jobs.prepare import prepare
from titanic_model.jobs.release import release, release_patch
from titanic_model.jobs.train import train

WEAK = {"candidates": "random_forest", "n_trees": "1", "max_depth": "1", "min_samples_leaf": "100"}


def _run(job, config):
    with mlflow.start_run():
        return job(config)


@pytest.fixture(scope="module")
def versions(store):
    """v1 the champion, v2 rejected by the gate."""
    name = store.new_model_name()
    prepare_run_id = _run(prepare, store.prepare())
    for search in ({}, WEAK):
        config = TrainConfig.of(
            store.search(**search), prepare_run_id=prepare_run_id, model_name=name
        )
        _run(train, config)
        _run(evaluate, EvaluateConfig(model_name=name))
    return name


def test_a_release_pins_the_champion_exactly(store, versions, tmp_path):
    output = tmp_path / "release.yaml"
    pinned = _run(release, ReleaseConfig(model_name=versions, output=str(output)))

    digest = store.client.get_model_version(versions, "1").tags["model_digest"]
    assert pinned == f"models:/{versions}/1"
    assert output.read_text() == release_patch(f"models:/{versions}/1", digest)
    patch = yaml.safe_load(output.read_text())
    (container,) = patch["spec"]["template"]["spec"]["containers"]
    assert container == {
        "name": "titanic",
        "env": [
            {"name": "MODEL_URI", "value": f"models:/{versions}/1"},
            {"name": "MODEL_DIGEST", "value": digest},
        ],
    }
    run = store.client.search_runs(
        [store.client.get_experiment_by_name("jobs").experiment_id],
        order_by=["attributes.start_time DESC"], max_results=1,
    )[0]  # fmt: skip
    assert run.data.tags["model_digest"] == digest


def test_the_kustomize_build_serves_the_pinned_version(versions, tmp_path):
    overlay = tmp_path / "kubernetes"
    shutil.copytree(PROJECT_ROOT / "deployment" / "kubernetes", overlay)
    _run(release, ReleaseConfig(model_name=versions, output=str(overlay / "release.yaml")))

    built = subprocess.run(
        ["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, check=True
    ).stdout
    (deployment,) = [
        d for d in yaml.safe_load_all(built)
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "titanic"
    ]  # fmt: skip
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["MODEL_URI"] == f"models:/{versions}/1"
    assert env["MODEL_DIGEST"].startswith("sha256:")
    assert [item["name"] for item in container["env"]].count("MODEL_URI") == 1


def test_a_version_the_gate_did_not_approve_is_not_released(versions, tmp_path):
    output = tmp_path / "release.yaml"
    with pytest.raises(ConfigError, match="the gate has not approved it \\(approval=rejected\\)"):
        _run(release, ReleaseConfig(model_name=versions, version="2", output=str(output)))
    assert not output.exists()


def test_a_version_whose_files_changed_is_not_released(store, versions, tmp_path):
    folder = Path(store.client.get_model_version_download_uri(versions, "1"))
    original = (folder / "MLmodel").read_bytes()
    (folder / "MLmodel").write_bytes(original + b"\n")
    try:
        with pytest.raises(TamperedModelError, match="MLmodel was changed"):
            _run(release, ReleaseConfig(model_name=versions, output=str(tmp_path / "r.yaml")))
    finally:
        (folder / "MLmodel").write_bytes(original)
    assert not (tmp_path / "r.yaml").exists()


def test_no_champion_means_nothing_to_release(store, tmp_path):
    name = store.new_model_name()
    store.client.create_registered_model(name)
    with pytest.raises(ConfigError, match="has no champion to release yet"):
        _run(release, ReleaseConfig(model_name=name, output=str(tmp_path / "r.yaml")))
