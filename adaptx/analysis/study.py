"""The typology question: per target and strategy row, do the transfer gap and the gain over the
baseline move with a language's distance from English, beyond what pretraining data size explains?

English is left out (it is the training language: its gap is 0 by definition); languages without
URIEL+ distances are listed by typology.typology and left out of the correlations only (a language
URIEL+ has some distances for is left out only of the others' correlations); languages without a
CC-100 size are left out of the partial correlation only. The data-size covariate is log10 of the
CC-100 size in GiB (cc100.py says why not its "tokens").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..stats import Bootstrap
from .cc100 import log_gib
from .correlation import Association, associate, reading
from .gains import SOURCE, Cell, draws, label
from .runs import Target
from .typology import DISTANCES, Typology, known

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
            size = np.array([np.nan if log_gib(lang) is None else log_gib(lang) for lang in langs])
            results = {d: _associate(d, langs, values, sample, size, typ) for d in DISTANCES}
            out.append(Finding(target.name, target.metric, name, quantity, langs, values, results,
                               reading(quantity, results)))
    return out


def _associate(distance: str, langs: list[str], values: dict, sample: np.ndarray, size: np.ndarray,
               typ: Typology) -> Association | None:
    """One distance's association over the languages that have that distance (columns of sample/size)."""
    have = set(known(typ, langs, distance))
    keep = [i for i, lang in enumerate(langs) if lang in have]
    return associate([typ.distances[langs[i]][distance] for i in keep], [values[langs[i]] for i in keep],
                     sample[:, keep], size[keep])


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
