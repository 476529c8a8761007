"""Static checks of what is deployed: Kubernetes manifests (strict schemas), image and ignore file.

These machines have no Docker engine and no cluster: the manifests are validated offline
against Kubernetes' own schemas (kubernetes-validate) and checked for what the project
promises; the image's entry script is exercised for real in tests/integration/test_web.py.
"""

from __future__ import annotations

import re
import subprocess

import kubernetes_validate
import pytest
import yaml

from tests.processes import PROJECT_ROOT

DEPLOYMENT = PROJECT_ROOT / "deployment"
KUBERNETES = DEPLOYMENT / "kubernetes"
DOCKERFILE = DEPLOYMENT / "Dockerfile"
KUBERNETES_VERSION = "1.33.0"
USER_VARIABLES = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")


def _manifest(name: str) -> dict:
    return yaml.safe_load((KUBERNETES / name).read_text())


@pytest.mark.parametrize("name", ["deployment.yaml", "service.yaml", "ingress.yaml"])
def test_manifests_pass_strict_kubernetes_schemas(name):
    kubernetes_validate.validate(_manifest(name), KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest():
    kustomization = _manifest("kustomization.yaml")
    listed = set(kustomization["resources"]) | {p["path"] for p in kustomization["patches"]}
    assert listed == {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}


def test_the_manifests_pin_the_released_version_and_its_digest():
    built = subprocess.run(
        ["kubectl", "kustomize", str(KUBERNETES)], capture_output=True, text=True, check=True
    ).stdout
    documents = yaml.safe_load_all(built)
    (deployment,) = [
        d for d in documents if d["kind"] == "Deployment" and d["metadata"]["name"] == "titanic"
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item.get("value", "") for item in container["env"]}
    assert re.fullmatch(r"models:/titanic/[1-9][0-9]*", env["MODEL_URI"])
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", env["MODEL_DIGEST"])


def _container() -> dict:
    (container,) = _manifest("deployment.yaml")["spec"]["template"]["spec"]["containers"]
    return container


def _port(name: str) -> int:
    (port,) = [p["containerPort"] for p in _container()["ports"] if p["name"] == name]
    return port


def test_deployment_serves_the_champion_through_the_tracking_server_without_store_keys():
    env = {item["name"]: item for item in _container()["env"]}
    assert env["MODEL_URI"]["value"] == "models:/titanic@champion"
    assert env["MLFLOW_TRACKING_URI"]["valueFrom"]["secretKeyRef"] == {
        "name": "titanic-mlflow", "key": "tracking-uri"
    }  # fmt: skip
    # Models come through the tracking server's proxy: no key or endpoint of the artifact store.
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MLFLOW_S3_ENDPOINT_URL"} & set(env)


def _secret_of_user(env: list[dict]) -> str:
    """The one Secret the tracking server's user and password come from, key for key."""
    refs = {item["name"]: item["valueFrom"]["secretKeyRef"] for item in env
            if item["name"] in USER_VARIABLES}  # fmt: skip
    assert set(refs) == set(USER_VARIABLES)
    assert all(ref["key"] == name for name, ref in refs.items())
    (secret,) = {ref["name"] for ref in refs.values()}
    return secret


def test_each_role_reads_its_own_credentials_from_its_own_secret():
    assert _secret_of_user(_container()["env"]) == "titanic-mlflow-serving"
    cron = yaml.safe_load((DEPLOYMENT / "argo" / "monitoring-cronworkflow.yaml").read_text())
    (monitor,) = cron["spec"]["workflowSpec"]["templates"]
    assert _secret_of_user(monitor["container"]["env"]) == "titanic-mlflow-monitoring"
    workflow = yaml.safe_load((DEPLOYMENT / "argo" / "training-workflow.yaml").read_text())
    steps = [t["container"] for t in workflow["spec"]["templates"] if "container" in t]
    assert len(steps) == 4
    for step in steps:
        # envFrom: the Secret's keys are the variables' names, as in the other two. The data
        # bucket's read-only keys have their own; the artifact store's are nobody's.
        assert step["envFrom"] == [
            {"secretRef": {"name": name}}
            for name in ("titanic-mlflow-env", "titanic-mlflow-training", "titanic-training-data")
        ]
        assert not any(item["name"] in USER_VARIABLES for item in step.get("env", []))


def test_no_manifest_carries_a_credential_or_a_secret():
    manifests = [*DEPLOYMENT.rglob("*.yaml"), *DEPLOYMENT.rglob("*.yml")]
    assert len(manifests) >= 9
    for path in manifests:
        text = path.read_text()
        for document in yaml.safe_load_all(text):
            assert not (isinstance(document, dict) and document.get("kind") == "Secret"), path
        # A password is only ever named, never given: no `value:` after the variable.
        assert not re.search(r"MLFLOW_TRACKING_PASSWORD\s*\n\s*value:", text), path
        assert not re.search(r"MLFLOW_TRACKING_PASSWORD\s*[=:]\s*\S", text), path


def test_deployment_is_pinned_probed_bounded_and_non_root():
    container = _container()
    assert re.fullmatch(r"[\w./-]+:v\d+\.\d+\.\d+", container["image"])
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/ping", "port": "http"}
    assert container["resources"]["limits"]["memory"]
    pod = _manifest("deployment.yaml")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def _pod_template() -> dict:
    return _manifest("deployment.yaml")["spec"]["template"]


def test_prometheus_scrapes_metrics_on_the_containers_metrics_port():
    annotations = _pod_template()["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(_port("metrics"))
    assert annotations["prometheus.io/path"] == "/metrics"


def _image_nginx_servers(tmp_path) -> dict[int, str]:
    """nginx's configuration as the image renders it: each server's text by its port."""
    image_env = dict(re.findall(r"^\s+(\w+_ADDRESS)=(\S+)", DOCKERFILE.read_text(), re.MULTILINE))
    subprocess.run(
        [str(DEPLOYMENT / "web.sh"), "render", str(tmp_path)],
        env={"PATH": "/usr/bin:/bin", **image_env}, check=True, capture_output=True,
    )  # fmt: skip
    config = (tmp_path / "nginx.conf").read_text()
    servers = config.split("server {")[1:]
    return {int(re.search(r"listen [\d.]+:(\d+);", s)[1]): s for s in servers}


def test_metrics_are_reachable_in_the_cluster_but_not_through_the_ingress(tmp_path):
    # The Ingress leads only to the Service's port "http", which leads only to the pod's "http".
    rules = _manifest("ingress.yaml")["spec"]["rules"]
    paths = [path for rule in rules for path in rule["http"]["paths"]]
    assert paths
    assert {(p["backend"]["service"]["name"], p["backend"]["service"]["port"]["name"])
            for p in paths} == {("titanic", "http")}  # fmt: skip
    service_ports = _manifest("service.yaml")["spec"]["ports"]
    assert [(p["name"], p["targetPort"]) for p in service_ports] == [("http", "http")]
    # Prometheus scrapes the pod directly, on a port nothing public leads to.
    scraped = int(_pod_template()["metadata"]["annotations"]["prometheus.io/port"])
    assert scraped == _port("metrics") != _port("http")
    # nginx in the image: the public port refuses /metrics, the metrics port serves it.
    servers = _image_nginx_servers(tmp_path)
    assert set(servers) == {_port("http"), _port("metrics")}
    assert re.search(r"location = /metrics \{\s+return 404;", servers[_port("http")])
    assert re.search(r"location = /metrics \{[^}]*\}[^}]*proxy_pass http://scoring;",
                     servers[_port("metrics")])  # fmt: skip
    assert "/invocations" not in servers[_port("metrics")]


def test_the_workers_share_metrics_through_a_per_pod_memory_folder():
    env = {item["name"]: item for item in _container()["env"]}
    assert int(env["WORKERS"]["value"]) >= 2
    folder = env["PROMETHEUS_MULTIPROC_DIR"]["value"]
    (mount,) = [m for m in _container()["volumeMounts"] if m["mountPath"] == folder]
    assert not mount.get("readOnly")
    (volume,) = [v for v in _pod_template()["spec"]["volumes"] if v["name"] == mount["name"]]
    assert volume == {"name": mount["name"], "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}


def test_predictions_are_logged_to_s3_with_the_log_buckets_own_keys():
    env = {item["name"]: item for item in _container()["env"]}
    assert re.fullmatch(r"s3://[a-z0-9.-]+/[\w./-]+", env["TITANIC_PREDICTION_LOG"]["value"])
    for name in ("S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        variable = f"TITANIC_PREDICTION_LOG_{name}"
        assert env[variable]["valueFrom"]["secretKeyRef"] == {
            "name": "titanic-prediction-log-writer", "key": variable
        }  # fmt: skip


def test_service_and_ingress_reach_the_container_port():
    (service_port,) = _manifest("service.yaml")["spec"]["ports"]
    assert service_port["targetPort"] == "http"
    (rule,) = _manifest("ingress.yaml")["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert path["backend"]["service"] == {"name": "titanic", "port": {"name": "http"}}
    assert f"EXPOSE {_port('http')} {_port('metrics')}" in DOCKERFILE.read_text()


def test_ingress_allows_pages_hosted_elsewhere_to_call_the_model():
    annotations = _manifest("ingress.yaml")["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/enable-cors"] == "true"
    assert annotations["nginx.ingress.kubernetes.io/cors-allow-origin"].startswith("https://")
    assert "POST" in annotations["nginx.ingress.kubernetes.io/cors-allow-methods"]
    assert "Content-Type" in annotations["nginx.ingress.kubernetes.io/cors-allow-headers"]


def test_image_is_pinned_non_root_healthy_and_installed_by_the_ci_script():
    dockerfile = DOCKERFILE.read_text()
    # The real base by default; the tests' stand-in only as a build argument.
    assert re.search(r"^ARG BASE_IMAGE=python:\d+\.\d+\.\d+-slim-\w+$", dockerfile, re.MULTILINE)
    assert re.findall(r"^FROM .*$", dockerfile, re.MULTILINE) == ["FROM ${BASE_IMAGE}"]
    assert re.search(r"^USER app$", dockerfile, re.MULTILINE)
    assert "deployment/install.sh" in dockerfile
    assert "PROFILE=runtime" in dockerfile
    assert re.search(r'^HEALTHCHECK .*\n?.*CMD \["deployment/web.sh", "health"\]$', dockerfile,
                     re.MULTILINE)  # fmt: skip
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


def _secrets_read(node: object) -> set[tuple[str, str | None]]:
    """Every (Secret, key) a manifest reads; the key None for a whole Secret (``envFrom``)."""
    if isinstance(node, list):
        return set().union(*map(_secrets_read, node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = set().union(*map(_secrets_read, node.values())) if node else set()
    if "secretKeyRef" in node:
        found.add((node["secretKeyRef"]["name"], node["secretKeyRef"]["key"]))
    if "secretRef" in node:
        found.add((node["secretRef"]["name"], None))
    return found


def _documented_secrets() -> dict[str, set[str]]:
    """What the ``kubectl create secret`` commands of docs/deployment.md and review.md create."""
    text = "\n".join((PROJECT_ROOT / "docs" / name).read_text().replace("\\\n", " ")
                     for name in ("deployment.md", "review.md"))  # fmt: skip
    commands = re.findall(r"^kubectl create secret generic (\S+)(.*)$", text, re.MULTILINE)
    return {name: set(re.findall(r"--from-literal=([^=\s]+)=", rest)) for name, rest in commands}


# What would reach the artifact store: its keys and endpoint, as variables or as Secret keys.
STORE_KEYS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MLFLOW_S3_ENDPOINT_URL",
              "aws-access-key-id", "aws-secret-access-key", "s3-endpoint-url"}  # fmt: skip


def test_every_secret_read_is_documented_and_serving_and_monitoring_hold_no_store_key():
    documented = _documented_secrets()
    argo = DEPLOYMENT / "argo"
    reviews = yaml.safe_load_all((argo / "review-cronworkflows.yaml").read_text())
    manifests = {
        "serving": _manifest("deployment.yaml"),
        "monitoring": yaml.safe_load((argo / "monitoring-cronworkflow.yaml").read_text()),
        "training": yaml.safe_load((argo / "training-workflow.yaml").read_text()),
        **{review["metadata"]["name"]: review for review in reviews},
    }
    assert len(manifests) == 5
    # Buckets of their own, read with the AWS SDK's variables: the training data's (read only)
    # and the reviewers' labels'.
    other_buckets = {"titanic-training-data", "titanic-review-labels"}
    for role, manifest in manifests.items():
        read = _secrets_read(manifest)
        assert read, role
        for name, key in read:
            assert name in documented, (role, name)
            assert key is None or key in documented[name], (role, name, key)
        held = set().union(*(documented[name] for name, _ in read if name not in other_buckets))
        assert not held & STORE_KEYS, (role, held & STORE_KEYS)
    assert not STORE_KEYS & (documented["titanic-mlflow"] | documented["titanic-mlflow-env"])


def test_every_manifest_that_loads_a_model_and_the_image_refuse_pickles():
    argo = DEPLOYMENT / "argo"
    containers = [
        _container(),
        *(t["container"] for t in yaml.safe_load((argo / "monitoring-cronworkflow.yaml")
          .read_text())["spec"]["workflowSpec"]["templates"]),
        *(t["container"] for t in yaml.safe_load((argo / "training-workflow.yaml").read_text())
          ["spec"]["templates"] if "container" in t),
        *(t["container"] for review in yaml.safe_load_all((argo / "review-cronworkflows.yaml")
          .read_text()) for t in review["spec"]["workflowSpec"]["templates"] if "container" in t),
    ]  # fmt: skip
    assert len(containers) == 9
    for container in containers:
        env = {item["name"]: item.get("value") for item in container["env"]}
        assert env["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] == "false", container["image"]
    assert re.search(r"^\s+MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false$", DOCKERFILE.read_text(),
                     flags=re.MULTILINE)  # fmt: skip
