"""The monitoring report: every field and figure, nothing from the log as markup, shipped."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tests.processes import PROJECT_ROOT
from titanic_model.monitoring.drift import MONITORED_FIELDS, Thresholds
from titanic_model.monitoring.report import render_report

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def report(window) -> str:
    # A model's name read from the log, like the log's location, is text: never markup.
    first, current = window.assessments
    hostile = replace(first, reference=replace(first.reference, model_name=HOSTILE))
    return render_report(
        replace(window, assessments=[hostile, current]),
        log_uri=f"/logs/{HOSTILE}",
        since=datetime(2026, 11, 24, tzinfo=UTC),
        until=None,
        thresholds=Thresholds(),
    )


def test_the_report_shows_every_field_of_every_version_and_the_live_quality(report, window):
    tests = {"number": "Kolmogorov-Smirnov", "category": "chi-square"}
    kinds = {field: kind.value for field, kind in MONITORED_FIELDS.items()} | {
        "probability": "number"
    }
    for field, kind in kinds.items():
        row = f"<td>{field}</td><td>{tests.get(kind, 'missing share only')}</td>"
        assert report.count(row) == 2, field  # one row per version
    assert report.index("titanic version 2:") < report.index(" version 1:")
    assert report.count("<img") == 2 * (9 + 1) + 1  # fields and answers per version; calibration
    assert "Live quality: 120 labelled record(s)" in report
    assert "window 2026-11-24 00:00:00+00:00 to now" in report
    assert "Drifted fields: <b>Pclass</b>" in report
    assert '<tr class="flag"><td>Pclass</td><td>chi-square</td>' in report
    assert "<td>Cabin</td><td>missing share only</td><td>n/a</td><td>n/a</td>" in report
    accuracy = window.quality.metrics["accuracy"]
    assert f"<tr><td>accuracy</td><td>{accuracy:.3f}</td>" in report


def test_nothing_from_the_log_or_the_parameters_becomes_markup(report):
    assert HOSTILE not in report
    assert report.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2


def test_the_template_ships_in_the_package_and_is_found_where_it_is_installed(tmp_path):
    # What an install holds: setuptools' build of the package from its pyproject, in a copy
    # of the sources (the build writes its metadata next to them).
    source = tmp_path / "source"
    shutil.copytree(PROJECT_ROOT / "titanic_model", source / "titanic_model",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT_ROOT / name, source / name)
    installed = tmp_path / "installed"
    subprocess.run(
        [sys.executable, "-c", "import setuptools; setuptools.setup()", "--quiet",
         "build_py", "--build-lib", str(installed)],
        cwd=source, check=True, capture_output=True,
    )  # fmt: skip
    code = (
        "import titanic_model.monitoring.report as report\n"
        "print(report.__file__)\n"
        "print(report._template().filename)\n"
    )
    result = subprocess.run(
        [sys.executable, "-P", "-c", code],
        cwd=tmp_path, env={"PYTHONPATH": str(installed)}, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    module, template = result.stdout.splitlines()
    assert module.startswith(str(installed))
    assert template.startswith(str(installed))
