"""``promote``: champion to the challenger that its last comparison says to promote; release.

The challenger passed the holdout gate (``evaluate -P promote_to=challenger``), then scored
live traffic in shadow beside the champion, and ``compare`` judged the two on the same
labelled records. Under the gate's lock, ``promote`` checks every condition first:

- there is a champion and a challenger, different versions, the challenger approved by the
  gate;
- the last ``compare`` run of exactly that pair (served = the champion's version, shadow =
  the challenger's) decided ``promote``;
- the challenger's files still match their digest.

Anything else is one ``error:`` line and nothing moves. Then the version is tagged with the
comparison, ``champion`` moves to it, and the release step pins it in the kustomize patch:
committed, the canary rollout takes it to production.

``challenger`` stays where it is, on the version that is now champion: removing an alias
takes MANAGE on the registered model, which no role has (docs/deployment.md#who-may-do-what),
and a challenger that is the champion is no challenger. ``promote`` refuses it, and a serving
layer given it as its shadow serves without one, until the gate names the next challenger.
"""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow

from titanic_model import names
from titanic_model.config import PromoteConfig
from titanic_model.errors import ConfigError
from titanic_model.io import registry
from titanic_model.io.model_files import download_verified
from titanic_model.io.runs import last_run_tagged
from titanic_model.jobs.release import write_release

logger = logging.getLogger(__name__)


def promote(config: PromoteConfig) -> str:
    """Move ``champion`` to the challenger if its last comparison says so, then release it.

    Args:
        config: The registered model, the comparisons' experiment and the patch file.

    Returns:
        The released model URI.

    Raises:
        ConfigError: When any condition is not met (nothing has moved).
        TamperedModelError: When the challenger's files differ from their digest.
    """
    name = config.model_name
    folder = Path(config.output).parent
    if not folder.is_dir():
        raise ConfigError(f"invalid parameter output={config.output!r}: no folder {folder}")
    with registry.gate_lock(name):
        held, trying = registry.champion(name), registry.challenger(name)
        if trying is None:
            raise ConfigError(
                f"{name!r} has no challenger to promote: evaluate a version with "
                "promote_to=challenger first"
            )
        if held is None:
            raise ConfigError(f"{name!r} has no champion to compare v{trying.version} with")
        champion_v, challenger_v = str(held.version), str(trying.version)
        if champion_v == challenger_v:
            raise ConfigError(f"challenger v{challenger_v} of {name!r} is champion already")
        approval = trying.tags.get(names.APPROVAL_TAG, "unset")
        if approval != names.APPROVED:
            raise ConfigError(
                f"refusing to promote challenger v{challenger_v}: the gate has not approved it "
                f"({names.APPROVAL_TAG}={approval})"
            )
        comparison = last_run_tagged(
            config.experiment_name,
            {
                names.SERVED_MODEL_NAME_TAG: name,
                names.SERVED_MODEL_VERSION_TAG: champion_v,
                names.SHADOW_MODEL_NAME_TAG: name,
                names.SHADOW_MODEL_VERSION_TAG: challenger_v,
            },
        )
        pair = f"champion v{champion_v} (served) with challenger v{challenger_v} (shadow)"
        if comparison is None:
            raise ConfigError(
                f"no comparison of {pair} in experiment {config.experiment_name!r}: run "
                "compare on a window where the challenger scored in shadow"
            )
        decision = comparison.data.tags.get(names.DECISION_TAG)
        if decision != names.PROMOTE_DECISION:
            raise ConfigError(
                f"the last comparison of {pair}, run {comparison.info.run_id}, decided "
                f"{decision!r}, not {names.PROMOTE_DECISION!r}: nothing moves"
            )
        model_uri = names.version_model_uri(name, challenger_v)
        # The files as stored now must still be the ones registered: the pin is what pods check.
        digest = download_verified(model_uri).digest
        registry.tag_version(name, challenger_v, {names.COMPARISON_RUN_TAG: comparison.info.run_id})
        registry.promote(trying)
        mlflow.set_tags(
            {
                names.CHAMPION_BEFORE_TAG: champion_v,
                names.COMPARISON_RUN_TAG: comparison.info.run_id,
                names.CHAMPION_DECISION_TAG: f"promoted: challenger v{challenger_v} by "
                f"comparison {comparison.info.run_id}",
            }
        )
        write_release(model_uri, digest, config.output)
    logger.info("champion of %r: v%s (was v%s)", name, challenger_v, champion_v)
    return model_uri
