"""Bootstrap intervals and paired comparisons for the results table (numpy only, deterministic).

At 100 rows per language a score moves by about ±5 points by chance, so the table shows an
interval next to each language average and marks a row only when a paired bootstrap says it
differs from its baseline. Both resample examples within each language (the same resampled ids
for every seed and, in a comparison, for both rows) and, when a row has several seeds, resample
seeds too. The statistic is always: mean over seeds of mean over languages of the metric.

A row is `{seed: {language: Evaluation}}`. Scores are fractions in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import AdaptxError
from .metrics import Metric

RESAMPLES = 1000
CONFIDENCE = 0.95
RNG_SEED = 0

Row = dict  # {seed: {language: Evaluation}}


@dataclass(frozen=True)
class Evaluation:
    """One seed's predictions on one language, sorted by example id so that rows pair up by id."""

    ids: np.ndarray
    pred: list
    gold: list

    @classmethod
    def from_lists(cls, ids: list, pred: list, gold: list, where: str) -> Evaluation:
        if not len(ids) == len(pred) == len(gold):
            raise AdaptxError(f"{where}: {len(ids)} ids, {len(pred)} predictions and {len(gold)} gold labels; "
                              "they must have the same length")
        if not len(ids):
            raise AdaptxError(f"{where}: no evaluated examples")
        ids = np.asarray(ids, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        ids = ids[order]
        if np.any(ids[1:] == ids[:-1]):
            raise AdaptxError(f"{where}: duplicate example ids")
        return cls(ids, [pred[i] for i in order], [gold[i] for i in order])


@dataclass(frozen=True)
class Interval:
    point: float  # the statistic on all examples and seeds
    lo: float
    hi: float


@dataclass(frozen=True)
class Comparison:
    delta: float  # avg(row) - avg(baseline) on all examples, over the seeds both share
    lo: float
    hi: float
    verdict: str  # "better" | "worse" | "no clear difference"


class Bootstrap:
    """Resampled scores of several rows, for intervals and paired comparisons among them.

    Examples are drawn once per language (positions in id order, so rows pair up by id) and every
    row and seed is scored on those same draws; seeds are resampled in each interval or comparison.
    The draws depend only on (rng_seed, language, n), so adding rows never moves another's interval.
    """

    def __init__(self, rows: dict[str, Row], metric, *, resamples: int = RESAMPLES,
                 confidence: float = CONFIDENCE, rng_seed: int = RNG_SEED):
        """metric: a Metric, or a function language -> Metric (language-aware QA metrics)."""
        metric_of = metric if callable(metric) else (lambda lang: metric)
        self.rows, self.resamples, self.confidence, self.rng_seed = rows, resamples, confidence, rng_seed
        self.scores: dict[tuple, np.ndarray] = {}  # (name, seed, lang) -> (resamples,) scores
        self.points: dict[tuple, float] = {}  # (name, seed, lang) -> score on all examples
        members = [(name, s, lang) for name, row in rows.items() for s, evs in row.items() for lang in evs]
        for lang in dict.fromkeys(lang for _, _, lang in members):
            keys = [m for m in members if m[2] == lang]
            evs = [rows[name][s][lang] for name, s, _ in keys]
            n = len(evs[0].ids)
            if any(len(ev.ids) != n for ev in evs):
                raise AdaptxError(f"language {lang!r}: rows were evaluated on different numbers of examples "
                                  f"({sorted({len(ev.ids) for ev in evs})}); rerun `adaptx run` to re-evaluate")
            idx = np.random.default_rng([rng_seed, *lang.encode()]).integers(0, n, (resamples, n))
            lang_metric = metric_of(lang)
            for key, column, ev in zip(keys, _score_resamples(evs, lang_metric, idx).T, evs):
                self.scores[key] = column
                self.points[key] = lang_metric.compute(ev.pred, ev.gold)

    def interval(self, name: str, languages: list[str]) -> Interval:
        """Percentile interval of a row's language average, resampling examples and seeds."""
        seeds = sorted(self.rows[name])
        for lang in languages:
            _ids(self.rows[name], lang, name)
        picks = np.random.default_rng(self.rng_seed).integers(0, len(seeds), (self.resamples, len(seeds)))
        lo, hi = self._percentiles(_seed_mean(self._matrix(name, seeds, languages), picks))
        return Interval(self._point(name, seeds, languages), lo, hi)

    def compare(self, name: str, base: str, languages: list[str]) -> Comparison:
        """Paired bootstrap of avg(name) - avg(base): the same resampled examples and seeds for both.

        Pairing cancels the example-to-example difficulty both rows share, so a small but consistent
        gain is detected even where the two separate intervals overlap.
        """
        for lang in languages:
            if not np.array_equal(_ids(self.rows[name], lang, name), _ids(self.rows[base], lang, base)):
                raise AdaptxError(f"language {lang!r}: {name} and {base} were evaluated on different example ids; "
                                  "they can only be compared on the same examples (rerun `adaptx run` to re-evaluate)")
        shared = sorted(set(self.rows[name]) & set(self.rows[base]))
        # seeds pair by value; with none in common each row resamples its own (examples stay paired)
        seeds, base_seeds = (shared, shared) if shared else (sorted(self.rows[name]), sorted(self.rows[base]))
        rng = np.random.default_rng(self.rng_seed)
        picks = rng.integers(0, len(seeds), (self.resamples, len(seeds)))
        base_picks = picks if shared else rng.integers(0, len(base_seeds), (self.resamples, len(base_seeds)))
        deltas = (_seed_mean(self._matrix(name, seeds, languages), picks)
                  - _seed_mean(self._matrix(base, base_seeds, languages), base_picks))
        lo, hi = self._percentiles(deltas)
        verdict = "better" if lo > 0 else "worse" if hi < 0 else "no clear difference"
        return Comparison(self._point(name, seeds, languages) - self._point(base, base_seeds, languages), lo, hi, verdict)

    def _matrix(self, name: str, seeds: list, languages: list[str]) -> np.ndarray:
        """(resamples, seeds): the language average of each seed on each resample of examples."""
        return np.stack([np.mean([self.scores[name, s, lang] for lang in languages], axis=0) for s in seeds], axis=1)

    def _point(self, name: str, seeds: list, languages: list[str]) -> float:
        return float(np.mean([[self.points[name, s, lang] for lang in languages] for s in seeds]))

    def _percentiles(self, values: np.ndarray) -> tuple[float, float]:
        tail = (1 - self.confidence) / 2 * 100
        lo, hi = np.percentile(values, [tail, 100 - tail])
        return float(lo), float(hi)


def bootstrap_interval(row: Row, metric: Metric, languages: list[str], *, name: str = "row", **options) -> Interval:
    """Interval of one row's language average (options: resamples, confidence, rng_seed)."""
    return Bootstrap({name: row}, metric, **options).interval(name, languages)


def paired_bootstrap(row: Row, base: Row, metric: Metric, languages: list[str], *,
                     names: tuple[str, str] = ("row", "baseline"), **options) -> Comparison:
    """Comparison of row with base on the same examples and seeds (options: resamples, confidence, rng_seed)."""
    return Bootstrap({names[0]: row, names[1]: base}, metric, **options).compare(*names, languages)


def _ids(row: Row, lang: str, name: str) -> np.ndarray:
    """The example ids of one language, checked to be the same for every seed of the row."""
    seeds = sorted(row)
    for s in seeds:
        if lang not in row[s]:
            raise AdaptxError(f"{name}: no predictions for language {lang!r} with seed {s}")
    ids = row[seeds[0]][lang].ids
    for s in seeds[1:]:
        if not np.array_equal(row[s][lang].ids, ids):
            raise AdaptxError(f"{name}: seeds {seeds[0]} and {s} were evaluated on different example ids for language {lang!r}")
    return ids


def _score_resamples(evs: list[Evaluation], metric: Metric, idx: np.ndarray) -> np.ndarray:
    """(resamples, evaluations): the metric of each evaluation on each resample of examples (a row of idx)."""
    if metric.per_example is not None or metric.stats is not None:
        # count each example's draws, then one matrix product scores every evaluation
        resamples, n = idx.shape
        flat = (idx + n * np.arange(resamples)[:, None]).ravel()
        counts = np.bincount(flat, minlength=resamples * n).reshape(resamples, n).astype(np.float64)
        if metric.per_example is not None:  # a mean of per-example scores
            values = np.stack([np.asarray(metric.per_example(ev.pred, ev.gold), dtype=np.float64) for ev in evs], axis=1)
            return counts @ values / n
        # a ratio of summed counts (F1 over entities, accuracy over words): resample the counts
        sums = np.stack([counts @ metric.stats(ev.pred, ev.gold) for ev in evs], axis=1)  # [B, evs, k]
        return metric.from_stats(sums)
    return np.array([[metric.compute([ev.pred[i] for i in r], [ev.gold[i] for i in r]) for ev in evs] for r in idx])


def _seed_mean(scores: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """Mean over the resampled seeds (column indices in picks) of each resample's scores."""
    return np.take_along_axis(scores, picks, axis=1).mean(axis=1)
