"""Static checks of what is deployed: Kubernetes manifests (strict schemas), image and ignore file.

These machines have no Docker engine and no cluster: the manifests are validated offline
against Kubernetes' own schemas (kubernetes-validate) and checked for what the project
promises; the image's entry script is exercised for real in tests/integration/test_web.py.
"""

from __future__ import annotations

import re

import kubernetes_validate
import pytest
import yaml

from tests.processes import PROJECT_ROOT

KUBERNETES = PROJECT_ROOT / "deployment" / "kubernetes"
DOCKERFILE = PROJECT_ROOT / "deployment" / "Dockerfile"
KUBERNETES_VERSION = "1.33.0"


def _manifest(name: str) -> dict:
    return yaml.safe_load((KUBERNETES / name).read_text())


@pytest.mark.parametrize("name", ["deployment.yaml", "service.yaml", "ingress.yaml"])
def test_manifests_pass_strict_kubernetes_schemas(name):
    kubernetes_validate.validate(_manifest(name), KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest():
    listed = set(_manifest("kustomization.yaml")["resources"])
    assert listed == {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}


def _container() -> dict:
    (container,) = _manifest("deployment.yaml")["spec"]["template"]["spec"]["containers"]
    return container


def test_deployment_serves_the_champion_with_credentials_from_a_secret():
    env = {item["name"]: item for item in _container()["env"]}
    assert env["MODEL_URI"]["value"] == "models:/titanic@champion"
    for name in ("MLFLOW_TRACKING_URI", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert "value" not in env[name]
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "titanic-mlflow"


def test_deployment_is_pinned_probed_bounded_and_non_root():
    container = _container()
    assert re.fullmatch(r"[\w./-]+:v\d+\.\d+\.\d+", container["image"])
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/ping", "port": "http"}
    assert container["resources"]["limits"]["memory"]
    pod = _manifest("deployment.yaml")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def _pod_template() -> dict:
    return _manifest("deployment.yaml")["spec"]["template"]


def test_prometheus_scrapes_metrics_on_the_container_port():
    annotations = _pod_template()["metadata"]["annotations"]
    (port,) = _container()["ports"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port["containerPort"])
    assert annotations["prometheus.io/path"] == "/metrics"


def test_the_workers_share_metrics_through_a_per_pod_memory_folder():
    env = {item["name"]: item for item in _container()["env"]}
    assert int(env["WORKERS"]["value"]) >= 2
    folder = env["PROMETHEUS_MULTIPROC_DIR"]["value"]
    (mount,) = [m for m in _container()["volumeMounts"] if m["mountPath"] == folder]
    assert not mount.get("readOnly")
    (volume,) = [v for v in _pod_template()["spec"]["volumes"] if v["name"] == mount["name"]]
    assert volume == {"name": mount["name"], "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}


def test_predictions_are_logged_to_s3_with_the_secrets_credentials():
    env = {item["name"]: item for item in _container()["env"]}
    assert re.fullmatch(r"s3://[a-z0-9.-]+/[\w./-]+", env["TITANIC_PREDICTION_LOG"]["value"])
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "titanic-mlflow"


def test_service_and_ingress_reach_the_container_port():
    (port,) = _container()["ports"]
    (service_port,) = _manifest("service.yaml")["spec"]["ports"]
    assert service_port["targetPort"] == port["name"]
    (rule,) = _manifest("ingress.yaml")["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert path["backend"]["service"] == {"name": "titanic", "port": {"name": "http"}}
    assert f"EXPOSE {port['containerPort']}" in DOCKERFILE.read_text()


def test_ingress_allows_pages_hosted_elsewhere_to_call_the_model():
    annotations = _manifest("ingress.yaml")["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/enable-cors"] == "true"
    assert annotations["nginx.ingress.kubernetes.io/cors-allow-origin"].startswith("https://")
    assert "POST" in annotations["nginx.ingress.kubernetes.io/cors-allow-methods"]
    assert "Content-Type" in annotations["nginx.ingress.kubernetes.io/cors-allow-headers"]


def test_image_is_pinned_non_root_healthy_and_installed_by_the_ci_script():
    dockerfile = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:\d+\.\d+\.\d+-slim-\w+$", dockerfile, re.MULTILINE)
    assert re.search(r"^USER app$", dockerfile, re.MULTILINE)
    assert "deployment/install.sh" in dockerfile
    assert "PROFILE=runtime" in dockerfile
    assert re.search(r"^HEALTHCHECK .*\n?.*/ping", dockerfile, re.MULTILINE)
    assert 'CMD ["deployment/web.sh", "start"]' in dockerfile


def test_the_image_gets_no_data_stores_or_credentials():
    rules = (PROJECT_ROOT / ".dockerignore").read_text().split()
    assert rules[rules.index("*")] == "*"  # everything is excluded unless listed
    allowed = {rule.removeprefix("!").rstrip("/") for rule in rules if rule.startswith("!")}
    assert allowed == {
        "requirements.lock", "pyproject.toml", "MLproject", "conda.yaml", "titanic_model",
        "entrypoints", "deployment",
    }  # fmt: skip
    assert not list((PROJECT_ROOT / "deployment").rglob("*.csv"))
