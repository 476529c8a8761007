"""The gate's alias move is its commit point: everything is written first, a failure moves
nothing and says so on the version, and gates take turns through the registry's lock."""

from __future__ import annotations

import json
import threading
import time

import mlflow
import pytest

import titanic_model.jobs.evaluate as evaluate_module
from tests.champions import run_job, with_a_champion
from titanic_model.config import EvaluateConfig, MainConfig
from titanic_model.io import registry
from titanic_model.io.digests import file_manifest, manifest_digest
from titanic_model.jobs.evaluate import evaluate
from titanic_model.jobs.main import main
from titanic_model.names import gate_lock_model

WEAK = {"candidates": "random_forest", "n_trees": "1", "max_depth": "1", "min_samples_leaf": "100"}


@pytest.fixture(scope="module")
def trained(store):
    """A model name with a prepare run and a champion v1; train more with .register()."""
    return with_a_champion(store)


def _aliases(store, name: str) -> dict[str, str]:
    return {k: str(v) for k, v in store.client.get_registered_model(name).aliases.items()}


def test_a_version_carries_the_digest_of_its_files_as_stored(store, trained):
    name, _ = trained
    version = store.client.get_model_version(name, "1")
    files = mlflow.artifacts.download_artifacts(f"models:/{name}/1")
    manifest = file_manifest(__import__("pathlib").Path(files))

    assert json.loads(version.tags["model_manifest"]) == manifest
    assert version.tags["model_digest"] == manifest_digest(manifest)
    assert {"MLmodel", "model_code.py", "artifacts/pipeline.skops", "requirements.txt",
            "code/titanic_model/model/features.py"} <= set(manifest)  # fmt: skip
    assert version.tags["approval"] == "approved"
    assert version.tags["gate_decision"] == "promoted: first champion"
    assert f"digest `{version.tags['model_digest']}`" in version.description


def test_a_version_kept_out_is_marked_rejected_with_the_decision(store, trained):
    name, register = trained
    weak = register(**WEAK)
    run_job(evaluate, EvaluateConfig(model_name=name))

    tags = store.client.get_model_version(name, weak.version).tags
    assert tags["approval"] == "rejected"
    assert tags["gate_decision"].startswith("kept v1: roc_auc")
    assert _aliases(store, name) == {"champion": "1"}


@pytest.mark.parametrize("failing", ["render_model_card", "describe_version", "promote"])
def test_a_failure_at_any_step_leaves_the_champion_and_marks_the_version(
    store, trained, monkeypatch, failing
):
    name, register = trained
    better = register()  # as good as v1: the gate would promote it

    def broken(*args, **kwargs):
        raise RuntimeError(f"{failing} broke")

    monkeypatch.setattr(evaluate_module, failing, broken)
    with pytest.raises(RuntimeError, match="broke"):
        run_job(evaluate, EvaluateConfig(model_name=name))

    assert _aliases(store, name) == {"champion": "1"}
    tags = store.client.get_model_version(name, better.version).tags
    assert tags["approval"] == "failed"
    assert tags["gate_decision"] == f"failed: {failing} broke"
    assert not store.client.search_registered_models(f"name = '{gate_lock_model(name)}'")


def test_main_marks_the_version_it_registered_when_evaluate_fails(store, monkeypatch):
    name = store.new_model_name()
    config = MainConfig.of(store.prepare(), store.search(), model_name=name)

    def broken(*args, **kwargs):
        raise RuntimeError("the holdout is gone")

    monkeypatch.setattr(evaluate_module, "_load_holdout", broken)
    with pytest.raises(RuntimeError):
        run_job(main, config)

    (version,) = store.client.search_model_versions(f"name = '{name}'")
    assert version.tags["approval"] == "failed"
    assert version.tags["gate_decision"] == "failed: the holdout is gone"
    assert store.client.get_registered_model(name).aliases == {}


def test_gates_take_turns_through_the_lock(store):
    name = store.new_model_name()
    store.client.create_registered_model(name)
    order = []

    def second_gate():
        with registry.gate_lock(name, timeout=30):
            order.append("second")

    with registry.gate_lock(name):
        waiting = threading.Thread(target=second_gate)
        waiting.start()
        time.sleep(1.5)  # the second gate polls meanwhile; it must not get in
        order.append("first")
    waiting.join(timeout=30)

    assert order == ["first", "second"]
    assert not store.client.search_registered_models(f"name = '{gate_lock_model(name)}'")


def test_a_lock_left_by_a_dead_gate_is_broken(store, monkeypatch):
    name = store.new_model_name()
    store.client.create_registered_model(gate_lock_model(name))  # a gate that died holding it
    monkeypatch.setattr(registry, "GATE_LOCK_STALE_SECONDS", 0)

    with registry.gate_lock(name, timeout=10):
        pass
