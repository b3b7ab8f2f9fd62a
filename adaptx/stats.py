"""Bootstrap intervals and paired comparisons for the results table (numpy only, deterministic).

At 100 rows per language a score moves by about ±5 points by chance, so the table shows an
interval next to each language average and marks a row only when a paired bootstrap says it
differs from its baseline. Both resample items (the same resampled items for every seed and, in a
comparison, for both rows) and, when a row has several seeds, resample seeds too. The statistic is
always: mean over seeds of mean over languages of the metric.

Items are resampled per *item group*. XNLI, PAWS-X and XQuAD evaluate the same items translated in
every language (row i of each language's file is item i), so an item that is hard in English is
hard in German too: resampling each language on its own treats those errors as independent and
makes a language average look far surer than it is (a simulation found 95% intervals covering the
truth 59-77% of the time). Languages in one group therefore share one draw of item ids per
resample, and each language scores the ids it has (a language lacking some ids scores fewer).
`item_groups` asks the task registry which languages form a group: Task.row_aligned (row i is item
i in every language), or Task.item_id_field (MLQA: each language holds its own subset of translated
questions, and a question keeps its id across languages, so the question ids are drawn once and every
language scores the questions it has). For the latter the evaluations must carry those ids
(Evaluation.items); a language whose evaluation lacks them (prediction files written before adaptx
recorded them) cannot be placed in the group and is resampled alone, as `Bootstrap.apart` says.

Seeds: with few seeds the resampled seeds understate the seed variance once the seeds disagree (a
simulation with adaptx's Bootstrap: 3 seeds whose averages differ by 2.5 points or more covered the
truth 84-91% of the time for a nominal 95%); `seed_spread` and `spread_warning` say so beside a row.

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
SPREAD_WARNING_POINTS = 2.5  # seed spread (points) from which few seeds make intervals undercover
FEW_SEEDS = 5

Row = dict  # {seed: {language: Evaluation}}


@dataclass(frozen=True)
class Evaluation:
    """One seed's predictions on one language, sorted by example id so that rows pair up by id."""

    ids: np.ndarray
    pred: list
    gold: list
    # per example, the id of its item across languages where the row id is not it (MLQA's question
    # ids, Task.item_id_field); None: the row id names the item
    items: np.ndarray | None = None

    @classmethod
    def from_lists(cls, ids: list, pred: list, gold: list, where: str, items: list | None = None) -> Evaluation:
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
        return cls(ids, [pred[i] for i in order], [gold[i] for i in order], _item_ids(items, order, where))


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


class ItemGroup(str):
    """An item group's name (the split) that also says what names an item in it: `by` an example
    field (MLQA's question id: Evaluation.items), or None, the row id (row-aligned files). A str, so
    it prints and serialises as the split it always was."""

    by: str | None

    def __new__(cls, split: str, by: str | None = None):
        group = super().__new__(cls, split)
        group.by = by
        return group


def item_groups(task, splits: dict[str, str]) -> dict[str, str]:
    """language -> item group, for Bootstrap(aligned=...): the languages of a row-aligned task
    (Task.row_aligned) or of a task whose items share an id across languages (Task.item_id_field:
    MLQA) that were evaluated on the same split share their items; {} for other tasks or task None
    (an unregistered task), where every language is resampled alone. Different splits hold different
    items (PAWS-X falls back to dev where a language has no labeled test)."""
    if task is None:
        return {}
    if getattr(task, "item_id_field", None):
        return {lang: ItemGroup(split, task.item_id_field) for lang, split in splits.items()}
    if not task.row_aligned:
        return {}
    return dict(splits)


