"""Settings from environment variables, read by pydantic-settings where a config is parsed.

Each field names its variable as its alias (the names are contracts, in README's Contracts):
values are stripped, empty ones unset. A job's config holds the settings it needs
(:mod:`titanic_model.config`), read once as the config is parsed and passed down with it.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from titanic_model.errors import ConfigError

# Where the course publishes Kaggle's training file; downloaded once into data/.
PUBLIC_DATA_URI = (
    "https://minio.lab.sspcloud.fr/projet-formation/ensae-reproductibilite/data/raw/train.csv"
)
DATA_URI_VARIABLE = "TITANIC_DATA_URI"
# MLflow's own variable for S3-compatible stores first, then the AWS SDK's.
S3_ENDPOINT_VARIABLES = ("MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
SPARK_PYTHON_VARIABLE = "PYSPARK_PYTHON"


class Settings(BaseSettings):
    """Environment variables, named by the fields' aliases; stripped, and blank ones unset."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        case_sensitive=True,
        env_ignore_empty=True,
        populate_by_name=True,
        use_attribute_docstrings=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _strip(cls, values: object) -> object:
        if not isinstance(values, dict):
            return values
        stripped = {k: v.strip() if isinstance(v, str) else v for k, v in values.items()}
        return {k: v for k, v in stripped.items() if v != ""}


class DataSettings(Settings):
    """What an empty ``data_uri`` means."""

    data_uri: str = Field(PUBLIC_DATA_URI, validation_alias=DATA_URI_VARIABLE)
    """``TITANIC_DATA_URI``, else the course's public copy"""


class StorageConfig(Settings):
    """Where data is cached and how S3 is reached."""

    cache_dir: Path = Field(Path("data"), validation_alias="TITANIC_CACHE_DIR")
    """folder for downloaded copies of ``https://`` data (git-ignored ``data/``)"""
    s3_endpoint_url: str | None = Field(None, validation_alias=AliasChoices(*S3_ENDPOINT_VARIABLES))
    """endpoint of an S3-compatible store (MinIO, moto); None: AWS's"""

    @property
    def s3_keys(self) -> tuple[str, str] | None:
        """The S3 access key id and secret to use; None: the AWS SDK's own (``AWS_*``)."""
        return None


# The prediction log's own S3 endpoint and keys (a bucket other than the artifact store's):
# the serving layer writes the log with them, the monitoring job reads it with them.
LOG_S3_ENDPOINT_VARIABLE = "TITANIC_PREDICTION_LOG_S3_ENDPOINT_URL"
LOG_ACCESS_KEY_VARIABLE = "TITANIC_PREDICTION_LOG_AWS_ACCESS_KEY_ID"
LOG_SECRET_KEY_VARIABLE = "TITANIC_PREDICTION_LOG_AWS_SECRET_ACCESS_KEY"


class PredictionLogStorage(StorageConfig):
    """The prediction log's S3 settings: its own endpoint and keys, else the general ones."""

    s3_endpoint_url: str | None = Field(
        None, validation_alias=AliasChoices(LOG_S3_ENDPOINT_VARIABLE, *S3_ENDPOINT_VARIABLES)
    )
    """the log's S3 endpoint, else the general one"""
    aws_access_key_id: str | None = Field(None, validation_alias=LOG_ACCESS_KEY_VARIABLE)
    """the log bucket's access key id; unset with its secret: the AWS SDK's own credentials"""
    aws_secret_access_key: str | None = Field(
        None, validation_alias=LOG_SECRET_KEY_VARIABLE, repr=False
    )
    """its secret access key"""

    @classmethod
    def read(cls) -> PredictionLogStorage:
        """The settings in the environment, both keys or neither.

        Raises:
            ConfigError: When one key is set without the other.
        """
        storage = cls()
        if (storage.aws_access_key_id is None) != (storage.aws_secret_access_key is None):
            raise ConfigError(
                f"set both {LOG_ACCESS_KEY_VARIABLE} and {LOG_SECRET_KEY_VARIABLE}, or neither"
            )
        return storage

    @property
    def s3_keys(self) -> tuple[str, str] | None:
        """The log bucket's access key id and secret, when both are set."""
        if self.aws_access_key_id and self.aws_secret_access_key:
            return self.aws_access_key_id, self.aws_secret_access_key
        return None


class SparkSettings(Settings):
    """How the Spark engine reaches its cluster."""

    master: str | None = Field(None, validation_alias="SPARK_MASTER")
    """``spark-submit --master`` and ``spark.master`` in ``spark-defaults.conf`` win over it;
    ``local[*]`` is the fallback"""
    python: str | None = Field(None, validation_alias=SPARK_PYTHON_VARIABLE)
    """the Python of Spark's workers; unset, on a local master: this process's own (the venv's),
    where the project's packages are"""


MODEL_DIGEST_VARIABLE = "MODEL_DIGEST"


class ModelPin(Settings):
    """The digest of the model's files that the deployer pinned (in Git, by the release)."""

    digest: str | None = Field(None, validation_alias=MODEL_DIGEST_VARIABLE)
    """``sha256:<hex>`` the files must have; unset: the registered version's own digest tag"""


LABEL_STUDIO_URL_VARIABLE = "LABEL_STUDIO_URL"
LABEL_STUDIO_API_KEY_VARIABLE = "LABEL_STUDIO_API_KEY"


class LabelStudioSettings(Settings):
    """Where Label Studio is and the key to its API (``deployment/label_studio.sh env``)."""

    url: str | None = Field(None, validation_alias=LABEL_STUDIO_URL_VARIABLE)
    """the server's address, ``http://127.0.0.1:8090``"""
    api_key: str | None = Field(None, validation_alias=LABEL_STUDIO_API_KEY_VARIABLE)
    """a user's API token (the admin's, from the script)"""

    def require(self) -> tuple[str, str]:
        """The address (without a trailing ``/``) and the key: what the jobs check first.

        Raises:
            ConfigError: When one is unset or the address is not an http(s) URL.
        """
        if self.url is None or self.api_key is None:
            missing = (
                LABEL_STUDIO_URL_VARIABLE if self.url is None else LABEL_STUDIO_API_KEY_VARIABLE
            )
            raise ConfigError(f"{missing} is not set: `deployment/label_studio.sh env` prints it")
        if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", self.url):
            raise ConfigError(
                f"invalid {LABEL_STUDIO_URL_VARIABLE}={self.url!r}: must be an http:// or "
                "https:// URL"
            )
        return self.url.rstrip("/"), self.api_key
