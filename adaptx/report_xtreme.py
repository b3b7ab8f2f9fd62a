"""The XTREME summary of a run with two or more XTREME target tasks: per (strategy, intermediate) row,
each task's score, the group scores and the overall score, aggregated as google-research/xtreme's
evaluate.py does (adaptx.xtreme_score), with the published XLM-R Large figures where the base is
XLM-R. With a budget sweep, one budget's tables: its largest with two tasks or more so far.
"""

from __future__ import annotations

from . import published as refs
from .budgets import budget_order, budget_words
from .strategies import row_name, row_order
from .tasks import get_task
from .xtreme_score import GROUPS, XTREME_TASKS, aggregate, task_metrics, task_score


def sweep_xtreme_summary(tables: list[dict], context: dict) -> dict | None:
    """XTREME's aggregate takes one table per task: with a budget sweep, those of its largest budget (`auto`
    above any step count) that has two tasks or more so far (a partial run may have one task at `auto` yet),
    and the summary says which budget (its `budget`)."""
    budgets = sorted({t.get("budget") for t in tables}, key=budget_order, reverse=True)
    for budget in budgets:
        if (xtreme := xtreme_summary([t for t in tables if t.get("budget") == budget], context)) is not None:
            return {**xtreme, "budget": budget} if len(budgets) > 1 else xtreme
    return None


def xtreme_summary(tables: list[dict], context: dict) -> dict | None:
    """Per strategy row: each XTREME task's score, the group scores and the overall score, as
    XTREME's evaluate.py aggregates them (adaptx.xtreme_score); None with fewer than two XTREME tasks.

    A task counts once the tables of all its XTREME metrics are there (a QA task: F1 and EM)."""
    averages: dict[str, dict[str, dict[tuple, float]]] = {}  # task -> metric -> row key -> language average
    languages: dict[str, list[str]] = {}
    for table in tables:
        if not table["rows"] or table["task"] not in XTREME_TASKS:
            continue
        by_key = averages.setdefault(table["task"], {}).setdefault(table["metric"], {})
        for row in table["rows"]:
            if row["avg"] is not None:
                by_key[(row["strategy"], row["intermediate"])] = row["avg"]["value"]
        languages[table["task"]] = table["languages"]
    metrics = {name: task_metrics(get_task(name)) for name in averages}
    chosen = [name for name in averages if all(m in averages[name] for m in metrics[name])]
    if len(chosen) < 2:
        return None
    keys = {key for name in chosen for by_key in averages[name].values() for key in by_key}
    out = []
    for key in sorted(keys, key=row_order):
        scores = {name: task_score({m: averages[name][m].get(key) for m in metrics[name]}, metrics[name])
                  for name in chosen}
        agg = aggregate(scores)
        out.append({"strategy": key[0], "intermediate": key[1],
                    "tasks": {name: round(v, 2) for name, v in scores.items() if v is not None},
                    "categories": {g: _round(v) for g, v in agg["groups"].items()}, "overall": _round(agg["overall"])})
    published = None
    if context.get("base_family") == refs.FAMILY:
        # (XLM-R Large, X-STILTs) per task, from adaptx.published, which names the sources
        published = {name: (ref.xlmr, ref.xstilts) if (ref := refs.reference(name)) else None for name in chosen}
    return {"tasks": chosen, "metrics": {name: list(metrics[name]) for name in chosen},
            "categories": {g: list(GROUPS[g]) for g in aggregate(dict.fromkeys(chosen))["groups"]},
            "languages": {name: [len(languages[name]), len(get_task(name).languages)] for name in chosen},
            "missing_tasks": [name for name in XTREME_TASKS if name not in chosen],
            "rows": out, "published": published}


def render_xtreme(x: dict) -> str:
    """The summary as results.md ends: a markdown table under its notes."""
    tasks, cats = x["tasks"], list(x["categories"])
    header = ["strategy", *tasks, *(f"{c} avg" for c in cats), "overall"]

    def scored_by(metrics):
        return metrics[0] if len(metrics) == 1 else f"({' + '.join(metrics)})/{len(metrics)}"

    lines = ["## XTREME summary", "",
             "XTREME's aggregation (google-research/xtreme evaluate.py): each task is its average over the "
             "evaluated languages (" + ", ".join(f"{t} {scored_by(m)}" for t, m in x["metrics"].items()) + "); "
             "a group average is the mean of the group's tasks (" +
             "; ".join(f"{c}: {', '.join(x['categories'][c])}" for c in cats) + "), shown only where a row has "
             "all of them; overall is the mean of XTREME's nine tasks (not of the groups), shown only where a row "
             "has all nine"]
    if x.get("budget") is not None:
        lines.append(f"target budget: {budget_words(x['budget'])}, the sweep's largest with two tasks or more so far; the other "
                     "budgets are in their tables above")
    if x["missing_tasks"]:
        lines.append(f"not in this run: {', '.join(x['missing_tasks'])} (so no overall score)")
    partial = [f"{t} {k} of {n}" for t, (k, n) in x["languages"].items() if k < n]
    if partial:
        lines.append("fewer languages than XTREME averages: " + ", ".join(partial))
    lines += ["", "| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]

    def cell(v):
        return "–" if v is None else f"{v:.1f}"

    for row in x["rows"]:
        values = [cell(row["tasks"].get(t)) for t in tasks] + [cell(row["categories"][c]) for c in cats]
        lines.append(f"| {row_name((row['strategy'], row['intermediate']))} | " + " | ".join(values)
                     + f" | {cell(row['overall'])} |")
    if x.get("published"):
        # the published QA figures are F1 alone, not XTREME's (F1 + EM)/2: named below, not tabled
        comparable = {t: v for t, v in x["published"].items() if v and len(x["metrics"][t]) == 1}
        for label, i in (("XLM-R Large (published)", 0), ("best intermediate task (published)", 1)):
            values = [cell(comparable[t][i] if t in comparable else None) for t in tasks]
            lines.append(f"| {label} | " + " | ".join(values) + " |" + " – |" * (len(cats) + 1))
        lines.append("")
        lines.append(f"published: {refs.SOURCE}; retrieval: {refs.RETRIEVAL_SOURCE}. adaptx's numbers "
                     "above come from the evaluated splits and rows named in each table")
        f1_only = [f"{t} {'/'.join('–' if v is None else f'{v:.1f}' for v in x['published'][t])}"
                   for t in tasks if x["published"].get(t) and t not in comparable]
        if f1_only:
            lines.append("published QA F1 only (XLM-R Large / best intermediate task), not comparable with the "
                         "(F1 + EM)/2 above: " + ", ".join(f1_only))
    return "\n".join(lines)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
