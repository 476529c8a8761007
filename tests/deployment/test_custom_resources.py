"""The Argo CD Application and the Argo Workflow, against the schemas of their CRDs (offline).

No Python package carries those schemas, so ``crd_schemas/validate.mjs`` validates them with
the pinned npm packages ``@kubernetes-models/argo-cd`` and ``@kubernetes-models/argo-workflows``
(installed by ``deployment/install.sh``). Broken copies prove the check can fail. The Workflow
is also checked strictly against the argo-workflows SDK in tests/integration/test_argo_workflow.py.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.processes import PROJECT_ROOT

VALIDATOR = PROJECT_ROOT / "tests" / "deployment" / "crd_schemas"
APPLICATION = PROJECT_ROOT / "deployment" / "argocd" / "application.yaml"
WORKFLOW = PROJECT_ROOT / "deployment" / "argo" / "training-workflow.yaml"


def _validate(*manifests: Path) -> subprocess.CompletedProcess:
    node = shutil.which("node")
    if node is None or not (VALIDATOR / "node_modules").is_dir():
        # A failure, not a skip: a skipped schema check would read as a passing one.
        pytest.fail(f"needs node and `npm ci --prefix {VALIDATOR}` (deployment/install.sh does it)")
    return subprocess.run(
        [node, str(VALIDATOR / "validate.mjs"), *map(str, manifests)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_application_and_the_workflow_match_their_crd_schemas():
    result = _validate(APPLICATION, WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        f"ok {APPLICATION} Application/titanic",
        f"ok {WORKFLOW} Workflow/titanic-training-",
    ]


def test_argocd_application_syncs_the_manifests_automatically():
    application = yaml.safe_load(APPLICATION.read_text())
    assert (application["apiVersion"], application["kind"]) == (
        "argoproj.io/v1alpha1",
        "Application",
    )
    assert application["spec"]["source"]["path"] == "deployment/kubernetes"
    assert (PROJECT_ROOT / application["spec"]["source"]["path"] / "kustomization.yaml").is_file()
    assert application["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}


def _self_heal_as_a_string(manifest: dict) -> None:
    manifest["spec"]["syncPolicy"]["automated"]["selfHeal"] = "yes"


def _no_repo_url(manifest: dict) -> None:
    del manifest["spec"]["source"]["repoURL"]


def _parallelism_as_a_word(manifest: dict) -> None:
    manifest["spec"]["parallelism"] = "four"


def _command_as_a_string(manifest: dict) -> None:
    manifest["spec"]["templates"][1]["container"]["command"] = "mlflow run ."


def _steps_not_in_parallel_groups(manifest: dict) -> None:
    # validate.mjs reshapes each group (a list) for the generated schema: a group that is a
    # single step instead must still fail, as it does in Argo.
    steps = manifest["spec"]["templates"][0]["steps"]
    steps[:] = [step for group in steps for step in group]


@pytest.mark.parametrize(
    ("source", "breakage", "reason"),
    [
        (APPLICATION, _self_heal_as_a_string, "spec/syncPolicy/automated/selfHeal must be boolean"),
        (APPLICATION, _no_repo_url, "spec/source must have required property repoURL"),
        (WORKFLOW, _parallelism_as_a_word, "spec/parallelism must be integer"),
        (WORKFLOW, _command_as_a_string, "spec/templates/1/container/command must be array"),
        (WORKFLOW, _steps_not_in_parallel_groups, "spec/templates/0/steps/0 must have required"),
    ],
    ids=["selfHeal", "repoURL", "parallelism", "command", "steps"],
)
def test_the_check_fails_a_broken_copy_and_names_the_field(
    source: Path, breakage: Callable[[dict], None], reason: str, tmp_path
):
    manifest = yaml.safe_load(source.read_text())
    breakage(manifest)
    broken = tmp_path / source.name
    broken.write_text(yaml.safe_dump(manifest))
    result = _validate(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = result.stdout.splitlines()
    name = manifest["metadata"].get("name") or manifest["metadata"]["generateName"]
    assert line.startswith(f"invalid {broken} {manifest['kind']}/{name}: ")
    assert reason in line


def test_a_kind_with_no_schema_fails(tmp_path):
    config_map = tmp_path / "config-map.yaml"
    config_map.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: titanic\n")
    result = _validate(APPLICATION, config_map)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"ok {APPLICATION} Application/titanic",
        f"invalid {config_map} ConfigMap/titanic: no schema here for apiVersion v1, kind ConfigMap",
    ]
