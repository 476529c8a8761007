"""MLproject against the configs: the configs are the one source of parameter names and defaults."""

from __future__ import annotations

import shlex

import pytest
import yaml

from tests.processes import PROJECT_ROOT
from titanic_model.cli import JOBS

ENTRY_POINTS = yaml.safe_load((PROJECT_ROOT / "MLproject").read_text())["entry_points"]
# What a user must give where a parameter has no default.
REQUIRED = {
    "evaluate_best": {"experiment_name": "workflow-1"},
    "predict": {"input_uri": "t.csv"},
    "monitor": {"log_uri": "predictions"},
    "compare": {"log_uri": "predictions"},
    "request_labels": {"log_uri": "predictions"},
    "collect_labels": {"output_uri": "labels.csv"},
}


@pytest.mark.parametrize("job", JOBS)
def test_mlproject_declares_exactly_the_jobs_parameters(job):
    declared = ENTRY_POINTS[job]["parameters"]
    assert sorted(declared) == sorted(JOBS[job].config.parameter_names())


@pytest.mark.parametrize("job", JOBS)
def test_mlproject_defaults_are_the_configs_defaults(job):
    declared = ENTRY_POINTS[job]["parameters"]
    defaults = {name: str(spec["default"]) for name, spec in declared.items() if "default" in spec}
    assert set(declared) - set(defaults) == set(REQUIRED.get(job, {}))
    config = JOBS[job].config

    assert config.from_params(defaults | REQUIRED.get(job, {})) == config.from_params(
        REQUIRED.get(job, {})
    )


@pytest.mark.parametrize("job", JOBS)
def test_every_parameter_reaches_the_job_under_its_own_name(job):
    command = shlex.split(ENTRY_POINTS[job]["command"])
    assert command[:4] == ["python", "-m", "entrypoints", job]
    options = command[4:]
    assert options[::2] == [f"--{name}" for name in ENTRY_POINTS[job]["parameters"]]
    assert options[1::2] == [f"{{{name}}}" for name in ENTRY_POINTS[job]["parameters"]]


@pytest.mark.parametrize("job", JOBS)
def test_every_parameter_is_described(job):
    assert all(description for _, description in JOBS[job].config.describe().values())
