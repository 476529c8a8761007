"""The prediction log's contract: what the writer writes, the readers read back, and no more."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.prediction_logs import IDENTITY, PREDICTIONS, RECORDS, at, log_text
from titanic_model.model.features import extract_titles
from titanic_model.model.schema import PASSENGER_FIELDS, FieldKind, check_passengers
from titanic_model.prediction_log import (
    SCHEMA_VERSION,
    RefusedLine,
    ScoredLine,
    parse_line,
    read_prediction_log,
)
from titanic_model.serving.log_writer import ModelIdentity, rejected_line, scored_lines

# ------------------------------------------------------------------ written, then read back

# Any text a client may send: lone surrogates included (JSON's "\ud800" reads as one), the
# characters JSON escapes drawn often. Not a surrogate pair, which no request can hold (JSON
# and UTF-8 decoding make it the one character it encodes).
_TEXT = (
    st.lists(
        st.one_of(
            st.characters(exclude_categories=()),
            st.sampled_from(["\ud800", "\udfff", "\u00e8", "\u2028", "\x00", "\n", '"', "\\"]),
        ),
        min_size=1,
        max_size=12,
    )
    .map("".join)
    .filter(lambda text: not re.search("[\ud800-\udbff][\udc00-\udfff]", text))
)


def _canonical(field) -> st.SearchStrategy:
    """A field's values as the model's validation returns them (NaN: missing)."""
    if field.kind is FieldKind.STRING:
        if field.allowed is not None:
            values = st.sampled_from(sorted(field.allowed))
        else:
            values = _TEXT.map(lambda text: " ".join(text.split())).filter(bool)
    elif field.allowed is not None:
        values = st.sampled_from(sorted(field.allowed)).map(float)
    elif field.kind is FieldKind.INTEGER:
        values = st.integers(int(field.minimum), int(field.maximum)).map(float)
    else:
        values = st.floats(field.minimum, field.maximum)
    return values if field.required else st.one_of(st.just(math.nan), values)


_RECORD = st.fixed_dictionaries({field.name: _canonical(field) for field in PASSENGER_FIELDS})
_ARRIVED = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-3, minutes=-30))]),
)
_IDENTITY = st.builds(
    ModelIdentity, st.one_of(st.just(""), _TEXT), st.none() | _TEXT, st.none() | _TEXT
)


def _written_time(arrived: datetime) -> datetime:
    """The instant a line says: UTC, to the millisecond."""
    return arrived.astimezone(UTC).replace(microsecond=arrived.microsecond // 1000 * 1000)


def _json_value(field, value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    return int(value) if field.kind is FieldKind.INTEGER else value


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=st.lists(_RECORD, min_size=1, max_size=4),
    probabilities=st.lists(st.floats(0, 1), min_size=4, max_size=4),
    identity=_IDENTITY,
    request_id=_TEXT,
    arrived=_ARRIVED,
    full_names=st.booleans(),
    role=st.sampled_from(["served", "shadow"]),
)
def test_every_scored_line_the_writer_writes_reads_back_as_the_same_values(
    records, probabilities, identity, request_id, arrived, full_names, role
):
    columns = {
        field.name: np.array(
            [record[field.name] for record in records],
            dtype=object if field.kind is FieldKind.STRING else "float64",
        )
        for field in PASSENGER_FIELDS
    }
    answers = pd.DataFrame(
        {
            "survived": [int(p >= 0.5) for p in probabilities[: len(records)]],
            "probability": probabilities[: len(records)],
        }
    )

    texts = scored_lines(
        identity, request_id, arrived, columns, answers, full_names=full_names, role=role
    )
    lines = [parse_line(text) for text in texts]

    assert all(json.loads(text)["time"].endswith("Z") for text in texts)  # UTC, whatever given
    assert all(isinstance(line, ScoredLine) for line in lines)
    for i, (line, record) in enumerate(zip(lines, records, strict=True)):
        logged = {
            field.name: _json_value(field, record[field.name])
            for field in PASSENGER_FIELDS
            if field.name != "Name" or full_names
        }
        logged["Title"] = extract_titles([record["Name"]])[0]
        assert line.input == logged
        assert (line.record, line.survived, line.probability) == (
            i, answers["survived"][i], answers["probability"][i],
        )  # fmt: skip
        assert (line.schema_version, line.status, line.role) == (SCHEMA_VERSION, 200, role)
        assert line.time == _written_time(arrived)
        assert (line.request_id, line.model_name) == (request_id, identity.name)
        assert (line.model_version, line.run_id) == (identity.version, identity.run_id)


@settings(max_examples=100, deadline=None)
@given(
    identity=_IDENTITY,
    request_id=_TEXT,
    arrived=_ARRIVED,
    status=st.integers(400, 599),
    reason=_TEXT,
    rejected=st.dictionaries(
        st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True), st.integers(1, 10_000), max_size=4
    ),
)
def test_every_refusal_the_writer_writes_reads_back_as_the_same_values(
    identity, request_id, arrived, status, reason, rejected
):
    line = parse_line(rejected_line(identity, request_id, arrived, status, reason, rejected))

    assert line == RefusedLine(
        schema_version=SCHEMA_VERSION,
        time=_written_time(arrived),
        request_id=request_id,
        model_name=identity.name,
        model_version=identity.version,
        run_id=identity.run_id,
        status=status,
        role="served",
        reason=reason,
        rejected_records=rejected,
    )


# ------------------------------------------------------------------ what is not a line

_SCORED = json.loads(log_text(8, "a").splitlines()[0])
_REFUSED = json.loads(rejected_line(IDENTITY, "r", at(8), 400, "why", {"Age": 1}))


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1, 2]",
        json.dumps(_SCORED)[:-40],  # cut short: the writer died mid-line
        json.dumps(_SCORED | {"schema_version": 3}),
        json.dumps({key: value for key, value in _SCORED.items() if key != "role"}),
        json.dumps(_SCORED | {"role": "canary"}),
        json.dumps(_SCORED | {"schema_version": 1}),  # version 1 had no role
        json.dumps(_REFUSED | {"role": "shadow"}),  # a shadow refuses nothing
        json.dumps({key: value for key, value in _SCORED.items() if key != "schema_version"}),
        json.dumps({key: value for key, value in _SCORED.items() if key != "probability"}),
        json.dumps(_SCORED | {"input": [1, 2]}),
        json.dumps(_SCORED | {"time": "2026-11-25T10:00:00"}),  # no offset: which instant?
        json.dumps(_SCORED | {"time": "yesterday"}),
        json.dumps(_SCORED | {"model_version": 3}),  # a number where the contract has text
        json.dumps(_SCORED | {"survived": "yes"}),
        json.dumps({"schema_version": 1, "status": 400}),
        json.dumps(_REFUSED | {"rejected_records": {"<b>Age</b>": 1}}),  # not a field's name
    ],
    ids=[
        "not-json", "not-an-object", "truncated", "other-version", "no-role", "unknown-role",
        "role-in-version-1", "shadow-refusal", "no-version",
        "missing-field", "input-not-an-object", "naive-time", "not-a-time",
        "version-not-text", "survived-not-a-number", "refusal-without-fields",
        "refused-by-a-field-with-no-name",
    ],
)  # fmt: skip
def test_what_is_not_a_line_of_a_version_read_here_is_not_read(text):
    assert parse_line(text) is None


def test_fields_the_contract_does_not_know_are_ignored_not_refused():
    line = parse_line(json.dumps(_SCORED | {"trace_id": "x"}))
    assert isinstance(line, ScoredLine)
    assert not hasattr(line, "trace_id")


# ------------------------------------------------------------------ the tables


def test_scored_lines_become_one_row_per_record_with_their_inputs():
    table = read_prediction_log([log_text(8, "a")])

    assert (table.lines, table.corrupt_lines, len(table.scored)) == (3, 0, 3)
    row = table.scored.iloc[1]
    assert (row["request_id"], row["model_version"], row["run_id"]) == ("a", "2", "run-2")
    assert (row["Title"], row["Pclass"], row["survived"]) == ("Mrs", 1, 1)
    assert math.isnan(table.scored.iloc[2]["Age"])
    assert table.scored["time"].iloc[0] == pd.Timestamp(at(8))
    assert str(table.scored["time"].dtype).endswith(", UTC]")


def test_unreadable_lines_are_skipped_and_counted():
    garbage = "not json\n[1, 2]\n" + json.dumps({"schema_version": 3, "status": 200}) + "\n"
    truncated = log_text(8, "a")[:-40] + "\n"  # a line cut short: the writer died mid-line
    table = read_prediction_log([garbage, truncated, log_text(9, "b")])

    assert table.corrupt_lines == 4
    assert table.lines == 3 + 3 + 3
    assert sorted(table.scored["request_id"].unique()) == ["a", "b"]
    assert len(table.scored) == 5


def test_the_window_keeps_lines_from_since_up_to_until_excluded():
    table = read_prediction_log(
        [log_text(8, "a"), log_text(9, "b"), log_text(10, "c")], at(9), at(10)
    )
    assert table.scored["request_id"].unique().tolist() == ["b"]
    assert table.lines == 9


def test_refused_requests_are_one_row_each_with_their_reason_and_counts():
    refused = "\n".join(
        [
            rejected_line(IDENTITY, "x", at(8), 400, "row 0: ...", {"Age": 2, "Sex": 1}),
            rejected_line(IDENTITY, "y", at(8), 413, "too large", {}),
        ]
    )
    table = read_prediction_log([refused])

    assert table.refused.columns.tolist() == [
        "time", "request_id", "model_name", "model_version", "run_id", "status", "role",
        "reason", "rejected_records",
    ]  # fmt: skip
    assert table.refused["status"].tolist() == [400, 413]
    assert table.refused["rejected_records"].tolist() == [{"Age": 2, "Sex": 1}, {}]
    assert table.scored.empty


def test_an_empty_window_still_has_the_tables_columns():
    table = read_prediction_log([log_text(8, "a")], since=at(9))

    assert table.scored.empty
    assert table.refused.empty
    assert {"time", "request_id", "model_name", "run_id", "probability"} <= set(table.scored)
    assert "time" in table.refused


def test_a_shadows_lines_are_told_apart_and_left_out_of_what_was_served():
    columns = check_passengers(RECORDS)
    shadow = ModelIdentity("titanic", "3", "run-3")
    answers = PREDICTIONS.assign(survived=[1, 1, 0], probability=[0.7, 0.8, 0.4])
    lines = [
        *scored_lines(IDENTITY, "a", at(8), columns, PREDICTIONS, full_names=False),
        *scored_lines(shadow, "a", at(8), columns, answers, full_names=False, role="shadow"),
    ]
    table = read_prediction_log(["\n".join(lines)])

    assert table.scored["role"].tolist() == ["served"] * 3 + ["shadow"] * 3
    served = table.served()
    assert served.scored["model_version"].tolist() == ["2"] * 3
    assert served.scored["survived"].tolist() == PREDICTIONS["survived"].tolist()
    assert (served.lines, served.corrupt_lines) == (6, 0)
