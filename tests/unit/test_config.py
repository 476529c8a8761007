from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pydantic
import pytest

from titanic_model.batch.predict_config import PredictConfig
from titanic_model.config import (
    CompareConfig,
    CrossValidateConfig,
    EvaluateBestConfig,
    EvaluateConfig,
    MainConfig,
    MonitorConfig,
    PrepareConfig,
    PromoteConfig,
    RequestLabelsConfig,
    SearchConfig,
    TrainConfig,
)
from titanic_model.environment import PUBLIC_DATA_URI, PredictionLogStorage, StorageConfig
from titanic_model.errors import ConfigError
from titanic_model.names import CANDIDATES, CV_METRICS, HOLDOUT_METRICS
from titanic_model.parameters import Rule

ALL_CONFIGS = [TrainConfig, EvaluateConfig, PredictConfig, EvaluateBestConfig, MainConfig,
               CrossValidateConfig, PrepareConfig, MonitorConfig, CompareConfig,
               PromoteConfig]  # fmt: skip


@pytest.fixture(autouse=True)
def _no_settings_in_the_environment(environ) -> None:
    """Each test sets the variables it reads: none comes from the shell running the suite."""
    environ({})


def train(params: dict[str, str]) -> TrainConfig:
    return TrainConfig.from_params(params)


def prepare(params: dict[str, str]) -> PrepareConfig:
    return PrepareConfig.from_params(params)


# ---------------------------------------------------------------- defaults


def test_prepare_defaults():
    config = prepare({})

    assert config == PrepareConfig()
    assert config.data_uri == PUBLIC_DATA_URI
    assert config.test_fraction == 0.2
    assert config.seed == 42
    assert config.storage == StorageConfig(cache_dir=Path("data"), s3_endpoint_url=None)


def test_train_defaults():
    config = train({})

    assert config == TrainConfig()
    assert PrepareConfig.of(config) == PrepareConfig()
    assert SearchConfig.of(config) == SearchConfig()
    assert config.prepare_run_id is None
    assert config.n_trees == (200,)
    assert config.max_depth == (6, 8, None)
    assert config.min_samples_leaf == (2, 4)
    assert config.max_features == (0.5,)
    assert config.learning_rate == (0.05, 0.1)
    assert config.logistic_c == (0.1, 1.0)
    assert config.candidates == CANDIDATES
    assert config.cv_folds == 5
    assert config.seed == 42
    assert config.refit_metric == "accuracy"
    assert config.model_name == "titanic"


def test_evaluate_defaults():
    config = EvaluateConfig.from_params({})

    assert config == EvaluateConfig()
    assert config.model_uri is None
    assert config.model_name == "titanic"
    assert config.gate_metric == "roc_auc"
    assert config.prepare_run_id is None


def test_configs_are_frozen():
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        TrainConfig().model_name = "other"  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        TrainConfig().cv_folds = 3  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        TrainConfig().storage.cache_dir = Path("elsewhere")  # type: ignore[misc]


def test_configs_refuse_unknown_keys():
    with pytest.raises(pydantic.ValidationError, match="extra"):
        EvaluateConfig(gate_metrc="roc_auc")  # type: ignore[call-arg]
    with pytest.raises(ConfigError) as caught:
        train({"n_tree": "50"})
    assert str(caught.value) == (
        "unknown parameter n_tree='50': expected one of data_uri, test_fraction, seed, "
        "prepare_run_id, candidates, n_trees, max_depth, min_samples_leaf, max_features, "
        "learning_rate, logistic_c, cv_folds, refit_metric, model_name"
    )


def test_default_metrics_are_known_metrics():
    assert TrainConfig().refit_metric in CV_METRICS
    assert EvaluateConfig().gate_metric in HOLDOUT_METRICS


# ---------------------------------------------------------------- parsing


def test_train_parses_every_parameter():
    config = train(
        {
            "prepare_run_id": " abc123 ",
            "data_uri": "s3://bucket/train.csv",
            "test_fraction": "0.25",
            "seed": " 7 ",
            "n_trees": "50, 100",
            "max_depth": "4,None, none ,10",
            "min_samples_leaf": "1",
            "cv_folds": "3",
            "refit_metric": "roc_auc",
            "model_name": " titanic-dev ",
        }
    )

    assert config.prepare_run_id == "abc123"
    assert config.data_uri == "s3://bucket/train.csv"
    assert config.test_fraction == 0.25
    assert PrepareConfig.of(config).seed == 7
    assert SearchConfig.of(config).seed == 7
    assert config.n_trees == (50, 100)
    assert config.max_depth == (4, None, 10)
    assert config.min_samples_leaf == (1,)
    assert config.cv_folds == 3
    assert config.refit_metric == "roc_auc"
    assert config.model_name == "titanic-dev"


