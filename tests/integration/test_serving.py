"""The ``/invocations`` contract, against a real ``mlflow models serve`` on 127.0.0.1 and the
serving layer around it (``make serve``, two workers, its prediction log on): same answers."""

from __future__ import annotations

import json
import math
import random
import re
import string
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import requests

from tests.fuzz_payloads import payloads
from tests.passengers import BRAUND
from tests.processes import VENV_BIN, free_port, start_process, stop_process
from tests.projects import json_records, serve_layer, serve_model, tampered_copy

pytestmark = pytest.mark.integration


LAYER = "serving layer"


@pytest.fixture(scope="module", params=["mlflow models serve", LAYER])
def server(request, registered, tmp_path_factory) -> Iterator[str]:
    """``models:/titanic@champion`` served both ways; yields the base URL."""
    folder = tmp_path_factory.mktemp("log")
    if request.param == LAYER:
        log = {"TITANIC_PREDICTION_LOG": str(folder / "predictions")}
        url, process = serve_layer(
            registered, "models:/titanic@champion", folder, workers=2, env=log
        )
    else:
        url, process = serve_model(registered, "models:/titanic@champion", folder)
    try:
        yield url
    finally:
        stop_process(process)


def _post(url: str, payload: object, session: requests.Session | None = None) -> requests.Response:
    return (session or requests).post(f"{url}/invocations", json=payload, timeout=60)


def _expected(in_process, frame: pd.DataFrame) -> list[dict]:
    return json_records(in_process.predict(frame))


@pytest.fixture(scope="module")
def sample(test_csv) -> pd.DataFrame:
    """Five raw test passengers, missing values included."""
    return pd.read_csv(test_csv).iloc[[0, 10, 11, 12, 152]].reset_index(drop=True)


def test_every_json_payload_form_answers_raw_records(server, in_process, sample):
    records = json_records(sample)
    columns = {name: [r[name] for r in records] for name in sample.columns}
    payloads = {
        "dataframe_split": {
            "dataframe_split": {
                "columns": list(sample.columns),
                "data": [[r[name] for name in sample.columns] for r in records],
            }
        },
        "dataframe_records": {"dataframe_records": records},
        "instances": {"instances": records},
        "inputs as records": {"inputs": records},
        "inputs as columns": {"inputs": columns},
    }
    expected = _expected(in_process, sample)
    assert sample[["Age", "Cabin"]].isna().any().all()  # the sample exercises nulls
    for form, payload in payloads.items():
        response = _post(server, payload)
        assert response.status_code == 200, (form, response.text)
        assert response.json() == {"predictions": expected}, form


def test_the_kaggle_test_csv_as_is_gets_418_predictions_in_order(server, in_process, test_csv):
    body = Path(test_csv).read_bytes()
    response = requests.post(
        f"{server}/invocations", data=body, headers={"Content-Type": "text/csv"}, timeout=60
    )
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    passengers = pd.read_csv(test_csv)
    assert [p["PassengerId"] for p in predictions] == passengers["PassengerId"].tolist()
    assert predictions == _expected(in_process, passengers)


def test_a_single_record_without_optional_fields(server):
    record = {k: v for k, v in BRAUND.items() if k not in ("PassengerId", "Age", "Fare", "Cabin")}
    record.pop("Embarked")
    response = _post(server, {"dataframe_records": [record]})
    assert response.status_code == 200, response.text
    (prediction,) = response.json()["predictions"]
    assert set(prediction) == {"survived", "probability"}
    assert prediction["survived"] in (0, 1)
    assert 0 <= prediction["probability"] <= 1


def test_optional_fields_may_be_null_or_absent_row_by_row(server, in_process):
    with_nulls = {**BRAUND, "Age": None, "Fare": None, "Embarked": None, "PassengerId": None}
    without = {k: v for k, v in BRAUND.items() if k not in ("Age", "Fare", "Embarked")}
    response = _post(server, {"dataframe_records": [with_nulls, without, BRAUND]})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [p["PassengerId"] for p in predictions] == [None, 1, 1]
    assert predictions[0]["probability"] == predictions[1]["probability"]


