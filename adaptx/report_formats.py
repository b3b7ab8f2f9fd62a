"""`adaptx report --format md|csv|json|latex`: the report's summary (adaptx.report.summarize_all) in
other forms. md is the results.md text the run wrote; json is the summary itself (results-summary.json's
content); csv has one row per table cell; latex has one booktabs tabular per table. Same numbers in all.
A smoke run's numbers mean nothing, and every format says so where a reader of that format keeps it:
a quoted line atop the markdown, `smoke` and `smoke_note` in the json, a `smoke` column in every csv
row, and a row inside every latex table (a comment alone would vanish from the typeset table).
"""

from __future__ import annotations

import csv
import io
import json

from .smoke import NOTE

FORMATS = ("md", "csv", "json", "latex")
RESUME = "rerun `adaptx run` with the run's config: it keeps what is finished and evaluates the rest"
CSV_FIELDS = ("task", "metric", "strategy", "intermediate", "seeds", "budget", "column", "value", "lo", "hi", "baseline",
              "delta", "delta_lo", "delta_hi", "verdict")
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_LATEX_MARKS = {"better": r" $\uparrow$", "worse": r" $\downarrow$"}
SMOKE_CELL = "SMOKE RUN: these numbers mean nothing"  # the csv's smoke column, in every row


def in_band(fmt: str) -> bool:
    """Whether the lines naming what is not evaluated go into the output (md, json) or beside it (stderr)."""
    return fmt in ("md", "json")


def render(summary: dict, fmt: str, markdown: str, not_evaluated: list[str], smoke: bool = False) -> str:
    """The report in `fmt`; markdown: the md text (adaptx.report.render_all), not_evaluated: what is missing,
    smoke: a smoke run's (its numbers mean nothing; every format says so)."""
    if fmt == "md":
        text = f"> **{NOTE}**\n\n{markdown}" if smoke else markdown
        if not not_evaluated:
            return text
        return text + "\n\nnot evaluated yet (" + RESUME + "):\n" + "\n".join(f"- {line}" for line in not_evaluated)
    if fmt == "json":
        marks = {"smoke": True, "smoke_note": NOTE} if smoke else {"smoke": False}
        return json.dumps({**marks, **summary, "not_evaluated": not_evaluated}, indent=1, ensure_ascii=False)
    if fmt == "csv":
        return as_csv(summary, smoke)
    if fmt == "latex":
        return as_latex(summary, smoke)
    raise ValueError(f"unknown report format {fmt!r}; known: {', '.join(FORMATS)}")


def _label(strategy: str, intermediate: str | None) -> str:
    return strategy if not intermediate else f"{strategy} ({intermediate})"


def _table_rows(table: dict):
    """(strategy, intermediate, seeds, baseline, row) of a table, its trivial reference row last."""
    for row in table["rows"]:
        yield row["strategy"], row["intermediate"], row["seeds"], row["baseline"], row
    if table.get("trivial"):
        yield "trivial", table["trivial"]["what"], table["seeds"], None, table["trivial"]


class _SmokeMarked(csv.DictWriter):
    """A DictWriter whose every row starts with the smoke column: no row leaves without the mark."""

    def __init__(self, buffer):
        super().__init__(buffer, fieldnames=("smoke", *CSV_FIELDS), lineterminator="\n")

    def writerow(self, rowdict):
        return super().writerow({"smoke": SMOKE_CELL, **rowdict})


def as_csv(summary: dict, smoke: bool = False) -> str:
    """One row per cell: a language's score, or an average/gap with its interval and its comparison
    with the row's baseline; the XTREME summary's cells as task 'xtreme'. A smoke run's rows start with
    a `smoke` column saying its numbers mean nothing."""
    buffer = io.StringIO()
    writer = _SmokeMarked(buffer) if smoke else csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for table in summary["tables"]:
        langs = table.get("languages", [])
        for strategy, intermediate, seeds, baseline, row in _table_rows(table):
            base = {"task": table["task"], "metric": table["metric"], "strategy": strategy,
                    "intermediate": intermediate or "", "seeds": " ".join(map(str, seeds)),
                    "budget": _budget_cell(table.get("budget")), "baseline": baseline or ""}
            for lang in langs:
                if lang in row["values"]:
                    writer.writerow({**base, "column": lang, "value": row["values"][lang]})
            for column in table["columns"]:
                cell = row.get(column) if column not in langs else None
                if not isinstance(cell, dict):
                    continue
                versus = cell.get("vs_baseline") or {}
                lo, hi = cell["interval"]
                d_lo, d_hi = versus.get("interval") or ("", "")
                writer.writerow({**base, "column": column, "value": cell["value"], "lo": lo, "hi": hi,
                                 "delta": versus.get("delta", ""), "delta_lo": d_lo, "delta_hi": d_hi,
                                 "verdict": versus.get("verdict", "")})
    xtreme = summary.get("xtreme")
    for row in (xtreme or {}).get("rows", []):
        base = {"task": "xtreme", "metric": "score", "strategy": row["strategy"], "intermediate": row["intermediate"] or "",
                "budget": _budget_cell(xtreme.get("budget"))}
        cells = {**row["tasks"], **{f"{c} avg": v for c, v in row["categories"].items()}, "overall": row["overall"]}
        for column, value in cells.items():
            if value is not None:
                writer.writerow({**base, "column": column, "value": value})
    return buffer.getvalue().rstrip("\n")


