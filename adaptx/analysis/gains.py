"""Per target, strategy row and language: score, baseline score, gain and transfer gap, with intervals.

Everything comes from one adaptx.stats.Bootstrap per target (items resampled jointly across
row-aligned languages, seeds resampled; a row and its baseline on the same draws), so the gain's
interval is paired, and `draws` hands the same resamples to the typology correlations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import AdaptxError
from ..metrics import metric_for_language
from ..report import row_marks
from ..stats import Bootstrap, item_groups, spread_warning
from ..strategies import STRATEGIES
from ..tasks import TASKS
from .runs import Target, row_name

SOURCE = "en"
ZERO_SHOT_AVERAGE = "avg w/o en"  # the language column of a row's average over its zero-shot languages


@dataclass
class Cell:
    """One row of gains.csv (percent units; None where it does not apply)."""

    target: str
    metric: str
    strategy: str
    intermediate: str | None
    language: str
    seeds: list
    n: int
    score: float
    score_lo: float
    score_hi: float
    baseline: str | None = None
    baseline_score: float | None = None
    gain: float | None = None
    gain_lo: float | None = None
    gain_hi: float | None = None
    verdict: str | None = None  # better | worse | no clear difference
    gap: float | None = None  # English minus this language (transfer gap)
    gap_lo: float | None = None
    gap_hi: float | None = None
    budget: int | str | None = None  # the target budget (a budget sweep), else None
    steps: str = ""  # the steps its target stages trained ("150", or "400-900" over seeds)
    marks: str = ""  # † target not converged, ‡ a stage under it not converged, § same-data row
    seed_spread: float | None = None  # avg w/o en cell: max - min of its per-seed averages (stats.seed_spread)


def bootstrap(target: Target, **options) -> Bootstrap:
    """One Bootstrap over every row of a target (items grouped as the task registry says)."""
    task = TASKS.get(target.task)
    return Bootstrap(target.rows, lambda lang: metric_for_language(target.metric, lang),
                     aligned=item_groups(task, target.splits), **options)


def baselines(target: Target, messages: list[str], against: str | None = None) -> dict[str, str]:
    """row name -> the row its gains are measured against: `against` for every other row when given
    (e.g. "fuse": is a cheaper composition as good as fusion?), else the strategy's first baseline present."""
    if against is not None:
        # a row's full name, or a strategy that names exactly one row ("fuse" for "fuse (a+b+c)")
        named = [against] if against in target.rows else [n for n, (strategy, _) in target.keys.items()
                                                          if strategy == against]
        if len(named) == 1:
            return {name: named[0] for name in target.rows if name != named[0]}
        why = f"{len(named)} rows of strategy {against!r}; name one" if named else f"no row {against!r}"
        messages.append(f"{target.name}: {why} to measure against (rows: {', '.join(target.rows)}); "
                        "gains are over each strategy's own baseline instead")
    found = {}
    for name, (strategy, _) in target.keys.items():
        wanted = STRATEGIES[strategy].baselines if strategy in STRATEGIES else ()
        present = [b for b in wanted if b in target.rows]
        if present:
            found[name] = present[0]
        elif wanted:
            messages.append(f"{target.name} {name}: no baseline row ({' or '.join(wanted)}) in these runs; its gains "
                            f"are not computed (run the {wanted[0]!r} strategy too, or pass a run that has it)")
    return found


def cells(target: Target, boot: Bootstrap, base_of: dict[str, str], messages: list[str]) -> list[Cell]:
    """gains.csv rows of one target, in row then language order."""
    out = []
    for name, row in target.rows.items():
        strategy, intermediate = target.keys[name]
        seeds = sorted(row)
        for lang in row_languages(row):
            try:
                score = boot.interval(name, [lang])
                cell = Cell(target.name, target.metric, strategy, intermediate, lang, seeds,
                            len(row[seeds[0]][lang].ids), percent(score.point), percent(score.lo), percent(score.hi))
                base = base_of.get(name)
                if base and lang in row_languages(target.rows[base]):
                    c = boot.compare(name, base, [lang])
                    cell.baseline, cell.baseline_score = base, percent(boot.interval(base, [lang]).point)
                    cell.gain, cell.gain_lo, cell.gain_hi, cell.verdict = percent(c.delta), percent(c.lo), percent(c.hi), c.verdict
                if lang != SOURCE and SOURCE in row_languages(row):
                    gap = boot.contrast(name, [SOURCE], [lang])
                    cell.gap, cell.gap_lo, cell.gap_hi = percent(gap.point), percent(gap.lo), percent(gap.hi)
            except AdaptxError as exc:
                messages.append(f"{target.name} {name} [{lang}]: {exc}; cell skipped")
                continue
            out.append(_with_facts(cell, target, name))
        average = _average_cell(target, boot, name, base_of.get(name), messages)
        if average is not None:
            out.append(_with_facts(average, target, name))
    return out


