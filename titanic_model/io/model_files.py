"""A version's files, checked by digest, loaded with the version's own code.

Every loader downloads the version's files, checks them against the manifest and the digest
(:mod:`titanic_model.io.digests`), and only then lets MLflow read any of them. The expected
digest is the one the deployer pinned (``MODEL_DIGEST``, kept in Git), else the version's tag.

A version ships the model's code (``titanic_model/__init__.py``, ``names.py`` and
``model/``). Loaded here, it runs that code, not the code of the process that loads it: the
process's own ``titanic_model`` modules are set aside while MLflow loads the version, so its
``model_code.py`` and its skops types resolve to the version's modules, which the loaded
model keeps. A server built from another commit answers exactly as the version did when it
was approved. (``mlflow models serve`` and Spark's workers import no ``titanic_model`` before
the model, so MLflow's own loader does the same there; only the digest is ours alone.)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.pyfunc import PyFuncModel

from titanic_model.io.digests import DIGEST_PREFIX, TamperedModelError, verify_files
from titanic_model.io.registry import registered_version
from titanic_model.names import (
    MODEL_ARTIFACT,
    MODEL_DIGEST_TAG,
    MODEL_MANIFEST_TAG,
    version_model_uri,
)

_PACKAGE = __name__.split(".")[0]


@dataclass(frozen=True)
class VerifiedModel:
    """A version's files, downloaded and checked.

    Attributes:
        path: The local folder MLflow loads (never the remote store again).
        version: The registered version, or None for a model outside the registry.
        digest: The digest the files were checked against.
    """

    path: Path
    version: ModelVersion | None
    digest: str


def _expected(version: ModelVersion | None, pinned: str | None, uri: str) -> str:
    if pinned:
        if not pinned.startswith(DIGEST_PREFIX):
            raise TamperedModelError(
                f"invalid MODEL_DIGEST {pinned!r}: must be {DIGEST_PREFIX} and 64 hex digits"
            )
        return pinned
    recorded = version.tags.get(MODEL_DIGEST_TAG) if version is not None else None
    if recorded is None:
        raise TamperedModelError(
            f"refusing {uri}: it has no {MODEL_DIGEST_TAG} tag (registered before digests, or "
            "not a registered version): pin the digest of its files with MODEL_DIGEST"
        )
    return recorded


def _registered_from_run(model_uri: str) -> ModelVersion | None:
    """For ``runs:/<id>/model``, the version registered from that run's model, if any.

    Its files are the run's model's, so its digest is theirs.
    """
    if not model_uri.startswith("runs:/"):
        return None
    run_id, _, path = model_uri.removeprefix("runs:/").partition("/")
    if path.strip("/") != MODEL_ARTIFACT:
        return None
    versions = MlflowClient().search_model_versions(f"run_id = '{run_id}'")
    return next((v for v in versions if MODEL_DIGEST_TAG in v.tags), None)


def download_verified(model_uri: str, pinned_digest: str | None = None) -> VerifiedModel:
    """Download a model and check its files before anything reads them.

    Args:
        model_uri: ``models:/name/N``, ``models:/name@alias``, ``runs:/<id>/model`` of a
            registered version, or any model URI (then only with ``pinned_digest``).
        pinned_digest: The digest the deployer pinned (``MODEL_DIGEST``); None: the version's
            own tag.

    Returns:
        The checked files.

    Raises:
        TamperedModelError: When there is no digest to check against or the files differ.
        MlflowException: When the model, alias or version does not exist.
    """
    version = registered_version(model_uri) or _registered_from_run(model_uri)
    expected = _expected(version, pinned_digest, model_uri)
    what = f"{version.name}/{version.version}" if version is not None else model_uri
    # A version, by number: an alias moved meanwhile cannot swap the files being checked.
    source = model_uri
    if version is not None and model_uri.startswith("models:/"):
        source = version_model_uri(version.name, version.version)
    path = Path(mlflow.artifacts.download_artifacts(source))
    manifest = version.tags.get(MODEL_MANIFEST_TAG) if version is not None else None
    verify_files(path, expected, json.loads(manifest) if manifest else None, what)
    return VerifiedModel(path, version, expected)


@contextmanager
def _own_code(model_path: Path) -> Iterator[None]:
    """Import ``titanic_model`` from the version's ``code/`` while MLflow loads it."""
    ours = {n: m for n, m in sys.modules.items() if n == _PACKAGE or n.startswith(_PACKAGE + ".")}
    path = list(sys.path)
    for name in ours:
        del sys.modules[name]
    sys.path.insert(0, str(model_path / "code"))
    try:
        yield
    finally:
        sys.path[:] = path
        for name in [n for n in sys.modules if n == _PACKAGE or n.startswith(_PACKAGE + ".")]:
            del sys.modules[name]
        sys.modules.update(ours)


def load_model(verified: VerifiedModel) -> PyFuncModel:
    """Load checked files as a pyfunc that runs the version's own code.

    Args:
        verified: What :func:`download_verified` returned.

    Returns:
        The loaded model.

    Raises:
        MlflowException: When MLflow cannot load it (an untrusted pipeline among the reasons).
    """
    with _own_code(verified.path):
        return mlflow.pyfunc.load_model(str(verified.path))


def load_verified_model(model_uri: str, pinned_digest: str | None = None) -> PyFuncModel:
    """:func:`download_verified`, then :func:`load_model`."""
    return load_model(download_verified(model_uri, pinned_digest))
