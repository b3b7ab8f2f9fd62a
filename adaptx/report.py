"""results.json (flat records) -> results.md and results-summary.json.

The table has languages as columns and (strategy, intermediate) rows, values averaged over seeds.
The language averages carry a bootstrap interval and a mark only where a paired bootstrap against
the row's baseline shows a difference, so a reader cannot mistake noise for an effect.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from .baselines import trivial_predictions, trivial_spec_problem
from .budgets import budget_words
from .convergence import MARK, MARK_TEXT, UNDER_MARK, UNDER_MARK_TEXT
from .errors import AdaptxError
from .fileio import NestedTooDeeply, atomic_write_text, load_json, read_json
from .metrics import metric_for_language
from .report_files import (RECORD_FIELDS, RERUN, check_records, context_problem, evaluation_items, evaluation_lists,
                           prediction_path,
                           score, usable_records)
from .run_folder import RunFolder
from .stats import CONFIDENCE, RESAMPLES, Bootstrap, Evaluation, item_groups
from .strategies import STRATEGIES, row_name, row_order
from .tasks import TASKS
from .report_xtreme import render_xtreme, sweep_xtreme_summary

RECORD_KEYS = tuple(RECORD_FIELDS)  # every field of a results.json record (checked in adaptx.report_files)
TRIVIAL = "trivial baseline"  # its row's name in the bootstrap (no strategy's row name has a space)
GAP = "gap"  # the transfer gap column: English minus the average of the other languages
SPLIT_WORDS = {"dev": "dev (held apart from model selection)"}
MARKS = {"better": " ▲", "worse": " ▼"}
SAME_DATA_MARK = "§"
SAME_DATA_TEXT = (f"{SAME_DATA_MARK} = the intermediate task trained on the target's own English training data "
                  "(e.g. MNLI under XNLI): more target training, not transfer")


def summarize(records: list[dict], run_dir, *, resamples: int = RESAMPLES, trivial: dict | None = None) -> dict:
    """Everything the table shows, as plain data (the content of results-summary.json); percent units.

    trivial: the task's trivial prediction (adaptx.baselines.trivial_spec), scored on the same rows
    as a reference row; None: no such row."""
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
    loaded = {row_name(key): _load_row(Path(run_dir), recs, metric, cache)
              for key, recs in by_row.items() if complete[key]}
    trivial_row = _trivial_row(trivial, loaded) if trivial and loaded else None
    # one bootstrap for all rows: the same resampled items for every row pairs the comparisons;
    # translations of the same items (a row-aligned task, one split) are resampled together
    groups = item_groups(TASKS.get(info["task"]), info["split"])
    boot = Bootstrap({**loaded, **({TRIVIAL: trivial_row} if trivial_row else {})}, metric,
                     aligned=groups, resamples=resamples)

    rows = []
    for key in sorted(by_row, key=row_order):
        recs = by_row[key]
        values = {lang: _mean([r["value"] for (_, l), r in recs.items() if l == lang]) for lang in langs}
        base = _baseline(key[0], by_row)
        row = {"strategy": key[0], "intermediate": key[1], "seeds": seeds[key],
               "baseline": base[0] if base else None,
               "values": {lang: round(v, 2) for lang, v in values.items() if v is not None},
               **row_facts(list(recs.values()))}
        base_name = row_name(base) if base and row_name(base) in boot.rows else None
        row.update(_average_cells(boot, row_name(key), values, columns, base_name) if complete[key]
                   else {column: None for column in [*columns, *_gap_columns(columns)]})
        rows.append(row)
    summary = {**info, "columns": langs + list(columns) + _gap_columns(columns), "confidence": CONFIDENCE,
               "resamples": resamples, "rows": rows,
               "item_groups": _joint_groups({lang: g for lang, g in groups.items() if lang not in boot.apart}, langs)}
    if trivial_row:
        values = {lang: 100 * boot.points[TRIVIAL, 0, lang] for lang in langs}
        summary["trivial"] = {"what": trivial["what"], "values": {lang: round(v, 2) for lang, v in values.items()},
                              **_average_cells(boot, TRIVIAL, values, columns, None)}
    return summary


def row_facts(records: list[dict]) -> dict:
    """What a row's records say of its stages (adaptx.convergence.stage_facts), over its seeds: whether
    every target stage and every stage under it converged (False if one did not, None if unknown),
    the steps they trained, the intermediate tasks trained on the target's own data, and the kernels
    its stages trained on."""
    def every(key):
        found = [r.get(key) for r in records]
        return False if False in found else (True if found and all(v is True for v in found) else None)

    steps = sorted({r["steps"] for r in records if isinstance(r.get("steps"), int)})
    same = sorted({t for r in records for t in r.get("same_data", [])})
    kernels = sorted({r["kernels"] for r in records if r.get("kernels")})
    return {"converged": every("converged"), "intermediate_converged": every("intermediate_converged"),
            "steps": steps, "same_data": same, "kernels": kernels}


def row_marks(row: dict) -> str:
    """The marks after a row's name: † (its target stage had not converged), ‡ (a stage under it had not),
    § (its intermediate task trained on the target's own English data)."""
    return ((MARK if row.get("converged") is False else "")
            + (UNDER_MARK if row.get("intermediate_converged") is False else "")
            + (SAME_DATA_MARK if row.get("same_data") else ""))


def _average_cells(boot: Bootstrap, name: str, values: dict, columns: dict, base_name: str | None) -> dict:
    """The average columns of one complete row (value, interval, comparison with its baseline) and,
    with English and other languages, the transfer gap (English minus the others' average)."""
    cells = {}
    for column, column_langs in columns.items():
        ci = boot.interval(name, column_langs)
        versus = None
        if base_name:
            c = boot.compare(name, base_name, column_langs)
            versus = {"delta": _pct(c.delta), "interval": [_pct(c.lo), _pct(c.hi)], "verdict": c.verdict}
        cells[column] = {"value": round(_mean([values[lang] for lang in column_langs]), 2),
                         "interval": [_pct(ci.lo), _pct(ci.hi)], "vs_baseline": versus}
    if _gap_columns(columns):
        others = columns["avg w/o en"]
        gap = boot.contrast(name, ["en"], others)
        cells[GAP] = {"value": round(values["en"] - _mean([values[lang] for lang in others]), 2),
                      "interval": [_pct(gap.lo), _pct(gap.hi)], "vs_baseline": None}
    return cells


def _gap_columns(columns: dict) -> list[str]:
    return [GAP] if "avg w/o en" in columns else []


def _trivial_row(spec: dict, loaded: dict) -> dict:
    """{0: {lang: Evaluation}}: the trivial prediction on the ids and golds the rows were scored on
    (every row of a language shares them; the first row's are taken)."""
    first = next(iter(loaded.values()))
    evs = next(iter(first.values()))
    return {0: {lang: Evaluation(ev.ids, trivial_predictions(spec, ev.gold), ev.gold, ev.items) for lang, ev in evs.items()}}


def _joint_groups(groups: dict[str, str], langs: list[str]) -> dict[str, list[str]]:
    """group -> its languages, for the groups of more than one language (resampled jointly)."""
    joint: dict[str, list[str]] = {}
    for lang in langs:
        if lang in groups:
            joint.setdefault(groups[lang], []).append(lang)
    return {g: ls for g, ls in joint.items() if len(ls) > 1}


def render_table(records: list[dict], run_dir) -> str:
    """Markdown: header lines (task, seeds, splits, rows per language, legend) and the table."""
    return _render(summarize(records, run_dir))


def write_results(run_dir, records: list[dict], context: dict | str) -> str:
    """Write results.json, results.md and results-summary.json (each atomically); return the tables.

    context: the target task's name, or the pipeline's report context (targets, missing languages,
    the base's family). One table per (task, metric); with several tasks, an XTREME summary."""
    run_dir, run = Path(run_dir), RunFolder(run_dir)
    context = {"targets": [context]} if isinstance(context, str) else dict(context)
    _check_records(records, "results records")
    atomic_write_text(run.results_file, json.dumps(records, indent=1))
    summary = summarize_all(records, run_dir, context)
    text = render_all(summary)
    atomic_write_text(run.tables_file, f"# Results: {', '.join(context['targets'])}\n\n{text}\n")
    atomic_write_text(run.summary_file, json.dumps(summary, indent=1, ensure_ascii=False))
    return text


def summarize_all(records: list[dict], run_dir, context: dict) -> dict:
    """One summary per (task, metric) in record order, and the XTREME summary over tasks."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:  # a budget sweep: one table per budget (each row paired with `none` of its budget)
        groups.setdefault((r["task"], r["metric"], r.get("budget")), []).append(r)
    tables = []
    trivial = _trivial_specs(context)
    for (task, metric, budget), recs in groups.items():
        table = summarize(recs, run_dir, trivial=trivial.get(task))
        table["budget"] = budget
        table["missing"] = context.get("missing", {}).get(task, [])
        table["zoo_adapters"] = context.get("zoo_adapters") or {}
        tables.append(table)
    return {"context": context, "tables": tables, "xtreme": sweep_xtreme_summary(tables, context)}


def _trivial_specs(context: dict) -> dict:
    """task -> adaptx.baselines.trivial_spec, where the run recorded one (context.trivial)."""
    specs = context.get("trivial") or {}
    if not isinstance(specs, dict):
        raise AdaptxError(f"report context, field 'trivial': expected task -> trivial prediction, got {specs!r}")
    for task, spec in specs.items():
        problem = trivial_spec_problem(spec)
        if problem:
            raise AdaptxError(f"report context, field 'trivial.{task}': {problem}")
    return specs


def render_all(summary: dict) -> str:
    parts = []
    for table in summary["tables"]:
        text = _render(table)
        if table.get("missing"):
            text += (f"\n\nmissing (no {table['task']} evaluation data in this source): "
                     f"{', '.join(table['missing'])}")
        parts.append(text)
    if summary.get("xtreme"):
        parts.append(render_xtreme(summary["xtreme"]))
    return "\n\n".join(parts) if parts else "(no results yet)"


def print_report(run_dir, fmt: str = "md") -> int:
    """Print a run folder's tables in `fmt` (adaptx.report_formats). results.json and the files it names
    may have been edited by hand: a malformed record, prediction file or table is reported on stderr and
    left out, and the rest is printed. Evaluations results.json does not name yet (an interrupted
    evaluation) are reported too, and what is not evaluated is named (adaptx.report_partial). Returns
    the number of problems; raises when nothing is left to print."""
    import sys

    from .report_formats import in_band, render
    from .report_partial import not_evaluated, recover_evaluations
    from .smoke import is_smoke_run

    run_dir = Path(run_dir)
    path = RunFolder(run_dir).results_file
    numbered, problems = usable_records(_read_results(path) if path.is_file() else [], str(path))
    records = _with_readable_predictions(numbered, run_dir, path, problems)
    found = recover_evaluations(run_dir, records, problems)
    records += found.records
    context = _saved_context(run_dir, records, problems)
    summary = _summary_of_what_is_sound(records, run_dir, context, problems)
    problems = list(dict.fromkeys(problems))  # one line per distinct problem
    missing = not_evaluated(found, records, context)
    if summary is None:
        if not path.is_file() and not problems:
            gaps = f" (not evaluated yet: {'; '.join(missing)})" if missing else ""
            raise AdaptxError(f"{path} not found and no stage has been evaluated: is {run_dir} an adaptx run folder "
                              f"with at least one finished target stage?{gaps}")
        raise AdaptxError("\n".join(problems + [f"nothing in {path} is left to report"]))
    print(render(summary, fmt, render_all(summary), missing, is_smoke_run(run_dir)))
    if not in_band(fmt):
        for line in missing:
            print(f"adaptx: report: not evaluated yet: {line}", file=sys.stderr)
    for problem in problems:
        print(f"adaptx: report: {problem}", file=sys.stderr)
    return len(problems)


def _read_results(path: Path) -> list:
    """results.json's records, unchecked (usable_records checks each)."""
    try:
        records = load_json(path)
    except NestedTooDeeply:
        raise AdaptxError(f"{path}: not valid JSON (nested too deeply for a results file)") from None
    except (OSError, ValueError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise AdaptxError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(records, list):
        raise AdaptxError(f"{path}: expected a JSON list of records, got {type(records).__name__}")
    return records


def _with_readable_predictions(numbered: list[tuple[int, dict]], run_dir: Path, path: Path,
                               problems: list[str]) -> list[dict]:
    """The records whose metric is known and whose prediction entry is sound and scores what the record
    says; a message in `problems` for each other."""
    good, cache = [], {}
    for i, record in numbered:
        try:
            metric_for_language(record["metric"], record["language"])
        except AdaptxError as exc:
            problems.append(f"{path}: record {i}, field 'metric': {exc}; record left out")
            continue
        try:
            _load_row(run_dir, {(record["seed"], record["language"]): record},
                      lambda lang, name=record["metric"]: metric_for_language(name, lang), cache)
        except AdaptxError as exc:
            problems.append(f"{exc} (record {i} of {path.name}; record left out)")
        else:
            good.append(record)
    return good


def _saved_context(run_dir: Path, records: list[dict], problems: list[str]) -> dict:
    """Missing languages and the base's family as the run wrote them (results-summary.json), else the
    task names of the records."""
    context = {"targets": list(dict.fromkeys(r["task"] for r in records))}
    saved = RunFolder(run_dir).summary_file
    if saved.is_file():
        try:
            found = read_json(saved, "the tables are printed without its context", dict).get("context", context)
        except AdaptxError as exc:
            problems.append(str(exc))
            return context
        problem = context_problem(found)
        if problem:
            problems.append(f"{saved}: {problem}; the tables are printed without its context "
                            "(missing languages, base family)")
            return context
        context = found
    return context


def _summary_of_what_is_sound(records: list[dict], run_dir: Path, context: dict, problems: list[str]) -> dict | None:
    """summarize_all over the records, leaving out each (task, metric) table that cannot be made (records
    that disagree with each other, an unknown task); None when nothing is left."""
    try:
        return summarize_all(records, run_dir, context) if records else None
    except AdaptxError:
        pass
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["task"], r["metric"]), []).append(r)
    kept = []
    for (task, metric), recs in groups.items():
        try:
            summarize_all(recs, run_dir, context)
        except AdaptxError as exc:
            problems.append(f"table {task} {metric} left out: {exc}")
        else:
            kept += recs
    try:
        return summarize_all(kept, run_dir, context) if kept else None
    except AdaptxError as exc:  # only the summary over tasks fails now
        problems.append(str(exc))
        return None


