from __future__ import annotations

import pytest
import yaml
from mlflow import MlflowClient
from mlflow.entities import RunStatus

from tests.passengers import make_passengers
from tests.processes import PROJECT_ROOT
from tests.projects import activate_sqlite_store
from titanic_model.cli import JOBS, main, parse_command_line
from titanic_model.errors import ConfigError


@pytest.fixture(autouse=True)
def _no_settings_in_the_environment(environ) -> None:
    environ({})


@pytest.fixture
def store(tmp_path, monkeypatch) -> MlflowClient:
    return MlflowClient(activate_sqlite_store(tmp_path, "cli", monkeypatch))


def _runs(client: MlflowClient) -> list:
    return client.search_runs([client.get_experiment_by_name("cli").experiment_id])


def test_every_mlproject_entry_point_is_a_job():
    project = yaml.safe_load((PROJECT_ROOT / "MLproject").read_text())
    assert set(project["entry_points"]) == set(JOBS)


def test_the_command_line_is_a_job_and_option_pairs():
    assert parse_command_line(["train", "--n_trees", "50", "--data_uri", "", "--seed=3"]) == (
        "train", {"n_trees": "50", "data_uri": "", "seed": "3"}
    )  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "no job given: expected one of main, prepare, train"),
        (["fit"], "unknown job 'fit': expected one of main, prepare, train"),
        (["train", "--n_trees"], "option '--n_trees' has no value"),
        (["train", "n_trees", "50"], "expected an option such as --seed, got 'n_trees'"),
    ],
)
def test_a_malformed_command_line_is_a_config_error(argv, message):
    with pytest.raises(ConfigError, match=message):
        parse_command_line(argv)


def test_a_bad_parameter_fails_in_one_line_before_any_run(store, capsys):
    status = main(["train", "--n_trees", "-3"])

    assert status == 1
    assert capsys.readouterr().err == (
        "error: invalid parameter n_trees='-3': must be a comma-separated list of integers >= 1\n"
    )
    assert _runs(store) == []


def test_an_unknown_parameter_fails_in_one_line(store, capsys):
    assert main(["prepare", "--colour", "red"]) == 1
    assert capsys.readouterr().err.startswith(
        "error: unknown parameter colour='red': expected one of data_uri, test_fraction, seed\n"
    )
    assert _runs(store) == []


def test_a_data_error_fails_in_one_line_and_marks_the_run_failed(store, capsys, tmp_path):
    missing = tmp_path / "missing.csv"

    assert main(["prepare", "--data_uri", str(missing)]) == 1

    assert capsys.readouterr().err == f"error: cannot read data_uri {missing}: no such file\n"
    (run,) = _runs(store)
    assert run.info.status == RunStatus.to_string(RunStatus.FAILED)


def test_a_job_runs_in_a_run_with_its_settings_from_the_environment(store, tmp_path, environ):
    data = tmp_path / "passengers.csv"
    make_passengers(40).to_csv(data, index=False)
    environ({"TITANIC_DATA_URI": str(data)})

    assert main(["prepare", "--seed", "7"]) == 0

    (run,) = _runs(store)
    assert run.info.status == RunStatus.to_string(RunStatus.FINISHED)
    assert run.data.tags["data_uri"] == str(data)
    assert run.data.params == {"data_uri": str(data), "seed": "7", "test_fraction": "0.2"}


def test_help_lists_the_jobs_and_a_jobs_parameters_with_their_defaults(capsys):
    assert main(["--help"]) == 0
    listing = capsys.readouterr().out
    assert all(f"  {name} " in listing for name in JOBS)

    assert main(["predict", "--help"]) == 0
    described = capsys.readouterr().out
    assert "--chunk_rows" in described
    assert "(default: '50000')" in described


def test_no_job_is_an_error(capsys):
    assert main([]) == 1
    assert capsys.readouterr().err.startswith("error: no job given: expected one of main")


def test_a_value_that_looks_like_help_is_a_value_not_the_help(store, capsys):
    assert main(["prepare", "--data_uri=--help"]) == 1
    assert capsys.readouterr().err == "error: cannot read data_uri --help: no such file\n"
    # Apart from its option, argparse reads it as an option: an error still, not the help.
    assert main(["prepare", "--data_uri", "--help"]) == 1
    assert capsys.readouterr() == ("", "error: option '--data_uri' has no value\n")


def test_an_mlflow_refusal_fails_in_one_line(store, capsys):
    assert main(["evaluate", "--model_name", "nobody"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ")
    assert "nobody" in line
    (run,) = _runs(store)
    assert run.info.status == RunStatus.to_string(RunStatus.FAILED)


def test_help_says_which_parameters_are_required(capsys):
    assert main(["evaluate_best", "-h"]) == 0
    described = capsys.readouterr().out
    assert "--experiment_name" in described
    assert "(required)" in described
    assert described.index("--experiment_name") < described.index("--gate_metric")
