"""analysis.md and the CSV files of `adaptx analyze`: every number with the distance and source it uses."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict

import math

from ..stats import CONFIDENCE, spread_warning
from .cc100 import COVARIATE as CC100_COVARIATE
from .cc100 import SOURCE as CC100_SOURCE
from .cc100 import gib
from .correlation import MIN_LANGUAGES
from ..convergence import MARK, MARK_TEXT, UNDER_MARK, UNDER_MARK_TEXT
from ..report import SAME_DATA_MARK, SAME_DATA_TEXT
from .budget import budget_points, budget_table
from .gains import ZERO_SHOT_AVERAGE, Cell, label
from .published_rows import markdown_lines
from .study import QUANTITIES, Finding
from .typology import DISTANCES, Typology
from .typology import SOURCE as TYPOLOGY_SOURCE

MARKS = {"better": " ▲", "worse": " ▼"}


def csv_text(rows: list[dict]) -> str:
    if not rows:
        return ""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row.get(k)) for k in columns})
    return out.getvalue()


def gains_rows(cells: list[Cell]) -> list[dict]:
    return [{**asdict(c), "seeds": " ".join(map(str, c.seeds))} for c in cells]


def typology_rows(typ: Typology) -> list[dict]:
    rows = []
    for lang, distances in typ.distances.items():
        rows.append({"language": lang, "uriel_code": typ.codes[lang], **distances, "cc100_gib": gib(lang),
                     **{f"{name}_features": n for name, n in typ.shared.get(lang, {}).items()},
                     "missing": "; ".join(f"{name}: {why}" for name, why in typ.gaps.get(lang, {}).items()) or None})
    for lang, why in typ.missing.items():
        rows.append({"language": lang, "uriel_code": None, "missing": why, "cc100_gib": gib(lang)})
    return rows


def attention_rows(attention: dict) -> list[dict]:
    """attention: (target, row) -> language -> summary."""
    rows = []
    for (target, row), per_lang in attention.items():
        for lang, summary in per_lang.items():
            for layer in summary["layers"]:
                for adapter, weight in zip(summary["adapters"], layer["weights"]):
                    rows.append({"target": target, "row": row, "language": lang, "layer": layer["layer"],
                                 "location": layer.get("location"), "adapter": adapter, "weight": weight,
                                 "seeds": summary["seeds"]})
    return rows


def markdown(analysis) -> str:
    a = analysis
    lines = [f"# Analysis: {', '.join(dict.fromkeys(t.task for t in a.targets)) or 'nothing analysed'}", "",
             "Runs: " + "; ".join(f"`{r.folder}` (base {r.base})" for r in a.runs), ""]
    lines += _sources(a)
    if a.messages:
        lines += ["## Notes", ""] + [f"- {m}" for m in a.messages] + [""]
    for target in a.targets:
        cells = [c for c in a.cells if c.target == target.name and c.metric == target.metric]
        lines += [f"## {target.name} ({target.metric})", ""] + _gain_table(cells) + [""]
        found = [f for f in a.findings if f.target == target.name and f.metric == target.metric]
        if found:
            lines += _findings(found)
    lines += budget_table(budget_points(a.cells))
    lines += markdown_lines(a.published)
    lines += _typology(a.typology)
    if a.files:
        lines += ["## Files", ""] + [f"- `{p.relative_to(a.out)}`" for p in a.files] + [""]
    lines += _how_to_read()
    return "\n".join(lines) + "\n"


def _sources(a) -> list[str]:
    lines = ["## What every number is", "",
             f"- scores, gains and gaps: percent points of each target's metric; [lo, hi] = {CONFIDENCE:.0%} "
             f"bootstrap interval ({a.resamples} resamples) over evaluation items and seeds. Items are resampled "
             "jointly across languages for row-aligned tasks (XNLI, PAWS-X, XQuAD: the same items translated, row by "
             "row) and for MLQA by question id (the questions its languages share), alone per language otherwise; a "
             "gain is paired (the row and its baseline on the same items and seeds); ▲/▼ = the gain's interval lies "
             "above/below 0; spread = the largest minus the smallest per-seed average (⚠: fewer than 5 seeds that "
             "disagree by 2.5 points or more, whose intervals undercover)",
             "- transfer gap: English minus the language (same row, same resampled items)",
             f"- distances from English: {TYPOLOGY_SOURCE}; a distance URIEL+ cannot compute for a language "
             "(no feature of its kind shared with English) is missing, never guessed:"]
    lines += [f"  - {name}: {how}" for name, (_, how) in DISTANCES.items()]
    lines += [f"- data size covariate: {CC100_COVARIATE} ({CC100_SOURCE})"
              + ("" if any("xlm-roberta" in r.base.lower() for r in a.runs) else
                 f"; the runs' base ({', '.join(sorted({r.base for r in a.runs}))}) is not XLM-R, whose pretraining "
                 "data these sizes describe: read them as a proxy for how much text of each language exists"),
              "- rho: Spearman over the zero-shot languages (English excluded); partial rho: controlling for the data "
              "size (ranks' residuals); slope: least squares, points per unit of distance; intervals resample items "
              f"and languages. Nothing is corrected for testing {len(DISTANCES)} distances x several rows: read single "
              "hits with care",
              ""]
    return lines


def _gain_table(cells: list[Cell]) -> list[str]:
    """Languages down, rows across: the scores, then the gains over each row's baseline."""
    langs = list(dict.fromkeys(c.language for c in cells))
    rows = list(dict.fromkeys(label(c) for c in cells))
    by = {(label(c), c.language): c for c in cells}
    bases = {label(c): c.baseline for c in cells if c.baseline}
    shown = {label(c): label(c) + c.marks for c in cells}  # † ‡ §: adaptx.report.row_marks
    lines = ["Scores (%; ▲/▼: the gain over the row's baseline has a 95% paired interval above/below 0; "
             f"the {ZERO_SHOT_AVERAGE} row with its own 95% interval)", *_mark_notes(cells), "",
             "| language | " + " | ".join(shown[r] for r in rows) + " |", "|---|" + "---:|" * len(rows)]
    for lang in langs:
        texts = [_score_text(by[r, lang]) if (r, lang) in by else "–" for r in rows]
        lines.append(f"| {lang} | " + " | ".join(texts) + " |")
    gained = [r for r in rows if r in bases]
    if gained:
        lines += ["", "Gain over the baseline (points) [95% paired interval]", "",
                  "| language | " + " | ".join(f"{shown[r]} vs {bases[r]}" for r in gained) + " |",
                  "|---|" + "---:|" * len(gained)]
        for lang in langs:
            texts = []
            for r in gained:
                c = by.get((r, lang))
                texts.append("–" if c is None or c.gain is None else
                             f"{c.gain:+.1f} [{c.gain_lo:+.1f}, {c.gain_hi:+.1f}]{MARKS.get(c.verdict, '')}")
            lines.append(f"| {lang} | " + " | ".join(texts) + " |")
    return lines


