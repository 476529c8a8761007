from __future__ import annotations

import pytest

from titanic_model.errors import ConfigError
from titanic_model.serving.settings import DEFAULT_MAX_BODY_BYTES, ServingConfig


def test_the_defaults_serve_the_champion_locally_with_no_log(environ):
    environ({})
    config = ServingConfig.from_command_line({})
    assert config.params.model_uri == "models:/titanic@champion"
    assert (config.params.host, config.params.port, config.params.workers) == ("127.0.0.1", 5001, 1)
    assert config.prediction_log is None
    assert not config.full_names
    assert config.max_body_bytes == DEFAULT_MAX_BODY_BYTES == 20 * 1024 * 1024


def test_the_environment_sets_the_log_the_names_and_the_limit(environ):
    environ({
        "TITANIC_PREDICTION_LOG": " s3://bucket/serving ",
        "TITANIC_PREDICTION_LOG_NAMES": "full",
        "TITANIC_MAX_BODY_BYTES": "1000",
        "MLFLOW_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
    })  # fmt: skip
    config = ServingConfig.from_command_line({"workers": "2", "port": "8000"})
    assert config.prediction_log == "s3://bucket/serving"
    assert config.full_names
    assert config.max_body_bytes == 1000
    assert config.storage.s3_endpoint_url == "http://127.0.0.1:9000"
    assert (config.params.workers, config.params.port) == (2, 8000)


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_variable_is_unset(environ, blank):
    environ({"TITANIC_PREDICTION_LOG": blank, "TITANIC_PREDICTION_LOG_NAMES": blank,
             "TITANIC_MAX_BODY_BYTES": blank})  # fmt: skip
    config = ServingConfig.from_command_line({})
    assert config.prediction_log is None
    assert not config.full_names
    assert config.max_body_bytes == DEFAULT_MAX_BODY_BYTES


@pytest.mark.parametrize(
    ("params", "variables", "message"),
    [
        ({"workers": "0"}, {},
         "invalid parameter workers='0': must be an integer between 1 and 64"),
        ({"port": "http"}, {}, "invalid parameter port='http': must be a port number"),
        ({"port": "70000"}, {}, "invalid parameter port='70000': must be a port number"),
        ({"model": "x"}, {}, "unknown parameter model='x': expected one of model_uri, host"),
        ({}, {"TITANIC_PREDICTION_LOG_NAMES": "all"},
         "invalid TITANIC_PREDICTION_LOG_NAMES='all': must be title or full"),
        ({}, {"TITANIC_MAX_BODY_BYTES": "20m"},
         "invalid TITANIC_MAX_BODY_BYTES='20m': must be a whole number of bytes >= 1"),
        ({}, {"TITANIC_MAX_BODY_BYTES": " 0 "},
         "invalid TITANIC_MAX_BODY_BYTES='0': must be a whole number of bytes >= 1"),
        ({}, {"TITANIC_SHADOW_MODEL_URI": "models:/titanic@challenger"},
         "invalid TITANIC_SHADOW_MODEL_URI='models:/titanic@challenger': must be a model URI, "
         "with TITANIC_PREDICTION_LOG set (the shadow answers the log only)"),
        ({}, {"TITANIC_PREDICTION_LOG": "logs", "TITANIC_SHADOW_MODEL_URI": "models:/t/2",
              "TITANIC_SHADOW_MODEL_DIGEST": "sha256:abc"},
         "invalid TITANIC_SHADOW_MODEL_DIGEST='sha256:abc': must be sha256: and 64 hex digits"),
    ],
)  # fmt: skip
def test_a_bad_setting_is_one_line_naming_it(params, variables, message, environ):
    environ(variables)
    with pytest.raises(ConfigError) as raised:
        ServingConfig.from_command_line(params)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_a_shadow_is_read_with_its_digest(environ):
    digest = "sha256:" + "0a" * 32
    environ({"TITANIC_PREDICTION_LOG": "logs", "TITANIC_SHADOW_MODEL_URI": " models:/t@challenger ",
             "TITANIC_SHADOW_MODEL_DIGEST": digest})  # fmt: skip
    config = ServingConfig.from_command_line({})
    assert (config.shadow_model_uri, config.shadow_digest) == ("models:/t@challenger", digest)
    pinned = config.serving("models:/t/1", "models:/t/2")
    assert (pinned.params.model_uri, pinned.shadow_model_uri) == ("models:/t/1", "models:/t/2")
    assert config.serving("models:/t/1").shadow_model_uri == "models:/t@challenger"
    environ({})
    assert ServingConfig.from_command_line({}).shadow_model_uri is None


def test_an_s3_log_has_its_own_endpoint_and_keys_which_reach_the_workers(environ):
    environ({
        "TITANIC_PREDICTION_LOG": "s3://log/serving", "MLFLOW_S3_ENDPOINT_URL": "http://store",
        "TITANIC_PREDICTION_LOG_S3_ENDPOINT_URL": "http://log",
        "TITANIC_PREDICTION_LOG_AWS_ACCESS_KEY_ID": "key",
        "TITANIC_PREDICTION_LOG_AWS_SECRET_ACCESS_KEY": "secret",
    })  # fmt: skip
    config = ServingConfig.from_command_line({})
    assert (config.storage.s3_endpoint_url, config.storage.s3_keys) == (
        "http://log",
        ("key", "secret"),
    )
    assert "secret" not in repr(config)
    # Spawned workers get the settings as JSON: the keys too.
    assert ServingConfig.model_validate_json(config.model_dump_json()) == config
    environ({"TITANIC_PREDICTION_LOG_AWS_ACCESS_KEY_ID": "key"})
    with pytest.raises(ConfigError, match=r"^set both TITANIC_PREDICTION_LOG_AWS_ACCESS_KEY_ID"):
        ServingConfig.from_command_line({})


def test_a_pinned_version_changes_only_the_model(environ):
    environ({"TITANIC_PREDICTION_LOG": "x", "TITANIC_PREDICTION_LOG_NAMES": "full"})
    config = ServingConfig.from_command_line({"workers": "3"})
    pinned = config.serving("models:/titanic/7")
    assert pinned.params.model_uri == "models:/titanic/7"
    assert pinned.model_copy(update={"params": config.params}) == config
    # What a spawned worker reads: nothing from its own environment.
    environ({"TITANIC_PREDICTION_LOG_NAMES": "title"})
    assert ServingConfig.model_validate_json(pinned.model_dump_json()) == pinned
