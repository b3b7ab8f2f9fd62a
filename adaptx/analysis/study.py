"""The typology question: per target and strategy row, do the transfer gap and the gain over the
baseline move with a language's distance from English, beyond what pretraining data size explains?

English is left out (it is the training language: its gap is 0 by definition); languages without
URIEL vectors are listed by typology.typology and left out of the correlations only; languages
without a CC-100 size are left out of the partial correlation only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..stats import Bootstrap
from .cc100 import log_tokens
from .correlation import Association, associate, reading
from .gains import SOURCE, Cell, draws, label
from .runs import Target
from .typology import DISTANCES, Typology

QUANTITIES = {"gap": "transfer gap (English minus the language, points)",
              "gain": "gain over the baseline (points)"}


@dataclass
class Finding:
    target: str
    metric: str
    row: str
    quantity: str  # gap | gain
    languages: list[str]
    values: dict[str, float]  # language -> the quantity (points)
    associations: dict[str, Association | None]  # distance name -> result
    reading: str


def findings(target: Target, boot: Bootstrap, cells: list[Cell], base_of: dict[str, str],
             typ: Typology, leave_out=()) -> list[Finding]:
    out = []
    for name in target.rows:
        if name in leave_out:  # e.g. same-data rows (adaptx.analysis.analyze)
            continue
        mine = {c.language: c for c in cells if label(c) == name}
        for quantity in QUANTITIES:
            attr = "gap" if quantity == "gap" else "gain"
            langs = [lang for lang, c in mine.items()
                     if lang != SOURCE and lang in typ.distances and getattr(c, attr) is not None]
            if quantity == "gain" and name not in base_of:
                continue
            if not langs:
                continue
            values = {lang: getattr(mine[lang], attr) for lang in langs}
            if quantity == "gap":
                scores = draws(boot, name, [SOURCE, *langs])
                sample = scores[:, :1] - scores[:, 1:]
            else:
                sample = draws(boot, name, langs, base_of[name])
            size = np.array([np.nan if log_tokens(lang) is None else log_tokens(lang) for lang in langs])
            results = {d: associate([typ.distances[lang][d] for lang in langs], [values[lang] for lang in langs],
                                    sample, size) for d in DISTANCES}
            out.append(Finding(target.name, target.metric, name, quantity, langs, values, results,
                               reading(quantity, results)))
    return out


def rows(found: list[Finding]) -> list[dict]:
    """correlations.csv: one row per finding and distance."""
    table = []
    for f in found:
        for distance, a in f.associations.items():
            row = {"target": f.target, "metric": f.metric, "row": f.row, "quantity": f.quantity,
                   "distance": distance, "distance_source": DISTANCES[distance][1], "languages": len(f.languages)}
            if a is not None:
                row.update({"rho": a.rho.point, "rho_lo": a.rho.lo, "rho_hi": a.rho.hi,
                            "partial_rho": a.partial.point, "partial_rho_lo": a.partial.lo,
                            "partial_rho_hi": a.partial.hi, "partial_languages": a.partial_n,
                            "slope": a.slope.point, "slope_lo": a.slope.lo, "slope_hi": a.slope.hi})
            table.append(row)
    return table
