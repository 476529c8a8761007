"""The Argo CD Application, the Argo Workflow and CronWorkflow, the Argo Rollout and its
AnalysisTemplate, against their CRDs' schemas.

No Python package carries those schemas, so ``crd_schemas/validate.mjs`` validates them offline
with the pinned npm packages ``@kubernetes-models/argo-cd``, ``@kubernetes-models/argo-workflows``
and ``@kubernetes-models/argo-rollouts`` (installed by ``deployment/install.sh``). Broken copies
prove the check can fail. The Rollout's wiring and its analysis' queries are tested in
test_canary_analysis.py. The Workflow is also checked strictly against the argo-workflows SDK
in tests/integration/test_argo_workflow.py, and the CronWorkflow here; the CronWorkflow's
command is held to the ``monitor`` entry point of MLproject.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from argo_workflows.configuration import Configuration
from argo_workflows.model.io_argoproj_workflow_v1alpha1_cron_workflow import (
    IoArgoprojWorkflowV1alpha1CronWorkflow,
)
from argo_workflows.model_utils import validate_and_convert_types

from tests.integration.test_argo_workflow import _unknown_fields
from tests.processes import PROJECT_ROOT

VALIDATOR = PROJECT_ROOT / "tests" / "deployment" / "crd_schemas"
APPLICATION = PROJECT_ROOT / "deployment" / "argocd" / "application.yaml"
WORKFLOW = PROJECT_ROOT / "deployment" / "argo" / "training-workflow.yaml"
CRON_WORKFLOW = PROJECT_ROOT / "deployment" / "argo" / "monitoring-cronworkflow.yaml"
DEPLOYMENT = PROJECT_ROOT / "deployment" / "kubernetes" / "deployment.yaml"
ROLLOUT = PROJECT_ROOT / "deployment" / "kubernetes" / "rollout.yaml"
ANALYSIS_TEMPLATE = PROJECT_ROOT / "deployment" / "kubernetes" / "analysis-template.yaml"
MLPROJECT = PROJECT_ROOT / "MLproject"


def _validate(*manifests: Path) -> subprocess.CompletedProcess:
    node = shutil.which("node")
    if node is None or not (VALIDATOR / "node_modules").is_dir():
        # A failure, not a skip: a skipped schema check would read as a passing one.
        pytest.fail(f"needs node and `npm ci --prefix {VALIDATOR}` (deployment/install.sh does it)")
    return subprocess.run(
        [node, str(VALIDATOR / "validate.mjs"), *map(str, manifests)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_argo_resources_match_their_crd_schemas():
    result = _validate(APPLICATION, WORKFLOW, CRON_WORKFLOW, ROLLOUT, ANALYSIS_TEMPLATE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        f"ok {APPLICATION} Application/titanic",
        f"ok {WORKFLOW} Workflow/titanic-training-",
        f"ok {CRON_WORKFLOW} CronWorkflow/titanic-monitoring",
        f"ok {ROLLOUT} Rollout/titanic",
        f"ok {ANALYSIS_TEMPLATE} AnalysisTemplate/titanic-canary",
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


def _schedule_as_a_number(manifest: dict) -> None:
    manifest["spec"]["schedules"] = [6]


def _schedule_not_in_a_list(manifest: dict) -> None:
    # Argo Workflows v4 reads `schedules` only; the single `schedule` of v3 is gone.
    manifest["spec"]["schedule"] = manifest["spec"].pop("schedules")[0]


def _unknown_concurrency_policy(manifest: dict) -> None:
    manifest["spec"]["concurrencyPolicy"] = "Never"


def _metric_name_with_a_dash(manifest: dict) -> None:
    manifest["spec"]["workflowSpec"]["metrics"]["prometheus"][0]["name"] = "titanic-drift"


def _monitor_command_as_a_string(manifest: dict) -> None:
    # Inside workflowSpec: proves validate.mjs checks (and reshapes) a CronWorkflow's templates.
    manifest["spec"]["workflowSpec"]["templates"][0]["container"]["command"] = "mlflow run ."


def _weight_as_a_percentage(manifest: dict) -> None:
    manifest["spec"]["strategy"]["canary"]["steps"][0]["setWeight"] = "25%"


def _pause_as_a_list(manifest: dict) -> None:
    manifest["spec"]["strategy"]["canary"]["steps"][1]["pause"]["duration"] = ["5m"]


def _workload_ref_as_a_name(manifest: dict) -> None:
    manifest["spec"]["workloadRef"] = "titanic"


def _metric_without_a_provider(manifest: dict) -> None:
    del manifest["spec"]["metrics"][0]["provider"]


def _query_not_a_string(manifest: dict) -> None:
    query = manifest["spec"]["metrics"][1]["provider"]["prometheus"]["query"]
    manifest["spec"]["metrics"][1]["provider"]["prometheus"]["query"] = query.splitlines()


def _minimum_as_a_number(manifest: dict) -> None:
    # Argument values are strings (substituted into the query), never numbers.
    (minimum,) = [arg for arg in manifest["spec"]["args"] if arg["name"] == "min-requests"]
    minimum["value"] = int(minimum["value"])


# Each broken copy, by id: the manifest it comes from, how it is broken, and the reason the
# check must give. All of them are validated in one run of node (the packages load once).
BROKEN_COPIES: dict[str, tuple[Path, Callable[[dict], None], str]] = {
    "selfHeal": (
        APPLICATION,
        _self_heal_as_a_string,
        "spec/syncPolicy/automated/selfHeal must be boolean",
    ),
    "repoURL": (APPLICATION, _no_repo_url, "spec/source must have required property repoURL"),
    "parallelism": (WORKFLOW, _parallelism_as_a_word, "spec/parallelism must be integer"),
    "command": (WORKFLOW, _command_as_a_string, "spec/templates/1/container/command must be array"),
    "steps": (
        WORKFLOW,
        _steps_not_in_parallel_groups,
        "spec/templates/0/steps/0 must have required",
    ),
    "schedules": (CRON_WORKFLOW, _schedule_as_a_number, "spec/schedules/0 must be string"),
    "schedule": (
        CRON_WORKFLOW,
        _schedule_not_in_a_list,
        "spec must have required property schedules",
    ),
    "concurrencyPolicy": (
        CRON_WORKFLOW,
        _unknown_concurrency_policy,
        "spec/concurrencyPolicy must be equal to one of the allowed values",
    ),
    "metric-name": (
        CRON_WORKFLOW,
        _metric_name_with_a_dash,
        "spec/workflowSpec/metrics/prometheus/0/name must match pattern",
    ),
    "cron-command": (
        CRON_WORKFLOW,
        _monitor_command_as_a_string,
        "spec/workflowSpec/templates/0/container/command must be array",
    ),
    "setWeight": (
        ROLLOUT,
        _weight_as_a_percentage,
        "spec/strategy/canary/steps/0/setWeight must be integer",
    ),
    "pause": (
        ROLLOUT,
        _pause_as_a_list,
        "spec/strategy/canary/steps/1/pause/duration must be string",
    ),
    "workloadRef": (ROLLOUT, _workload_ref_as_a_name, "spec/workloadRef must be object"),
    "provider": (
        ANALYSIS_TEMPLATE,
        _metric_without_a_provider,
        "spec/metrics/0 must have required property provider",
    ),
    "query": (
        ANALYSIS_TEMPLATE,
        _query_not_a_string,
        "spec/metrics/1/provider/prometheus/query must be string",
    ),
    "arg-value": (ANALYSIS_TEMPLATE, _minimum_as_a_number, "spec/args/3/value must be string"),
}


@pytest.fixture(scope="module")
def broken_copies_checked(tmp_path_factory) -> dict[str, tuple[Path, dict, str]]:
    """Each broken copy's path, manifest and line of the check's report."""
    folder = tmp_path_factory.mktemp("broken")
    copies = {}
    for name, (source, breakage, _) in BROKEN_COPIES.items():
        manifest = yaml.safe_load(source.read_text())
        breakage(manifest)
        broken = folder / f"{name}-{source.name}"
        broken.write_text(yaml.safe_dump(manifest))
        copies[name] = (broken, manifest)
    result = _validate(*(path for path, _ in copies.values()))
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(copies), result.stdout + result.stderr
    return {name: (*copies[name], line) for name, line in zip(copies, lines, strict=True)}


@pytest.mark.parametrize("case", list(BROKEN_COPIES))
def test_the_check_fails_a_broken_copy_and_names_the_field(case, broken_copies_checked):
    broken, manifest, line = broken_copies_checked[case]
    name = manifest["metadata"].get("name") or manifest["metadata"]["generateName"]
    assert line.startswith(f"invalid {broken} {manifest['kind']}/{name}: ")
    assert BROKEN_COPIES[case][2] in line


def test_a_kind_with_no_schema_fails(tmp_path):
    config_map = tmp_path / "config-map.yaml"
    config_map.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: titanic\n")
    result = _validate(APPLICATION, config_map)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"ok {APPLICATION} Application/titanic",
        f"invalid {config_map} ConfigMap/titanic: no schema here for apiVersion v1, kind ConfigMap",
    ]


def test_the_cronworkflow_matches_argos_api_strictly():
    # The npm schemas let unknown fields through; the SDK's models, strictly, do not.
    manifest = yaml.safe_load(CRON_WORKFLOW.read_text())
    validate_and_convert_types(
        manifest, (IoArgoprojWorkflowV1alpha1CronWorkflow,), ["cron_workflow"], True, True,
        configuration=Configuration(discard_unknown_keys=False),
    )  # fmt: skip
    assert _unknown_fields(manifest, IoArgoprojWorkflowV1alpha1CronWorkflow) == []


def _monitor_container() -> tuple[dict, list[str]]:
    """The monitoring step's container and its command line, as Argo renders it by default."""
    spec = yaml.safe_load(CRON_WORKFLOW.read_text())["spec"]["workflowSpec"]
    (template,) = spec["templates"]
    assert spec["entrypoint"] == template["name"]
    defaults = {
        f"workflow.parameters.{p['name']}": p["value"] for p in spec["arguments"]["parameters"]
    }
    container = template["container"]
    line = container["command"] + container["args"]
    return container, [re.sub(r"\{\{([\w.\-]+)\}\}", lambda m: defaults[m[1]], a) for a in line]


