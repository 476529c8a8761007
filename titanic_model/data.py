"""Reading passenger CSVs from a URI: a local path, ``https://`` (cached) or ``s3://``."""

from __future__ import annotations

import hashlib
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
from botocore.exceptions import BotoCoreError, ClientError

from titanic_model.config import DATA_URI_VARIABLE, StorageConfig
from titanic_model.schema import PASSENGER_FIELDS, FieldKind

DOWNLOAD_TIMEOUT_SECONDS = 30
# Read text columns as text: tickets such as "0123" must not become numbers.
_TEXT_COLUMNS = {f.name: object for f in PASSENGER_FIELDS if f.kind is FieldKind.STRING}


class DataSourceError(OSError):
    """Raised when a data URI cannot be read as a CSV; the message is one line."""


def _cached_download(uri: str, cache_dir: Path) -> Path:
    """Download ``uri`` once into ``cache_dir`` and return the local copy."""
    name = Path(urlparse(uri).path).name or "data.csv"
    target = cache_dir / f"{hashlib.sha256(uri.encode()).hexdigest()[:12]}-{name}"
    if target.exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    try:
        with (
            urllib.request.urlopen(uri, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response,
            partial.open("wb") as sink,
        ):
            shutil.copyfileobj(response, sink)
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        partial.unlink(missing_ok=True)
        reason = getattr(error, "reason", None) or error
        raise DataSourceError(
            f"cannot download data_uri {uri} ({reason}); offline? point data_uri "
            f"(-P data_uri=/path/to/train.csv) or {DATA_URI_VARIABLE} at a local copy"
        ) from None
    partial.replace(target)
    return target


def read_passenger_csv(uri: str, storage: StorageConfig) -> pd.DataFrame:
    """Read a passenger CSV as it is; validation is the caller's business.

    Args:
        uri: A local path (or ``file://``), an ``http(s)://`` URL, downloaded once into
            ``storage.cache_dir``, or an ``s3://bucket/key`` read through s3fs.
        storage: Cache folder and S3 endpoint.

    Returns:
        The raw rows; text columns are read as strings.

    Raises:
        DataSourceError: When the URI cannot be reached, is not a file, is empty or is not CSV.
    """
    scheme = urlparse(uri).scheme
    storage_options = None
    if scheme in ("http", "https"):
        source: str | Path = _cached_download(uri, storage.cache_dir)
    elif scheme == "s3":
        source = uri
        storage_options = {"client_kwargs": {"endpoint_url": storage.s3_endpoint_url}}
    elif scheme in ("", "file"):
        source = Path(urlparse(uri).path if scheme == "file" else uri).expanduser()
        if not source.exists():
            raise DataSourceError(f"cannot read data_uri {uri}: no such file")
        if not source.is_file():
            raise DataSourceError(f"cannot read data_uri {uri}: not a regular file")
    else:
        raise DataSourceError(
            f"cannot read data_uri {uri}: scheme {scheme}:// is not supported "
            "(use a local path, https:// or s3://)"
        )
    try:
        return pd.read_csv(source, dtype=_TEXT_COLUMNS, storage_options=storage_options)
    except pd.errors.EmptyDataError:
        raise DataSourceError(f"cannot read data_uri {uri}: the file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        reason = str(error).splitlines()[0]
        raise DataSourceError(f"cannot read data_uri {uri}: not a CSV file ({reason})") from None
    except (OSError, ValueError, BotoCoreError, ClientError) as error:
        # s3fs raises FileNotFoundError/PermissionError, botocore its own errors for endpoints
        # and credentials: keep the reason, not the stack.
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataSourceError(f"cannot read data_uri {uri}: {reason}") from None
