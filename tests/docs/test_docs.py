"""The README's contracts against the code, and every link of the documentation."""

from __future__ import annotations

import inspect
import re

import pytest

from tests.processes import PROJECT_ROOT
from tests.serving_metrics import exposed_metrics
from titanic_model import names
from titanic_model.cli import JOBS

README = PROJECT_ROOT / "README.md"
PAGES = [README, *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
REQUIRED_EXAMPLES = {
    "experiment_name": "workflow-1", "input_uri": "t.csv", "log_uri": "logs",
    "output_uri": "labels.csv",
}  # fmt: skip


def _parameter_rows() -> list[tuple[str, list[str], str]]:
    """(parameter, entry points, default) per row of the README's parameter table."""
    rows = []
    for line in README.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"`\w+`", cells[0]):
            rows.append((cells[0].strip("`"), cells[1].split(", "), cells[2]))
    return rows


def test_the_readme_lists_every_parameter_of_every_entry_point():
    listed = {(name, job) for name, jobs, _ in _parameter_rows() for job in jobs}
    expected = {(name, job) for job, spec in JOBS.items() for name in spec.config.parameter_names()}
    assert listed == expected


@pytest.mark.parametrize(("name", "jobs", "default"), _parameter_rows(), ids=lambda v: str(v))
def test_the_readme_gives_each_parameters_default(name, jobs, default):
    for job in jobs:
        config = JOBS[job].config
        required = {k: v for k, v in REQUIRED_EXAMPLES.items() if k in config.parameter_names()}
        if default == "(required)":
            assert name in required, (name, job)
            continue
        text = "" if default == '`""`' else default.strip("`")
        others = {k: v for k, v in required.items() if k != name}
        assert config.from_params(others | {name: text}) == config.from_params(others), job


def _documented_names() -> list[str]:
    """Every run, tag, metric, artifact and dataset name of names.py; patterns with
    <placeholders>."""
    kinds = (
        "_tag",
        "_metric",
        "_artifact",
        "_plot",
        "best_param",
        "_run",
        "_split",
        "_dataset",
        "_context",
        "_baselines",
        "_data",
    )
    spelt = []
    for key, value in vars(names).items():
        if not key.lower().endswith(kinds) or key.startswith(("MLFLOW_", "is_", "from_")):
            continue  # MLflow's own tags, and the helpers that read names
        if isinstance(value, str):
            spelt.append(value)
        elif inspect.isfunction(value) and key != "grid_point_run":  # documented as grid-NN
            parameters = inspect.signature(value).parameters
            spelt.append(value(*(f"<{p}>" for p in parameters)))
    return spelt


@pytest.mark.parametrize("name", _documented_names())
def test_the_readme_documents_every_mlflow_name(name):
    assert f"`{name}`" in README.read_text(), name


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_reaches_a_file_and_its_heading(page):
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if target.startswith(("http://", "https://")):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.is_file(), (page.name, target)
        if anchor:
            headings = re.findall(r"^#+ (.+)$", linked.read_text(), flags=re.MULTILINE)
            assert anchor in {_slug(h) for h in headings}, (page.name, target)


def test_the_front_page_stays_short():
    # 200 before this turn's contracts came in: human review's jobs, the challenger's compare
    # and promote, the release, the prediction log's own storage, the shadow. The contract
    # table is most of it; the rest stays a page.
    assert len(README.read_text().splitlines()) <= 230


def test_the_readme_documents_the_serving_layers_metrics_and_settings(tmp_path):
    from titanic_model.serving import settings as config

    text = README.read_text()
    metric_names = list(exposed_metrics(tmp_path))
    assert len(metric_names) == 8
    variables = [config.PREDICTION_LOG_VARIABLE, config.LOG_NAMES_VARIABLE,
                 config.MAX_BODY_VARIABLE, config.SHADOW_MODEL_VARIABLE,
                 config.SHADOW_DIGEST_VARIABLE, "PROMETHEUS_MULTIPROC_DIR", "WORKERS"]  # fmt: skip
    for name in [*metric_names, *variables]:
        assert f"`{name}" in text, name


def test_the_readme_documents_every_field_of_the_prediction_log():
    import json
    from datetime import UTC, datetime

    import pandas as pd

    from titanic_model.model.schema import check_passengers
    from titanic_model.serving.log_writer import ModelIdentity, rejected_line, scored_lines

    identity = ModelIdentity("titanic", "1", "run")
    records = pd.DataFrame([{"Pclass": 1, "Name": "A, Mr. B", "Sex": "male", "SibSp": 0,
                             "Parch": 0, "Ticket": "1"}])  # fmt: skip
    predictions = pd.DataFrame({"survived": [0], "probability": [0.1]})
    now = datetime.now(UTC)
    columns = check_passengers(records)
    scored = json.loads(scored_lines(identity, "r", now, columns, predictions, full_names=True)[0])
    refused = json.loads(rejected_line(identity, "r", now, 400, "why", {}))
    section = README.read_text().split("**Prediction log**")[1].split("\n\n")[0]
    for field in {*scored, *refused, "Title"}:
        assert f"`{field}`" in section, field


def test_the_deployment_guide_lists_exactly_the_routes_the_tracking_server_opens():
    from titanic_model.tracking_server.rules import named_routes

    text = (PROJECT_ROOT / "docs" / "deployment.md").read_text()
    listed = re.findall(r"^\| `([\w/<>-]+)` \| ([A-Z ]+) \| (.+) \|$", text, flags=re.MULTILINE)
    api = set()
    for methods, path, why in named_routes():
        if re.match(r"/(ajax-)?api/2\.0/mlflow/", path):
            api.add((path.split("/mlflow/", 1)[1], methods, why))
            continue
        for method in methods.split():
            # The artifact proxy's routes are named after its prefix, the others in full.
            shown = path.split("/mlflow-artifacts/", 1)[-1] if "mlflow-artifacts" in path else path
            assert f"`{method} {shown}`" in text, (method, path)
    assert sorted(listed) == sorted(api)
