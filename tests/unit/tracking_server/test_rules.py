"""The tracking server's request rules, on small hand-made requests (no server, no MLflow)."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import pytest

from titanic_model.tracking_server.rules import (
    IDENTIFIERS,
    MODEL_VERSION_SOURCE_REGEX,
    ROUTES,
    Caller,
    Kind,
    Needed,
    Refusal,
    Request,
    find_route,
    judge,
    reads_body,
    server_info,
    unsafe_artifact_path,
)

TRAINING = Caller("training")
ADMIN = Caller("admin", is_admin=True)
ANONYMOUS = Caller(None)
RUN = "0123456789abcdef0123456789abcdef"
OTHER_RUN = "fedcba9876543210fedcba9876543210"
JSON = (b"content-type", b"application/json")
PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")


def _request(
    method: str,
    path: str,
    query: dict | list | None = None,
    body: object = None,
    headers: tuple = (JSON,),
) -> Request:
    data = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
    return Request(method, path, urlencode(query or {}).encode(), tuple(headers), data)


def _status(verdict: object) -> int | None:
    return verdict.status if isinstance(verdict, Refusal) else None


def test_every_api_route_is_open_under_both_prefixes_and_nothing_else_is():
    api = [
        route.template
        for route in ROUTES
        if route.kind is Kind.API and "/mlflow/" in route.template
    ]
    suffixes = {template.split("/mlflow/", 1)[1] for template in api}
    assert {prefix + "/" + suffix for prefix in PREFIXES for suffix in suffixes} == set(api)
    assert find_route("GET", "/api/2.0/mlflow/runs/get")[0] is not None
    for method, path in [
        ("HEAD", "/api/2.0/mlflow/runs/get"), ("OPTIONS", "/api/2.0/mlflow/runs/get"),
        ("GET", "/api/2.0/mlflow/runs/get/"), ("GET", "/api/2.0/mlflow//runs/get"),
        ("GET", "/API/2.0/mlflow/runs/get"), ("POST", "/api/2.0/mlflow/runs/delete"),
        ("POST", "/api/2.0/mlflow/experiments/create"), ("DELETE", "/api/2.0/mlflow/runs/get"),
        ("POST", "/api/2.0/mlflow/registered-models/rename"),
        ("DELETE", "/api/2.0/mlflow/registered-models/alias"),
        ("GET", "/api/2.0/mlflow/users/list"), ("PUT", "/ajax-api/3.0/mlflow/assistant/config"),
        ("POST", "/ajax-api/2.0/mlflow/upload-artifact"),
        ("GET", "/api/2.0/mlflow-artifacts/presigned/1/x"),
        ("DELETE", "/api/2.0/mlflow-artifacts/artifacts/1/x"),
    ]:  # fmt: skip
        assert find_route(method, path) == (None, {}), (method, path)


@pytest.mark.parametrize(
    ("caller", "method", "path", "status"),
    [
        (ANONYMOUS, "GET", "/health", None),
        (ANONYMOUS, "GET", "/static-files/static/js/main.js", None),
        (ANONYMOUS, "GET", "/", 401),
        (ANONYMOUS, "GET", "/api/2.0/mlflow/runs/get", 401),
        (ANONYMOUS, "GET", "/api/2.0/mlflow/users/list", 401),
        (TRAINING, "GET", "/api/2.0/mlflow/users/list", 403),
        (TRAINING, "HEAD", "/api/2.0/mlflow/runs/get", 403),
        (TRAINING, "POST", "/api/2.0/mlflow/experiments/create", 403),
        (ADMIN, "POST", "/api/2.0/mlflow/experiments/create", None),
        (ADMIN, "GET", "/api/2.0/mlflow/users/list", None),
        (TRAINING, "GET", "/", None),
        (TRAINING, "GET", "/api/3.0/mlflow/server-info", None),
    ],
)  # fmt: skip
def test_routes_outside_the_list_are_the_admins_and_anonymous_calls_are_refused(
    caller, method, path, status
):
    assert _status(judge(_request(method, path), caller)) == status


def test_a_refusal_is_one_json_line_and_a_401_never_says_which_part_was_wrong():
    refusal = judge(_request("GET", "/api/2.0/mlflow/users/list"), TRAINING)
    answer = json.loads(refusal.body())
    assert answer == {
        "error_code": "PERMISSION_DENIED",
        "message": "user 'training' may not call GET /api/2.0/mlflow/users/list: "
        "not a route this project uses",
    }
    assert b"\n" not in refusal.body()
    unauthenticated = judge(_request("GET", "/"), ANONYMOUS)
    assert unauthenticated.error_code == "UNAUTHENTICATED"
    assert "password" not in unauthenticated.message.lower()


def _spellings(names: tuple[str, ...]) -> list[str]:
    """Each proto name, its JSON name and other case, underscore and dash variants."""
    spellings = []
    for name in names:
        camel = re.sub(r"_(\w)", lambda m: m[1].upper(), name)
        spellings += [name, camel, name.upper(), name.replace("_", "-"), camel.capitalize()]
    return list(dict.fromkeys(spellings))


RUN_SPELLINGS = _spellings(IDENTIFIERS["run"])


def test_the_run_is_spelt_every_way_mlflow_accepts():
    assert {"run_id", "runId", "run_uuid", "runUuid"} <= set(RUN_SPELLINGS)


@pytest.mark.parametrize("first", RUN_SPELLINGS)
@pytest.mark.parametrize("second", RUN_SPELLINGS)
@pytest.mark.parametrize("prefix", PREFIXES)
def test_a_run_named_twice_differently_is_refused_wherever_it_is_named(first, second, prefix):
    path = f"{prefix}/runs/set-tag"
    body = {first: RUN, "key": "k", "value": "v"}
    placements = [_request("POST", path, {second: OTHER_RUN}, body)]
    if first != second:
        placements.append(_request("POST", path, body=body | {second: OTHER_RUN}))
    for request in placements:
        verdict = judge(request, TRAINING)
        assert _status(verdict) == 400, request
        assert "names the run more than once, differently" in verdict.message
    # All alike is one run: MLflow's own client sends run_id and run_uuid both.
    agreeing = _request("POST", path, {second: RUN}, body | {second: RUN})
    assert judge(agreeing, TRAINING) is None


@pytest.mark.parametrize(
    ("method", "route", "group", "base"),
    [
        ("GET", "registered-models/get", "name", {}),
        ("GET", "model-versions/get", "version", {"name": "titanic"}),
        ("GET", "registered-models/alias", "alias", {"name": "titanic"}),
        ("POST", "registered-models/alias", "alias", {"name": "titanic", "version": "1"}),
        ("POST", "model-versions/set-tag", "name", {"version": "1", "key": "k", "value": "v"}),
        ("POST", "runs/create", "experiment", {}),
        ("GET", "experiments/get", "experiment", {}),
        ("GET", "experiments/get-by-name", "experiment name", {}),
        ("POST", "logged-models", "source run", {"experiment_id": "1"}),
        ("GET", "artifacts/list", "artifact path", {"run_id": RUN}),
    ],
)  # fmt: skip
def test_every_object_named_twice_differently_is_refused(method, route, group, base):
    for prefix in PREFIXES:
        for spelling in _spellings(IDENTIFIERS[group]):
            one, other = {spelling: "a"}, {IDENTIFIERS[group][0]: "b"}
            if method == "GET":
                request = _request(method, f"{prefix}/{route}", [*base.items(), *one.items(),
                                                                 *other.items()])  # fmt: skip
            else:
                request = _request(method, f"{prefix}/{route}", one, base | other)
            assert _status(judge(request, TRAINING)) == 400, (route, spelling)


def test_a_logged_model_named_in_the_path_and_the_body_differently_is_refused():
    path = "/api/2.0/mlflow/logged-models/m-aaa"
    assert _status(judge(_request("PATCH", path, body={"model_id": "m-bbb"}), TRAINING)) == 400
    assert _status(judge(_request("PATCH", path, body={"modelId": "m-bbb"}), TRAINING)) == 400
    assert judge(_request("PATCH", path, body={"model_id": "m-aaa", "status": 2}), TRAINING) is None


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        (None, 400), (b"text/plain", 400), (b"application/x-www-form-urlencoded", 400),
        (b"multipart/form-data; boundary=x", 400), (b"application/json-patch+json", 400),
        (b"application/vnd.api+json", 400), (b"application/json; charset=latin-1", 400),
        (b"application/json; charset=utf-8; x=y", 400), (b"application/json", None),
        (b"application/json; charset=utf-8", None), (b"Application/JSON; Charset=UTF-8", None),
    ],
)  # fmt: skip
def test_a_body_on_an_api_route_must_be_json(content_type, status):
    headers = () if content_type is None else ((b"content-type", content_type),)
    for path in ("/api/2.0/mlflow/runs/set-tag", "/ajax-api/2.0/mlflow/model-versions/set-tag"):
        request = _request("POST", path, body={"key": "k"}, headers=headers)
        assert _status(judge(request, TRAINING)) == status, (path, content_type)


@pytest.mark.parametrize(
    ("method", "body", "reason"),
    [
        ("POST", b"{not json", "not valid JSON"),
        ("POST", b'"{\\"run_id\\": \\"x\\"}"', "must be a JSON object"),
        ("POST", b"[]", "must be a JSON object"),
        ("POST", b'{"run_id": "a", "run_id": "b"}', "gives 'run_id' twice"),
        ("POST", b'{"tags": [{"key": "a", "key": "b"}]}', "gives 'key' twice"),
        ("POST", b'{"run_id": ["a", "b"]}', "must be a string"),
        ("POST", b'{"run_id": {"id": "a"}}', "must be a string"),
        ("POST", b'{"run_id": null}', "must be a string"),
        ("POST", b'{"run_id": true}', "must be a string"),
        ("GET", b'{"run_id": "a"}', "a GET request takes no body"),
        ("POST", b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ],
)  # fmt: skip
def test_a_body_read_two_ways_is_refused(method, body, reason):
    verdict = judge(_request(method, "/api/2.0/mlflow/runs/get" if method == "GET" else
                             "/api/2.0/mlflow/runs/set-tag", body=body), TRAINING)  # fmt: skip
    assert _status(verdict) == 400
    assert reason in verdict.message


def test_a_query_string_is_read_one_way_only():
    for query in (b"run_id=%ff", b"run_id=\xc3\xa9", b"run_id=a&run_id=b"):
        request = Request("GET", "/api/2.0/mlflow/runs/get", query, (), b"")
        assert _status(judge(request, TRAINING)) == 400, query


def test_a_body_too_large_is_refused_without_being_parsed():
    request = _request("POST", "/api/2.0/mlflow/runs/log-batch", body=b"{" + b" " * 17_000_000)
    assert "larger than" in judge(request, TRAINING).message


def test_a_header_given_twice_is_refused():
    for name in (b"authorization", b"content-type", b"content-length", b"transfer-encoding"):
        request = _request("POST", "/api/2.0/mlflow/runs/set-tag", body={"key": "k"},
                           headers=(JSON, (name, b"x"), (name, b"y")))  # fmt: skip
        verdict = judge(request, ANONYMOUS if name == b"authorization" else TRAINING)
        assert _status(verdict) == 400, name


@pytest.mark.parametrize(
    ("path", "proxied", "reason"),
    [
        ("1/run/artifacts/model/MLmodel", True, None),
        ("model/MLmodel", False, None),
        ("1/../2/run/artifacts/x", True, "'..' segment"),
        ("1/./x", True, "'.' or '..'"),
        ("1//x", True, "empty"),
        ("1/x/", True, "empty"),
        ("/etc/passwd", False, "absolute"),
        ("1/%2e%2e/x", True, "'%'"),
        ("1/%252e%252e/x", True, "'%'"),
        ("1\\..\\x", True, "'\\'"),
        ("C:/x", False, "':'"),
        ("file:///etc/passwd", False, "':'"),
        ("1/x\x00.txt", True, "control"),
        ("1/x\n", True, "control"),
        ("prediction-log/x", True, "experiment id"),
        ("workspaces/w/1/x", True, "experiment id"),
    ],
)  # fmt: skip
def test_artifact_paths_are_relative_plain_and_proxied_ones_start_with_an_experiment(
    path, proxied, reason
):
    found = unsafe_artifact_path(path, proxied=proxied)
    assert found is None if reason is None else reason in found


def test_the_artifact_proxy_checks_its_path_and_takes_no_other_query():
    for prefix in ("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts"):
        ok = _request("GET", f"{prefix}/artifacts/1/{RUN}/artifacts/model/MLmodel")
        assert judge(ok, Caller("serving")) is None
        for request in [
            _request("GET", f"{prefix}/artifacts/1/../2/x"),
            _request("GET", f"{prefix}/artifacts/1/x", {"path": "2/x"}),
            _request("GET", f"{prefix}/artifacts", {"path": "1/../2"}),
            _request("GET", f"{prefix}/artifacts", [("path", "1/a"), ("path", "2/b")]),
            _request("GET", f"{prefix}/artifacts", {"path": "1/a", "run_id": RUN}),
            _request("GET", f"{prefix}/artifacts"),
            Request("PUT", f"{prefix}/artifacts/1/%2e%2e/x", b"", (), None),
        ]:
            assert _status(judge(request, Caller("serving"))) == 400, request
        assert judge(_request("GET", f"{prefix}/artifacts", {"path": "1/a"}), TRAINING) is None
    # An upload's bytes are not read, whatever their type.
    assert not reads_body(*find_route("PUT", "/api/2.0/mlflow-artifacts/artifacts/1/x")[:1], "PUT")
    upload = Request("PUT", "/api/2.0/mlflow-artifacts/artifacts/1/x", b"", (), None)
    assert judge(upload, TRAINING) is None


def test_the_get_artifact_routes_check_their_path_and_their_identifiers():
    good = _request("GET", "/get-artifact", {"run_uuid": RUN, "path": "model/MLmodel"})
    assert judge(good, Caller("serving")) is None
    for query in [
        {"run_uuid": RUN, "run_id": OTHER_RUN, "path": "x"},
        {"run_uuid": RUN, "path": "../../x"},
        {"run_uuid": RUN, "path": "/etc/passwd"},
    ]:
        assert _status(judge(_request("GET", "/get-artifact", query), TRAINING)) == 400
    query = [("name", "titanic"), ("version", "1"), ("version", "2"), ("path", "x")]
    versions = _request("GET", "/model-versions/get-artifact", query)
    assert _status(judge(versions, TRAINING)) == 400


SOURCES_OK = [
    "models:/m-0123456789abcdef0123456789abcdef",
    f"runs:/{RUN}/model",
    f"mlflow-artifacts:/1/{RUN}/artifacts/model",
]
SOURCES_REFUSED = [
    "s3://mlflow/artifacts/1/other/artifacts/model", "s3://mlflow/prediction-log",
    "S3://mlflow/artifacts", "file:///etc", "/etc/passwd", "gs://bucket/x",
    "http://127.0.0.1:9000/mlflow/artifacts", "https://example.org/x",
    "models://host/m-1", "MODELS:/m-1", " models:/m-1", "models:/m-1 ", "models:/m-1\n",
    "mlflow-artifacts://127.0.0.1:5000/1/x", "mlflow-artifacts:/1/x/artifacts/../../2/y",
    "mlflow-artifacts:/1/x/artifacts/%2e%2e/%2e%2e/2/y", "runs:/x/..", "runs:/x\\..\\y",
    "models:/m-1/../../titanic", "", "mlflow-artifacts:", "models:/",
]  # fmt: skip


@pytest.mark.parametrize("source", SOURCES_OK + SOURCES_REFUSED)
def test_a_model_version_source_is_a_logged_model_a_run_or_its_proxied_artifacts(source):
    body = {"name": "titanic", "source": source, "run_id": RUN}
    for prefix in PREFIXES:
        request = _request("POST", f"{prefix}/model-versions/create", body=body)
        verdict = judge(request, TRAINING)
        assert (verdict is None) == (source in SOURCES_OK), source
        # The admin is let through: MLflow's own check, set from the same rule, stops it.
        assert judge(request, ADMIN) is None
    assert bool(re.search(MODEL_VERSION_SOURCE_REGEX, source)) == (source in SOURCES_OK)


def test_a_source_in_the_query_string_must_agree_with_the_body():
    request = _request("POST", "/api/2.0/mlflow/model-versions/create", {"source": "s3://x/y"},
                       {"name": "titanic", "source": SOURCES_OK[0]})  # fmt: skip
    assert _status(judge(request, TRAINING)) == 400


def test_a_model_card_needs_edit_on_the_registered_model_itself():
    body = {"name": "titanic", "version": "1", "description": "card"}
    for prefix in PREFIXES:
        request = _request("PATCH", f"{prefix}/model-versions/update", body=body)
        assert judge(request, Caller("monitoring")) == Needed(
            "registered_model", "titanic", "update"
        )
        assert judge(request, ADMIN) is None


def test_server_info_offers_no_transfer_outside_the_proxy():
    answer = {"store_type": "SqlStore", "multipart_uploads_enabled": True,
              "multipart_downloads_enabled": True, "presigned_upload_run_id_supported": True,
              "features_enabled": {"gateway": True}}  # fmt: skip
    rewritten = json.loads(server_info(json.dumps(answer).encode()))
    assert rewritten["store_type"] == "SqlStore"
    assert not rewritten["multipart_uploads_enabled"]
    assert not rewritten["multipart_downloads_enabled"]
    assert not rewritten["presigned_upload_run_id_supported"]
    assert rewritten["features_enabled"] == {"gateway": False}


@pytest.mark.parametrize("prefix", PREFIXES)
def test_the_only_registered_model_a_role_creates_or_deletes_is_a_gates_lock(prefix):
    needed = Needed("registered_model", "titanic", "update")
    for method, route in (("POST", "registered-models/create"),
                          ("DELETE", "registered-models/delete")):  # fmt: skip
        lock = _request(method, f"{prefix}/{route}", body={"name": "titanic-gate-lock"})
        assert judge(lock, TRAINING) == needed  # MLflow then says whether training may
        for name in ("titanic", "mallory", "titanic-gate-lock-2", "-gate-lock", ""):
            other = _request(method, f"{prefix}/{route}", body={"name": name})
            assert _status(judge(other, TRAINING)) == 403, (method, name)
            assert judge(other, ADMIN) is None
        named_twice = _request(method, f"{prefix}/{route}", {"name": "titanic"},
                               {"name": "titanic-gate-lock"})  # fmt: skip
        assert _status(judge(named_twice, TRAINING)) == 400
        text = ((b"content-type", b"text/plain"),)
        as_text = _request(method, f"{prefix}/{route}", {"name": "titanic-gate-lock"},
                           b'{"name": "titanic"}', headers=text)  # fmt: skip
        assert _status(judge(as_text, TRAINING)) == 400
