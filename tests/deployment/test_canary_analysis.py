"""The canary rollout: its Rollout's wiring, and its analysis' PromQL run by promtool.

The queries are read from ``deployment/kubernetes/analysis-template.yaml`` and given the
arguments the Rollout's analysis steps pass (resolved here as Argo Rollouts resolves them),
then written as recording rules and evaluated by ``promtool test rules`` on series of one
canary pod beside two stable ones: a healthy canary, a 5xx burst, a slow one, one whose
share of predicted survivors moved, traffic just under and at the minimum counts, and too
few records on the stable side. Each
scenario states the verdict Argo must reach for each check; the expected value is computed
here from the scenario's own rates, promtool checks the query returns exactly it, and the
template's successCondition and failureCondition, evaluated on it as Argo does, must give that
verdict. A pod of the canary's template in another namespace, failing on every count, must
never be counted. Broken copies of the queries must fail promtool.
"""

from __future__ import annotations

import copy
import functools
import math
import operator
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.deployment.test_manifests import KUBERNETES_VERSION
from tests.deployment.test_prometheus_rules import _relabel
from tests.processes import PROJECT_ROOT
from tests.serving_metrics import exposed_metrics

KUBERNETES = PROJECT_ROOT / "deployment" / "kubernetes"
ROLLOUT = KUBERNETES / "rollout.yaml"
ANALYSIS_TEMPLATE = KUBERNETES / "analysis-template.yaml"
DEPLOYMENT = KUBERNETES / "deployment.yaml"
APPLICATION = PROJECT_ROOT / "deployment" / "argocd" / "application.yaml"
SCRAPE_CONFIG = PROJECT_ROOT / "deployment" / "prometheus" / "prometheus.yml"

# Pod-template hashes as Argo Rollouts writes them (its alphabet has no vowels and no dash).
CANARY_HASH = "6b8f9d7c54"
STABLE_HASH = "5d4c8b7f98"
OTHER_NAMESPACE = "staging"
WINDOW_MINUTES = 5
EVAL_MINUTES = 20  # the window is minutes 15 to 20 of 30
SERIES_MINUTES = 30
QUANTILE = 0.95

SUCCESSFUL, FAILED, INCONCLUSIVE = "Successful", "Failed", "Inconclusive"


