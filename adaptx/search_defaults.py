"""Did the search find something? The best trial against the config's defaults, on English rows
that no model selection saw.

A trial's objective is its best English dev score, so the best of many trials is biased upwards
(it is partly the luckiest one). The comparison that says whether a search found something is on
other rows: the target's English evaluation split (test where labeled, else dev rows held apart
from selection: config.data.eval_split), scored for the best trial and for every composition the
config itself lists (`strategies` x `intermediate_tasks`, what `adaptx run` of the same file
trains, with the config's settings: the defaults), paired by item (adaptx.stats). The verdict is
against the default a user without a search would pick: the one with the best English dev score.

Defaults not trained yet in the run folder are trained here first (they are ordinary stages,
reused by a later `adaptx run` of the same file). Outputs: versus-defaults.md and .json in the
study folder.
"""

from __future__ import annotations

import json
import math

from .config import build_config
from .errors import AdaptxError
from .fileio import atomic_write_text
from .metrics import metric_for_language
from .report import load_row
from .stats import paired_bootstrap
from .tasks import get_task

LANGUAGE = "en"


def objective_standard_error(metrics: dict) -> float | None:
    """One binomial standard error of an English dev accuracy, in points (None for other metrics)."""
    train, rows = metrics.get("train", {}), metrics.get("data", {}).get("dev_rows")
    score = train.get("best_dev_score")
    if train.get("metric") != "accuracy" or not rows or score is None:
        return None
    return 100 * math.sqrt(score * (1 - score) / rows)


def compare_with_defaults(best, context) -> dict | None:
    """Score the best trial and the config's defaults on the held-apart English rows; write
    versus-defaults.md/.json; returns the summary (None when the config's target has no English rows)."""
    cfg, spec = context.cfg, context.spec
    task = get_task(cfg.targets[0])
    if LANGUAGE not in task.languages:
        print(f"adaptx: {task.name} has no English evaluation rows: no comparison with the defaults", flush=True)
        return None
    held = {"languages": [LANGUAGE], "data.max_eval_examples": spec.holdout_examples}
    default_cfg = build_config(context.trial_config(held, context.run_dir), "the config's defaults")
    exp, stages, _ = context.prepared(default_cfg)
    missing = [s for s in stages if not exp.store.is_done(s.id)]
    if missing:
        print(f"adaptx: training the config's own compositions to compare the best trial with "
              f"({len([s for s in missing if s.evaluate])} target stages: {', '.join(s.id for s in missing)})", flush=True)
    rows, dev = {}, {}
    for stage in stages:
        with exp.store.lock(stage.id):
            metrics = exp.run_stage(stage)
        if stage.evaluate:
            name = _name(stage.strategy, stage.intermediate_label)
            rows[name] = _english_row(exp, stage, task)
            dev[name] = metrics["train"]["best_dev_score"]
    best_cfg = build_config(context.trial_config(dict(best.user_attrs["overrides"], **held), context.run_dir), "best trial")
    bexp, _, btarget = context.prepared(best_cfg)
    best_row = _english_row(bexp, btarget, task)
    metric = metric_for_language(task.metric, LANGUAGE)
    comparisons = []
    for name, row in rows.items():
        c = paired_bootstrap(best_row, row, metric, [LANGUAGE], names=("best", name))
        comparisons.append({"default": name, "default_dev": dev[name], "delta": round(100 * c.delta, 2),
                            "lo": round(100 * c.lo, 2), "hi": round(100 * c.hi, 2), "verdict": c.verdict})
    picked = max(comparisons, key=lambda c: c["default_dev"]) if comparisons else None
    n = len(best_row[next(iter(best_row))][LANGUAGE].ids)
    summary = {"task": task.name, "metric": task.metric, "language": LANGUAGE, "split": exp.eval_splits[task.name][LANGUAGE],
               "rows": n, "best_trial": best.number, "best_label": _label(best), "best_dev": best.values[0],
               "best_score": round(100 * metric.compute(*_pairs(best_row)), 2),
               "defaults": [dict(c, score=round(100 * metric.compute(*_pairs(rows[c["default"]])), 2)) for c in comparisons],
               "picked_default": picked["default"] if picked else None}
    _write(context.folder, summary)
    if picked:
        print(f"adaptx: best trial {best.number} vs the config's default {picked['default']} (best English dev) on "
              f"{n} held-apart English {summary['split']} rows: {picked['delta']:+.1f} points "
              f"[{picked['lo']:+.1f}, {picked['hi']:+.1f}] ({picked['verdict']}); {context.folder / 'versus-defaults.md'}",
              flush=True)
    return summary


def _english_row(exp, stage, task) -> dict:
    records = [r for r in exp.evaluate(stage) if r["metric"] == task.metric and r["language"] == LANGUAGE]
    if not records:
        raise AdaptxError(f"{stage.id}: no English {task.metric} evaluation to compare on")
    return load_row(exp.run_dir, records, lambda lang: metric_for_language(task.metric, lang))


def _pairs(row: dict) -> tuple[list, list]:
    ev = row[next(iter(row))][LANGUAGE]
    return ev.pred, ev.gold


def _name(strategy: str, intermediate: str | None) -> str:
    return strategy if not intermediate else f"{strategy} ({intermediate})"


def _label(trial) -> str:
    return f"{trial.user_attrs.get('composition')} {trial.user_attrs.get('adapters') or ''}".strip()


def _write(folder, summary: dict) -> None:
    atomic_write_text(folder / "versus-defaults.json", json.dumps(summary, indent=1) + "\n")
    lines = [f"# The best trial against the config's defaults ({summary['task']})", "",
             f"Best trial {summary['best_trial']} ({summary['best_label']}, English dev {summary['best_dev']:.4f}) and "
             f"every composition the config lists, scored on {summary['rows']} English {summary['split']} rows that no "
             f"model selection saw ({summary['metric']}, %). Δ: best minus the default, with the paired 95% bootstrap "
             "interval over the same items. **Picked**: the default with the best English dev score (what `adaptx run` "
             "of the same file would have chosen).", "",
             "| default | English dev | held-apart score | best trial | Δ [95% paired] | verdict |", "|---|---:|---:|---:|---:|---|"]
    for c in summary["defaults"]:
        mark = " **(picked)**" if c["default"] == summary["picked_default"] else ""
        lines.append(f"| {c['default']}{mark} | {c['default_dev']:.4f} | {c['score']:.1f} | {summary['best_score']:.1f} | "
                     f"{c['delta']:+.1f} [{c['lo']:+.1f}, {c['hi']:+.1f}] | {c['verdict']} |")
    atomic_write_text(folder / "versus-defaults.md", "\n".join(lines) + "\n")
