from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from titanic_model.model.schema import SchemaError
from titanic_model.model.scoring import (
    REASON,
    REASONED_COLUMNS,
    ROW,
    score_chunks,
    score_with_reasons,
)


def _passenger(**changes) -> dict:
    return {
        "PassengerId": 1, "Pclass": 3, "Name": "Braund, Mr. Owen Harris", "Sex": "male",
        "Age": 22.0, "SibSp": 1, "Parch": 0, "Ticket": "A/5 21171", "Fare": 7.25,
        "Cabin": None, "Embarked": "S", **changes,
    }  # fmt: skip


def _fake_predict(rows: pd.DataFrame) -> pd.DataFrame:
    """Stands in for the model: survival 1 for women, with the ids passed through."""
    survived = (rows["Sex"] == "female").astype("int64").to_numpy()
    return pd.DataFrame(
        {"PassengerId": rows["PassengerId"].to_numpy(), "survived": survived,
         "probability": survived * 0.9 + 0.05}
    )  # fmt: skip


def _chunks(records: list[dict], size: int) -> list[pd.DataFrame]:
    frame = pd.DataFrame(records)
    return [frame.iloc[start : start + size] for start in range(0, len(frame), size)]


def test_good_and_bad_rows_are_split_with_their_positions_and_reasons():
    records = [
        _passenger(PassengerId=10),
        _passenger(PassengerId=11, Sex="x"),
        _passenger(PassengerId=12, Sex="female"),
        _passenger(PassengerId=13, Pclass=2.5),
        _passenger(PassengerId=14),
    ]
    scored = list(score_chunks(_chunks(records, 2), _fake_predict))

    assert len(scored) == 3
    predictions = pd.concat([s.predictions for s in scored], ignore_index=True)
    rejects = pd.concat([s.rejects for s in scored], ignore_index=True)
    assert predictions[ROW].tolist() == [0, 2, 4]
    assert predictions["PassengerId"].tolist() == [10, 12, 14]
    assert predictions["survived"].tolist() == [0, 1, 0]
    assert rejects[ROW].tolist() == [1, 3]
    assert rejects[REASON].tolist() == [
        "field 'Sex': 'x' is not one of female, male",
        "field 'Pclass': 2.5 is not an integer",
    ]
    assert rejects["PassengerId"].tolist() == [11, 13]
    assert list(rejects.columns[:2]) == [ROW, REASON]


def test_a_chunk_with_only_bad_rows_keeps_the_output_columns():
    (scored,) = score_chunks(_chunks([_passenger(Sex="?")], 5), _fake_predict)

    assert list(scored.predictions.columns) == [ROW, "PassengerId", "survived", "probability"]
    assert scored.predictions.empty
    assert len(scored.rejects) == 1


def test_without_passenger_ids_the_output_has_none():
    record = {k: v for k, v in _passenger(Sex="?").items() if k != "PassengerId"}
    (scored,) = score_chunks(_chunks([record], 5), _fake_predict)

    assert list(scored.predictions.columns) == [ROW, "survived", "probability"]


def test_the_model_is_only_given_valid_rows():
    seen: list[pd.DataFrame] = []

    def predict(rows: pd.DataFrame) -> pd.DataFrame:
        seen.append(rows)
        return _fake_predict(rows)

    list(score_chunks(_chunks([_passenger(), _passenger(Age=-1), _passenger()], 3), predict))

    assert [len(rows) for rows in seen] == [2]
    assert seen[0].index.tolist() == [0, 2]


def test_a_missing_required_column_fails_the_whole_batch():
    records = [{k: v for k, v in _passenger().items() if k != "Name"}]
    with pytest.raises(SchemaError, match=r"missing required column\(s\): Name"):
        list(score_chunks(_chunks(records, 5), _fake_predict))


def test_reasons_answer_every_row_in_order_instead_of_refusing():
    records = [
        _passenger(PassengerId=10, Sex="female"),
        _passenger(PassengerId=11, Sex="x"),
        _passenger(PassengerId=12),
    ]
    frame = pd.DataFrame(records, index=[7, 3, 5])  # Spark's batches, any index
    answers = score_with_reasons(frame, _fake_predict)

    assert list(answers.columns) == list(REASONED_COLUMNS)
    assert answers["PassengerId"].tolist() == [10, pd.NA, 12]
    assert answers["survived"].tolist() == [1, pd.NA, 0]
    assert answers["probability"].iloc[[0, 2]].tolist() == [1 * 0.9 + 0.05, 0.05]
    assert np.isnan(answers["probability"].iloc[1])
    assert answers[REASON].tolist() == ["", "field 'Sex': 'x' is not one of female, male", ""]
    assert str(answers["survived"].dtype) == "Int64"


def test_reasons_without_passenger_ids_leave_the_ids_missing():
    frame = pd.DataFrame([_passenger(), _passenger(Age=-1)]).drop(columns=["PassengerId"])
    answers = score_with_reasons(frame, lambda rows: _fake_predict(rows.assign(PassengerId=0))
                                 .drop(columns=["PassengerId"]))  # fmt: skip

    assert answers["PassengerId"].isna().all()
    assert answers["survived"].tolist() == [0, pd.NA]
    assert answers[REASON].tolist() == ["", "field 'Age': -1 is not a number in [0, 120]"]


def test_reasons_still_refuse_input_without_a_required_column():
    with pytest.raises(SchemaError, match="missing required column"):
        score_with_reasons(pd.DataFrame([_passenger()]).drop(columns=["Sex"]), _fake_predict)