def test_each_candidate_reads_its_own_grid():
    config = train(
        {"candidates": "logistic_regression, random_forest", "n_trees": "10", "max_depth": "3",
         "min_samples_leaf": "1", "max_features": "SQRT,0.5,0.5", "logistic_c": "0.5,2",
         "learning_rate": "0.3"}
    )  # fmt: skip

    assert config.candidate_grids() == {
        "logistic_regression": {"C": [0.5, 2.0]},
        "random_forest": {
            "n_estimators": [10], "max_depth": [3], "min_samples_leaf": [1],
            "max_features": ["sqrt", 0.5],
        },
    }  # fmt: skip


@pytest.mark.parametrize("candidate", CANDIDATES)
def test_every_candidate_has_a_grid(candidate: str):
    grids = SearchConfig.from_params({"candidates": candidate}).candidate_grids()
    assert list(grids) == [candidate]
    assert grids[candidate]
    assert list(SearchConfig().candidate_grids()) == list(CANDIDATES)


@pytest.mark.parametrize(
    ("text", "grid"),
    [
        ("none", (None,)),
        ("NONE", (None,)),
        ("6,8,none", (6, 8, None)),
        (" 3 , 5 ", (3, 5)),
        ("5,5,3,5", (5, 3)),
        ("none,none,2", (None, 2)),
    ],
)
def test_max_depth_grid(text: str, grid: tuple[int | None, ...]):
    assert train({"max_depth": text}).max_depth == grid


def test_none_is_only_allowed_for_max_depth():
    with pytest.raises(ConfigError, match="n_trees"):
        train({"n_trees": "none"})
    with pytest.raises(ConfigError, match="min_samples_leaf"):
        train({"min_samples_leaf": "2,none"})


@pytest.mark.parametrize("metric", CV_METRICS)
def test_every_cv_metric_is_a_valid_refit_metric(metric: str):
    assert train({"refit_metric": metric}).refit_metric == metric


@pytest.mark.parametrize("metric", sorted(HOLDOUT_METRICS))
def test_every_holdout_metric_is_a_valid_gate_metric(metric: str):
    assert EvaluateConfig.from_params({"gate_metric": metric}).gate_metric == metric


def test_evaluate_parses_every_parameter():
    config = EvaluateConfig.from_params(
        {
            "model_uri": " models:/titanic/3 ",
            "model_name": "other",
            "gate_metric": "log_loss",
            "prepare_run_id": "run42",
        }
    )

    assert config == EvaluateConfig(
        model_uri="models:/titanic/3",
        model_name="other",
        gate_metric="log_loss",
        prepare_run_id="run42",
    )


@pytest.mark.parametrize("name", ["prepare_run_id", "model_uri"])
@pytest.mark.parametrize("blank", ["", "  "])
def test_blank_optional_text_means_not_given(name: str, blank: str):
    assert getattr(EvaluateConfig.from_params({name: blank}), name) is None


def test_blank_prepare_run_id_means_run_prepare_first():
    assert train({"prepare_run_id": ""}).prepare_run_id is None


# ---------------------------------------------------------------- errors


def parse_train(params: dict[str, str]) -> object:
    return train(params)


def parse_prepare(params: dict[str, str]) -> object:
    return prepare(params)


def parse_evaluate(params: dict[str, str]) -> object:
    return EvaluateConfig.from_params(params)