def _budget_cell(budget) -> str:
    """A budget sweep's target budget ('150', 'auto'); empty where the run has one budget."""
    return "" if budget is None else str(budget)


def _budget_comment(budget) -> str:
    return "" if budget is None else f"; target budget: {budget}{' steps' if budget != 'auto' else ''}"


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def _latex_tabular(header: list[str], body: list[list[str]], comments: list[str], smoke: bool = False) -> str:
    lines = [f"% {' '.join(c.split())}" for c in ([NOTE] if smoke else []) + comments]  # one line, no escapes
    lines += [r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}", r"\toprule"]
    if smoke:  # inside the table, so the typeset table carries it too
        lines += [rf"\multicolumn{{{len(header)}}}{{l}}{{\textbf{{{latex_escape(SMOKE_CELL)}}}}} \\", r"\midrule"]
    lines += [" & ".join(latex_escape(h) for h in header) + r" \\", r"\midrule"]
    lines += [" & ".join(cells) + r" \\" for cells in body]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines)


def _latex_table(table: dict, smoke: bool) -> str:
    langs, columns = table["languages"], table["columns"]

    def number(row, column):
        if column in langs:
            return row["values"].get(column)
        return row[column]["value"] if isinstance(row.get(column), dict) else None

    # bold = best in column at the shown precision, as in results.md; not the gap (small can mean weak English)
    best = {c: max((round(v, 1) for r in table["rows"] if (v := number(r, c)) is not None), default=None)
            for c in columns if c != "gap"}
    body = []
    for strategy, intermediate, _, _, row in _table_rows(table):
        cells = [latex_escape(_label(strategy, intermediate) if strategy != "trivial" else f"trivial ({intermediate})")]
        for column in columns:
            v = number(row, column)
            if v is None:
                cells.append("--")
                continue
            text = f"{v:.1f}"
            if strategy != "trivial" and round(v, 1) == best.get(column):
                text = rf"\textbf{{{text}}}"
            if column not in langs:
                lo, hi = row[column]["interval"]
                versus = row[column].get("vs_baseline")
                text += rf" {{\scriptsize [{lo:.1f}, {hi:.1f}]}}" + (_LATEX_MARKS.get(versus["verdict"], "")
                                                                      if versus else "")
            cells.append(text)
        body.append(cells)
    comments = [f"{table['task']} zero-shot {table['metric']} (%), mean over seeds {table['seeds']}"
                f"{_budget_comment(table.get('budget'))}; "
                f"[lo, hi] = {table['confidence']:.0%} bootstrap interval; arrows: better/worse than the row's "
                "baseline by a paired bootstrap; bold: best in column"]
    return _latex_tabular(["strategy", *columns], body, comments, smoke)


def as_latex(summary: dict, smoke: bool = False) -> str:
    """One booktabs tabular per table (\\usepackage{booktabs}), then the XTREME summary's; a smoke run's
    each carry the smoke mark."""
    parts = [_latex_table(t, smoke) for t in summary["tables"] if t["rows"]]
    xtreme = summary.get("xtreme")
    if xtreme:
        cats = list(xtreme["categories"])
        header = ["strategy", *xtreme["tasks"], *(f"{c} avg" for c in cats), "overall"]
        body = []
        for row in xtreme["rows"]:
            values = [row["tasks"].get(t) for t in xtreme["tasks"]] + [row["categories"][c] for c in cats]
            body.append([latex_escape(_label(row["strategy"], row["intermediate"]))]
                        + ["--" if v is None else f"{v:.1f}" for v in [*values, row["overall"]]])
        parts.append(_latex_tabular(header, body, ["XTREME summary: XTREME's aggregation (google-research/xtreme "
                                                   "evaluate.py) over the evaluated languages"
                                                   f"{_budget_comment(xtreme.get('budget'))}"], smoke))
    return "\n\n".join(parts) if parts else "% no results yet"