def _mark_notes(cells: list[Cell]) -> list[str]:
    """The legend of the marks this table uses, and the steps its target stages trained."""
    notes = [text for mark, text in ((MARK, MARK_TEXT), (UNDER_MARK, UNDER_MARK_TEXT), (SAME_DATA_MARK, SAME_DATA_TEXT))
             if any(mark in c.marks for c in cells)]
    steps = {label(c): c.steps for c in cells if c.steps}
    if steps and len(set(steps.values())) > 1:
        notes.append("target steps trained: " + ", ".join(f"{row} {n}" for row, n in steps.items()))
    return notes


def _score_text(c: Cell) -> str:
    """A score; the zero-shot average also with its interval, the number a study is sized by."""
    text = f"{c.score:.1f}"
    if c.language == ZERO_SHOT_AVERAGE and c.score_lo is not None:
        text += f" [{c.score_lo:.1f}, {c.score_hi:.1f}]"
    if c.language == ZERO_SHOT_AVERAGE and c.seed_spread is not None:
        text += f" spread {c.seed_spread:.1f}" + (" ⚠" if spread_warning(c.seed_spread, len(c.seeds)) else "")
    return text + MARKS.get(c.verdict, "")


def _findings(found: list[Finding]) -> list[str]:
    """The readings and the statistics against each distance; rows with too few languages for a
    correlation are named together on one line (a smoke run's two languages would fill a page)."""
    lines = ["### Against distance from English", ""]
    lines += [f"- **{f.row}**, {QUANTITIES[f.quantity]}: {f.reading}" for f in found
              if any(a is not None for a in f.associations.values())]
    too_few = _too_few(found)
    if too_few:
        lines.append(f"- too few languages with URIEL+ distances for a correlation (at least {MIN_LANGUAGES} needed): "
                     + "; ".join(f"**{row}** {', '.join(what)}" for row, what in too_few.items()))
    table = []
    for f in found:
        for distance, a in f.associations.items():
            if a is None:
                continue
            partial = f"{_est(a.partial)} ({a.partial_n})" if a.partial.point is not None else f"– ({a.partial_n})"
            table.append(f"| {f.row} | {f.quantity} | {distance} | {a.n} | {_est(a.rho)} | {partial} | "
                         f"{_est(a.slope, '.1f')} |")
    if table:
        lines += ["", "| row | quantity | distance | languages | rho [95%] | partial rho [95%] (languages) "
                      "| slope [95%] |", "|---|---|---|---:|---|---|---|", *table]
    return lines + [""]


