"""The typology readings of a finished study, recomputed from its gains.csv alone.

For a study whose run folder is gone but whose `gains.csv` was kept (docs/study-embedded-gains.csv:
the 150-step study), this recomputes each row's Spearman rho between a language's gain (or transfer
gap) and its distance from English with the current inputs: URIEL+ distances (adaptx.analysis.typology)
and the data-size covariate in CC-100 GiB, printing the partial rho under both covariates (GiB, and
the whitespace-word "tokens" count the study used) side by side.

The intervals resample languages only: gains.csv keeps each language's gain, not the item draws
behind it, so the item part of `adaptx analyze`'s interval is missing and these intervals are
narrower than its own. A reading is marked only where the languages-only interval excludes zero.

    python scripts/retype_gains.py docs/study-embedded-gains.csv [--markdown]
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from adaptx.analysis.cc100 import log_gib, tokens_millions
from adaptx.analysis.correlation import associate
from adaptx.analysis.typology import DISTANCES, typology

REPLICATES = 2000
QUANTITIES = {"gain": "gain", "gap": "transfer gap"}


def read_rows(path: Path) -> dict[tuple[str, str, str, str], dict[str, dict[str, float]]]:
    """(target, metric, strategy, intermediate) -> quantity -> language -> value, zero-shot languages only."""
    rows: dict = defaultdict(lambda: defaultdict(dict))
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if row["language"] == "en":
                continue
            key = (row["target"], row["metric"], row["strategy"], row["intermediate"])
            for column in QUANTITIES:
                if row.get(column):
                    rows[key][column][row["language"]] = float(row[column])
    return rows


def _log_tokens(lang: str) -> float:
    tokens = tokens_millions(lang)
    return math.log10(tokens) if tokens else math.nan


def _log_gib(lang: str) -> float:
    value = log_gib(lang)
    return math.nan if value is None else value


def _fmt(estimate) -> str:
    if estimate.point is None:
        return "–"
    interval = "" if estimate.lo is None else f" [{estimate.lo:+.2f}, {estimate.hi:+.2f}]"
    mark = "**" if estimate.excludes_zero else ""
    return f"{mark}{estimate.point:+.2f}{interval}{mark}"


def retype(path: Path) -> list[dict]:
    """One record per row x quantity x distance: rho, partial rho (GiB), partial rho (tokens)."""
    rows = read_rows(path)
    languages = sorted({lang for quantities in rows.values() for values in quantities.values() for lang in values})
    typ = typology(languages)
    out = []
    for (target, metric, strategy, intermediate), quantities in sorted(rows.items()):
        for quantity, values in quantities.items():
            for distance in DISTANCES:
                langs = [lang for lang in sorted(values)
                         if lang in typ.distances and math.isfinite(typ.distances[lang][distance])]
                x = [typ.distances[lang][distance] for lang in langs]
                y = np.array([values[lang] for lang in langs])
                draws = np.tile(y, (REPLICATES, 1))  # no item draws in gains.csv: languages resampled only
                by_gib = associate(x, y, draws, [_log_gib(lang) for lang in langs])
                by_tokens = associate(x, y, draws, [_log_tokens(lang) for lang in langs])
                if by_gib is None:
                    continue
                label = intermediate.replace("zoo:", "")
                out.append({"target": target, "metric": metric, "row": f"{strategy} ({label})" if label else strategy, "quantity": QUANTITIES[quantity], "distance": distance, "n": by_gib.n,
                            "rho": by_gib.rho, "partial_gib": by_gib.partial, "partial_tokens": by_tokens.partial})
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gains", type=Path, help="a study's gains.csv (adaptx analyze writes it)")
    parser.add_argument("--distance", action="append", choices=list(DISTANCES),
                        help="only these distances (repeatable; default: all)")
    parser.add_argument("--markdown", action="store_true", help="a markdown table")
    args = parser.parse_args(argv)
    if not args.gains.is_file():
        print(f"retype_gains: {args.gains}: no such file (a gains.csv written by adaptx analyze)", file=sys.stderr)
        return 2
    records = [r for r in retype(args.gains) if not args.distance or r["distance"] in args.distance]
    header = ["target", "metric", "row", "quantity", "distance", "languages", "rho", "partial rho given log GiB",
              "partial rho given log tokens"]
    lines = [[r["target"], r["metric"], r["row"], r["quantity"], r["distance"], str(r["n"]), _fmt(r["rho"]),
              _fmt(r["partial_gib"]), _fmt(r["partial_tokens"])] for r in records]
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for line in lines:
            print("| " + " | ".join(line) + " |")
    else:
        for line in [header, *lines]:
            print("  ".join(line))
    print(f"\nintervals: 95%, {REPLICATES} resamples of the languages only (gains.csv keeps no item draws); "
          "bold: the interval excludes zero", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
