"""The monitoring of the served model: alert rules, their unit tests and the scrape config.

Checked with the real promtool (Debian's package `prometheus`, which `make system-deps`
installs): a missing promtool fails these tests rather than skipping them. Debian builds
Prometheus without Kubernetes service discovery, so the scrape config is checked as it is
where promtool knows `kubernetes_sd_configs`, and else with static targets in its place;
the relabelling that turns the Deployment's annotations into a target is replayed here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.processes import PROJECT_ROOT
from tests.serving_metrics import exposed_metrics

PROMETHEUS = PROJECT_ROOT / "deployment" / "prometheus"
ALERTS = PROMETHEUS / "alerts.yml"
ALERT_TESTS = PROMETHEUS / "alerts.test.yml"
CONFIG = PROMETHEUS / "prometheus.yml"
DEPLOYMENT = PROJECT_ROOT / "deployment" / "kubernetes" / "deployment.yaml"
MONITORING = PROJECT_ROOT / "deployment" / "argo" / "monitoring-cronworkflow.yaml"

# Not the serving layer's: the daily drift check's CronWorkflow defines the custom metric
# titanic_monitoring_drift, and Argo's workflow controller exports it with its prefix
# argo_workflows_. Exactly this name is let through the serving metric contract, and only
# because the CronWorkflow defines it (test_the_drift_alert_reads_the_metric_the_check_exports).
ARGO_EXPORTED = "argo_workflows_titanic_monitoring_drift"

NO_KUBERNETES_SD = "field kubernetes_sd_configs not found"


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool not found: install Debian's package `prometheus` (`make system-deps`)"
        )
    return path


def _run(*command: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(part) for part in command], capture_output=True, text=True)


def _groups() -> dict[str, list[dict]]:
    groups = {
        group["name"]: group["rules"] for group in yaml.safe_load(ALERTS.read_text())["groups"]
    }
    assert list(groups) == ["titanic-serving", "titanic-monitoring"]
    return groups


def _rules() -> list[dict]:
    return [rule for rules in _groups().values() for rule in rules]


def test_the_alert_rules_pass_promtool(promtool):
    result = _run(promtool, "check", "rules", ALERTS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alert_rules_pass_their_unit_tests(promtool):
    result = _run(promtool, "test", "rules", ALERT_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_unit_tests_fail_a_rule_with_a_wrong_threshold(promtool, tmp_path):
    broken = ALERTS.read_text().replace("> 0.01", "> 0.05")
    assert broken != ALERTS.read_text()
    (tmp_path / ALERTS.name).write_text(broken)
    shutil.copy(ALERT_TESTS, tmp_path)
    result = _run(promtool, "test", "rules", tmp_path / ALERT_TESTS.name)
    assert result.returncode != 0
    assert "TitanicHighErrorRatio" in result.stdout + result.stderr


def test_the_scrape_config_passes_promtool_with_its_rules(promtool, tmp_path):
    result = _run(promtool, "check", "config", CONFIG)
    if result.returncode != 0 and NO_KUBERNETES_SD in result.stderr:
        # Debian's build: the same config with static targets instead, rules by full path.
        config = yaml.safe_load(CONFIG.read_text())
        config["rule_files"] = [str(PROMETHEUS / name) for name in config["rule_files"]]
        for job in config["scrape_configs"]:
            assert [sd["role"] for sd in job.pop("kubernetes_sd_configs")] in (
                ["pod"],
                ["endpoints"],
            )
            job["static_configs"] = [{"targets": ["10.0.0.1:8080"]}]
        (tmp_path / CONFIG.name).write_text(yaml.safe_dump(config))
        result = _run(promtool, "check", "config", tmp_path / CONFIG.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert str(ALERTS) in result.stdout  # the rules were found and checked too
    assert "SUCCESS: 6 rules found" in result.stdout


def test_every_metric_the_alerts_use_is_in_the_serving_contract(tmp_path):
    exposed = exposed_metrics(tmp_path)

    def metric(series: str) -> str:
        """The metric a series belongs to: a histogram's _bucket, _sum and _count are its."""
        base = re.sub(r"_(bucket|sum|count)$", "", series)
        return base if exposed.get(base) == "histogram" else series

    def series(text: str) -> set[str]:
        """Whole metric names with titanic_ in them (so argo_workflows_titanic_… is one)."""
        return set(re.findall(r"\b[a-z_]*titanic_[a-z_]+", text))

    used = set()
    for rule in _rules():
        in_expr = series(rule["expr"])
        assert in_expr, rule["alert"]
        used |= in_expr | series(str(rule["annotations"]))
    assert ARGO_EXPORTED in used
    names = {metric(name) for name in used - {ARGO_EXPORTED}}
    assert names <= set(exposed), sorted(names - set(exposed))