@pytest.mark.parametrize(
    ("parse", "name", "value"),
    [
        (parse_train, "n_trees", "-3"),
        (parse_train, "n_trees", "0"),
        (parse_train, "n_trees", ""),
        (parse_train, "n_trees", "10,"),
        (parse_train, "n_trees", "1.5"),
        (parse_train, "test_fraction", "2"),
        (parse_train, "test_fraction", "0"),
        (parse_train, "test_fraction", "1"),
        (parse_train, "test_fraction", "nan"),
        (parse_train, "test_fraction", "a fifth"),
        (parse_train, "cv_folds", "1"),
        (parse_train, "cv_folds", "five"),
        (parse_train, "refit_metric", "bogus"),
        (parse_train, "refit_metric", "log_loss"),
        (parse_train, "seed", "abc"),
        (parse_train, "seed", "-1"),
        (parse_train, "max_depth", "4,x"),
        (parse_train, "max_depth", "0"),
        (parse_train, "min_samples_leaf", "0"),
        (parse_train, "model_name", "  "),
        (parse_train, "candidates", "random_forest,svm"),
        (parse_train, "max_features", "0"),
        (parse_train, "max_features", "1.5,sqrt"),
        (parse_train, "learning_rate", "0"),
        (parse_train, "logistic_c", "inf"),
        (parse_train, "seed", "42.0"),
        (parse_train, "n_trees", "1_000"),
        (parse_train, "cv_folds", "5.0"),
        (parse_prepare, "test_fraction", "2"),
        (parse_prepare, "test_fraction", "0"),
        (parse_prepare, "seed", "abc"),
        (parse_evaluate, "gate_metric", "bogus"),
        (parse_evaluate, "model_name", ""),
    ],
)
def test_bad_value_raises_one_line_config_error_naming_the_parameter(parse, name, value):
    with pytest.raises(ConfigError) as caught:
        parse({name: value})

    message = str(caught.value)
    assert message.startswith(f"invalid parameter {name}={value!r}: must be ")
    assert "\n" not in message


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


@pytest.mark.parametrize(
    ("name", "value", "rule"),
    [
        ("n_trees", "-3", "a comma-separated list of integers >= 1"),
        ("max_depth", "4,x", "a comma-separated list of integers >= 1 or 'none'"),
        ("test_fraction", "2", "a number strictly between 0 and 1"),
        ("cv_folds", "1", "an integer >= 2"),
        ("seed", "abc", "an integer >= 0"),
        ("refit_metric", "bogus", "one of " + ", ".join(CV_METRICS)),
    ],
)
def test_error_message_states_the_rule(name: str, value: str, rule: str):
    with pytest.raises(ConfigError) as caught:
        train({name: value})

    assert str(caught.value) == f"invalid parameter {name}={value!r}: must be {rule}"


def test_gate_metric_error_lists_the_holdout_metrics():
    with pytest.raises(ConfigError) as caught:
        EvaluateConfig.from_params({"gate_metric": "bogus"})

    assert str(caught.value) == (
        "invalid parameter gate_metric='bogus': must be one of " + ", ".join(HOLDOUT_METRICS)
    )


def test_multiline_value_still_gives_a_one_line_message():
    with pytest.raises(ConfigError) as caught:
        train({"cv_folds": "3\n4"})

    assert "\n" not in str(caught.value)


# ---------------------------------------------------------------- data URI and storage


def test_explicit_data_uri_wins_over_environment(environ):
    environ({"TITANIC_DATA_URI": "/elsewhere.csv"})

    assert prepare({"data_uri": "/tmp/x.csv"}).data_uri == "/tmp/x.csv"


@pytest.mark.parametrize("params", [{}, {"data_uri": ""}, {"data_uri": "  "}])
def test_empty_data_uri_falls_back_to_environment(params: dict[str, str], environ):
    environ({"TITANIC_DATA_URI": "s3://bucket/train.csv"})

    assert prepare(params).data_uri == "s3://bucket/train.csv"


@pytest.mark.parametrize("variables", [{}, {"TITANIC_DATA_URI": ""}, {"TITANIC_DATA_URI": "  "}])
def test_empty_data_uri_and_environment_fall_back_to_public_copy(variables, environ):
    environ(variables)

    assert prepare({"data_uri": ""}).data_uri == PUBLIC_DATA_URI


def test_train_data_uri_follows_the_same_fallback(environ):
    assert train({"data_uri": ""}).data_uri == PUBLIC_DATA_URI
    environ({"TITANIC_DATA_URI": "/data/train.csv"})
    assert train({"data_uri": ""}).data_uri == "/data/train.csv"