def _with_facts(cell: Cell, target: Target, name: str) -> Cell:
    """The cell with its row's budget, trained steps and marks (adaptx.report.row_marks)."""
    facts = target.facts.get(name, {})
    steps = facts.get("steps") or []
    cell.budget, cell.marks = target.budget, row_marks(facts)
    cell.steps = "" if not steps else str(steps[0]) if len(steps) == 1 else f"{steps[0]}-{steps[-1]}"
    return cell


def _average_cell(target: Target, boot: Bootstrap, name: str, base: str | None, messages: list[str]) -> Cell | None:
    """The row's average over its zero-shot languages (those its baseline has too, so the gain is paired),
    as a Cell whose language is ZERO_SHOT_AVERAGE; None with fewer than two such languages."""
    row = target.rows[name]
    langs = [lang for lang in row_languages(row) if lang != SOURCE
             and (base is None or lang in row_languages(target.rows[base]))]
    if len(langs) < 2:
        return None
    strategy, intermediate = target.keys[name]
    seeds = sorted(row)
    try:
        score = boot.interval(name, langs)
        cell = Cell(target.name, target.metric, strategy, intermediate, ZERO_SHOT_AVERAGE, seeds,
                    sum(len(row[seeds[0]][lang].ids) for lang in langs), percent(score.point), percent(score.lo),
                    percent(score.hi))
        spread = boot.seed_spread(name, langs)
        cell.seed_spread = None if spread is None else percent(spread)
        warning = spread_warning(cell.seed_spread, len(seeds))
        if warning:
            messages.append(f"{target.name} {name} [{ZERO_SHOT_AVERAGE}]: {warning}")
        if base:
            c = boot.compare(name, base, langs)
            cell.baseline, cell.baseline_score = base, percent(boot.interval(base, langs).point)
            cell.gain, cell.gain_lo, cell.gain_hi, cell.verdict = percent(c.delta), percent(c.lo), percent(c.hi), c.verdict
        if SOURCE in row_languages(row):
            gap = boot.contrast(name, [SOURCE], langs)
            cell.gap, cell.gap_lo, cell.gap_hi = percent(gap.point), percent(gap.lo), percent(gap.hi)
    except AdaptxError as exc:
        messages.append(f"{target.name} {name} [{ZERO_SHOT_AVERAGE}]: {exc}; cell skipped")
        return None
    return cell


def draws(boot: Bootstrap, name: str, languages: list[str], base: str | None = None) -> np.ndarray:
    """(resamples, languages) in percent: the row's score per language on each resample, or its gain
    over `base` (paired: the same items and seeds); seeds resampled as Bootstrap.compare does."""
    seeds = sorted(boot.rows[name])
    shared = sorted(set(seeds) & set(boot.rows[base])) if base else seeds
    rng = np.random.default_rng(boot.rng_seed)
    picks = rng.integers(0, len(shared or seeds), (boot.resamples, len(shared or seeds)))

    def matrix(row, row_seeds, row_picks):
        scores = np.stack([np.stack([boot.scores[row, s, lang] for s in row_seeds], axis=1) for lang in languages], 1)
        return np.take_along_axis(scores, row_picks[:, None, :], axis=2).mean(axis=2)  # (resamples, languages)

    if base is None:
        return 100 * matrix(name, seeds, picks)
    if shared:
        return 100 * (matrix(name, shared, picks) - matrix(base, shared, picks))
    base_seeds = sorted(boot.rows[base])
    base_picks = rng.integers(0, len(base_seeds), (boot.resamples, len(base_seeds)))
    return 100 * (matrix(name, seeds, picks) - matrix(base, base_seeds, base_picks))


def label(cell: Cell) -> str:
    return row_name(cell.strategy, cell.intermediate)


def row_languages(row: dict) -> list[str]:
    """Languages every seed of a row has."""
    seeds = list(row.values())
    return [lang for lang in seeds[0] if all(lang in s for s in seeds)]


def percent(fraction: float) -> float:
    return round(100 * fraction, 2)
