"""Reviewers' answers as labels: a majority per task, and how far people and model agree (pure).

Each reviewer counts once per task, with their latest annotation. An annotation that was
skipped (or submitted without a choice) is no answer. A task becomes a label when it has at
least ``min_annotations`` answers and one answer has more votes than the other; a task whose
every annotation was skipped, one with too few answers and a tie are left out, and counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations

import pandas as pd

from titanic_model.labelling.tasks import CONTROL, OUTCOMES, record_key
from titanic_model.model.schema import LABEL, PASSENGER_ID

#: The labels file's columns: what ``monitor`` reads as ``labels_uri``, then the provenance.
LABEL_COLUMNS = (PASSENGER_ID, LABEL, "request_id", "record", "annotations", "agreement")


def choice_of(result: Iterable[Mapping]) -> str | None:
    """The answer in an annotation's (or prediction's) result, or None when it has none."""
    for region in result:
        if region.get("from_name") == CONTROL and region.get("type") == "choices":
            choices = region.get("value", {}).get("choices") or []
            if len(choices) == 1 and choices[0] in OUTCOMES:
                return choices[0]
    return None


def reviewers_answers(annotations: Iterable[Mapping]) -> dict[object, str | None]:
    """Each reviewer's latest answer to one task (None: skipped, or no choice made).

    Args:
        annotations: The task's annotations as Label Studio exports them (``completed_by``,
            ``was_cancelled``, ``result``, ``updated_at``, ``id``).
    """
    latest: dict[object, Mapping] = {}
    for annotation in annotations:
        reviewer = annotation.get("completed_by")
        current = latest.get(reviewer)
        order = (str(annotation.get("updated_at") or ""), annotation.get("id") or 0)
        if current is None or order >= (
            str(current.get("updated_at") or ""),
            current.get("id") or 0,
        ):
            latest[reviewer] = annotation
    return {
        reviewer: None if annotation.get("was_cancelled") else choice_of(annotation["result"])
        for reviewer, annotation in latest.items()
    }


@dataclass(frozen=True)
class Collection:
    """What the reviewers' annotations add up to.

    Attributes:
        labels: One row per labelled task, :data:`LABEL_COLUMNS` (``PassengerId`` empty when
            none was logged; ``annotations`` the answers counted, ``agreement`` the share of
            them that is the label).
        tasks: Tasks in the project.
        annotated: Tasks with at least one annotation (skipped ones included).
        skipped: Annotated tasks with no answer (every annotation skipped).
        too_few: Tasks with answers, but fewer than ``min_annotations``.
        tied: Tasks whose answers split evenly.
        reviewer_agreement: Over the tasks with two answers or more, the share of pairs of
            answers to the same task that agree; NaN when no task has two.
        model_agreement: The share of answers that are the model's answer; NaN without any.
    """

    labels: pd.DataFrame
    tasks: int
    annotated: int
    skipped: int
    too_few: int
    tied: int
    reviewer_agreement: float
    model_agreement: float


def collect(
    tasks: Iterable[Mapping], model_answers: Mapping[object, str], min_annotations: int
) -> Collection:
    """Turn a project's exported tasks into labels, by majority of their reviewers.

    Args:
        tasks: Label Studio's JSON export (``id``, ``data``, ``annotations``).
        model_answers: The model's answer (``Survived`` or ``Died``) by task id, from the
            tasks' pre-annotations.
        min_annotations: Answers a task needs before it counts.

    Returns:
        The labels and the counts.
    """
    rows = []
    counts: Counter[str] = Counter()
    pairs = agreeing_pairs = answers_seen = answers_kept = 0
    for task in tasks:
        counts["tasks"] += 1
        if not task.get("annotations"):
            continue
        counts["annotated"] += 1
        answers = [a for a in reviewers_answers(task["annotations"]).values() if a is not None]
        model = model_answers.get(task["id"])
        if model is not None:
            answers_seen += len(answers)
            answers_kept += sum(answer == model for answer in answers)
        for first, second in combinations(answers, 2):
            pairs += 1
            agreeing_pairs += first == second
        if not answers:
            counts["skipped"] += 1
            continue
        if len(answers) < min_annotations:
            counts["too_few"] += 1
            continue
        (label, votes), *others = Counter(answers).most_common()
        if others and others[0][1] == votes:
            counts["tied"] += 1
            continue
        data = task["data"]
        request_id, record = record_key(data["request_id"], data["record"])
        rows.append(
            {
                PASSENGER_ID: data.get(PASSENGER_ID),
                LABEL: OUTCOMES[label],
                "request_id": request_id,
                "record": record,
                "annotations": len(answers),
                "agreement": votes / len(answers),
            }
        )
    labels = pd.DataFrame(rows, columns=list(LABEL_COLUMNS))
    labels[PASSENGER_ID] = labels[PASSENGER_ID].astype("Int64")
    return Collection(
        labels=labels,
        tasks=counts["tasks"],
        annotated=counts["annotated"],
        skipped=counts["skipped"],
        too_few=counts["too_few"],
        tied=counts["tied"],
        reviewer_agreement=agreeing_pairs / pairs if pairs else float("nan"),
        model_agreement=answers_kept / answers_seen if answers_seen else float("nan"),
    )


def model_answers(predictions: Iterable[Mapping], model_versions: Mapping[object, str]) -> dict:
    """The model's answer by task id: the task's prediction by the version that answered it.

    Args:
        predictions: Label Studio's predictions of the project (``task``, ``model_version``,
            ``result``).
        model_versions: Each task's ``model_version`` (from its data).

    Returns:
        ``{task id: "Survived" | "Died"}`` for the tasks that have that prediction.
    """
    answers = {}
    for prediction in predictions:
        task = prediction.get("task")
        if prediction.get("model_version") == model_versions.get(task):
            answer = choice_of(prediction.get("result") or [])
            if answer is not None:
                answers[task] = answer
    return answers