@pytest.mark.parametrize(
    ("variables", "endpoint"),
    [
        ({}, None),
        ({"AWS_ENDPOINT_URL": "http://c"}, "http://c"),
        ({"AWS_ENDPOINT_URL_S3": "http://b", "AWS_ENDPOINT_URL": "http://c"}, "http://b"),
        (
            {
                "AWS_ENDPOINT_URL": "http://c",
                "AWS_ENDPOINT_URL_S3": "http://b",
                "MLFLOW_S3_ENDPOINT_URL": "http://a",
            },
            "http://a",
        ),
        ({"MLFLOW_S3_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_S3": "http://b"}, "http://b"),
    ],
)
def test_storage_endpoint_precedence(variables: dict[str, str], endpoint: str | None, environ):
    environ(variables)

    assert StorageConfig().s3_endpoint_url == endpoint


@pytest.mark.parametrize(
    ("variables", "folder"),
    [
        ({}, "data"),
        ({"TITANIC_CACHE_DIR": ""}, "data"),
        ({"TITANIC_CACHE_DIR": "/cache"}, "/cache"),
    ],
)
def test_storage_cache_dir(variables: dict[str, str], folder: str, environ):
    environ(variables)

    assert StorageConfig().cache_dir == Path(folder)


def test_only_the_variables_spelt_so_are_read(environ, monkeypatch):
    monkeypatch.setenv("titanic_data_uri", "/lower/case.csv")
    monkeypatch.setenv("titanic_cache_dir", "/lower")

    assert prepare({}).data_uri == PUBLIC_DATA_URI
    assert StorageConfig().cache_dir == Path("data")


def test_storage_is_read_from_the_environment_as_the_config_is_parsed(environ):
    environ({"MLFLOW_S3_ENDPOINT_URL": "http://minio:9000", "TITANIC_CACHE_DIR": "/c"})

    storage = train({}).storage

    assert storage == StorageConfig(cache_dir=Path("/c"), s3_endpoint_url="http://minio:9000")
    assert "cache_dir" not in TrainConfig.parameter_names()


def test_the_prediction_log_has_its_own_s3_endpoint_and_keys(environ):
    general = {"MLFLOW_S3_ENDPOINT_URL": "http://artifacts:9000"}
    own = {
        "TITANIC_PREDICTION_LOG_S3_ENDPOINT_URL": "http://log:9000",
        "TITANIC_PREDICTION_LOG_AWS_ACCESS_KEY_ID": "log-key",
        "TITANIC_PREDICTION_LOG_AWS_SECRET_ACCESS_KEY": "log-secret",
    }
    environ(general | own)
    storage = PredictionLogStorage.read()
    assert (storage.s3_endpoint_url, storage.s3_keys) == (
        "http://log:9000",
        ("log-key", "log-secret"),
    )
    assert "log-secret" not in repr(storage)
    monitor = MonitorConfig.from_params({"log_uri": "s3://log/x"})
    assert monitor.log_storage.s3_keys == ("log-key", "log-secret")
    assert monitor.storage.s3_keys is None
    request = RequestLabelsConfig.from_params({"log_uri": "s3://log/x"})
    assert request.log_storage.s3_keys == ("log-key", "log-secret")
    # Without its own settings: the general endpoint and the AWS SDK's own credentials.
    environ(general)
    storage = PredictionLogStorage.read()
    assert (storage.s3_endpoint_url, storage.s3_keys) == ("http://artifacts:9000", None)


@pytest.mark.parametrize("half", ["TITANIC_PREDICTION_LOG_AWS_ACCESS_KEY_ID",
                                  "TITANIC_PREDICTION_LOG_AWS_SECRET_ACCESS_KEY"])  # fmt: skip
def test_one_key_of_the_prediction_log_without_the_other_is_one_line_naming_both(half, environ):
    environ({half: "x"})
    with pytest.raises(ConfigError) as raised:
        MonitorConfig.from_params({"log_uri": "s3://log/x"})
    assert str(raised.value) == (
        "set both TITANIC_PREDICTION_LOG_AWS_ACCESS_KEY_ID and "
        "TITANIC_PREDICTION_LOG_AWS_SECRET_ACCESS_KEY, or neither"
    )


# ---------------------------------------------------------------- parameters, for logging


