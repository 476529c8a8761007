from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from titanic_model.model.schema import SchemaError
from titanic_model.model.scoring import REASONED_COLUMNS, score_with_reasons
from titanic_model.names import REASON_COLUMN


def passenger(**changes) -> dict:
    return {
        "PassengerId": 1, "Pclass": 3, "Name": "Braund, Mr. Owen Harris", "Sex": "male",
        "Age": 22.0, "SibSp": 1, "Parch": 0, "Ticket": "A/5 21171", "Fare": 7.25,
        "Cabin": None, "Embarked": "S", **changes,
    }  # fmt: skip


def fake_answer(columns) -> pd.DataFrame:
    """Stands in for the model: survival 1 for women."""
    survived = (columns["Sex"] == "female").astype("int64")
    return pd.DataFrame({"survived": survived, "probability": survived * 0.9 + 0.05})


def test_reasons_answer_every_row_in_order_instead_of_refusing():
    records = [
        passenger(PassengerId=10, Sex="female"),
        passenger(PassengerId=11, Sex="x"),
        passenger(PassengerId=12),
    ]
    frame = pd.DataFrame(records, index=[7, 3, 5])  # Spark's batches, any index
    answers = score_with_reasons(frame, fake_answer)

    assert list(answers.columns) == list(REASONED_COLUMNS)
    assert answers["PassengerId"].tolist() == [10, pd.NA, 12]
    assert answers["survived"].tolist() == [1, pd.NA, 0]
    assert answers["probability"].iloc[[0, 2]].tolist() == [1 * 0.9 + 0.05, 0.05]
    assert np.isnan(answers["probability"].iloc[1])
    assert answers[REASON_COLUMN].tolist() == [
        "",
        "field 'Sex': 'x' is not one of female, male",
        "",
    ]
    assert str(answers["survived"].dtype) == "Int64"


def test_the_model_is_given_the_valid_rows_canonical_values_once():
    seen = []

    def answer(columns):
        seen.append(columns)
        return fake_answer(columns)

    score_with_reasons(pd.DataFrame([passenger(), passenger(Age=-1), passenger(Age="7")]), answer)

    assert len(seen) == 1
    assert seen[0]["Age"].tolist() == [22.0, 7.0]  # validated and coerced, not as sent


def test_a_batch_of_bad_rows_only_never_calls_the_model():
    answers = score_with_reasons(pd.DataFrame([passenger(Sex="?")]), pytest.fail)

    assert answers["survived"].isna().all()


def test_reasons_without_passenger_ids_leave_the_ids_missing():
    frame = pd.DataFrame([passenger(), passenger(Age=-1)]).drop(columns=["PassengerId"])
    answers = score_with_reasons(frame, fake_answer)

    assert answers["PassengerId"].isna().all()
    assert answers["survived"].tolist() == [0, pd.NA]
    assert answers[REASON_COLUMN].tolist() == ["", "field 'Age': -1 is not a number in [0, 120]"]


def test_reasons_still_refuse_input_without_a_required_column():
    with pytest.raises(SchemaError, match="missing required column"):
        score_with_reasons(pd.DataFrame([passenger()]).drop(columns=["Sex"]), fake_answer)
