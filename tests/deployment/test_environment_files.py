"""The environments MLflow builds agree with what `make` installs: conda.yaml against the lock."""

from __future__ import annotations

import re
import tomllib

import yaml

from tests.processes import PROJECT_ROOT


def _name(requirement: str) -> str:
    """A distribution's normalised name (PEP 503): ``PyYAML`` and ``pyyaml`` are one."""
    return re.sub(r"[-_.]+", "-", re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]).lower()


def _pins(lines: list[str]) -> dict[str, str]:
    return {_name(line): line.split("==", 1)[1] for line in lines if "==" in line}


CONDA = yaml.safe_load((PROJECT_ROOT / "conda.yaml").read_text())["dependencies"]
PIP = next(entry["pip"] for entry in CONDA if isinstance(entry, dict))
LOCK = _pins((PROJECT_ROOT / "requirements.lock").read_text().splitlines())
PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]


def test_conda_pins_every_package_to_the_locks_version():
    assert all("==" in line for line in PIP), PIP
    assert {name: version for name, version in _pins(PIP).items()} == {
        name: LOCK[name] for name in _pins(PIP)
    }


def test_conda_has_every_runtime_dependency_of_the_project():
    assert {_name(d) for d in PYPROJECT["dependencies"]} <= set(_pins(PIP))


def test_conda_pins_the_interpreter_of_the_image_exactly():
    (python,) = [entry for entry in CONDA if isinstance(entry, str) and entry.startswith("python")]
    image = re.search(r"^ARG BASE_IMAGE=python:(\d+\.\d+\.\d+)-", (PROJECT_ROOT / "deployment" /
                      "Dockerfile").read_text(), flags=re.MULTILINE)  # fmt: skip
    assert python == f"python={image[1]}"
    assert PYPROJECT["requires-python"] == ">=3.11,<3.12"
