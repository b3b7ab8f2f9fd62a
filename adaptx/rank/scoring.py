"""How good is a ranking? Regret@k and Spearman's rho against a measured grid, with intervals.

The grid is one or more run folders that trained the candidates under the target (`stack`, and
`fuse` rows that fuse one candidate, with or without the target's own adapter). Their scores are
read as `adaptx analyze` reads them (adaptx.analysis.runs) and resampled with the same
adaptx.stats.Bootstrap that gains.csv comes from: evaluation items (jointly across row-aligned
languages) and seeds, the same draws for every candidate's row, so the candidates' measurement
noise is paired, as it is in the grid itself.

Regret@k: the best measured score minus the best measured score among the estimator's top k, in
points of the target's metric; ties in the estimator's scores are broken uniformly at random and
the regret is its exact expectation (so "random", all tied, gets its expected regret, and "always
MNLI" puts the MNLI candidate first and the others in random order). Spearman's rho between the
estimator's scores and the measured ones (random: 0, its expectation). Two measures per target:
English (the language `en` row: the English evaluation split) and the average over the other
languages. Each interval is the percentile range of the statistic over the grid's resamples:
it says how much the verdict moves with the measurement noise of the grid, not how the estimator
would do on other candidates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import comb

import numpy as np

from ..stats import CONFIDENCE, RESAMPLES
from .ranking import ESTIMATORS, Ranking

STRATEGIES = ("stack", "fuse")
MEASURES = {"en": "English", "others": "non-English average"}
KS = (1, 3)


# -- the statistics (pure numpy) ----------------------------------------------------------
def expected_best(predicted: np.ndarray, measured: np.ndarray, k: int) -> float:
    """E[max measured score among the top k by `predicted`], ties broken uniformly at random."""
    predicted, measured = np.asarray(predicted, float), np.asarray(measured, float)
    k = min(k, len(predicted))
    fixed, left = [], k
    for value in sorted(set(predicted.tolist()), reverse=True):
        group = np.flatnonzero(predicted == value)
        if len(group) <= left:
            fixed += group.tolist()
            left -= len(group)
            if left == 0:
                return float(measured[fixed].max())
            continue
        # `left` of this group's members are drawn at random: P(the draw's best is the i-th best) below
        best_fixed = measured[fixed].max() if fixed else -np.inf
        g = np.sort(measured[group])[::-1]
        m = len(g)
        weights = np.array([comb(m - 1 - i, left - 1) for i in range(m)], float) / comb(m, left)
        return float((weights * np.maximum(best_fixed, g)).sum())
    return float(measured[fixed].max())


def regret(predicted, measured, k: int) -> float:
    return float(np.max(measured)) - expected_best(predicted, measured, k)


def spearman(predicted, measured) -> float | None:
    from ..analysis.correlation import spearman as rho

    value = float(rho(np.asarray(predicted, float), np.asarray(measured, float)))
    return None if np.isnan(value) else value


@dataclass
class Statistic:
    point: float | None
    lo: float | None = None
    hi: float | None = None


@dataclass
class Score:
    """One row of scores.csv: an estimator against one measure of one strategy's grid for a target."""

    target: str
    strategy: str
    measure: str
    estimator: str
    candidates: int
    best: str  # the best candidate as measured
    picked: str  # the estimator's first choice (ties: the first listed)
    regret: dict = field(default_factory=dict)  # k -> Statistic
    rho: Statistic = field(default_factory=lambda: Statistic(None))


def score_estimator(name: str, predicted: np.ndarray, point: np.ndarray, draws: np.ndarray) -> tuple[dict, Statistic]:
    """(k -> Regret@k, Spearman) with percentile intervals over the draws (resamples x candidates)."""
    tail = (1 - CONFIDENCE) / 2 * 100
    regrets = {}
    for k in KS:
        values = [regret(predicted, m, k) for m in [point, *draws]]
        regrets[k] = Statistic(values[0], *_bounds(values[1:], tail))
    if name == "random":
        return regrets, Statistic(0.0, 0.0, 0.0)
    rhos = [spearman(predicted, m) for m in [point, *draws]]
    kept = [r for r in rhos[1:] if r is not None]
    return regrets, Statistic(rhos[0], *(_bounds(kept, tail) if kept else (None, None)))


def _bounds(values, tail: float) -> tuple[float, float]:
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return float(lo), float(hi)


