from __future__ import annotations

import pandas as pd

from tests.unit.model.test_scoring import fake_answer, passenger
from titanic_model.batch.chunks import split_answers
from titanic_model.model.scoring import score_with_reasons
from titanic_model.names import REASON_COLUMN, ROW_COLUMN


def chunks(records: list[dict], size: int) -> list[pd.DataFrame]:
    frame = pd.DataFrame(records)
    return [frame.iloc[start : start + size] for start in range(0, len(frame), size)]


def split(chunk: pd.DataFrame):
    return split_answers(chunk, score_with_reasons(chunk, fake_answer))


def test_good_and_bad_rows_are_split_with_their_positions_and_reasons():
    records = [
        passenger(PassengerId=10),
        passenger(PassengerId=11, Sex="x"),
        passenger(PassengerId=12, Sex="female"),
        passenger(PassengerId=13, Pclass=2.5),
        passenger(PassengerId=14),
    ]
    scored = [split(chunk) for chunk in chunks(records, 2)]

    predictions = pd.concat([s.predictions for s in scored], ignore_index=True)
    rejects = pd.concat([s.rejects for s in scored], ignore_index=True)
    assert predictions[ROW_COLUMN].tolist() == [0, 2, 4]
    assert predictions["PassengerId"].tolist() == [10, 12, 14]
    assert predictions["survived"].tolist() == [0, 1, 0]
    assert [str(t) for t in predictions.dtypes] == ["int64", "int64", "int64", "float64"]
    assert rejects[ROW_COLUMN].tolist() == [1, 3]
    assert rejects[REASON_COLUMN].tolist() == [
        "field 'Sex': 'x' is not one of female, male",
        "field 'Pclass': 2.5 is not an integer",
    ]
    assert rejects["PassengerId"].tolist() == [11, 13]
    assert rejects["Pclass"].tolist() == [3, 2.5]  # the row as it was read
    assert list(rejects.columns[:2]) == [ROW_COLUMN, REASON_COLUMN]


def test_a_chunk_with_only_bad_rows_keeps_the_output_columns():
    scored = split(pd.DataFrame([passenger(Sex="?")]))

    columns = [ROW_COLUMN, "PassengerId", "survived", "probability"]
    assert list(scored.predictions.columns) == columns
    assert scored.predictions.empty
    assert len(scored.rejects) == 1


def test_without_passenger_ids_the_output_has_none():
    record = {k: v for k, v in passenger().items() if k != "PassengerId"}
    scored = split(pd.DataFrame([record]))

    assert list(scored.predictions.columns) == [ROW_COLUMN, "survived", "probability"]


def test_missing_ids_among_scored_rows_stay_missing():
    scored = split(pd.DataFrame([passenger(), passenger(PassengerId=None)]))

    assert scored.predictions["PassengerId"].tolist() == [1, pd.NA]
    assert str(scored.predictions["PassengerId"].dtype) == "Int64"
