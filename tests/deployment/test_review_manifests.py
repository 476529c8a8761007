"""Label Studio on Kubernetes and the review CronWorkflows, validated as the other manifests are.

The Deployment, its PersistentVolumeClaim and Service against Kubernetes' strict schemas; the
CronWorkflows against their CRD's schema (``crd_schemas/validate.mjs``) and Argo's SDK models
strictly; and what ties them together: the token the jobs send is the one the Deployment
plants, the URL they call is the Service, the parameters they pass are their entry points',
the log they read is the one the serving Deployment writes, and the labels are collected
before the monitoring run reads them.
"""

from __future__ import annotations

import re

import kubernetes_validate
import pytest
import yaml
from argo_workflows.configuration import Configuration
from argo_workflows.model.io_argoproj_workflow_v1alpha1_cron_workflow import (
    IoArgoprojWorkflowV1alpha1CronWorkflow,
)
from argo_workflows.model_utils import validate_and_convert_types

from tests.deployment.test_custom_resources import _validate
from tests.deployment.test_manifests import KUBERNETES_VERSION
from tests.integration.test_argo_workflow import _unknown_fields
from tests.processes import PROJECT_ROOT

DEPLOYMENT = PROJECT_ROOT / "deployment"
LABEL_STUDIO = DEPLOYMENT / "kubernetes" / "label-studio.yaml"
CRON_WORKFLOWS = DEPLOYMENT / "argo" / "review-cronworkflows.yaml"
MONITORING = DEPLOYMENT / "argo" / "monitoring-cronworkflow.yaml"
LOCK = DEPLOYMENT / "label_studio" / "requirements.lock"
SECRET = "titanic-label-studio"


def _documents(path) -> dict[str, dict]:
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in yaml.safe_load_all(path.read_text())}


def _label_studio() -> dict[str, dict]:
    return _documents(LABEL_STUDIO)