# -- the grid ------------------------------------------------------------------------------
@dataclass
class Grid:
    """One strategy's measured rows for a target: candidate -> row name, and their resamples."""

    target: str
    strategy: str
    candidates: list[str]
    points: dict  # measure -> (candidates,) percent
    draws: dict  # measure -> (resamples, candidates) percent
    languages: dict  # measure -> languages averaged
    seconds: float  # the grid's target stages (training + evaluation) of these rows


def candidate_of(strategy: str, intermediate: str | None, target: str, candidates: list[str]) -> str | None:
    """The one candidate a grid row measures: stack (X), or fuse of X alone or of X with the target's adapter."""
    if not intermediate:
        return None
    parts = [p for p in intermediate.split("+") if p != target] if strategy == "fuse" else [intermediate]
    return parts[0] if len(parts) == 1 and parts[0] in candidates else None


def read_grids(folders, ranking: Ranking, messages: list[str], resamples: int = RESAMPLES) -> list[Grid]:
    from ..analysis.gains import bootstrap, draws
    from ..analysis.runs import collect_targets, read_runs
    from ..tasks import TASKS

    runs = read_runs(folders, messages)
    wanted = {t.target for t in ranking.targets}
    grids = []
    for target in collect_targets(runs, messages) if runs else []:
        if target.task not in wanted or target.metric != TASKS[target.task].metric:
            continue
        boot = bootstrap(target, resamples=resamples)
        for strategy in STRATEGIES:
            rows = {}
            for name, (s, intermediate) in target.keys.items():
                cand = candidate_of(s, intermediate, target.task, ranking.candidates) if s == strategy else None
                if cand and cand not in rows:
                    rows[cand] = name
            if len(rows) < 2:
                if strategy == "stack":
                    messages.append(f"{target.task}: the grid has {len(rows)} stack rows of these candidates; at "
                                    "least 2 are needed to score a ranking")
                continue
            langs = [lang for lang in target.languages if all(lang in _languages(target.rows[n]) for n in rows.values())]
            measures = {"en": [lang for lang in langs if lang == "en"], "others": [lang for lang in langs if lang != "en"]}
            measures = {m: ls for m, ls in measures.items() if ls}
            cands = list(rows)
            grids.append(Grid(target.task, strategy, cands,
                              {m: np.array([100 * boot.interval(rows[c], ls).point for c in cands])
                               for m, ls in measures.items()},
                              {m: np.stack([draws(boot, rows[c], ls).mean(axis=1) for c in cands], axis=1)
                               for m, ls in measures.items()},
                              measures, _seconds(runs, target.task, strategy, [rows[c] for c in cands], target)))
    return grids


def _languages(row: dict) -> list[str]:
    seeds = list(row.values())
    return [lang for lang in seeds[0] if all(lang in s for s in seeds)]


def _seconds(runs, task: str, strategy: str, names: list[str], target) -> float:
    """The grid's cost: the manifests' seconds of the target stages behind these rows (each once)."""
    from ..errors import AdaptxError
    from ..report_files import prediction_path
    from ..run_folder import StageFolder

    wanted = {target.keys[n][1] for n in names}
    folders = set()
    for run in runs:
        for r in run.records:
            if r["task"] == task and r["strategy"] == strategy and r["intermediate"] in wanted:
                try:
                    folders.add(StageFolder.holding(prediction_path(run.folder, r["predictions"])))
                except AdaptxError:
                    continue
    total = 0.0
    for folder in folders:
        try:
            total += float(folder.read_manifest("").get("seconds") or 0)
        except (AdaptxError, TypeError, ValueError):
            continue
    return total


def score(ranking: Ranking, grids: list[Grid]) -> list[Score]:
    out = []
    for grid in grids:
        rows = {r.candidate: r for t in ranking.targets if t.target == grid.target for r in t.rows}
        for measure, point in grid.points.items():
            best = grid.candidates[int(np.argmax(point))]
            for name in ESTIMATORS:
                keep = [i for i, c in enumerate(grid.candidates) if getattr(rows[c], name) is not None]
                if len(keep) < 2:
                    continue
                predicted = np.array([getattr(rows[grid.candidates[i]], name) for i in keep])
                if name == "random":
                    predicted = np.zeros(len(keep))  # all tied: the exact expectation over orderings
                regrets, rho = score_estimator(name, predicted, point[keep], grid.draws[measure][:, keep])
                picked = grid.candidates[keep[int(np.argmax(predicted))]] if name != "random" else "-"
                out.append(Score(grid.target, grid.strategy, measure, name, len(keep), best, picked, regrets, rho))
    return out