def test_parameters_are_flat_mlflow_strings():
    params = TrainConfig().parameters()

    assert params == {
        "data_uri": PUBLIC_DATA_URI, "test_fraction": "0.2", "seed": "42",
        "prepare_run_id": "",
        "candidates": "random_forest,hist_gradient_boosting,logistic_regression",
        "n_trees": "200", "max_depth": "6,8,none", "min_samples_leaf": "2,4",
        "max_features": "0.5", "learning_rate": "0.05,0.1", "logistic_c": "0.1,1.0",
        "cv_folds": "5", "refit_metric": "accuracy", "model_name": "titanic",
    }  # fmt: skip
    assert set(params) == set(TrainConfig.parameter_names())


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        (TrainConfig, {"n_trees": "10,20", "max_depth": "none,3", "max_features": "log2,0.25",
                       "candidates": "random_forest", "prepare_run_id": "abc", "seed": "3"}),
        (EvaluateConfig, {"model_uri": "models:/t/2", "gate_metric": "f1"}),
        (PredictConfig, {"input_uri": "in.csv", "chunk_rows": "7"}),
        (EvaluateBestConfig, {"experiment_name": "workflow-1"}),
        (MainConfig, {"logistic_c": "3", "gate_metric": "log_loss"}),
        (CrossValidateConfig, {"cv_folds": "3", "data_uri": "/data/train.csv"}),
        (MonitorConfig, {"log_uri": "logs", "since": "P1DT12H", "until": "2026-11-25T06:00:00",
                         "fail_on_drift": "true"}),
        (CompareConfig, {"log_uri": "logs", "since": "P7D", "min_labelled": "30",
                         "min_accuracy_gain": "-0.02", "confidence": "0.9"}),
        (PromoteConfig, {"model_name": "titanic-2", "output": "release.yaml"}),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)  # fmt: skip
def test_parameters_round_trip_through_from_params(kind, params):
    config = kind.from_params(params)
    assert kind.from_params(config.parameters()) == config


def test_a_job_hands_its_shared_fields_to_its_steps(environ):
    environ({"TITANIC_CACHE_DIR": "/c"})
    main = MainConfig.from_params(
        {"n_trees": "7", "test_fraction": "0.3", "gate_metric": "f1", "promote_to": "challenger"}
    )

    train_config = TrainConfig.of(main, prepare_run_id="run-1")
    evaluate = EvaluateConfig.of(main, model_uri="models:/titanic/1")

    assert train_config.parameters() == {
        k: v for k, v in main.parameters().items() if k not in ("gate_metric", "promote_to")
    } | {"prepare_run_id": "run-1"}
    assert train_config.storage == main.storage == StorageConfig(cache_dir=Path("/c"))
    assert PrepareConfig.of(train_config).parameters() == {
        "data_uri": PUBLIC_DATA_URI, "test_fraction": "0.3", "seed": "42"
    }  # fmt: skip
    assert (evaluate.model_uri, evaluate.gate_metric, evaluate.prepare_run_id) == (
        "models:/titanic/1", "f1", None
    )  # fmt: skip
    assert evaluate.promote_to == "challenger"


@pytest.mark.parametrize("config", ALL_CONFIGS)
def test_every_parameter_states_its_rule(config):
    """Each parameter's error message ends with its rule: none may lack one."""
    fields = config.model_fields
    rules = {
        name: any(isinstance(m, Rule) for m in fields[name].metadata)
        for name in config.parameter_names()
    }
    assert all(rules.values()), rules


# ---------------------------------------------------------------- monitor's window

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def monitor(**params: str) -> MonitorConfig:
    return MonitorConfig.from_params({"log_uri": "logs"} | params)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("P1D", timedelta(days=1)),
        ("PT6H", timedelta(hours=6)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("PT90M", timedelta(minutes=90)),
        ("2026-11-25T06:00:00Z", datetime(2026, 11, 25, 6, tzinfo=UTC)),
        ("2026-11-25T06:00:00", datetime(2026, 11, 25, 6, tzinfo=UTC)),
        ("2026-11-25T07:00:00+01:00", datetime(2026, 11, 25, 6, tzinfo=UTC)),
        ("", None),
        (" ", None),
    ],
)
def test_since_and_until_are_iso_8601_instants_or_durations(text: str, value):
    assert monitor(since=text).since == value
    assert monitor(until=text).until == value


def test_an_instant_without_an_offset_is_utc():
    assert monitor(since="2026-11-25T06:00:00").since.utcoffset() == timedelta(0)