def _monitor_entry_point() -> dict:
    return yaml.safe_load(MLPROJECT.read_text())["entry_points"]["monitor"]


def test_the_cronworkflow_runs_the_monitor_entry_point_daily_and_fails_on_drift():
    cron = yaml.safe_load(CRON_WORKFLOW.read_text())["spec"]
    assert (cron["schedules"], cron["timezone"], cron["concurrencyPolicy"]) == (
        ["0 6 * * *"], "UTC", "Forbid",
    )  # fmt: skip
    _, line = _monitor_container()
    experiment = _monitor_entry_point()["parameters"]["experiment_name"]["default"]
    assert line[:9] == ["mlflow", "run", ".", "-e", "monitor", "--env-manager", "local",
                        "--experiment-name", experiment]  # fmt: skip
    options = line[9:]
    assert options[::2] == ["-P"] * (len(options) // 2)
    assert dict(option.split("=", 1) for option in options[1::2]) == {
        "log_uri": "s3://titanic-prediction-log/production",
        "since": "P1D",
        "fail_on_drift": "true",
    }


def test_every_parameter_the_cronworkflow_passes_is_one_of_the_monitor_entry_point():
    _, line = _monitor_container()
    passed = [line[i + 1].split("=", 1)[0] for i, part in enumerate(line) if part == "-P"]
    assert passed
    assert set(passed) <= set(_monitor_entry_point()["parameters"]), passed


LOG_VARIABLES = (
    "TITANIC_PREDICTION_LOG_S3_ENDPOINT_URL",
    "TITANIC_PREDICTION_LOG_AWS_ACCESS_KEY_ID",
    "TITANIC_PREDICTION_LOG_AWS_SECRET_ACCESS_KEY",
)


def test_the_cronworkflow_reads_the_log_the_deployment_writes_with_keys_of_its_own():
    (serving,) = yaml.safe_load(DEPLOYMENT.read_text())["spec"]["template"]["spec"]["containers"]
    serving_env = {item["name"]: item for item in serving["env"]}
    container, line = _monitor_container()
    log_uri = serving_env["TITANIC_PREDICTION_LOG"]["value"]
    assert f"log_uri={log_uri}" in line
    # The log's own endpoint and keys: the Deployment writes with the writer's, the job reads
    # with the reader's, key for key. The tracking server's user is the job's own
    # (tests/deployment/test_manifests.py); the artifact store's keys are nobody's here.
    from_secrets = {item["name"]: item for item in container["env"] if "valueFrom" in item}
    assert set(from_secrets) == {
        "MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
        *LOG_VARIABLES,
    }  # fmt: skip
    assert from_secrets["MLFLOW_TRACKING_URI"] == serving_env["MLFLOW_TRACKING_URI"]
    for name in LOG_VARIABLES:
        reader = from_secrets[name]["valueFrom"]["secretKeyRef"]
        writer = serving_env[name]["valueFrom"]["secretKeyRef"]
        assert reader == {"name": "titanic-prediction-log-reader", "key": name}
        assert writer == {"name": "titanic-prediction-log-writer", "key": name}
    # No credential in plain text: the one plain value is a setting.
    plain = {item["name"]: item["value"] for item in container["env"] if "valueFrom" not in item}
    assert plain == {"MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false"}


def test_the_training_workflows_gate_holds_a_mutex():
    """Workflows run at once take turns at the gate (the registry's lock does too)."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    gates = [
        template for template in workflow["spec"]["templates"]
        if "evaluate_best" in template.get("container", {}).get("command", [])
    ]  # fmt: skip
    assert len(gates) == 1
    assert gates[0]["synchronization"] == {"mutexes": [{"name": "titanic-champion-gate"}]}
