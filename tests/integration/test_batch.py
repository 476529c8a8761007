"""``mlflow run . -e predict``: batch scoring of whole CSVs, with bad rows set aside.

The bad inputs run the same job's command line (``python -m entrypoints predict``, what the
entry point runs) in this process: no ``mlflow run`` and Python start per case.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from tests.projects import Project
from titanic_model.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture
def trained(registered) -> Project:
    return registered


@pytest.fixture(scope="module")
def registered_store(registered, tmp_path_factory) -> Iterator[None]:
    """This process reads the registered project's store and logs to an experiment of its own."""
    artifacts = tmp_path_factory.mktemp("batch-in-process-artifacts")
    experiment = registered.client.create_experiment("batch-in-process", str(artifacts))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", registered.tracking_uri)
        patch.setenv("MLFLOW_EXPERIMENT_ID", experiment)
        patch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
        yield


def _read(path) -> pd.DataFrame:
    # Written with every digit; read back to the same float64, bit for bit.
    return pd.read_csv(path, float_precision="round_trip")


def test_scores_the_kaggle_test_file_in_chunks(trained, in_process, test_csv, tmp_path):
    output = tmp_path / "out" / "predictions.csv"
    result = trained.run(
        "-P", f"input_uri={test_csv}", "-P", f"output_uri={output}", "-P", "chunk_rows=100",
        entry_point="predict",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    predictions = _read(output)
    passengers = pd.read_csv(test_csv)
    assert predictions["row"].tolist() == list(range(418))
    # The same answers as the model loaded in this process, to the last bit.
    pd.testing.assert_frame_equal(
        predictions.drop(columns=["row"]), in_process.predict(passengers), check_exact=True
    )
    rejects = pd.read_csv(tmp_path / "out" / "predictions.rejects.csv")
    assert rejects.empty
    run = trained.latest_run()
    assert run.data.metrics == {"rows_total": 418, "rows_scored": 418, "rows_rejected": 0}


def test_bad_rows_go_to_the_rejects_file_with_their_reason(trained, in_process, test_csv, tmp_path):
    passengers = pd.read_csv(test_csv).astype({"Pclass": float})
    broken = {
        5: ("Sex", "x", "field 'Sex': 'x' is not one of female, male"),
        150: ("Pclass", 2.5, "field 'Pclass': 2.5 is not an integer"),
        151: ("Age", -4, "field 'Age': -4 is not a number in [0, 120]"),
        299: ("Embarked", "Z", "field 'Embarked': 'Z' is not one of C, Q, S"),
        417: ("Name", None, "field 'Name': is required"),
    }
    for row, (column, value, _) in broken.items():
        passengers.loc[row, column] = value
    source = tmp_path / "mixed.csv"
    passengers.to_csv(source, index=False)

    result = trained.run(
        "-P", f"input_uri={source}", "-P", "chunk_rows=64", entry_point="predict"
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    predictions = _read(tmp_path / "mixed.predictions.csv")
    rejects = pd.read_csv(tmp_path / "mixed.rejects.csv")
    # Nothing silently dropped: every input row is in exactly one of the two files.
    assert sorted([*predictions["row"], *rejects["row"]]) == list(range(418))
    assert dict(zip(rejects["row"], rejects["reason"], strict=True)) == {
        row: reason for row, (_, _, reason) in broken.items()
    }
    assert rejects["PassengerId"].tolist() == [passengers["PassengerId"][r] for r in broken]
    good = passengers.drop(index=list(broken))
    assert predictions["row"].tolist() == good.index.tolist()
    pd.testing.assert_frame_equal(
        predictions.drop(columns=["row"]),
        in_process.predict(good).reset_index(drop=True),
        check_exact=True,
    )
    run = trained.latest_run()
    assert run.data.metrics == {"rows_total": 418, "rows_scored": 413, "rows_rejected": 5}


def test_a_file_missing_a_required_column_fails_in_one_line(
    registered_store, test_csv, tmp_path, capsys
):
    source = tmp_path / "no_name.csv"
    pd.read_csv(test_csv).drop(columns=["Name"]).to_csv(source, index=False)
    assert main(["predict", "--input_uri", str(source)]) == 1
    assert capsys.readouterr().err == "error: missing required column(s): Name\n"


def test_a_missing_input_fails_before_writing_anything(registered_store, tmp_path, capsys):
    assert main(["predict", "--input_uri", str(tmp_path / "nope.csv")]) == 1
    assert capsys.readouterr().err == (
        f"error: cannot read input_uri {tmp_path / 'nope.csv'}: no such file\n"
    )
    assert list(tmp_path.iterdir()) == []