def test_registered_version_and_run_uris_serve_too(registered, tmp_path, sample, in_process):
    run_id = registered.client.get_model_version("titanic", "1").run_id
    for model_uri in ("models:/titanic/1", f"runs:/{run_id}/model"):
        url, process = serve_model(registered, model_uri, tmp_path)
        try:
            response = _post(url, {"dataframe_records": json_records(sample)})
            assert response.status_code == 200, (model_uri, response.text)
            assert response.json()["predictions"] == _expected(in_process, sample)
        finally:
            stop_process(process)


def _bad(**changes) -> dict:
    return {"dataframe_records": [BRAUND, {**BRAUND, **changes}]}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (_bad(Sex="x"), "row 1: field 'Sex': 'x' is not one of female, male"),
        (_bad(Sex=None), "row 1: field 'Sex': is required"),
        (_bad(Pclass=2.5), "row 1: field 'Pclass': 2.5 is not an integer"),
        (_bad(Pclass=4), "row 1: field 'Pclass': 4 is not one of 1, 2, 3"),
        (_bad(Pclass="first"), "row 1: field 'Pclass': 'first' is not a number"),
        (_bad(Age=121), "row 1: field 'Age': 121 is not a number in [0, 120]"),
        (_bad(Age=-1), "row 1: field 'Age': -1 is not a number in [0, 120]"),
        (_bad(Fare=-5), "row 1: field 'Fare': -5 is not a number in [0, 10000]"),
        (_bad(Fare=1e300), "row 1: field 'Fare': 1e+300 is not a number in [0, 10000]"),
        (_bad(SibSp=-1), "row 1: field 'SibSp': -1 is not an integer in [0, 20]"),
        (_bad(Parch=1000), "row 1: field 'Parch': 1000 is not an integer in [0, 20]"),
        (_bad(Embarked="X"), "row 1: field 'Embarked': 'X' is not one of C, Q, S"),
        (_bad(Name=""), "row 1: field 'Name': is required"),
        (_bad(Ticket=[1, 2]), "row 1: field 'Ticket': must be a non-empty string, not a list"),
        (_bad(Sex="x", Age=500), "row 1: field 'Sex': 'x' is not one of female, male"),
        (
            {"dataframe_records": [{**BRAUND, "Sex": "x"}, {**BRAUND, "Age": -3}]},
            "row 0: field 'Sex': 'x' is not one of female, male (and 1 more bad row)",
        ),
        (
            {"dataframe_records": [{"Pclass": 1}]},
            "missing required column(s): Name, Sex, SibSp, Parch, Ticket",
        ),
        ({"dataframe_records": []}, "no passenger records: the input is empty"),
        (
            {"inputs": {"Pclass": [1, 2], "Sex": ["male"]}},
            "columns must all be lists of the same length, one value per record",
        ),
    ],
)
def test_bad_input_is_a_400_naming_row_field_and_rule(server, payload, message):
    response = _post(server, payload)
    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["error_code"], body["message"]) == ("INVALID_PARAMETER_VALUE", message)
    assert "stack_trace" not in body


def test_non_finite_numbers_are_rejected(server):
    csv = 'Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare\n3,"A, Mr. B",male,inf,0,0,1,7.25\n'
    response = requests.post(
        f"{server}/invocations", data=csv, headers={"Content-Type": "text/csv"}, timeout=60
    )
    assert response.status_code == 400, response.text
    assert response.json()["message"] == "row 0: field 'Age': must be a finite number"


# Every message the model itself answers a bad request with (schema.py, model.py).
MODEL_MESSAGE = re.compile(
    r"row \d+: field '[^']+': [^\n]+"
    r"|missing required column\(s\): [^\n]+"
    r"|no passenger records: the input is empty"
    r"|columns must all be lists of the same length, one value per record"
    r"|expected passenger records \(objects with the passenger fields\)"
)
# What the seeded fuzzing below gets, every run, from either server (measured once).
PAYLOAD_OUTCOMES = {"scored": 9, "refused by the model": 150, "refused by MLflow's parser": 141}
RAW_BODY_OUTCOMES = {
    "scored": 3, "refused by the model": 21, "refused by MLflow's parser": 69,
    "unsupported type": 57,
}  # fmt: skip


