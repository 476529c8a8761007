"""The shadow model: a second version scoring the accepted records off the request path.

The served model answers every request. A shadow (``TITANIC_SHADOW_MODEL_URI``, typically
``models:/titanic@challenger``) scores the same records later, in the prediction log's
thread: a whole flush of requests (two seconds of traffic) in one call, so that the thread
takes the GIL for it once a flush, not once a request. Its answers go to the log only, as
``shadow`` lines beside the served ones (``compare`` pairs them); no client waits for them
or sees them.

Whatever the shadow raises is caught here and counted by request
(``titanic_shadow_errors_total{stage="predict"}``); one request it refuses does not cost the
others of its batch their answers. A shadow that could not be loaded at start (missing, or
files that differ from their digest) leaves the server serving alone: every request it did
not score is counted with ``stage="load"``.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from titanic_model.errors import one_line
from titanic_model.names import PROBABILITY_COLUMN, SURVIVED_COLUMN
from titanic_model.serving.log_writer import ModelIdentity

# Records scored in one call at most: a flush of heavy traffic is split, so that no single
# call holds the GIL for long while requests wait for it.
BATCH_RECORDS = 2_000
#: ``stage`` of ``titanic_shadow_errors_total``: the shadow could not be loaded at start, or
#: raised (or answered the wrong number of rows) while scoring.
LOAD_STAGE = "load"
PREDICT_STAGE = "predict"
STAGES = (LOAD_STAGE, PREDICT_STAGE)

_logger = logging.getLogger(__name__)

Columns = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class ShadowAnswers:
    """The shadow's answers to one request's records, as Python numbers.

    Attributes:
        survived: 0 or 1 per record.
        probability: The probability of survival per record, in [0, 1].
    """

    survived: list[int]
    probability: list[float]


def _records(columns: Columns) -> int:
    return len(next(iter(columns.values())))


def _batches(requests: Sequence[Columns], limit: int) -> list[list[Columns]]:
    """Consecutive requests grouped into calls of at most ``limit`` records (or one request)."""
    batches: list[list[Columns]] = []
    size = limit
    for columns in requests:
        records = _records(columns)
        if size + records > limit:
            batches.append([])
            size = 0
        batches[-1].append(columns)
        size += records
    return batches


class ShadowScorer:
    """Scores requests' validated records with the shadow model, counting its failures.

    Args:
        model: The loaded shadow (anything with ``predict(DataFrame) -> DataFrame``), or None
            when it could not be loaded.
        identity: The shadow's version, on its log lines (None with no model).
        on_failed: Called with a stage and the number of requests not scored (the metric).
        batch_records: Records scored in one call at most.
    """

    def __init__(
        self,
        model,
        identity: ModelIdentity | None,
        on_failed: Callable[[str, int], None],
        batch_records: int = BATCH_RECORDS,
    ):
        self.model = model
        self.identity = identity
        self.on_failed = on_failed
        self.batch_records = batch_records
        self._failing = False

    def score(self, requests: Sequence[Columns]) -> list[ShadowAnswers | None]:
        """The shadow's answers to each request's records.

        Args:
            requests: Each request's records as the served model validated them (the
                canonical columns of :func:`titanic_model.model.schema.check_passengers`,
                which the shadow, running its own code, validates again).

        Returns:
            Per request, its answers, or None where the shadow failed (counted).
        """
        if self.model is None:
            if requests:
                self.on_failed(LOAD_STAGE, len(requests))
            return [None] * len(requests)
        answers: list[ShadowAnswers | None] = []
        for batch in _batches(requests, self.batch_records):
            answers += self._score_batch(batch)
            time.sleep(0)  # the event loop gets the GIL back between calls
        return answers

    def _score_batch(self, batch: list[Columns]) -> list[ShadowAnswers | None]:
        try:
            answers: list[ShadowAnswers | None] = [*self._predict(batch)]
        except Exception as error:  # whatever the shadow does, it must not stop the thread
            if len(batch) > 1:
                # Each request alone: one the shadow refuses does not cost the others theirs.
                return [answer for columns in batch for answer in self._score_batch([columns])]
            self.on_failed(PREDICT_STAGE, 1)
            if not self._failing:
                _logger.warning("shadow model: a request was not scored: %s", _reason(error))
            self._failing = True
            return [None]
        if self._failing:
            _logger.warning("shadow model: scoring again")
        self._failing = False
        return answers

    def _predict(self, batch: list[Columns]) -> list[ShadowAnswers]:
        """One call of the shadow on the batch's records; its answers, checked, by request."""
        frame = pd.DataFrame({name: np.concatenate([c[name] for c in batch]) for name in batch[0]})
        answers = self.model.predict(frame)
        if not isinstance(answers, pd.DataFrame) or len(answers) != len(frame):
            raise ValueError(f"the shadow answered {len(answers)} rows for {len(frame)} records")
        survived = answers[SURVIVED_COLUMN].to_numpy()
        probability = answers[PROBABILITY_COLUMN].to_numpy(dtype=float)
        # What the log's lines will say without validating them again (log_writer).
        in_range = (probability >= 0) & (probability <= 1)  # NaN is not
        if not (np.isin(survived, (0, 1)).all() and in_range.all()):
            raise ValueError(
                "the shadow answered outcomes other than 0 and 1, or probabilities outside [0, 1]"
            )
        outcomes, probabilities = survived.astype(int).tolist(), probability.tolist()
        bounds = itertools.accumulate((_records(columns) for columns in batch), initial=0)
        return [
            ShadowAnswers(outcomes[start:end], probabilities[start:end])
            for start, end in itertools.pairwise(bounds)
        ]


def _reason(error: Exception) -> str:
    return one_line(getattr(error, "message", None) or error)
