"""Gain against target budget: does an intermediate task's gain shrink as the target converges?

A run that sweeps target budgets (`train.target_steps: [150, 600, auto]`) has one analysed target per
budget, each row paired with `none` at the same budget (adaptx.analysis.gains). Here each row's
zero-shot-average gain is lined up across budgets, with its paired 95% interval; an `auto` budget
stands at the steps its stages trained (their mean over seeds).
"""

from __future__ import annotations

from ..budgets import budget_order
from ..config import AUTO
from .gains import ZERO_SHOT_AVERAGE, Cell, label


def task_of(cell: Cell) -> str:
    """The task of a cell whose target is named 'xnli @150' in a sweep (or 'xnli')."""
    return cell.target.split(" @", 1)[0]


def _steps(cell: Cell) -> float | None:
    """Where a budget stands on the steps axis: its number, or the mean of the steps `auto` trained."""
    if cell.budget != AUTO:
        return float(cell.budget)
    if not cell.steps:
        return None
    ends = [float(x) for x in cell.steps.split("-")]
    return sum(ends) / len(ends)


def budget_points(cells: list[Cell]) -> dict[tuple[str, str, str], list[dict]]:
    """(task, metric, row) -> one point per budget, smallest first (auto last): the row's gain over its
    baseline on the zero-shot average, with its interval. Rows seen at fewer than two budgets are left out."""
    found: dict[tuple[str, str, str], list[dict]] = {}
    for c in cells:
        if c.language != ZERO_SHOT_AVERAGE or c.budget is None or c.gain is None:
            continue
        found.setdefault((task_of(c), c.metric, label(c)), []).append(
            {"budget": c.budget, "steps": _steps(c), "trained": c.steps, "gain": c.gain, "lo": c.gain_lo,
             "hi": c.gain_hi, "verdict": c.verdict, "score": c.score, "baseline_score": c.baseline_score,
             "marks": c.marks})
    return {key: sorted(points, key=lambda p: budget_order(p["budget"])) for key, points in found.items()
            if len(points) > 1}


def reading(points: list[dict]) -> str:
    """Whether the gain shrinks from the smallest budget to the largest (auto), by the two intervals."""
    first, last = points[0], points[-1]
    what = f"{first['gain']:+.1f} at {_budget_text(first)} -> {last['gain']:+.1f} at {_budget_text(last)}"
    if last["hi"] < first["lo"]:
        return f"shrinks ({what}; the intervals do not overlap)"
    if last["lo"] > first["hi"]:
        return f"grows ({what}; the intervals do not overlap)"
    return f"no clear change ({what}; the intervals overlap)"


def _budget_text(point: dict) -> str:
    if point["budget"] == AUTO:
        return f"auto ({point['trained']} steps)" if point["trained"] else "auto"
    return f"{point['budget']} steps"


def budget_table(points: dict[tuple[str, str, str], list[dict]]) -> list[str]:
    """analysis.md's section: per task, each row's gain at every budget and the reading."""
    if not points:
        return []
    lines = ["## Gain against target budget", "",
             "Each row's gain over its baseline (same budget) on the zero-shot average, points [95% paired "
             "interval]; `auto` trained until English dev stopped improving (its steps in brackets). "
             "Marks: † target not converged, ‡ an adapter under it not converged, § same English data as "
             "the target (more target training, not transfer).", ""]
    for task in dict.fromkeys(key[0] for key in points):
        mine = {key: p for key, p in points.items() if key[0] == task}
        budgets = list(dict.fromkeys(_budget_text(pt) if pt["budget"] != AUTO else "auto"
                                     for p in mine.values() for pt in p))
        lines += [f"### {task}", "", "| row | " + " | ".join(budgets) + " | reading |",
                  "|---|" + "---:|" * len(budgets) + "---|"]
        for (_, _, row), pts in mine.items():
            by = {(_budget_text(pt) if pt["budget"] != AUTO else "auto"): pt for pt in pts}
            texts = [f"{by[b]['gain']:+.1f} [{by[b]['lo']:+.1f}, {by[b]['hi']:+.1f}]{by[b]['marks']}"
                     + (f" ({by[b]['trained']})" if b == "auto" and by[b]["trained"] else "") if b in by else "–"
                     for b in budgets]
            lines.append(f"| {row} | " + " | ".join(texts) + f" | {reading(pts)} |")
        lines.append("")
    return lines


def budget_plot(path, title: str, series: dict[str, list[dict]]) -> bool:
    """One line per row: its gain (with the 95% interval as error bars) against the steps trained."""
    import matplotlib.pyplot as plt

    series = {row: [p for p in pts if p["steps"] is not None] for row, pts in series.items()}
    series = {row: pts for row, pts in series.items() if len(pts) > 1}
    if not series:
        return False
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, (row, pts) in enumerate(series.items()):
        xs = [p["steps"] * (1 + 0.015 * (i - len(series) / 2)) for p in pts]  # nudged apart: bars stay readable
        ys = [p["gain"] for p in pts]
        errors = [[p["gain"] - p["lo"] for p in pts], [p["hi"] - p["gain"] for p in pts]]
        ax.errorbar(xs, ys, yerr=errors, marker="o", capsize=3, label=row + "".join(dict.fromkeys(
            m for p in pts for m in p["marks"])))
        for p, x in zip(pts, xs):
            if p["budget"] == AUTO:
                ax.annotate("auto", (x, p["gain"]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xscale("log")
    # ticks at the steps trained, in plain numbers (a log axis would print 2x10^2 between them)
    ticks = []
    for step in sorted({round(p["steps"]) for pts in series.values() for p in pts}):
        if not ticks or step >= ticks[-1] * 1.15:  # closer on the log axis, the labels would overlap
            ticks.append(step)
    ax.set_xticks(ticks, [str(t) for t in ticks], fontsize=7, rotation=45 if len(ticks) > 5 else 0)
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.set_xlabel("target training steps (log scale; auto: mean steps trained)")
    ax.set_ylabel("gain over the baseline, zero-shot average (points)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True