def _render(summary: dict) -> str:
    if not summary["rows"]:
        return "(no results yet)"
    columns, langs, rows = summary["columns"], summary["languages"], summary["rows"]
    trivial = summary.get("trivial")

    def value(row, column):  # the number shown, at the shown precision so that ties are all bold
        if column in langs:
            v = row["values"].get(column)
        else:
            v = row[column]["value"] if row[column] else None
        return None if v is None else round(v, 1)

    # no bold in the gap column: a small gap can also mean weak English
    best = {c: max((v for v in (value(r, c) for r in rows) if v is not None), default=None)
            for c in columns if c != GAP}

    def cells(row, bold: bool) -> str:
        out = []
        for c in columns:
            v = value(row, c)
            text = "–" if v is None else (f"**{v:.1f}**" if bold and v == best.get(c) else f"{v:.1f}")
            if v is not None and c not in langs:
                lo, hi = row[c]["interval"]
                versus = row[c]["vs_baseline"]
                text += f" [{lo:.1f}, {hi:.1f}]" + (MARKS.get(versus["verdict"], "") if versus else "")
            out.append(text)
        return " | ".join(out)

    lines = [f"{summary['task']} zero-shot {summary['metric']} (%), mean over seeds {summary['seeds']}; "
             "**bold** = best in column", *_budget_line(summary),
             _split_line(summary["split"]), _n_line(summary["n"]),
             f"[lo, hi] = {summary['confidence']:.0%} bootstrap interval over examples (and seeds); "
             "▲/▼ = better/worse than `none` (adapter rows) or `full-none` (full rows) by a paired bootstrap "
             "on the same examples; unmarked = no clear difference",
             *_legend_notes(summary),
             "", "| strategy | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for row in rows:
        lines.append(f"| {row_name((row['strategy'], row['intermediate']))}{row_marks(row)} | {cells(row, True)} |")
    if trivial:
        lines.append(f"| *trivial ({trivial['what']})* | {cells(trivial, False)} |")
    return "\n".join(lines)


def _legend_notes(summary: dict) -> list[str]:
    """The legend's lines for joint resampling, the gap column and the trivial row, where present."""
    notes = []
    if summary.get("item_groups"):
        groups = "; ".join(f"{', '.join(ls)} ({split})" for split, ls in summary["item_groups"].items())
        notes.append(f"examples resampled jointly across the languages that evaluate the same items translated: {groups}")
    if GAP in summary["columns"]:
        notes.append("gap = en minus avg w/o en (the transfer gap), with its interval from the same bootstrap")
    if summary.get("trivial"):
        notes.append(f"trivial = {summary['trivial']['what']}, the prediction that needs no model "
                     "(from the English training sample), scored on the same rows")
    for mark, text in ((MARK, MARK_TEXT), (UNDER_MARK, UNDER_MARK_TEXT)):
        if any(mark in row_marks(row) for row in summary["rows"]):
            notes.append(text)
    if any(row.get("same_data") for row in summary["rows"]):
        notes.append(SAME_DATA_TEXT)
    if line := _kernels_line(summary["rows"]):
        notes.append(line)
    if summary.get("zoo_adapters"):  # zoo_adapters: the adapter rows' intermediate adapter was published, not trained
        used = ", ".join(f"{task} = {token}" for task, token in summary["zoo_adapters"].items())
        notes.append(f"adapter rows use the published intermediate adapter ({used}); full rows fine-tune on "
                     "the task here")
    return notes


def _kernels_line(rows: list[dict]) -> str | None:
    """Where a run's stages trained on different kernels (a study banked across machines): which rows
    trained on which. The same fp32 recipe sums in another order on other kernels, so its training can
    take a slightly different path: a difference between such rows holds that too."""
    found: dict[str, list[str]] = {}
    for row in rows:
        for kernels in row.get("kernels", []):
            found.setdefault(kernels, []).append(row_name((row["strategy"], row["intermediate"])))
    if len(found) < 2:
        return None
    where = "; ".join(f"{kernels}: {', '.join(names)}" for kernels, names in found.items())
    return (f"stages trained on different kernels ({where}): the same recipe sums in another order on each, "
            "so its training can take a slightly different path (each stage's metrics.json records its hardware)")


def _budget_line(summary: dict) -> list[str]:
    """The target budget of a table of a budget sweep, and the steps its stages trained."""
    budget = summary.get("budget")
    if budget is None:
        return []
    steps = sorted({n for row in summary["rows"] for n in row.get("steps", [])})
    trained = f"; trained {steps[0]}–{steps[-1]} steps" if len(steps) > 1 else ""
    return [f"target budget: {budget_words(budget)}{trained}"]


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
    check_records(records, source)  # every field of every record, typed (adaptx.report_files)


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
            raise AdaptxError(f"results records: more than one record for {row_name(key[:2])}, seed {key[2]}, {lang!r}")
        seen.add(key)
    return {**info, "languages": list(split), "split": split, "n": n}


def _load_row(run_dir: Path, recs: dict[tuple, dict], metric, cache: dict) -> dict:
    """{seed: {lang: Evaluation}} from the prediction files the records point to, checked against the records."""
    row: dict = {}
    for (seed, lang), r in recs.items():
        path = prediction_path(run_dir, r["predictions"])  # never outside the run folder
        entry = _read_predictions(path, cache).get(lang)
        ids, pred, gold = evaluation_lists(entry, path, lang)
        ev = Evaluation.from_lists(ids, pred, gold, where=f"{path} [{lang}]", items=evaluation_items(entry, path, lang))
        value = score(metric(lang), ev.pred, ev.gold, f"{path} [{lang}]")
        if len(ev.ids) != r["n"] or abs(value - r["value"]) > 0.011:  # value is rounded to 2 decimals
            raise AdaptxError(f"{path} [{lang}]: {len(ev.ids)} predictions scoring {value:.2f}, but results.json says "
                              f"n={r['n']}, value={r['value']}; the file is stale: {RERUN}")
        row.setdefault(seed, {})[lang] = ev
    return row


def _read_predictions(path: Path, cache: dict) -> dict:
    if path not in cache:  # one file holds every language of a stage
        if not path.is_file():
            raise AdaptxError(f"{path}: predictions file named in results.json is missing; {RERUN}")
        try:
            data = load_json(path)
        except NestedTooDeeply:
            raise AdaptxError(f"{path}: predictions file is unreadable (JSON nested too deeply); {RERUN}") from None
        except (OSError, ValueError) as exc:  # JSONDecodeError, UnicodeDecodeError
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


def load_row(run_dir, records: list[dict], metric) -> dict:
    """{seed: {language: Evaluation}} of one row's records (one strategy and intermediate), read from
    the prediction files they point to and checked against the records (`adaptx analyze` uses it).
    metric: a function language -> Metric."""
    return _load_row(Path(run_dir), {(r["seed"], r["language"]): r for r in records}, metric, {})


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _pct(fraction: float) -> float:
    return round(100 * fraction, 2)