@pytest.fixture
def layer(request) -> bool:
    """Whether ``server`` is the serving layer (every error one JSON line) or MLflow's own."""
    return request.node.callspec.params["server"] == LAYER


def _checked_error(response: requests.Response, layer: bool) -> dict:
    """An error answer's body, checked whatever its headers: JSON, never a 5xx.

    The model's refusals are one line without a stack trace from either server; every error
    of the serving layer is, and carries the request's id.
    """
    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert isinstance(body["error_code"], str), body
    assert isinstance(body["message"], str), body
    if layer or body["error_code"] == "INVALID_PARAMETER_VALUE":
        assert "\n" not in body["message"], body
        assert "stack_trace" not in body, body
        assert "Traceback" not in response.text, body
    if layer:
        assert set(body) == {"error_code", "message", "request_id"}, body
        assert "\n" not in response.text, response.text
        assert re.fullmatch("[0-9a-f]{32}", body["request_id"]), body
        assert response.headers["x-request-id"] == body["request_id"]
    return body


def _outcome(response: requests.Response, layer: bool) -> str:
    """Who answered: the model (a prediction or its one-line 400), or MLflow's own parsing."""
    if response.status_code == 200:
        for prediction in response.json()["predictions"]:
            assert prediction["survived"] in (0, 1)
            assert 0.0 <= prediction["probability"] <= 1.0
        return "scored"
    assert response.status_code == 400, response.text
    body = _checked_error(response, layer)
    if body["error_code"] == "INVALID_PARAMETER_VALUE":
        assert MODEL_MESSAGE.fullmatch(body["message"]), body["message"]
        return "refused by the model"
    # MLflow's own parse errors are not the model's: several lines, the body echoed back,
    # unless the serving layer answers them (in one line, checked above).
    assert body["error_code"] == "BAD_REQUEST", body
    return "refused by MLflow's parser"


def test_random_and_malformed_payloads_are_scored_or_refused_in_one_line(server, layer):
    outcomes: Counter[str] = Counter()
    with requests.Session() as session:
        for payload in payloads(seed=26, count=300):
            response = session.post(
                f"{server}/invocations",
                data=json.dumps(payload, allow_nan=False),
                headers={"Content-Type": "application/json"},
                timeout=30,
            )
            try:
                outcomes[_outcome(response, layer)] += 1
            except AssertionError as error:
                raise AssertionError(f"{payload!r}: {error}") from None
    # The same 300 payloads every run, answered alike by both servers. The fuzzing reaches
    # the model, both ways: it is not only MLflow refusing the shapes.
    assert outcomes == Counter(PAYLOAD_OUTCOMES), outcomes


# Text of raw bodies: ASCII, the separators of CSV and JSON, and characters that break naive
# parsers (accents, another script, a NUL, a line separator, a byte-order mark).
_BODY_TEXT = f"{string.printable}\x00éΩ名\u2028\ufeff" + ',,,"""{{}}[[]]\n\n'


def _raw_bodies(seed: int, count: int) -> Iterator[tuple[bytes, str]]:
    """Raw bodies and their content types, drawn from ``seed``: the same ones every run.

    Random bytes, random text, and a valid JSON or CSV body cut short or with a few bytes
    changed, so that some parse and reach the model.
    """
    rng = random.Random(seed)
    valid = {
        "application/json": json.dumps({"dataframe_records": [BRAUND]}).encode(),
        "text/csv": pd.DataFrame([BRAUND]).to_csv(index=False).encode(),
    }
    for _ in range(count):
        content_type = rng.choice(["application/json", "text/csv", "text/plain"])
        kind = rng.choice(["bytes", "text", "mutated"])
        if kind == "bytes":
            body = rng.randbytes(rng.randint(0, 300))
        elif kind == "text":
            body = "".join(rng.choices(_BODY_TEXT, k=rng.randint(0, 300))).encode()
        else:
            mutated = bytearray(valid.get(content_type, valid["text/csv"]))
            for _ in range(rng.randint(1, 3)):
                mutated[rng.randrange(len(mutated))] = rng.choice(_BODY_TEXT.encode())
            body = bytes(mutated[: rng.choice([len(mutated), rng.randint(1, len(mutated))])])
        yield body, content_type