def test_the_window_is_logged_in_iso_8601():
    params = monitor(since="P1DT12H", until="2026-11-25T06:00:00").parameters()

    assert (params["since"], params["until"]) == ("P1DT12H", "2026-11-25T06:00:00Z")
    assert monitor().parameters()["since"] == ""


@pytest.mark.parametrize("text", ["yesterday", "P", "2026-13-01T00:00:00Z"])
def test_a_bad_window_bound_is_one_line_naming_it(text: str):
    with pytest.raises(ConfigError) as caught:
        monitor(since=text)

    assert str(caught.value) == (
        f"invalid parameter since={text!r}: must be an ISO 8601 instant "
        "(2026-11-25T06:00:00Z) or duration (P1D, PT6H)"
    )


@pytest.mark.parametrize(
    ("params", "window"),
    [
        ({}, (None, NOW)),
        ({"since": "P1D"}, (NOW - timedelta(days=1), NOW)),
        ({"until": "PT1H"}, (None, NOW - timedelta(hours=1))),
        ({"since": "P1D", "until": "PT1H"},
         (NOW - timedelta(days=1, hours=1), NOW - timedelta(hours=1))),
        ({"since": "2026-11-24T00:00:00Z", "until": "2026-11-25T00:00:00Z"},
         (datetime(2026, 11, 24, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC))),
    ],
)  # fmt: skip
def test_the_window_ends_now_unless_until_says_otherwise(params, window):
    """An empty until is now (README): a line stamped in the future is outside the window."""
    assert monitor(**params).window(NOW) == window


@pytest.mark.parametrize(
    ("params", "since", "until"),
    [
        ({"since": "2026-11-26T00:00:00Z"}, "2026-11-26T00:00:00Z", "2026-11-25T12:00:00Z"),
        ({"since": "2026-11-25T00:00:00Z", "until": "2026-11-24T00:00:00Z"},
         "2026-11-25T00:00:00Z", "2026-11-24T00:00:00Z"),
        ({"since": "PT0S"}, "2026-11-25T12:00:00Z", "2026-11-25T12:00:00Z"),
    ],
)  # fmt: skip
def test_an_empty_window_is_one_line(params, since: str, until: str):
    with pytest.raises(ConfigError) as caught:
        monitor(**params).window(NOW)

    assert str(caught.value) == f"invalid window: since {since} is not before until {until}"


# ---------------------------------------------------------------- champion and challenger


@pytest.mark.parametrize("kind", [EvaluateConfig, MainConfig])
def test_the_gate_gives_champion_unless_told_challenger(kind):
    assert kind.from_params({}).promote_to == "champion"
    assert kind.from_params({"promote_to": "challenger"}).promote_to == "challenger"
    with pytest.raises(ConfigError) as caught:
        kind.from_params({"promote_to": "canary"})
    assert str(caught.value) == (
        "invalid parameter promote_to='canary': must be one of champion, challenger"
    )


def test_compare_defaults_to_the_stated_rule():
    config = CompareConfig.from_params({"log_uri": "logs"})
    assert (config.min_labelled, config.min_accuracy_gain, config.confidence) == (100, 0.0, 0.95)
    assert (config.labels_uri, config.experiment_name) == ("", "titanic-monitoring")


@pytest.mark.parametrize(
    ("name", "value", "rule"),
    [
        ("min_labelled", "0", "an integer >= 1"),
        ("min_labelled", "2.5", "an integer >= 1"),
        ("min_accuracy_gain", "1", "a number strictly between -1 and 1"),
        ("min_accuracy_gain", "nan", "a number strictly between -1 and 1"),
        ("confidence", "95", "a number strictly between 0 and 1"),
        ("log_uri", "", "a folder or s3:// prefix"),
    ],
)
def test_a_bad_compare_parameter_is_one_line_with_its_rule(name, value, rule):
    with pytest.raises(ConfigError) as caught:
        CompareConfig.from_params({"log_uri": "logs", name: value})
    assert str(caught.value) == f"invalid parameter {name}={value!r}: must be {rule}"


def test_compare_reads_its_window_as_monitor_does():
    params = {"since": "P1D", "until": "PT1H"}
    compared = CompareConfig.from_params({"log_uri": "logs", **params}).window(NOW)
    assert compared == monitor(**params).window(NOW)
    with pytest.raises(ConfigError, match="invalid window"):
        CompareConfig.from_params({"log_uri": "logs", "since": "PT0S"}).window(NOW)