@functools.cache
def _parsed(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _load(path: Path) -> dict:
    """The manifest at ``path`` (parsed once: the scenarios read the same files many times)."""
    return copy.deepcopy(_parsed(path))


def _metrics() -> dict[str, dict]:
    return {metric["name"]: metric for metric in _load(ANALYSIS_TEMPLATE)["spec"]["metrics"]}


def _analysis_steps() -> list[dict]:
    steps = _load(ROLLOUT)["spec"]["strategy"]["canary"]["steps"]
    return [step["analysis"] for step in steps if "analysis" in step]


def _namespace() -> str:
    """The namespace Argo CD deploys the Rollout into: what `metadata.namespace` reads."""
    return _load(APPLICATION)["spec"]["destination"]["namespace"]


def _arguments(
    analysis: dict, canary_hash: str = CANARY_HASH, stable_hash: str = STABLE_HASH
) -> dict[str, str]:
    """The AnalysisRun's arguments: the template's defaults, overridden by the step's values.

    The step's ``valueFrom`` is resolved as Argo Rollouts does it for a canary: the latest
    ReplicaSet's pod-template hash for ``Latest``, the stable one's for ``Stable``, and the
    Rollout's own field for ``fieldRef``.
    """
    values = {arg["name"]: arg.get("value") for arg in _load(ANALYSIS_TEMPLATE)["spec"]["args"]}
    hashes = {"Latest": canary_hash, "Stable": stable_hash}
    fields = {"metadata.namespace": _namespace()}
    for arg in analysis["args"]:
        assert arg["name"] in values, f"the template has no argument {arg['name']}"
        source = arg.get("valueFrom", {})
        if "podTemplateHashValue" in source:
            values[arg["name"]] = hashes[source["podTemplateHashValue"]]
        elif "fieldRef" in source:
            values[arg["name"]] = fields[source["fieldRef"]["fieldPath"]]
        else:
            values[arg["name"]] = arg["value"]
    missing = sorted(name for name, value in values.items() if value is None)
    assert not missing, f"arguments the Rollout does not pass: {missing}"
    return values


def _resolve(text: str, arguments: dict[str, str]) -> str:
    """``{{args.name}}`` replaced as Argo does (spaces trimmed); any other tag is an error."""

    def value(match: re.Match) -> str:
        tag = match[1].strip()
        name = tag.removeprefix("args.")
        assert f"args.{name}" == tag, f"not an argument: {{{{{match[1]}}}}}"
        assert name in arguments, f"unresolved {{{{{match[1]}}}}}"
        return arguments[name]

    return re.sub(r"\{\{(.*?)\}\}", value, text)


def _query_templates() -> dict[str, str]:
    return {name: metric["provider"]["prometheus"]["query"] for name, metric in _metrics().items()}


def _queries(canary_hash: str = CANARY_HASH, stable_hash: str = STABLE_HASH) -> dict[str, str]:
    """Each metric's query as the first analysis step's AnalysisRun sends it to Prometheus."""
    arguments = _arguments(_analysis_steps()[0], canary_hash, stable_hash)
    return {name: _resolve(query, arguments) for name, query in _query_templates().items()}


def _minimums() -> dict[str, int]:
    arguments = _arguments(_analysis_steps()[0])
    return {name: int(arguments[name]) for name in ("min-requests", "min-predictions")}


# --- Argo's verdict on a measurement -------------------------------------------------------

_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}  # fmt: skip
_CONJUNCT = re.compile(r"len\(result\) == (\d+)|result\[0\] (<=|>=|<|>) (\d+(?:\.\d+)?)")


def _holds(condition: str, result: list[float]) -> bool:
    """An Argo condition on a Prometheus vector's values, as Argo's expr evaluates it.

    Only the subset the template uses is understood: conjunctions (``&&``, evaluated left to
    right and stopping at the first false one) of ``len(result) == N`` and ``result[0] OP X``.
    Anything else fails the test rather than being guessed.
    """
    for conjunct in condition.split("&&"):
        match = _CONJUNCT.fullmatch(conjunct.strip())
        assert match, f"not a condition this test can evaluate: {condition!r}"
        if match[1] is not None:
            holds = len(result) == int(match[1])
        else:
            holds = _COMPARISONS[match[2]](result[0], float(match[3]))
        if not holds:
            return False
    return True


def _verdict(metric: dict, result: list[float]) -> str:
    """A measurement's phase (utils/evaluate in Argo Rollouts), with both conditions given."""
    if _holds(metric["failureCondition"], result):
        return FAILED
    return SUCCESSFUL if _holds(metric["successCondition"], result) else INCONCLUSIVE


# --- Scenarios -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pod:
    """What one pod counts per minute, cumulated into counters from minute 0.

    Attributes:
        statuses: Requests per minute by HTTP status.
        durations: Requests per minute by the upper bound of their duration bucket
            (``inf`` for slower than every bound).
        survived: Scored records per minute by predicted outcome ("0", "1").
    """

    statuses: dict[str, int]
    durations: dict[float, int]
    survived: dict[str, int]


STABLE = Pod({"200": 198, "400": 2}, {0.1: 190, 0.25: 10}, {"0": 120, "1": 80})


@dataclass(frozen=True)
class Scenario:
    """One canary pod beside two stable ones, and the verdict each check must reach."""

    name: str
    canary: Pod
    verdicts: dict[str, str]
    stable: Pod = field(default=STABLE)


