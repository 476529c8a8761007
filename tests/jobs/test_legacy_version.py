"""A version logged before the package was grouped (its whole flat package as its code) still
loads and answers, with its own code, once its digest is pinned.

The old code is taken from Git (the last commit of the flat layout) and logs a version into
the jobs' store from a process of its own, as the project did before.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from tests.passengers import make_passengers
from tests.processes import PROJECT_ROOT
from titanic_model.io.digests import TamperedModelError, file_manifest, manifest_digest
from titanic_model.io.model_files import download_verified, load_verified_model

#: The last commit whose model lived in titanic_model/{features,forest,model}.py.
FLAT_LAYOUT_COMMIT = "26bd22a"

_LOG_WITH_OLD_CODE = """
import json, sys
import mlflow
import pandas as pd
from titanic_model.pipeline import build_pipeline
from titanic_model.registry import log_and_register_model

tracking_uri, experiment_id, model_name, train_csv, score_csv = sys.argv[1:]
mlflow.set_tracking_uri(tracking_uri)
train = pd.read_csv(train_csv)
pipeline = build_pipeline(0).set_params(classifier__n_estimators=10)
pipeline.fit(train.drop(columns=["Survived"]), train["Survived"])
with mlflow.start_run(experiment_id=experiment_id):
    version = log_and_register_model(pipeline, train.drop(columns=["Survived"]).head(2),
                                     model_name, {})
model = mlflow.pyfunc.load_model(f"models:/{model_name}/{version.version}")
answers = model.predict(pd.read_csv(score_csv))
print(json.dumps({"version": version.version, "answers": answers.to_dict(orient="list")}))
"""


def _old_package(folder: Path) -> Path:
    archive = subprocess.run(
        ["git", "archive", "--format=tar", FLAT_LAYOUT_COMMIT, "titanic_model"],
        cwd=PROJECT_ROOT, capture_output=True, check=False,
    )  # fmt: skip
    assert archive.returncode == 0, (
        f"this test needs the repository's history (commit {FLAT_LAYOUT_COMMIT}): "
        + archive.stderr.decode()
    )
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    return folder


@pytest.fixture(scope="module")
def legacy(store, tmp_path_factory):
    folder = tmp_path_factory.mktemp("legacy")
    old_code = _old_package(folder / "checkout")
    passengers = make_passengers(60)
    passengers.to_csv(folder / "train.csv", index=False)
    scored = passengers.drop(columns=["Survived"]).head(12)
    scored.to_csv(folder / "score.csv", index=False)
    name = store.new_model_name()
    experiment_id = store.client.get_experiment_by_name("jobs").experiment_id
    result = subprocess.run(
        [sys.executable, "-c", _LOG_WITH_OLD_CODE, store.uri, experiment_id, name,
         str(folder / "train.csv"), str(folder / "score.csv")],
        cwd=old_code, capture_output=True, text=True, check=False,
        env={"PATH": str(Path(sys.executable).parent), "HOME": str(folder)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    logged = json.loads(result.stdout.strip().splitlines()[-1])
    return name, logged["version"], scored, pd.DataFrame(logged["answers"])


def test_a_legacy_version_ships_the_flat_package(legacy):
    name, version, _, _ = legacy
    files = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/{version}"))
    assert (files / "code" / "titanic_model" / "features.py").exists()
    assert not (files / "code" / "titanic_model" / "model" / "__init__.py").exists()


def test_a_legacy_version_has_no_digest_and_is_refused_unless_pinned(legacy):
    name, version, _, _ = legacy
    with pytest.raises(TamperedModelError, match="no model_digest tag"):
        download_verified(f"models:/{name}/{version}")


def test_a_pinned_legacy_version_answers_as_it_did_with_its_own_code(legacy):
    name, version, scored, answered_then = legacy
    files = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/{version}"))
    pinned = manifest_digest(file_manifest(files))  # what a deployer reviews and pins

    model = load_verified_model(f"models:/{name}/{version}", pinned)

    answers = model.predict(scored)
    pd.testing.assert_frame_equal(answers, answered_then, check_dtype=False, check_exact=True)
    assert type(model.unwrap_python_model()).__module__ == "titanic_model.model"
