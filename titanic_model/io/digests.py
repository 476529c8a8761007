"""The digest of a version's files: a manifest of sha256 hashes, and one hash over it.

At registration, every file of a version (``MLmodel``, ``model_code.py``, ``code/``,
``artifacts/pipeline.skops``, the requirements, the examples) is hashed into a manifest, and
the manifest into one digest, ``sha256:<hex>``; both become version tags. A loader checks the
files it downloaded against them before it reads any (:mod:`titanic_model.io.model_files`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_STATE

from titanic_model.names import MODEL_DIGEST_TAG, MODEL_MANIFEST_TAG

DIGEST_PREFIX = "sha256:"
# MLflow writes this file beside the files it downloads for a models:/ URI, from the
# registry's name and number: it is not one of the version's files.
_DOWNLOAD_METADATA = "registered_model_meta"
_CHUNK_BYTES = 1 << 20


class TamperedModelError(MlflowException):
    """A version whose files are not the ones registered (or pinned); the message is one line."""

    def __init__(self, message: str):
        super().__init__(message, error_code=INVALID_STATE)


def file_manifest(folder: Path) -> dict[str, str]:
    """The sha256 of every file under ``folder``, by its path relative to ``folder``.

    Args:
        folder: A version's files, as downloaded.

    Returns:
        ``{"MLmodel": "<hex>", "code/titanic_model/names.py": "<hex>", …}``, sorted by path.

    Raises:
        TamperedModelError: For a symbolic link (a version's files are plain files).
    """
    manifest = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_symlink():
            raise TamperedModelError(f"refusing the model at {folder}: {relative} is a link")
        if path.is_file() and relative != _DOWNLOAD_METADATA:
            digest = hashlib.sha256()
            with path.open("rb") as file:
                while chunk := file.read(_CHUNK_BYTES):
                    digest.update(chunk)
            manifest[relative] = digest.hexdigest()
    return manifest


def manifest_digest(manifest: Mapping[str, str]) -> str:
    """One digest over a manifest: ``sha256:`` of its ``<hash>  <path>`` lines, by path."""
    lines = "".join(f"{manifest[path]}  {path}\n" for path in sorted(manifest))
    return DIGEST_PREFIX + hashlib.sha256(lines.encode()).hexdigest()


def digest_tags(folder: Path) -> dict[str, str]:
    """The version tags of a version's files: its digest and its manifest."""
    manifest = file_manifest(folder)
    return {
        MODEL_DIGEST_TAG: manifest_digest(manifest),
        MODEL_MANIFEST_TAG: json.dumps(manifest, separators=(",", ":")),
    }


def _first_difference(recorded: Mapping[str, str], found: Mapping[str, str]) -> str:
    for path in sorted(set(recorded) | set(found)):
        if path not in found:
            return f"{path} is missing"
        if path not in recorded:
            return f"{path} was added"
        if recorded[path] != found[path]:
            return f"{path} was changed"
    return "its files differ"  # the manifest itself differs from its digest: said by the caller


def verify_files(
    folder: Path, expected_digest: str, recorded_manifest: Mapping[str, str] | None, what: str
) -> None:
    """Check a version's downloaded files against the digest it is expected to have.

    Args:
        folder: The files, as downloaded.
        expected_digest: ``sha256:<hex>``: the pinned digest, or the version's tag.
        recorded_manifest: The manifest registered with the version, to name the file that
            differs; None when there is none.
        what: The version, as the message names it (``titanic/3``).

    Raises:
        TamperedModelError: Naming the first file that differs from the manifest, or the
            digests when the manifest itself was changed.
    """
    found = file_manifest(folder)
    actual = manifest_digest(found)
    if actual == expected_digest:
        return
    if recorded_manifest is not None and manifest_digest(recorded_manifest) == expected_digest:
        difference = _first_difference(recorded_manifest, found)
        raise TamperedModelError(
            f"refusing {what}: {difference} since it was registered (digest {actual}, "
            f"expected {expected_digest})"
        )
    raise TamperedModelError(
        f"refusing {what}: its files have digest {actual}, expected {expected_digest}"
    )
