"""Reading and writing passenger CSVs by URI: a local path, ``https://`` or ``s3://``."""

from __future__ import annotations

import hashlib
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum, auto
from pathlib import Path
from typing import IO
from urllib.parse import urlparse

import fsspec
import pandas as pd
from botocore.exceptions import BotoCoreError, ClientError

from titanic_model.environment import DATA_URI_VARIABLE, StorageConfig
from titanic_model.model.schema import PASSENGER_FIELDS, FieldKind

DOWNLOAD_TIMEOUT_SECONDS = 30
# Read text columns as text: tickets such as "0123" must not become numbers.
_TEXT_COLUMNS = {f.name: object for f in PASSENGER_FIELDS if f.kind is FieldKind.STRING}


class DataSourceError(OSError):
    """Raised when a data URI cannot be read as a CSV; the message is one line."""


class Location(Enum):
    """Where a data URI points: what decides how it is read and written."""

    LOCAL = auto()
    WEB = auto()
    S3 = auto()


def locate(uri: str, action: str) -> Location:
    """Tell where a data URI points: the one place that reads its scheme.

    Args:
        uri: A local path (or ``file://``), an ``http(s)://`` URL or ``s3://bucket/key``.
        action: What is being done with it, for the error message (``"read data_uri"``).

    Returns:
        Its location.

    Raises:
        DataSourceError: For any other scheme.
    """
    scheme = urlparse(uri).scheme
    if scheme in ("", "file"):
        return Location.LOCAL
    if scheme in ("http", "https"):
        return Location.WEB
    if scheme == "s3":
        return Location.S3
    raise DataSourceError(
        f"cannot {action} {uri}: scheme {scheme}:// is not supported "
        "(use a local path, https:// or s3://)"
    )


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


def _storage_options(location: Location, storage: StorageConfig) -> dict | None:
    if location is Location.S3:
        keys = dict(zip(("key", "secret"), storage.s3_keys or (), strict=False))
        return {"client_kwargs": {"endpoint_url": storage.s3_endpoint_url}, **keys}
    return None


def _local_path(uri: str) -> Path:
    return Path(urlparse(uri).path if uri.startswith("file:") else uri).expanduser()


def _local_file(uri: str, parameter: str) -> Path:
    source = _local_path(uri)
    if not source.exists():
        raise DataSourceError(f"cannot read {parameter} {uri}: no such file")
    if not source.is_file():
        raise DataSourceError(f"cannot read {parameter} {uri}: not a regular file")
    return source