BOUNDS = (0.1, 0.25, 0.5, math.inf)  # a few of the layer's buckets, and +Inf
HEALTHY = Pod({"200": 189, "400": 10, "500": 1}, {0.1: 180, 0.25: 20}, {"0": 124, "1": 76})
# The canary's template in another namespace: failing on every count, never to be counted.
ELSEWHERE = Pod({"500": 200}, {math.inf: 200}, {"0": 0, "1": 200})
ALL_PASS = {"error-ratio": SUCCESSFUL, "p95-latency": SUCCESSFUL, "positive-rate-shift": SUCCESSFUL}


def _scenarios() -> list[Scenario]:
    minimum = _minimums()
    # Per minute, so that a window holds just under, or at least, each minimum.
    below = {name: (count - 1) // WINDOW_MINUTES for name, count in minimum.items()}
    at = {name: -(-count // WINDOW_MINUTES) for name, count in minimum.items()}
    half = at["min-predictions"] // 2
    return [
        Scenario("healthy", HEALTHY, ALL_PASS),
        Scenario(
            "5xx burst",
            Pod({"200": 194, "500": 4, "503": 2}, HEALTHY.durations, HEALTHY.survived),
            {**ALL_PASS, "error-ratio": FAILED},
        ),
        Scenario(
            "slow",
            Pod(HEALTHY.statuses, {0.1: 20, 0.25: 40, 0.5: 140}, HEALTHY.survived),
            {**ALL_PASS, "p95-latency": FAILED},
        ),
        Scenario(
            "shifted positive rate",
            Pod(HEALTHY.statuses, HEALTHY.durations, {"0": 80, "1": 120}),
            {**ALL_PASS, "positive-rate-shift": FAILED},
        ),
        Scenario(
            "too little traffic, even failing",
            Pod(
                {"500": below["min-requests"]},
                {math.inf: below["min-requests"]},
                {"0": 0, "1": below["min-predictions"]},
            ),
            dict.fromkeys(ALL_PASS, INCONCLUSIVE),
        ),
        Scenario(
            "stable pods answered too little",
            HEALTHY,
            {**ALL_PASS, "positive-rate-shift": INCONCLUSIVE},
            Pod(STABLE.statuses, STABLE.durations, {"0": 0, "1": below["min-predictions"] // 2}),
        ),
        Scenario(
            "just enough traffic",
            Pod(
                {"200": at["min-requests"]},
                {0.1: at["min-requests"]},
                {"0": at["min-predictions"] - half, "1": half},
            ),
            ALL_PASS,
        ),
    ]  # fmt: skip


def _hashes(index: int) -> tuple[str, str]:
    """The canary's and the stable pods' pod-template hashes in the index-th scenario."""
    return CANARY_HASH[:-1] + str(index), STABLE_HASH[:-1] + str(index)


def _pods(index: int, scenario: Scenario) -> list[tuple[str, str, Pod, str]]:
    """(namespace, pod name, counts, version served): the canary, two stable pods, and a pod
    of the canary's template in another namespace."""
    namespace = _namespace()
    canary, stable = _hashes(index)
    return [
        (namespace, f"titanic-{canary}-x7k2p", scenario.canary, "8"),
        (namespace, f"titanic-{stable}-b9m4q", scenario.stable, "7"),
        (namespace, f"titanic-{stable}-c2n8r", scenario.stable, "7"),
        (OTHER_NAMESPACE, f"titanic-{canary}-d4f6h", ELSEWHERE, "8"),
    ]


def _input_series(index: int, scenario: Scenario) -> list[dict]:
    """The pods' series as scraped (prometheus.yml's labels), in promtool's notation."""
    series = []
    for number, (namespace, pod, counts, version) in enumerate(_pods(index, scenario)):
        labels = (
            f'job="kubernetes-pods", namespace="{namespace}", pod="{pod}", '
            f'instance="10.0.{index}.{number + 1}:9100", app="titanic"'
        )

        def add(name: str, extra: str, per_minute: int, labels: str = labels) -> None:
            series.append({
                "series": f"{name}{{{labels}{extra}}}",
                "values": f"0+{per_minute}x{SERIES_MINUTES}",
            })  # fmt: skip

        for status, per_minute in counts.statuses.items():
            add("titanic_requests_total", f', status="{status}"', per_minute)
        cumulated = 0
        for bound in BOUNDS:
            cumulated += counts.durations.get(bound, 0)
            le = "+Inf" if math.isinf(bound) else repr(bound)
            add("titanic_request_duration_seconds_bucket", f', le="{le}"', cumulated)
        add("titanic_request_duration_seconds_count", "", cumulated)
        for outcome, per_minute in counts.survived.items():
            add("titanic_predictions_total", f', survived="{outcome}"', per_minute)
        # Each pod also says which version it serves (not what the checks select pods by).
        series.append({
            "series": f'titanic_model_info{{{labels}, name="titanic", version="{version}", '
                      f'run_id="run{version}", role="served"}}',
            "values": f"1x{SERIES_MINUTES}",
        })  # fmt: skip
    return series


def _bucket_quantile(quantile: float, cumulative: list[tuple[float, float]]) -> float:
    """Prometheus' histogram_quantile on ``(upper bound, cumulative count)`` buckets.

    Linear interpolation inside the bucket that holds the rank, in the order of Prometheus'
    own arithmetic (promql/quantile.go), so that the float is the one promtool returns.
    """
    rank = quantile * cumulative[-1][1]
    index = next(i for i, (_, count) in enumerate(cumulative) if count >= rank)
    if index == len(cumulative) - 1:
        return cumulative[-2][0]
    start, below = cumulative[index - 1] if index > 0 else (0.0, 0.0)
    end, count = cumulative[index]
    return start + (end - start) * ((rank - below) / (count - below))


def _expected(scenario: Scenario) -> dict[str, list[float]]:
    """Each query's result on the scenario, from its rates: the value, or no value."""
    minimum = _minimums()
    window = WINDOW_MINUTES
    canary = scenario.canary
    requests = float(sum(canary.statuses.values()) * window)
    errors = float(sum(n for s, n in canary.statuses.items() if s.startswith("5")) * window)
    cumulative, total = [], 0.0
    for bound in BOUNDS:
        total += canary.durations.get(bound, 0) * window
        cumulative.append((bound, total))

    def survivors_and_records(pod: Pod, pods: int) -> tuple[float, float]:
        records = sum(pod.survived.values())
        return float(pod.survived["1"] * window * pods), float(records * window * pods)

    canary_survivors, canary_records = survivors_and_records(canary, 1)
    stable_survivors, stable_records = survivors_and_records(scenario.stable, 2)
    shift = abs(canary_survivors / canary_records - stable_survivors / stable_records)
    enough_records = min(canary_records, stable_records) >= minimum["min-predictions"]
    return {
        "error-ratio": [errors / requests] if requests >= minimum["min-requests"] else [],
        "p95-latency": (
            [_bucket_quantile(QUANTILE, cumulative)] if total >= minimum["min-requests"] else []
        ),
        "positive-rate-shift": [shift] if enough_records else [],
    }


def _record(metric_name: str) -> str:
    return "analysis:" + metric_name.replace("-", "_")


def _write_rule_tests(folder: Path, templates: dict[str, str]) -> Path:
    """The queries, given each scenario's arguments, as recording rules labelled with the
    scenario, and one promtool test group (one database) with every scenario's pods."""
    rules, series, samples = [], [], {name: [] for name in templates}
    for index, scenario in enumerate(_scenarios()):
        arguments = _arguments(_analysis_steps()[0], *_hashes(index))
        for name, template in templates.items():
            rules.append({
                "record": _record(name),
                "expr": _resolve(template, arguments),
                "labels": {"scenario": scenario.name},
            })  # fmt: skip
        series += _input_series(index, scenario)
        for name, values in _expected(scenario).items():
            samples[name] += [
                {"labels": f'{_record(name)}{{scenario="{scenario.name}"}}', "value": value}
                for value in values
            ]
    rule_file = folder / "analysis.rules.yml"
    rule_file.write_text(yaml.safe_dump(
        {"groups": [{"name": "titanic-canary", "rules": rules}]}, sort_keys=False
    ))  # fmt: skip
    test = {
        "interval": "1m",
        "input_series": series,
        "promql_expr_test": [
            {"expr": _record(name), "eval_time": f"{EVAL_MINUTES}m", "exp_samples": samples[name]}
            for name in templates
        ],
    }
    test_file = folder / "analysis.test.yml"
    test_file.write_text(yaml.safe_dump(
        {"rule_files": [rule_file.name], "evaluation_interval": "1m", "tests": [test]},
        sort_keys=False,
    ))  # fmt: skip
    return test_file


def _swap_hashes(query: str) -> str:
    canary, stable = "{{args.canary-hash}}", "{{args.stable-hash}}"
    return query.replace(canary, "@").replace(stable, canary).replace("@", stable)


# Broken copies of one query each (in the template), which promtool must fail.
BREAKAGES: dict[str, tuple[str, Callable[[str], str]]] = {
    "canary-hash": ("error-ratio", _swap_hashes),  # the stable pods measured instead
    "no-5xx": ("error-ratio", lambda q: q.replace(" or vector(0)", "")),  # no 5xx, no value
    "namespace": ("error-ratio", lambda q: q.replace('namespace="{{args.namespace}}", ', "")),
    "quantile": ("p95-latency", lambda q: q.replace(f"{QUANTILE}", "0.5")),
    "window": ("p95-latency", lambda q: q.replace(f"[{WINDOW_MINUTES}m]", "[15m]")),
    "outcome": ("positive-rate-shift", lambda q: q.replace('survived="1"', 'survived="0"', 1)),
    "minimum": ("positive-rate-shift", lambda q: q.replace(">=", ">")),  # the minimum refused
    "stable-minimum": (  # no minimum for the stable side
        "positive-rate-shift",
        lambda q: re.sub(
            r"(stable-hash.*?)>= \{\{args.min-predictions\}\}", r"\1>= 0", q, flags=re.S
        ),
    ),
}


@pytest.fixture(scope="module")
def promtool_reports(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """promtool's run on the queries (key "intact") and on each broken copy, all at once."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail(
            "promtool not found: install Debian's package `prometheus` (`make system-deps`)"
        )
    templates = _query_templates()
    variants = {"intact": templates}
    for name, (metric, breakage) in BREAKAGES.items():
        broken = breakage(templates[metric])
        assert broken != templates[metric], name
        variants[name] = {**templates, metric: broken}
    # A process each, all at once: given several files, promtool reports which one failed on
    # one stream and how on the other.
    processes = {
        name: subprocess.Popen(
            [promtool, "test", "rules", str(_write_rule_tests(tmp_path_factory.mktemp(name), v))],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for name, v in variants.items()
    }  # fmt: skip
    return {
        name: subprocess.CompletedProcess(process.args, process.returncode, *outputs)
        for name, process in processes.items()
        for outputs in [process.communicate(timeout=120)]
    }


def test_each_scenario_gets_the_verdict_it_states():
    # The expected values (which promtool checks the queries return) through the template's
    # own conditions: every check sees each of its verdicts at least once.
    metrics = _metrics()
    seen = {name: set() for name in metrics}
    for scenario in _scenarios():
        for name, result in _expected(scenario).items():
            verdict = _verdict(metrics[name], result)
            assert verdict == scenario.verdicts[name], (scenario.name, name, result)
            seen[name].add(verdict)
    assert all(verdicts == {SUCCESSFUL, FAILED, INCONCLUSIVE} for verdicts in seen.values()), seen


def test_the_queries_return_those_values_in_promtool(promtool_reports):
    result = promtool_reports["intact"]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_promtool_fails_a_broken_query(promtool_reports, breakage):
    result = promtool_reports[breakage]
    assert result.returncode == 1, result.stdout + result.stderr
    metric, _ = BREAKAGES[breakage]
    failing = set(re.findall(r'expr: "([^"]+)"', result.stdout + result.stderr))
    assert failing == {_record(metric)}, result.stdout + result.stderr


def test_the_pod_selectors_pick_the_scraped_canary_and_stable_pods():
    # The `pod` label prometheus.yml gives a pod of the Rollout, and the queries' selectors.
    jobs = {job["job_name"]: job for job in _load(SCRAPE_CONFIG)["scrape_configs"]}
    relabelling = jobs["kubernetes-pods"]["relabel_configs"]

    def scraped_pod(name: str) -> str:
        template = _load(DEPLOYMENT)["spec"]["template"]
        meta = {
            "__address__": "10.1.2.3:9100",
            "__meta_kubernetes_namespace": _namespace(),
            "__meta_kubernetes_pod_name": name,
            "__meta_kubernetes_pod_ip": "10.1.2.3",
            "__meta_kubernetes_pod_phase": "Running",
            **{f"__meta_kubernetes_pod_annotation_{re.sub(r'[^a-zA-Z0-9_]', '_', key)}": value
               for key, value in template["metadata"]["annotations"].items()},
        }  # fmt: skip
        target = _relabel(meta, relabelling)
        assert target is not None
        assert target["namespace"] == _namespace()
        return target["pod"]

    canary = scraped_pod(f"titanic-{CANARY_HASH}-x7k2p")
    stable = scraped_pod(f"titanic-{STABLE_HASH}-b9m4q")
    deployments_own = scraped_pod("titanic-7d9f8c6b5-abcde")  # the Deployment's ReplicaSet
    selectors = {
        (namespace, regex)
        for query in _queries().values()
        for namespace, regex in re.findall(r'namespace="([^"]+)", pod=~"([^"]+)"', query)
    }
    assert len(selectors) == 2
    by_pod = {pod: {regex for _, regex in selectors if re.fullmatch(regex, pod)}
              for pod in (canary, stable, deployments_own)}  # fmt: skip
    assert len(by_pod[canary]) == len(by_pod[stable]) == 1
    assert by_pod[canary] != by_pod[stable]
    assert by_pod[deployments_own] == set()
    assert {namespace for namespace, _ in selectors} == {_namespace()}


def test_every_check_reads_the_serving_metric_contract_and_the_same_window(tmp_path):
    exposed = exposed_metrics(tmp_path)
    for name, query in _queries().items():
        used = set(re.findall(r"\btitanic_[a-z_]+", query))
        assert used, name
        for series in used:
            base = re.sub(r"_(bucket|count)$", "", series)
            assert series in exposed or exposed.get(base) == "histogram", (name, series)
        assert set(re.findall(r"\[(\w+)\]", query)) == {f"{WINDOW_MINUTES}m"}, name


def test_every_check_is_a_valid_argo_metric_that_waits_on_too_little_traffic():
    # Argo's own validation of a metric (utils/analysis ValidateMetric), which the CRD schema
    # does not hold: count covers the limits, and an interval spaces the measurements.
    for name, metric in _metrics().items():
        count = int(metric["count"])
        assert count >= int(metric["failureLimit"]) + int(metric["consecutiveSuccessLimit"]), name
        assert count >= int(metric["inconclusiveLimit"]), name
        assert re.fullmatch(r"\d+[smh]", metric["interval"]), name
        # No data is inconclusive (both conditions false), never a failure or an error.
        assert _verdict(metric, []) == INCONCLUSIVE, name
        # Inconclusive measurements alone never end the run before its count does.
        assert int(metric["inconclusiveLimit"]) >= count - int(metric["consecutiveSuccessLimit"])
        assert set(metric["provider"]) == {"prometheus"}, name


# --- The Rollout's wiring ------------------------------------------------------------------


def test_the_rollout_runs_the_deployments_template_which_keeps_no_replicas():
    rollout = _load(ROLLOUT)["spec"]
    deployment = _load(DEPLOYMENT)
    assert rollout["workloadRef"] == {
        "apiVersion": deployment["apiVersion"], "kind": deployment["kind"],
        "name": deployment["metadata"]["name"], "scaleDown": "progressively",
    }  # fmt: skip
    # Argo CD would scale a Deployment with replicas in Git back up, next to the Rollout's pods.
    assert "replicas" not in deployment["spec"]
    assert rollout["replicas"] >= 2
    assert rollout["selector"] == deployment["spec"]["selector"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert rollout["selector"]["matchLabels"].items() <= labels.items()
    assert rollout["progressDeadlineAbort"] is True


def test_every_weight_is_analysed_before_the_next_and_the_stable_pods_stay():
    canary = _load(ROLLOUT)["spec"]["strategy"]["canary"]
    assert canary["maxUnavailable"] == 0
    steps = canary["steps"]
    kinds = [next(iter(step)) for step in steps]
    assert kinds == ["setWeight", "pause", "analysis"] * (len(steps) // 3)
    weights = [step["setWeight"] for step in steps if "setWeight" in step]
    assert weights == sorted(set(weights))
    assert weights[0] > 0
    assert weights[-1] < 100
    # The pause lets a full analysis window of canary traffic in before the first measurement.
    for step in steps:
        if "pause" in step:
            assert step["pause"]["duration"] == f"{WINDOW_MINUTES}m"


def test_every_analysis_step_passes_what_the_template_needs():
    name = _load(ANALYSIS_TEMPLATE)["metadata"]["name"]
    for analysis in _analysis_steps():
        assert analysis["templates"] == [{"templateName": name}]
        sources = {arg["name"]: arg.get("valueFrom", {}) for arg in analysis["args"]}
        hashes = {
            arg: source["podTemplateHashValue"]
            for arg, source in sources.items()
            if "podTemplateHashValue" in source
        }
        assert hashes == {"canary-hash": "Latest", "stable-hash": "Stable"}
        arguments = _arguments(analysis)  # every argument without a default is passed
        assert arguments["namespace"] == _namespace()
        for metric in _metrics().values():
            _resolve(yaml.safe_dump(metric), arguments)  # every tag resolves


def test_the_kustomize_build_holds_the_rollout_and_passes_strict_schemas():
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl not found: `kubectl kustomize` builds deployment/kubernetes")
    build = subprocess.run(
        [kubectl, "kustomize", str(KUBERNETES)], capture_output=True, text=True, timeout=60
    )
    assert build.returncode == 0, build.stderr
    documents = list(yaml.safe_load_all(build.stdout))
    kinds = {(d["apiVersion"], d["kind"], d["metadata"]["name"]) for d in documents}
    assert {
        ("argoproj.io/v1alpha1", "Rollout", "titanic"),
        ("argoproj.io/v1alpha1", "AnalysisTemplate", _load(ANALYSIS_TEMPLATE)["metadata"]["name"]),
        ("apps/v1", "Deployment", "titanic"),
    } <= kinds
    core = [d for d in documents if not d["apiVersion"].startswith("argoproj.io/")]
    assert {d["kind"] for d in core} >= {"Deployment", "Service", "Ingress"}
    for document in core:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    # The serving Deployment (Label Studio's is another).
    (deployment,) = [
        d for d in core if d["kind"] == "Deployment" and d["metadata"]["name"] == "titanic"
    ]
    assert "replicas" not in deployment["spec"]
