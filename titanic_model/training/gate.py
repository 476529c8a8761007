"""The champion gate: whether a new version takes the ``champion`` alias (pure).

The rule: the first version becomes champion; a later one takes the alias only if it is at
least as good as the current champion on the gate metric, both scored on the same holdout.
With ``promote_to=challenger``, a later version that passes takes ``challenger`` instead, to
be tried in shadow on live traffic before ``promote`` makes it champion; the first version,
with no champion to be tried beside, still becomes champion. The evaluate job gathers the
scores and moves the alias; the decision is made here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from titanic_model.names import CHALLENGER_ALIAS, CHAMPION_ALIAS, HOLDOUT_METRICS


def is_at_least_as_good(metric: str, candidate: float, incumbent: float) -> bool:
    """Whether ``candidate`` matches or beats ``incumbent`` on ``metric``.

    Args:
        metric: A key of :data:`~titanic_model.names.HOLDOUT_METRICS`.
        candidate: The new model's value.
        incumbent: The current champion's value.

    Returns:
        True when the candidate is at least as good.

    Raises:
        KeyError: For a metric that is not a holdout metric.
    """
    return candidate >= incumbent if HOLDOUT_METRICS[metric] else candidate <= incumbent


@dataclass(frozen=True)
class Decision:
    """What the gate decided, and why.

    Attributes:
        promote: Whether to move an alias to the candidate.
        reason: One line for people (the evaluate run's ``champion_decision`` tag).
        alias: The alias it takes: ``champion``, or ``challenger``.
    """

    promote: bool
    reason: str
    alias: str = CHAMPION_ALIAS


def decide(
    candidate: str,
    champion: str | None,
    gate_metric: str,
    candidate_metrics: Mapping[str, float],
    champion_metrics: Mapping[str, float] | None,
    promote_to: str = CHAMPION_ALIAS,
) -> Decision:
    """Decide whether the candidate version becomes champion (or challenger).

    Args:
        candidate: The candidate's version number.
        champion: The current champion's version number; None before the first promotion.
        gate_metric: The holdout metric that decides.
        candidate_metrics: The candidate's holdout metrics.
        champion_metrics: The champion's metrics on the same holdout; needed when there is a
            champion other than the candidate.
        promote_to: The alias a candidate that passes takes: ``champion`` or ``challenger``.

    Returns:
        The decision and its reason.

    Raises:
        ValueError: When a champion other than the candidate comes without its metrics.
    """
    if champion is None:
        return Decision(True, "promoted: first champion")
    if champion == candidate:
        return Decision(False, "kept: already champion")
    if champion_metrics is None:
        raise ValueError(f"champion v{champion} must be scored on the same holdout first")
    new, old = candidate_metrics[gate_metric], champion_metrics[gate_metric]
    scores = f"{gate_metric} {new:.4f}"
    if is_at_least_as_good(gate_metric, new, old):
        if promote_to == CHALLENGER_ALIAS:
            versus = f"{scores} vs champion v{champion} {old:.4f}"
            return Decision(True, f"challenger: {versus}", CHALLENGER_ALIAS)
        return Decision(True, f"promoted: {scores} vs champion v{champion} {old:.4f}")
    return Decision(False, f"kept v{champion}: {scores} below champion's {old:.4f}")