@contextmanager
def _read_errors(uri: str, parameter: str) -> Iterator[None]:
    """Turn whatever pandas, s3fs or botocore raise while reading into one-line errors."""
    try:
        yield
    except pd.errors.EmptyDataError:
        raise DataSourceError(f"cannot read {parameter} {uri}: the file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        reason = str(error).splitlines()[0]
        raise DataSourceError(f"cannot read {parameter} {uri}: not a CSV file ({reason})") from None
    except (OSError, ValueError, BotoCoreError, ClientError) as error:
        # s3fs raises FileNotFoundError/PermissionError, botocore its own errors for endpoints
        # and credentials: keep the reason, not the stack.
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataSourceError(f"cannot read {parameter} {uri}: {reason}") from None


def read_passenger_csv(uri: str, storage: StorageConfig) -> pd.DataFrame:
    """Read a whole passenger CSV as it is; validation is the caller's business.

    Args:
        uri: A local path (or ``file://``), an ``http(s)://`` URL, downloaded once into
            ``storage.cache_dir``, or an ``s3://bucket/key`` read through s3fs.
        storage: Cache folder and S3 endpoint.

    Returns:
        The raw rows; text columns are read as strings.

    Raises:
        DataSourceError: When the URI cannot be reached, is not a file, is empty or is not CSV.
    """
    location = locate(uri, "read data_uri")
    if location is Location.WEB:
        source: str | Path = _cached_download(uri, storage.cache_dir)
    elif location is Location.S3:
        source = uri
    else:
        source = _local_file(uri, "data_uri")
    with _read_errors(uri, "data_uri"):
        return pd.read_csv(
            source, dtype=_TEXT_COLUMNS, storage_options=_storage_options(location, storage)
        )


def iter_passenger_csv(
    uri: str, storage: StorageConfig, chunk_rows: int, parameter: str = "input_uri"
) -> Iterator[pd.DataFrame]:
    """Stream a passenger CSV in chunks of ``chunk_rows`` rows, never holding the whole file.

    A local path is checked at once, before the first chunk is asked for.

    Args:
        uri: A local path, an ``http(s)://`` URL (streamed, not cached) or ``s3://bucket/key``.
        storage: S3 endpoint.
        chunk_rows: Rows per chunk.
        parameter: The parameter's name, for error messages.

    Returns:
        Consecutive chunks, every column as text (missing values as NaN); each keeps its
        rows' positions in the file as its index.

    Raises:
        DataSourceError: When the URI cannot be read as CSV, at the start or mid-stream.
    """
    location = locate(uri, f"read {parameter}")
    source = _local_file(uri, parameter) if location is Location.LOCAL else uri

    def chunks() -> Iterator[pd.DataFrame]:
        with (
            _read_errors(uri, parameter),
            pd.read_csv(
                source,
                # Every column as text, as the Spark engine reads it: the model reads numbers
                # from text, and a rejected row is written as it was in the file ("3", not
                # the 3.0 a chunk holding a "2.5" would make of it).
                dtype=object,
                chunksize=chunk_rows,
                storage_options=_storage_options(location, storage),
            ) as reader,
        ):
            yield from reader

    return chunks()


@contextmanager
def open_output(uri: str, storage: StorageConfig) -> Iterator[IO[str]]:
    """Open a local path or ``s3://`` object for writing text, creating local folders.

    Args:
        uri: Where to write.
        storage: S3 endpoint.

    Yields:
        A text stream; the object appears when the block ends.

    Raises:
        DataSourceError: When the location cannot be written (``https://`` never can).
    """
    location = locate(uri, "write")
    if location is Location.WEB:
        raise DataSourceError(f"cannot write {uri}: write to a local path or s3://")
    if location is Location.LOCAL:
        _local_path(uri).parent.mkdir(parents=True, exist_ok=True)
    try:
        with fsspec.open(uri, "w", **(_storage_options(location, storage) or {})) as sink:
            yield sink
    except DataSourceError:
        raise  # from the caller's own reading, already one line
    except (OSError, BotoCoreError, ClientError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataSourceError(f"cannot write {uri}: {reason}") from None


def read_log_files(uri: str, storage: StorageConfig, parameter: str = "log_uri") -> list[str]:
    """The text of every ``*.jsonl`` file under a local folder or an ``s3://`` prefix.

    Args:
        uri: The folder or prefix (searched recursively), as the serving layer writes it.
        storage: S3 endpoint.
        parameter: The parameter's name, for messages.

    Returns:
        Each file's text, in the order of the file names.

    Raises:
        DataSourceError: When the location does not exist, cannot be listed or holds no
            ``.jsonl`` file.
    """
    location = locate(uri, f"read {parameter}")
    if location is Location.WEB:
        raise DataSourceError(f"cannot read {parameter} {uri}: give a local folder or s3://")
    if location is Location.LOCAL and not _local_path(uri).is_dir():
        raise DataSourceError(f"cannot read {parameter} {uri}: no such folder")
    local = str(_local_path(uri)) if location is Location.LOCAL else uri
    with _read_errors(uri, parameter):
        options = _storage_options(location, storage) or {}
        filesystem, root = fsspec.core.url_to_fs(local, **options)
        paths = sorted(path for path in filesystem.find(root) if path.endswith(".jsonl"))
        texts = [filesystem.cat_file(path).decode("utf-8", "replace") for path in paths]
    if not texts:
        raise DataSourceError(f"cannot read {parameter} {uri}: no .jsonl file there")
    return texts


def read_labels_csv(
    uri: str, storage: StorageConfig, parameter: str = "labels_uri"
) -> pd.DataFrame:
    """Read a CSV of outcomes learnt after the fact, as it is; the caller validates it.

    Args:
        uri: A local path, ``https://`` (downloaded once) or ``s3://``.
        storage: Cache folder and S3 endpoint.
        parameter: The parameter's name, for messages.

    Returns:
        The raw rows.

    Raises:
        DataSourceError: When the URI cannot be read as a CSV.
    """
    location = locate(uri, f"read {parameter}")
    if location is Location.WEB:
        source: str | Path = _cached_download(uri, storage.cache_dir)
    elif location is Location.S3:
        source = uri
    else:
        source = _local_file(uri, parameter)
    with _read_errors(uri, parameter):
        # A request id is text, even one made of digits ("007").
        return pd.read_csv(
            source, dtype={"request_id": str}, storage_options=_storage_options(location, storage)
        )
