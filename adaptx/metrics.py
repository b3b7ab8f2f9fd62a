"""Offline metrics, chosen by name from the task registry (`Task.metric`).

A metric scores a list of predictions against a list of gold answers, as a fraction in
[0, 1]. Decomposable metrics (accuracy) also give one score per example, which lets the
bootstrap in `adaptx.stats` resample cheaply; others are recomputed on each resample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .errors import AdaptxError


@dataclass(frozen=True)
class Metric:
    name: str
    compute: Callable[[list, list], float]  # (predictions, golds) -> score in [0, 1]
    per_example: Callable[[list, list], np.ndarray] | None = None  # mean of this == compute(...)


def _correct(preds: list, golds: list) -> np.ndarray:
    if len(preds) != len(golds):
        raise AdaptxError(f"metric: {len(preds)} predictions for {len(golds)} gold labels")
    return np.asarray([p == g for p, g in zip(preds, golds)], dtype=np.float64)


def _accuracy(preds: list, golds: list) -> float:
    correct = _correct(preds, golds)
    return float(correct.mean()) if correct.size else 0.0


METRICS: dict[str, Metric] = {
    "accuracy": Metric("accuracy", _accuracy, _correct),
}


def get_metric(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise AdaptxError(f"unknown metric {name!r}; known metrics: {', '.join(sorted(METRICS))}") from None