def test_malformed_bodies_get_a_400_or_a_415_never_5xx(server, layer):
    outcomes: Counter[str] = Counter()
    with requests.Session() as session:
        for body, content_type in _raw_bodies(seed=26, count=150):
            response = session.post(
                f"{server}/invocations", data=body, headers={"Content-Type": content_type},
                timeout=30,
            )  # fmt: skip
            try:
                if content_type == "text/plain":  # MLflow serves JSON, CSV and Parquet only
                    assert response.status_code == 415, response.text
                    if layer:
                        _checked_error(response, layer)
                    else:  # MLflow answers this one itself, in a line of plain text
                        assert response.headers["content-type"].startswith("text/plain")
                        assert "\n" not in response.text.strip(), response.text
                        assert "Traceback" not in response.text, response.text
                    outcomes["unsupported type"] += 1
                else:
                    # Bodies MLflow cannot parse are answered by MLflow itself (for CSV, with
                    # its parser's stack trace); CSV it can parse reaches the model.
                    outcomes[_outcome(response, layer)] += 1
            except AssertionError as error:
                raise AssertionError(f"{content_type} {body!r}: {error}") from None
    # The same 150 bodies every run, answered alike by both servers.
    assert outcomes == Counter(RAW_BODY_OUTCOMES), outcomes


def test_the_server_is_still_up_after_the_fuzzing(server):
    assert requests.get(f"{server}/ping", timeout=10).status_code == 200


def test_concurrent_clients_get_exactly_the_in_process_answers(server, in_process, test_csv):
    passengers = pd.read_csv(test_csv)
    expected = _expected(in_process, passengers)
    records = json_records(passengers)
    clients, requests_per_client = 8, 300

    def client(offset: int) -> tuple[int, list[str]]:
        """The answers this client got, and what was wrong with them.

        An exception (a refused connection, say) reaches the test through ``pool.map``.
        """
        answered, failures = 0, []
        with requests.Session() as session:  # keep-alive, as a real client
            for i in range(requests_per_client):
                row = (offset * 37 + i) % len(records)
                response = _post(server, {"dataframe_records": [records[row]]}, session)
                answered += 1
                if response.status_code != 200:
                    failures.append(f"row {row}: {response.status_code} {response.text[:200]}")
                elif response.json()["predictions"] != [expected[row]]:
                    failures.append(f"row {row}: {response.json()} != {expected[row]}")
        return answered, failures

    with ThreadPoolExecutor(max_workers=clients) as pool:
        reports = list(pool.map(client, range(clients), timeout=600))

    assert [failures for _, failures in reports] == [[]] * clients
    assert sum(answered for answered, _ in reports) == 2_400


def test_predictions_are_deterministic(server, sample):
    payload = {"dataframe_records": json_records(sample)}
    first, second = _post(server, payload).json(), _post(server, payload).json()
    assert first == second
    assert all(math.isfinite(p["probability"]) for p in first["predictions"])


def test_a_tampered_model_is_refused_and_nothing_is_served(registered, tmp_path):
    """A pipeline file rewritten to run a command: the server refuses to start, in one line."""
    tampered = tampered_copy(registered, tmp_path)
    port = free_port()
    process = start_process(
        [str(VENV_BIN / "mlflow"), "models", "serve", "-m", str(tampered), "--env-manager",
         "local", "-h", "127.0.0.1", "-p", str(port)],
        tmp_path / "serve.log",
        registered.env,
    )  # fmt: skip
    try:
        process.wait(timeout=120)
    finally:
        stop_process(process)

    assert process.returncode != 0
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/ping", timeout=5)
    refusal = "refusing to load pipeline.skops: it references untrusted type(s) posix.system"
    log = (tmp_path / "serve.log").read_text()
    assert f"UntrustedPipelineError: {refusal}\n" in log
