"""``release``: pin the version production serves in Git, as a kustomize patch.

Production does not resolve ``@champion`` itself: each pod would resolve it when it starts, so
moving the alias would roll nothing out, and a pod restarted after a move would serve another
version than its siblings. The release turns "champion is version N" into a change of
``deployment/kubernetes/release.yaml``: ``MODEL_URI=models:/titanic/N`` and ``MODEL_DIGEST``,
the digest of the version's files, which every pod checks before it loads them. Committed and
merged, Argo CD rolls it out; no registry writer can change what Git pins.
"""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow
import yaml

from titanic_model.config import ReleaseConfig
from titanic_model.errors import ConfigError
from titanic_model.io.model_files import download_verified
from titanic_model.io.registry import champion, registered_version
from titanic_model.names import (
    APPROVAL_TAG,
    APPROVED,
    MODEL_DIGEST_TAG,
    MODEL_URI_TAG,
    version_model_uri,
)

logger = logging.getLogger(__name__)

#: The Deployment and container the patch pins (deployment/kubernetes/deployment.yaml).
DEPLOYMENT = "titanic"
CONTAINER = "titanic"
_HEADER = """\
# The model version production serves, pinned: written by `make release` (the release entry
# point, titanic_model/jobs/release.py) from the registry's champion; do not edit by hand.
# Each pod checks the version's files against MODEL_DIGEST before it loads any of them.
"""


def release_patch(model_uri: str, digest: str) -> str:
    """The kustomize patch (strategic merge) that pins the Deployment to one version.

    Args:
        model_uri: ``models:/<name>/<N>``.
        digest: The version's ``model_digest``.

    Returns:
        The YAML text, header comment included.
    """
    patch = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": DEPLOYMENT},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": CONTAINER,
                            "env": [
                                {"name": "MODEL_URI", "value": model_uri},
                                {"name": "MODEL_DIGEST", "value": digest},
                            ],
                        }
                    ]
                }
            }
        },
    }
    return _HEADER + yaml.safe_dump(patch, sort_keys=False)


def release(config: ReleaseConfig) -> str:
    """Write the release patch for the champion (or a given approved version).

    Args:
        config: The registered model, the version (default: its champion) and the patch file.

    Returns:
        The pinned model URI.

    Raises:
        ConfigError: When there is no champion, or the version was not approved by the gate.
        TamperedModelError: When the version's files do not match its digest.
    """
    if config.version is None:
        version = champion(config.model_name)
        if version is None:
            raise ConfigError(f"{config.model_name!r} has no champion to release yet")
    else:
        # A models:/ URI always names a version (or MLflow raises): None is not an answer here.
        version = registered_version(version_model_uri(config.model_name, config.version))
        assert version is not None
    model_uri = version_model_uri(version.name, version.version)
    if version.tags.get(APPROVAL_TAG) != APPROVED:
        raise ConfigError(
            f"refusing to release {model_uri}: the gate has not approved it "
            f"({APPROVAL_TAG}={version.tags.get(APPROVAL_TAG, 'unset')})"
        )
    # The files as stored now must still be the ones registered: the pin is what pods check.
    write_release(model_uri, download_verified(model_uri).digest, config.output)
    return model_uri


def write_release(model_uri: str, digest: str, output: str) -> None:
    """Write the patch pinning ``model_uri`` and its checked digest; tag the active run.

    Args:
        model_uri: ``models:/<name>/<N>``.
        digest: The digest its files were just checked against.
        output: The patch file.
    """
    Path(output).write_text(release_patch(model_uri, digest))
    mlflow.set_tags({MODEL_URI_TAG: model_uri, MODEL_DIGEST_TAG: digest})
    logger.info("pinned %s (%s) in %s: commit it to roll it out", model_uri, digest, output)
