"""Does a quantity (the transfer gap, the gain over the baseline) move with a language's distance?

Over the zero-shot languages: Spearman's rho, the partial rho controlling for the covariate (log10
of the pretraining data size in GiB, cc100.py: the ranks of both variables are regressed on the covariate's ranks and the
residuals correlated; equal to (r_xy - r_xz r_yz) / sqrt((1 - r_xz^2)(1 - r_yz^2)) on Spearman
correlations), and the least-squares slope with its fitted line.

Intervals: each bootstrap replicate takes one resample of the evaluation items (drawn jointly
across row-aligned languages by adaptx.stats, so a language's value moves as its items do) and
one resample of the languages with replacement (another set of languages would give another
rho), and recomputes every statistic; the interval is the percentile range over replicates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from ..stats import CONFIDENCE, RNG_SEED

MIN_LANGUAGES = 4  # a rank correlation over fewer languages says nothing
BAND_POINTS = 25


@dataclass(frozen=True)
class Estimate:
    point: float | None
    lo: float | None
    hi: float | None

    @property
    def excludes_zero(self) -> bool:
        return self.lo is not None and (self.lo > 0 or self.hi < 0)


@dataclass(frozen=True)
class Association:
    n: int  # languages used
    rho: Estimate
    partial: Estimate  # point None without the covariate for enough languages
    partial_n: int  # languages with a covariate value
    slope: Estimate  # units of the quantity per unit of distance
    intercept: float
    band: list[tuple[float, float, float]]  # (distance, lo, hi) of the fitted line


def spearman(x, y) -> np.ndarray:
    """Spearman's rho of each row of x with the same row of y (1-d inputs give a scalar array)."""
    return _pearson(rankdata(x, axis=-1), rankdata(y, axis=-1))


def partial_spearman(x, y, z) -> np.ndarray:
    """Spearman's rho of x and y controlling for z: the correlation of the ranks' residuals after
    regressing the ranks of x and of y on the ranks of z (row by row for 2-d inputs)."""
    rx, ry, rz = (rankdata(v, axis=-1) for v in (x, y, z))
    return _pearson(_residual(rx, rz), _residual(ry, rz))


def slope(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares slope and intercept of y on x, row by row."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    xc = x - x.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        b = (xc * (y - y.mean(axis=-1, keepdims=True))).sum(axis=-1) / (xc * xc).sum(axis=-1)
    return b, y.mean(axis=-1) - b * x.mean(axis=-1)


def associate(distance, values, draws, covariate=None, *, confidence: float = CONFIDENCE,
              rng_seed: int = RNG_SEED) -> Association | None:
    """distance, values: (languages,); draws: (replicates, languages), the values on resampled items;
    covariate: (languages,) with NaN where unknown. None with fewer than MIN_LANGUAGES languages."""
    x, y, draws = (np.asarray(a, dtype=np.float64) for a in (distance, values, draws))
    n = len(x)
    if n < MIN_LANGUAGES:
        return None
    replicates = draws.shape[0]
    pick = np.random.default_rng([rng_seed, n]).integers(0, n, (replicates, n))  # languages, with replacement
    xs, ys = x[pick], np.take_along_axis(draws, pick, axis=1)
    tail = (1 - confidence) / 2 * 100

    def estimate(point, resampled) -> Estimate:
        resampled = resampled[np.isfinite(resampled)]
        if not np.isfinite(point) or len(resampled) < replicates / 2:  # most replicates degenerate: no interval
            return Estimate(float(point) if np.isfinite(point) else None, None, None)
        lo, hi = np.percentile(resampled, [tail, 100 - tail])
        return Estimate(float(point), float(lo), float(hi))

    with np.errstate(invalid="ignore", divide="ignore"):
        rho = estimate(spearman(x, y), spearman(xs, ys))
        b, a = slope(x, y)
        bs, as_ = slope(xs, ys)
        grid = np.linspace(x.min(), x.max(), BAND_POINTS)
        lines = as_[:, None] + bs[:, None] * grid[None, :]
        ok = np.isfinite(lines).all(axis=1)
        band = [(float(g), *map(float, np.percentile(lines[ok, i], [tail, 100 - tail]))) for i, g in enumerate(grid)] \
            if ok.sum() >= replicates / 2 else []
        partial, partial_n = Estimate(None, None, None), 0
        if covariate is not None:
            z = np.asarray(covariate, dtype=np.float64)
            known = np.isfinite(z)
            partial_n = int(known.sum())
            if partial_n >= MIN_LANGUAGES:
                k = np.flatnonzero(known)
                sub = k[np.random.default_rng([rng_seed, n, partial_n]).integers(0, len(k), (replicates, len(k)))]
                partial = estimate(partial_spearman(x[k], y[k], z[k]),
                                   partial_spearman(x[sub], np.take_along_axis(draws, sub, axis=1), z[sub]))
    return Association(n, rho, partial, partial_n, estimate(b, bs), float(a), band)


def reading(quantity: str, results: dict[str, Association | None]) -> str:
    """One line: which distances the quantity moves with (rho's interval excludes 0), else no evidence."""
    found = []
    for name, assoc in results.items():
        if assoc is None or not assoc.rho.excludes_zero:
            continue
        verb = "shrinks" if assoc.rho.point < 0 else "grows"
        control = ""
        if assoc.partial.point is not None:
            control = ("; also controlling for data size" if assoc.partial.excludes_zero
                       else "; not once data size is controlled for")
        found.append(f"{quantity} {verb} with {name} distance (rho {assoc.rho.point:+.2f} "
                     f"[{assoc.rho.lo:+.2f}, {assoc.rho.hi:+.2f}]{control})")
    if not any(a is not None for a in results.values()):
        return f"too few languages with URIEL+ distances for a correlation (at least {MIN_LANGUAGES} needed)"
    return "; ".join(found) if found else "no evidence either way"


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(axis=-1) / np.sqrt((a * a).sum(axis=-1) * (b * b).sum(axis=-1))


def _residual(r: np.ndarray, rz: np.ndarray) -> np.ndarray:
    """r minus its least-squares fit on rz (with intercept), row by row."""
    b, a = slope(rz, r)
    return r - (np.asarray(a)[..., None] + np.asarray(b)[..., None] * rz)