def test_the_drift_alert_reads_the_metric_the_check_exports():
    workflow = yaml.safe_load(MONITORING.read_text())["spec"]["workflowSpec"]
    gauges = {metric["name"] for metric in workflow["metrics"]["prometheus"] if "gauge" in metric}
    assert ARGO_EXPORTED.removeprefix("argo_workflows_") in gauges
    (rule,) = _groups()["titanic-monitoring"]
    assert rule["alert"] == "TitanicDataDrift"
    assert ARGO_EXPORTED in rule["expr"]


def test_every_alert_has_a_severity_a_summary_and_what_to_do():
    rules = _rules()
    assert {rule["alert"] for rule in rules} == {
        "TitanicHighErrorRatio", "TitanicManyRejectedRequests", "TitanicSlowPredictions",
        "TitanicNoTraffic", "TitanicPredictionLogDropped", "TitanicDataDrift",
    }  # fmt: skip
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        what_to_do = re.search(r"\b(check|read|look)\b", rule["annotations"]["description"], re.I)
        assert what_to_do, rule["alert"]


def test_every_alert_adds_the_pods_up():
    # The serving pods' counters add up; the drift gauge is a state the Argo controllers (a
    # leader, maybe one taking over) each report, so it is their max.
    groups = _groups()
    for rule in groups["titanic-serving"]:
        assert re.search(r"sum without \(instance, pod\b", rule["expr"]), rule["alert"]
    for rule in groups["titanic-monitoring"]:
        assert re.search(r"max without \(instance, pod\)", rule["expr"]), rule["alert"]


def _relabel(labels: dict[str, str], rules: list[dict]) -> dict[str, str] | None:
    """Prometheus' relabelling (keep, drop, replace; anchored regexes), or None if dropped."""
    labels = dict(labels)
    for rule in rules:
        value = rule.get("separator", ";").join(labels.get(n, "") for n in rule["source_labels"])
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        action = rule.get("action", "replace")
        if (action == "keep" and not match) or (action == "drop" and match):
            return None
        if action == "replace" and match:
            replacement = re.sub(r"\$(\d+)", r"\\g<\1>", rule.get("replacement", "$1"))
            labels[rule["target_label"]] = match.expand(replacement)
    return labels


def _pod_targets(pod_ip: str) -> list[dict[str, str] | None]:
    """The targets the scrape config makes of a running pod of deployment.yaml.

    Prometheus discovers one per port the container declares.
    """
    template = yaml.safe_load(DEPLOYMENT.read_text())["spec"]["template"]
    (container,) = template["spec"]["containers"]
    return [_pod_target(template, pod_ip, port) for port in container["ports"]]


def _pod_target(template: dict, pod_ip: str, port: dict) -> dict[str, str] | None:
    meta = {
        "__address__": f"[{pod_ip}]:{port['containerPort']}"
        if ":" in pod_ip
        else f"{pod_ip}:{port['containerPort']}",
        "__metrics_path__": "/metrics-default",
        "__meta_kubernetes_namespace": "production",
        "__meta_kubernetes_pod_name": "titanic-7d9f-abcde",
        "__meta_kubernetes_pod_ip": pod_ip,
        "__meta_kubernetes_pod_phase": "Running",
    }
    for key, value in template["metadata"].get("annotations", {}).items():
        meta[f"__meta_kubernetes_pod_annotation_{re.sub(r'[^a-zA-Z0-9_]', '_', key)}"] = value
    for key, value in template["metadata"]["labels"].items():
        meta[f"__meta_kubernetes_pod_label_{re.sub(r'[^a-zA-Z0-9_]', '_', key)}"] = value
    jobs = {job["job_name"]: job for job in yaml.safe_load(CONFIG.read_text())["scrape_configs"]}
    return _relabel(meta, jobs["kubernetes-pods"]["relabel_configs"])


@pytest.mark.parametrize(
    ("pod_ip", "address"), [("10.1.2.3", "10.1.2.3:9100"), ("fd00::1:2", "[fd00::1:2]:9100")]
)
def test_the_scrape_config_scrapes_the_deployments_annotated_port_and_path(pod_ip, address):
    # Each discovered port becomes the same target (Prometheus keeps one of equal targets).
    first, *others = _pod_targets(pod_ip)
    assert others == [first]
    target = first
    assert target is not None
    assert target["__address__"] == address
    assert target["__metrics_path__"] == "/metrics"
    assert target["namespace"] == "production"
    assert target["pod"] == "titanic-7d9f-abcde"