class Bootstrap:
    """Resampled scores of several rows, for intervals and paired comparisons among them.

    Items are drawn once per item group (a language alone, or the languages `aligned` puts in one
    group), as multiplicities of the group's item ids, and every row and seed is scored on those
    same draws; seeds are resampled in each interval or comparison. The draws depend only on
    (rng_seed, group, its item ids), so adding rows on the same items never moves another's interval.
    In a group named by an example field (ItemGroup.by: MLQA's question ids) the draws are of those
    ids; a language whose evaluations lack them is resampled alone, and `apart` says why.
    """

    def __init__(self, rows: dict[str, Row], metric, *, aligned: dict[str, str] | None = None,
                 resamples: int = RESAMPLES, confidence: float = CONFIDENCE, rng_seed: int = RNG_SEED):
        """metric: a Metric, or a function language -> Metric (language-aware QA metrics).
        aligned: language -> group name (see item_groups); languages not in it are resampled alone."""
        metric_of = metric if callable(metric) else (lambda lang: metric)
        self.rows, self.resamples, self.confidence, self.rng_seed = rows, resamples, confidence, rng_seed
        self.scores: dict[tuple, np.ndarray] = {}  # (name, seed, lang) -> (resamples,) scores
        self.points: dict[tuple, float] = {}  # (name, seed, lang) -> score on all examples
        members = [(name, s, lang) for name, row in rows.items() for s, evs in row.items() for lang in evs]
        groups, self.apart = _groups(rows, members, aligned)  # apart: language -> why it is resampled alone
        for (kind, group), langs in groups.items():
            evs_of = {lang: [(m, rows[m[0]][m[1]][lang]) for m in members if m[2] == lang] for lang in langs}
            # a group of one language draws exactly as that language alone would (by its row ids)
            keyed = kind == "joint" and getattr(group, "by", None) is not None and len(langs) > 1
            items = np.unique(np.concatenate([_item_keys(ev, keyed) for pairs in evs_of.values() for _, ev in pairs]))
            counts = self._draw_counts(langs[0] if len(langs) == 1 else None, group, len(items))
            for lang, pairs in evs_of.items():
                lang_metric = metric_of(lang)
                for same_ids in _by_ids(pairs):
                    evs = [ev for _, ev in same_ids]
                    own = counts[:, np.searchsorted(items, _item_keys(evs[0], keyed))]
                    for (key, ev), column in zip(same_ids, _score_resamples(evs, lang_metric, own).T):
                        self.scores[key] = column
                        self.points[key] = lang_metric.compute(ev.pred, ev.gold)

    def interval(self, name: str, languages: list[str]) -> Interval:
        """Percentile interval of a row's language average, resampling items and seeds."""
        return self.contrast(name, languages, [])

    def contrast(self, name: str, languages: list[str], minus: list[str]) -> Interval:
        """Interval of avg(languages) - avg(minus) of one row (minus [] : the plain average), e.g. the
        transfer gap English minus the others; items shared by both sides cancel in each resample."""
        seeds = sorted(self.rows[name])
        for lang in [*languages, *minus]:
            _ids(self.rows[name], lang, name)
        picks = np.random.default_rng(self.rng_seed).integers(0, len(seeds), (self.resamples, len(seeds)))
        matrix, point = self._matrix(name, seeds, languages), self._point(name, seeds, languages)
        if minus:
            matrix, point = matrix - self._matrix(name, seeds, minus), point - self._point(name, seeds, minus)
        lo, hi = self._percentiles(_seed_mean(matrix, picks))
        return Interval(point, lo, hi)

    def compare(self, name: str, base: str, languages: list[str]) -> Comparison:
        """Paired bootstrap of avg(name) - avg(base): the same resampled items and seeds for both.

        Pairing cancels the item-to-item difficulty both rows share, so a small but consistent
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

    def seed_spread(self, name: str, languages: list[str]) -> float | None:
        """Max minus min over a row's seeds of its average over `languages` (a fraction); None with one seed."""
        return seed_spread({s: np.mean([self.points[name, s, lang] for lang in languages]) for s in self.rows[name]})

    def _draw_counts(self, lang: str | None, group: str, n: int) -> np.ndarray:
        """(resamples, n): how often each of a group's n items is drawn in each resample."""
        # a lone language keeps the seed it has always had; a joint group's seed cannot collide
        # with a language's (language codes encode to bytes above 0)
        seed = [self.rng_seed, *lang.encode()] if lang is not None else [self.rng_seed, 0, *group.encode()]
        idx = np.random.default_rng(seed).integers(0, n, (self.resamples, n))
        flat = (idx + n * np.arange(self.resamples)[:, None]).ravel()
        return np.bincount(flat, minlength=self.resamples * n).reshape(self.resamples, n).astype(np.float64)

    def _matrix(self, name: str, seeds: list, languages: list[str]) -> np.ndarray:
        """(resamples, seeds): the language average of each seed on each resample of items."""
        return np.stack([np.mean([self.scores[name, s, lang] for lang in languages], axis=0) for s in seeds], axis=1)

    def _point(self, name: str, seeds: list, languages: list[str]) -> float:
        return float(np.mean([[self.points[name, s, lang] for lang in languages] for s in seeds]))

    def _percentiles(self, values: np.ndarray) -> tuple[float, float]:
        tail = (1 - self.confidence) / 2 * 100
        # nan: a resample that drew none of a language's items (only where it lacks most of its group's)
        lo, hi = np.nanpercentile(values, [tail, 100 - tail])
        return float(lo), float(hi)


def bootstrap_interval(row: Row, metric: Metric, languages: list[str], *, name: str = "row", **options) -> Interval:
    """Interval of one row's language average (options: aligned, resamples, confidence, rng_seed)."""
    return Bootstrap({name: row}, metric, **options).interval(name, languages)