def _too_few(found: list[Finding]) -> dict[str, list[str]]:
    """row -> what of it had too few languages: a quantity (every distance) or 'quantity (distances)'."""
    rows: dict[str, list[str]] = {}
    for f in found:
        missing = [d for d, a in f.associations.items() if a is None]
        if missing:
            every = len(missing) == len(f.associations)
            rows.setdefault(f.row, []).append(f.quantity if every else f"{f.quantity} ({', '.join(missing)})")
    return rows


def _typology(typ: Typology) -> list[str]:
    names = list(DISTANCES)
    lines = ["## Languages", "", "| language | URIEL code | " + " | ".join(names) + " | CC-100 GiB |",
             "|---|---|" + "---:|" * (len(names) + 1)]
    for lang, d in typ.distances.items():
        size = gib(lang)
        lines.append(f"| {lang} | {typ.codes[lang]} | " + " | ".join("–" if math.isnan(d[n]) else f"{d[n]:.3f}"
                                                                     for n in names)
                     + f" | {f'{size:.1f}' if size else 'missing'} |")
    lines.append("")
    if typ.gaps:
        lines += ["Distances URIEL+ cannot compute (–; left out of that distance's correlations only):", ""]
        lines += [f"- {lang}: {', '.join(why)}" for lang, why in typ.gaps.items()] + [""]
    if typ.missing:
        lines += ["Languages without URIEL entries (left out of the correlations, kept everywhere else):", ""]
        lines += [f"- {lang}: {why}" for lang, why in typ.missing.items()] + [""]
    no_size = [lang for lang in [*typ.distances, *typ.missing] if gib(lang) is None]
    if no_size:
        lines += [f"No CC-100 size (left out of the partial correlations): {', '.join(no_size)}", ""]
    return lines


def _how_to_read() -> list[str]:
    return ["## How to read this", "",
            "- A gain is an effect only where its interval excludes 0 (▲/▼); one seed at a few hundred rows per "
            "language rarely shows one.",
            "- \"gain shrinks with syntactic distance\": across languages, the further from English, the smaller the "
            "gain (rho's interval below 0). \"no evidence either way\": no distance's interval excludes 0 -- that is "
            "not evidence of no relation, with ~15 languages only large correlations can show.",
            "- The partial rho asks whether the relation survives once pretraining data size is accounted for "
            "(distant languages often have less data).", ""]


def _est(e, fmt: str = "+.2f") -> str:
    if e.point is None:
        return "–"
    if e.lo is None:
        return f"{e.point:{fmt}}"
    return f"{e.point:{fmt}} [{e.lo:{fmt}}, {e.hi:{fmt}}]"


def _csv_value(value):
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value == value else ""
    return "" if value is None else value
