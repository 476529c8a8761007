from __future__ import annotations

import pandas as pd
import pytest

from titanic_model.batch import REASON, ROW, score_chunks
from titanic_model.schema import SchemaError


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
