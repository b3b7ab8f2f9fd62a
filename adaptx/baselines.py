"""Trivial baselines: what a score must beat to show that anything was learned.

The prediction that needs no model, taken from the English training sample: the majority label
(classification), the most frequent right choice (multiple choice), the most frequent tag for every
word (tagging), the empty answer for every question (QA). Scored with the task's own metric on the
same rows a run scores, so the numbers sit beside a run's table. Retrieval has none (it trains
nothing; its chance level is one in the number of candidates).
"""

from __future__ import annotations

import collections

from .kinds import get_kind
from .metrics import metric_for_language


def trivial_predictor(experiment, task_name: str):
    """(description, predict(golds) -> predictions), or None where a kind has no trivial baseline."""
    task = experiment.task(task_name)
    if task.kind in ("mixture", "retrieval", "mlm"):
        return None
    kind = get_kind(task.kind)
    train = kind.golds(experiment.data(task_name, "train"))
    if task.kind in ("classification", "multiple_choice"):
        majority = collections.Counter(train).most_common(1)[0][0]
        what = f"always {task.labels[majority]}" if task.kind == "classification" else f"always choice {majority}"
        return what, lambda golds: [majority] * len(golds)
    if task.kind == "tagging":
        tag = collections.Counter(t for sentence in train for t in sentence).most_common(1)[0][0]
        return f"always {tag}", lambda golds: [[tag] * len(g) for g in golds]
    return "always no answer", lambda golds: [""] * len(golds)


def trivial_score(experiment, task_name: str, split: str = "dev", lang: str = "en",
                  metric: str | None = None) -> tuple[str, float] | None:
    """The trivial baseline's score (0..1) on the rows a run uses for (split, lang)."""
    predictor = trivial_predictor(experiment, task_name)
    if predictor is None:
        return None
    what, predict = predictor
    task = experiment.task(task_name)
    golds = get_kind(task.kind).golds(experiment.data(task_name, split, lang))
    return what, metric_for_language(metric or task.metric, lang).compute(predict(golds), golds)