def _container() -> dict:
    deployment = _label_studio()["Deployment/titanic-label-studio"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _env(container: dict) -> dict[str, dict]:
    return {item["name"]: item for item in container["env"]}


@pytest.mark.parametrize("name", list(_label_studio()))
def test_label_studio_passes_strict_kubernetes_schemas(name):
    kubernetes_validate.validate(_label_studio()[name], KUBERNETES_VERSION, strict=True)


def test_label_studio_runs_the_locked_release_once_on_its_volume():
    documents = _label_studio()
    deployment = documents["Deployment/titanic-label-studio"]
    container = _container()
    locked = re.search(r"^label-studio==(\S+)$", LOCK.read_text(), re.MULTILINE)[1]
    assert container["image"] == f"heartexlabs/label-studio:{locked}"
    # SQLite, one writer; the volume is ReadWriteOnce.
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    claim = documents["PersistentVolumeClaim/titanic-label-studio"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    pod = deployment["spec"]["template"]["spec"]
    (volume,) = pod["volumes"]
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    (mount,) = container["volumeMounts"]
    assert mount["name"] == volume["name"]
    env = _env(container)
    assert env["LABEL_STUDIO_BASE_DATA_DIR"]["value"] == mount["mountPath"]
    assert env["LABEL_STUDIO_DATABASE_NAME"]["value"].startswith(mount["mountPath"] + "/")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["resources"]["limits"]["memory"]


def test_label_studio_takes_its_admin_and_token_from_a_secret_and_closes_sign_up():
    env = _env(_container())
    for variable, key in (("LABEL_STUDIO_USERNAME", "username"),
                          ("LABEL_STUDIO_PASSWORD", "password"),
                          ("LABEL_STUDIO_USER_TOKEN", "api-key")):  # fmt: skip
        assert env[variable]["valueFrom"]["secretKeyRef"] == {"name": SECRET, "key": key}
    # A planted token is accepted only as a legacy token.
    assert env["LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN"]["value"] == "true"
    assert env["LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK"]["value"] == "true"
    for variable in ("LABEL_STUDIO_SENTRY_DSN", "LABEL_STUDIO_FRONTEND_SENTRY_DSN"):
        assert env[variable]["value"] == ""


def test_the_cronworkflows_match_their_crd_schema_and_argos_api_strictly():
    result = _validate(CRON_WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        f"ok {CRON_WORKFLOWS} CronWorkflow/titanic-review-requests",
        f"ok {CRON_WORKFLOWS} CronWorkflow/titanic-review-labels",
    ]
    for manifest in _documents(CRON_WORKFLOWS).values():
        validate_and_convert_types(
            manifest, (IoArgoprojWorkflowV1alpha1CronWorkflow,), ["cron_workflow"], True, True,
            configuration=Configuration(discard_unknown_keys=False),
        )  # fmt: skip
        assert _unknown_fields(manifest, IoArgoprojWorkflowV1alpha1CronWorkflow) == []


def test_the_check_fails_a_broken_review_cronworkflow(tmp_path):
    documents = list(yaml.safe_load_all(CRON_WORKFLOWS.read_text()))
    documents[1]["spec"]["workflowSpec"]["templates"][1]["container"]["args"] = "-P x=1"
    broken = tmp_path / CRON_WORKFLOWS.name
    broken.write_text(yaml.safe_dump_all(documents))
    result = _validate(broken)
    assert result.returncode == 1
    first, second = result.stdout.splitlines()
    assert first == f"ok {broken} CronWorkflow/titanic-review-requests"
    assert second.startswith(f"invalid {broken} CronWorkflow/titanic-review-labels: ")
    assert "spec/workflowSpec/templates/1/container/args must be array" in second


def _steps(name: str) -> dict[str, list[str]]:
    """Each container template of a CronWorkflow: its command line with the defaults filled in."""
    spec = _documents(CRON_WORKFLOWS)[f"CronWorkflow/{name}"]["spec"]["workflowSpec"]
    defaults = {f"workflow.parameters.{p['name']}": p["value"]
                for p in spec["arguments"]["parameters"]}  # fmt: skip
    return {
        template["name"]: [re.sub(r"\{\{([\w.\-]+)\}\}", lambda m: defaults[m[1]], part)
                           for part in template["container"]["command"]
                           + template["container"]["args"]]
        for template in spec["templates"] if "container" in template
    }  # fmt: skip


def _options(line: list[str]) -> dict[str, str]:
    options = line[9:]
    assert options[::2] == ["-P"] * (len(options) // 2)
    return dict(option.split("=", 1) for option in options[1::2])


def test_labels_are_requested_hourly_and_collected_daily_before_the_monitoring_run():
    entry_points = yaml.safe_load((PROJECT_ROOT / "MLproject").read_text())["entry_points"]
    (request,) = _steps("titanic-review-requests").values()
    collect, monitor = _steps("titanic-review-labels").values()
    for line, entry_point in ((request, "request_labels"), (collect, "collect_labels"),
                              (monitor, "monitor")):  # fmt: skip
        assert line[:9] == ["mlflow", "run", ".", "-e", entry_point, "--env-manager", "local",
                            "--experiment-name", "titanic-monitoring"]  # fmt: skip
        assert set(_options(line)) <= set(entry_points[entry_point]["parameters"])
    documents = _documents(CRON_WORKFLOWS)
    assert documents["CronWorkflow/titanic-review-requests"]["spec"]["schedules"] == ["0 * * * *"]
    (daily,) = documents["CronWorkflow/titanic-review-labels"]["spec"]["schedules"]
    (drift_check,) = yaml.safe_load(MONITORING.read_text())["spec"]["schedules"]
    minute, hour = (int(part) for part in daily.split()[:2])
    drift_minute, drift_hour = (int(part) for part in drift_check.split()[:2])
    assert (hour, minute) < (drift_hour, drift_minute)
    # The labels collected are the ones the monitoring step reads, from the log served.
    assert _options(collect)["output_uri"] == _options(monitor)["labels_uri"]
    serving = yaml.safe_load((DEPLOYMENT / "kubernetes" / "deployment.yaml").read_text())
    (served,) = serving["spec"]["template"]["spec"]["containers"]
    log = _env(served)["TITANIC_PREDICTION_LOG"]["value"]
    assert _options(request)["log_uri"] == _options(monitor)["log_uri"] == log


def test_the_jobs_call_the_service_with_the_token_the_deployment_plants():
    service = _label_studio()["Service/titanic-label-studio"]
    (port,) = service["spec"]["ports"]
    planted = _env(_container())["LABEL_STUDIO_USER_TOKEN"]["valueFrom"]
    for manifest in _documents(CRON_WORKFLOWS).values():
        for template in manifest["spec"]["workflowSpec"]["templates"]:
            if "container" not in template:
                continue
            env = _env(template["container"])
            assert env["LABEL_STUDIO_URL"]["value"] == (
                f"http://{service['metadata']['name']}:{port['port']}"
            )
            assert env["LABEL_STUDIO_API_KEY"]["valueFrom"] == planted
            assert all("valueFrom" in item for name, item in env.items()
                       if name not in {"LABEL_STUDIO_URL",
                                       "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"})  # fmt: skip
            secrets = {item["valueFrom"]["secretKeyRef"]["name"] for item in env.values()
                       if "valueFrom" in item}  # fmt: skip
            assert "titanic-mlflow-monitoring" in secrets
