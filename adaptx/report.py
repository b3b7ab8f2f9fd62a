"""results.json (flat records) -> results.md and results-summary.json.

The table has languages as columns and (strategy, intermediate) rows, values averaged over seeds.
The language averages carry a bootstrap interval and a mark only where a paired bootstrap against
the row's baseline shows a difference, so a reader cannot mistake noise for an effect.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from .errors import AdaptxError
from .fileio import atomic_write_text
from .metrics import metric_for_language
from .stats import CONFIDENCE, RESAMPLES, Bootstrap, Evaluation
from .strategies import REPORT_ORDER, STRATEGIES

RECORD_KEYS = ("task", "strategy", "intermediate", "language", "split", "metric", "value", "seed", "n", "predictions")
STRATEGY_ORDER = REPORT_ORDER  # rows in the strategies' report order (adaptx.strategies)
# XTREME leaderboard figures for XLM-R Large and its best English intermediate task (X-STILTs;
# RemBERT paper Table 16 for the tasks it lists); retrieval: XLM-R Large only (GUIDE §1)
PUBLISHED = {"xnli": (79.2, 80.0), "pawsx": (86.4, 87.9), "udpos": (73.8, 74.9), "panx": (65.4, 64.0),
             "xquad": (76.6, 78.7), "mlqa": (71.6, 72.4), "tydiqa": (65.1, 76.0), "bucc": (66.0, None),
             "tatoeba": (57.3, None)}
CATEGORIES = ("classification", "structured", "qa", "retrieval")
SPLIT_WORDS = {"dev": "dev (held apart from model selection)"}
MARKS = {"better": " ▲", "worse": " ▼"}
RERUN = "rerun `adaptx run` with the run's config to re-evaluate"


def summarize(records: list[dict], run_dir, *, resamples: int = RESAMPLES) -> dict:
    """Everything the table shows, as plain data (the content of results-summary.json); percent units."""
    _check_records(records, "results records")
    if not records:
        return {"rows": []}
    info = _run_info(records)

    def metric(lang):  # language-aware metrics (MLQA) normalise answers per language
        return metric_for_language(info["metric"], lang)

    langs = info["languages"]
    columns = {"avg": langs}
    if "en" in langs and len(langs) > 1:
        columns["avg w/o en"] = [lang for lang in langs if lang != "en"]

    by_row: dict[tuple, dict[tuple, dict]] = defaultdict(dict)  # (strategy, intermediate) -> (seed, lang) -> record
    for r in records:
        by_row[(r["strategy"], r["intermediate"])][(r["seed"], r["language"])] = r
    seeds = {key: sorted({s for s, _ in recs}) for key, recs in by_row.items()}
    # an average needs every language for every seed of the row
    complete = {key: all((s, lang) in recs for s in seeds[key] for lang in langs) for key, recs in by_row.items()}
    cache: dict[Path, dict] = {}
    # one bootstrap for all rows: the same resampled examples for every row pairs the comparisons
    boot = Bootstrap({_row_name(key): _load_row(Path(run_dir), recs, metric, cache)
                      for key, recs in by_row.items() if complete[key]}, metric, resamples=resamples)

    rows = []
    for key in sorted(by_row, key=_row_order):
        recs = by_row[key]
        values = {lang: _mean([r["value"] for (_, l), r in recs.items() if l == lang]) for lang in langs}
        base = _baseline(key[0], by_row)
        row = {"strategy": key[0], "intermediate": key[1], "seeds": seeds[key],
               "baseline": base[0] if base else None,
               "values": {lang: round(v, 2) for lang, v in values.items() if v is not None}}
        for column, column_langs in columns.items():
            row[column] = None
            if not complete[key]:
                continue  # a missing language: no average
            ci = boot.interval(_row_name(key), column_langs)
            versus = None
            if base and _row_name(base) in boot.rows:
                c = boot.compare(_row_name(key), _row_name(base), column_langs)
                versus = {"delta": _pct(c.delta), "interval": [_pct(c.lo), _pct(c.hi)], "verdict": c.verdict}
            row[column] = {"value": round(_mean([values[lang] for lang in column_langs]), 2),
                           "interval": [_pct(ci.lo), _pct(ci.hi)], "vs_baseline": versus}
        rows.append(row)
    return {**info, "columns": langs + list(columns), "confidence": CONFIDENCE, "resamples": resamples, "rows": rows}


def render_table(records: list[dict], run_dir) -> str:
    """Markdown: header lines (task, seeds, splits, rows per language, legend) and the table."""
    return _render(summarize(records, run_dir))


def write_results(run_dir, records: list[dict], context: dict | str) -> str:
    """Write results.json, results.md and results-summary.json (each atomically); return the tables.

    context: the target task's name, or the pipeline's report context (targets, missing languages,
    the base's family). One table per (task, metric); with several tasks, an XTREME summary."""
    run_dir = Path(run_dir)
    context = {"targets": [context]} if isinstance(context, str) else dict(context)
    _check_records(records, "results records")
    atomic_write_text(run_dir / "results.json", json.dumps(records, indent=1))
    summary = summarize_all(records, run_dir, context)
    text = render_all(summary)
    atomic_write_text(run_dir / "results.md", f"# Results: {', '.join(context['targets'])}\n\n{text}\n")
    atomic_write_text(run_dir / "results-summary.json", json.dumps(summary, indent=1, ensure_ascii=False))
    return text


def summarize_all(records: list[dict], run_dir, context: dict) -> dict:
    """One summary per (task, metric) in record order, and the XTREME summary over tasks."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["task"], r["metric"]), []).append(r)
    tables = []
    for (task, metric), recs in groups.items():
        table = summarize(recs, run_dir)
        table["missing"] = context.get("missing", {}).get(task, [])
        tables.append(table)
    return {"context": context, "tables": tables, "xtreme": xtreme_summary(tables, context)}


def xtreme_summary(tables: list[dict], context: dict) -> dict | None:
    """Per strategy row: each task's average over its languages (the task's summary metric), the
    category averages and the overall average; None with fewer than two tasks."""
    from .tasks import get_task

    chosen = {}
    for table in tables:
        if not table["rows"]:
            continue
        task = get_task(table["task"])
        if table["metric"] == (task.summary_metric or task.metric):
            chosen[task.name] = table
    if len(chosen) < 2:
        return None
    rows: dict[tuple, dict] = {}
    for name, table in chosen.items():
        for row in table["rows"]:
            if row["avg"] is not None:
                rows.setdefault((row["strategy"], row["intermediate"]), {})[name] = row["avg"]["value"]
    categories = {c: [n for n in chosen if get_task(n).category == c] for c in CATEGORIES}
    categories = {c: names for c, names in categories.items() if names}
    out = []
    for key in sorted(rows, key=_row_order):
        values = rows[key]
        averages = {c: round(_mean([values[n] for n in names]), 2) if all(n in values for n in names) else None
                    for c, names in categories.items()}
        overall = round(_mean(list(values.values())), 2) if len(values) == len(chosen) else None
        out.append({"strategy": key[0], "intermediate": key[1], "tasks": values, "categories": averages,
                    "overall": overall})
    published = None
    if context.get("base_family") == "xlm-roberta-large":
        published = {name: PUBLISHED.get(name) for name in chosen}
    return {"tasks": list(chosen), "metrics": {n: t["metric"] for n, t in chosen.items()},
            "categories": categories, "rows": out, "published": published}


def render_all(summary: dict) -> str:
    parts = []
    for table in summary["tables"]:
        text = _render(table)
        if table.get("missing"):
            text += (f"\n\nmissing (no {table['task']} evaluation data in this source): "
                     f"{', '.join(table['missing'])}")
        parts.append(text)
    if summary.get("xtreme"):
        parts.append(_render_xtreme(summary["xtreme"]))
    return "\n\n".join(parts) if parts else "(no results yet)"


def _render_xtreme(x: dict) -> str:
    tasks, cats = x["tasks"], list(x["categories"])
    header = ["strategy", *tasks, *(f"{c} avg" for c in cats), "overall"]
    lines = ["## XTREME summary", "",
             "each task: its average over the evaluated languages (" +
             ", ".join(f"{t} {m}" for t, m in x["metrics"].items()) + "); category and overall averages over tasks "
             "(only where a row has every task)", "",
             "| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]

    def cell(v):
        return "–" if v is None else f"{v:.1f}"

    for row in x["rows"]:
        values = [cell(row["tasks"].get(t)) for t in tasks] + [cell(row["categories"][c]) for c in cats]
        lines.append(f"| {_row_name((row['strategy'], row['intermediate']))} | " + " | ".join(values)
                     + f" | {cell(row['overall'])} |")
    if x.get("published"):
        for label, i in (("XLM-R Large (published)", 0), ("best intermediate task (published)", 1)):
            values = [cell(x["published"][t][i] if x["published"].get(t) else None) for t in tasks]
            lines.append(f"| {label} | " + " | ".join(values) + " |" + " – |" * (len(cats) + 1))
        lines.append("")
        lines.append("published: XTREME leaderboard figures (test sets; X-STILTs for the best intermediate task); "
                     "adaptx's numbers above come from the evaluated splits and rows named in each table")
    return "\n".join(lines)


def print_report(run_dir) -> None:
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        raise AdaptxError(f"{path} not found: is {run_dir} an adaptx run folder with at least one finished target stage?")
    try:
        records = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AdaptxError(f"{path}: not valid JSON ({exc})") from exc
    _check_records(records, str(path))
    context = {"targets": list(dict.fromkeys(r["task"] for r in records))}
    saved = Path(run_dir) / "results-summary.json"
    if saved.is_file():  # missing languages and the base's family, as the run wrote them
        try:
            context = json.loads(saved.read_text()).get("context", context)
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            pass
    print(render_all(summarize_all(records, run_dir, context)))


def _render(summary: dict) -> str:
    if not summary["rows"]:
        return "(no results yet)"
    columns, langs, rows = summary["columns"], summary["languages"], summary["rows"]

    def value(row, column):  # the number shown, at the shown precision so that ties are all bold
        if column in langs:
            v = row["values"].get(column)
        else:
            v = row[column]["value"] if row[column] else None
        return None if v is None else round(v, 1)

    best = {c: max((v for v in (value(r, c) for r in rows) if v is not None), default=None) for c in columns}
    lines = [f"{summary['task']} zero-shot {summary['metric']} (%), mean over seeds {summary['seeds']}; "
             "**bold** = best in column",
             _split_line(summary["split"]), _n_line(summary["n"]),
             f"[lo, hi] = {summary['confidence']:.0%} bootstrap interval over examples (and seeds); "
             "▲/▼ = better/worse than `none` (adapter rows) or `full-none` (full rows) by a paired bootstrap "
             "on the same examples; unmarked = no clear difference",
             "", "| strategy | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for row in rows:
        cells = []
        for c in columns:
            v = value(row, c)
            text = "–" if v is None else (f"**{v:.1f}**" if v == best[c] else f"{v:.1f}")
            if v is not None and c not in langs:
                lo, hi = row[c]["interval"]
                versus = row[c]["vs_baseline"]
                text += f" [{lo:.1f}, {hi:.1f}]" + (MARKS.get(versus["verdict"], "") if versus else "")
            cells.append(text)
        lines.append(f"| {_row_name((row['strategy'], row['intermediate']))} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _split_line(split: dict[str, str]) -> str:
    groups: dict[str, list[str]] = {}
    for lang, name in split.items():
        groups.setdefault(name, []).append(lang)
    words = [SPLIT_WORDS.get(name, name) for name in groups]
    if len(groups) == 1:
        return f"split: {words[0]}"
    return "split: " + "; ".join(f"{w} for {', '.join(ls)}" for w, ls in zip(words, groups.values()))


def _n_line(n: dict[str, int]) -> str:
    if len(set(n.values())) == 1:
        return f"{next(iter(n.values()))} rows per language"
    return "rows per language: " + ", ".join(f"{lang} {k}" for lang, k in n.items())


def _check_records(records, source: str) -> None:
    if not isinstance(records, list):
        raise AdaptxError(f"{source}: expected a JSON list of records, got {type(records).__name__}")
    for i, r in enumerate(records):
        missing = [k for k in RECORD_KEYS if not isinstance(r, dict) or k not in r]
        if missing:
            raise AdaptxError(f"{source}: record {i} lacks {', '.join(missing)} "
                              f"(each record needs {', '.join(RECORD_KEYS)})")


def _run_info(records: list[dict]) -> dict:
    """Run-wide facts, checked to be consistent: one task and metric, one split and size per language."""
    info = {"task": records[0]["task"], "metric": records[0]["metric"], "seeds": sorted({r["seed"] for r in records})}
    split: dict[str, str] = {}
    n: dict[str, int] = {}
    seen = set()
    for r in records:
        for key in ("task", "metric"):
            if r[key] != info[key]:
                raise AdaptxError(f"results records mix {key}s {info[key]!r} and {r[key]!r}; one run reports one target task")
        lang = r["language"]
        if split.setdefault(lang, r["split"]) != r["split"] or n.setdefault(lang, r["n"]) != r["n"]:
            raise AdaptxError(f"results records: language {lang!r} was evaluated on different splits or sizes "
                              f"({split[lang]}/{n[lang]} and {r['split']}/{r['n']}); rows must share the same examples")
        key = (r["strategy"], r["intermediate"], r["seed"], lang)
        if key in seen:
            raise AdaptxError(f"results records: more than one record for {_row_name(key[:2])}, seed {key[2]}, {lang!r}")
        seen.add(key)
    return {**info, "languages": list(split), "split": split, "n": n}


def _load_row(run_dir: Path, recs: dict[tuple, dict], metric, cache: dict) -> dict:
    """{seed: {lang: Evaluation}} from the prediction files the records point to, checked against the records."""
    row: dict = {}
    for (seed, lang), r in recs.items():
        path = run_dir / r["predictions"]
        entry = _read_predictions(path, cache).get(lang)
        if not isinstance(entry, dict) or not {"ids", "pred", "gold"} <= entry.keys():
            raise AdaptxError(f"{path}: no ids/pred/gold for language {lang!r}; {RERUN}")
        ev = Evaluation.from_lists(entry["ids"], entry["pred"], entry["gold"], where=f"{path} [{lang}]")
        score = 100 * metric(lang).compute(ev.pred, ev.gold)
        if len(ev.ids) != r["n"] or abs(score - r["value"]) > 0.011:  # value is rounded to 2 decimals
            raise AdaptxError(f"{path} [{lang}]: {len(ev.ids)} predictions scoring {score:.2f}, but results.json says "
                              f"n={r['n']}, value={r['value']}; the file is stale: {RERUN}")
        row.setdefault(seed, {})[lang] = ev
    return row


def _read_predictions(path: Path, cache: dict) -> dict:
    if path not in cache:  # one file holds every language of a stage
        if not path.is_file():
            raise AdaptxError(f"{path}: predictions file named in results.json is missing; {RERUN}")
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise AdaptxError(f"{path}: predictions file is unreadable ({exc}); {RERUN}") from exc
        if not isinstance(data, dict):
            raise AdaptxError(f"{path}: expected {{language: {{ids, pred, gold}}}}; {RERUN}")
        cache[path] = data
    return cache[path]


def _baseline(strategy: str, rows) -> tuple[str, None] | None:
    """The row a strategy's row is compared with: the first of its baselines that the run has
    (retrieval has no full-none row, so `full` is compared with the plain encoder, `none`);
    baselines themselves are not marked."""
    baselines = STRATEGIES[strategy].baselines if strategy in STRATEGIES else ()
    present = [b for b in baselines if (b, None) in rows]
    return ((present or baselines)[0], None) if baselines else None


def _row_order(key: tuple) -> tuple:
    return (STRATEGY_ORDER.index(key[0]) if key[0] in STRATEGY_ORDER else len(STRATEGY_ORDER), key[0], key[1] or "")


def _row_name(key: tuple) -> str:
    return key[0] if not key[1] else f"{key[0]} ({key[1]})"


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _pct(fraction: float) -> float:
    return round(100 * fraction, 2)
