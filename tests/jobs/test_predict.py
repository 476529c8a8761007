from __future__ import annotations

import mlflow
import pandas as pd
import pytest

from tests.passengers import make_passengers
from titanic_model.batch.predict_config import PredictConfig
from titanic_model.config import MainConfig
from titanic_model.jobs.main import main
from titanic_model.jobs.predict import predict


@pytest.fixture(scope="module")
def model_uri(store) -> str:
    name = store.new_model_name()
    with mlflow.start_run():
        main(MainConfig.of(store.prepare(), store.search(), model_name=name))
    return f"models:/{name}@champion"


def test_predict_scores_good_rows_and_sets_bad_ones_aside(store, model_uri, tmp_path):
    passengers = make_passengers(30).drop(columns=["Survived"]).astype({"Pclass": float})
    passengers.loc[4, "Sex"] = "x"
    passengers.loc[17, "Pclass"] = 2.5
    source = tmp_path / "in.csv"
    passengers.to_csv(source, index=False)

    with mlflow.start_run() as run:
        counts = predict(PredictConfig(input_uri=str(source), model_uri=model_uri, chunk_rows=7))

    assert counts == {"rows_total": 30, "rows_scored": 28, "rows_rejected": 2}
    assert mlflow.get_run(run.info.run_id).data.metrics == counts
    predictions = pd.read_csv(tmp_path / "in.predictions.csv", float_precision="round_trip")
    rejects = pd.read_csv(tmp_path / "in.rejects.csv")
    assert rejects[["row", "reason"]].to_dict(orient="list") == {
        "row": [4, 17],
        "reason": ["field 'Sex': 'x' is not one of female, male",
                   "field 'Pclass': 2.5 is not an integer"],
    }  # fmt: skip
    good = passengers.drop(index=[4, 17])
    expected = mlflow.pyfunc.load_model(model_uri).predict(good)
    assert predictions["row"].tolist() == good.index.tolist()
    pd.testing.assert_frame_equal(
        predictions.drop(columns=["row"]), expected.reset_index(drop=True), check_exact=True
    )