def paired_bootstrap(row: Row, base: Row, metric: Metric, languages: list[str], *,
                     names: tuple[str, str] = ("row", "baseline"), **options) -> Comparison:
    """Comparison of row with base on the same examples and seeds (options: aligned, resamples,
    confidence, rng_seed)."""
    return Bootstrap({names[0]: row, names[1]: base}, metric, **options).compare(*names, languages)


def _groups(rows: dict[str, Row], members: list[tuple], aligned: dict | None) -> tuple[dict, dict[str, str]]:
    """({("joint", group) or ("alone", language): languages}, {language: why it is alone despite its group})."""
    groups: dict[tuple, list[str]] = {}
    apart: dict[str, str] = {}
    for lang in dict.fromkeys(lang for _, _, lang in members):
        in_group = aligned is not None and lang in aligned
        by = getattr(aligned[lang], "by", None) if in_group else None
        if by and any(rows[n][s][lang].items is None for n, s, m in members if m == lang):
            in_group = False  # its rows cannot be matched to the other languages' items
            apart[lang] = (f"its predictions do not record each example's {by} (written before adaptx recorded "
                           "it): resampled alone, so an average over it and its group's other languages gets too "
                           "narrow an interval; delete the stage's eval/ files and rerun `adaptx run` to "
                           "re-evaluate it (no retraining)")
        groups.setdefault(("joint", aligned[lang]) if in_group else ("alone", lang), []).append(lang)
    return groups, apart


def seed_spread(averages: dict) -> float | None:
    """Max minus min of a row's per-seed averages ({seed: average}), in their units; None with fewer
    than two seeds (there is no spread to see)."""
    values = list(averages.values())
    return float(max(values) - min(values)) if len(values) > 1 else None


def spread_warning(spread_points: float | None, seeds: int) -> str | None:
    """A caution where the seeds disagree too much for so few of them to carry a 95% interval, else None.
    spread_points: seed_spread in percent points."""
    # >=: the simulation's undercovering cases were spreads of 2.5 points "or more"
    if spread_points is None or spread_points < SPREAD_WARNING_POINTS or seeds >= FEW_SEEDS:
        return None
    return (f"seed spread {spread_points:.1f} points over {seeds} seeds: with fewer than {FEW_SEEDS} seeds that "
            f"disagree by {SPREAD_WARNING_POINTS} points or more the 95% intervals undercover (84-91% in "
            "simulation at 3 seeds); add seeds before reading them")


def _item_ids(items: list | None, order: np.ndarray, where: str) -> np.ndarray | None:
    """Evaluation.items in the examples' id order, checked (one item per example, each once)."""
    if items is None:
        return None
    if len(items) != len(order):
        raise AdaptxError(f"{where}: {len(items)} item ids for {len(order)} examples; they must have the same length")
    keys = np.asarray([str(items[i]) for i in order])
    if len(np.unique(keys)) != len(keys):
        raise AdaptxError(f"{where}: duplicate item ids (each example must be a different item)")
    return keys


def _item_keys(ev: Evaluation, keyed: bool) -> np.ndarray:
    """What names an evaluation's items within its group: its item ids in a keyed group, else its row ids."""
    return ev.items if keyed else ev.ids


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


def _by_ids(pairs: list[tuple]) -> list[list[tuple]]:
    """(key, Evaluation) pairs grouped by identical ids, so each group is scored with one product."""
    groups: dict[tuple, list[tuple]] = {}
    for key, ev in pairs:
        groups.setdefault((ev.ids.tobytes(), None if ev.items is None else ev.items.tobytes()), []).append((key, ev))
    return list(groups.values())


def _score_resamples(evs: list[Evaluation], metric: Metric, counts: np.ndarray) -> np.ndarray:
    """(resamples, evaluations): the metric of each evaluation (all on the same ids) on each
    resample, given how often each of its examples is drawn there (a row of counts)."""
    total = counts.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric.per_example is not None:  # a mean of per-example scores
            values = np.stack([np.asarray(metric.per_example(ev.pred, ev.gold), dtype=np.float64) for ev in evs], axis=1)
            scores = counts @ values / total[:, None]
        elif metric.stats is not None:
            # a ratio of summed counts (F1 over entities, accuracy over words): resample the counts
            sums = np.stack([counts @ metric.stats(ev.pred, ev.gold) for ev in evs], axis=1)  # [B, evs, k]
            scores = metric.from_stats(sums)
        else:
            picks = [np.repeat(np.arange(counts.shape[1]), c.astype(np.int64)) for c in counts]
            scores = np.array([[metric.compute([ev.pred[i] for i in r], [ev.gold[i] for i in r]) if len(r) else np.nan
                                for ev in evs] for r in picks])
    return np.where(total[:, None] > 0, scores, np.nan)


def _seed_mean(scores: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """Mean over the resampled seeds (column indices in picks) of each resample's scores."""
    return np.take_along_axis(scores, picks, axis=1).mean(axis=1)
