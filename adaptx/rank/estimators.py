"""The estimators of `adaptx rank`, as pure numpy functions on arrays (no model, no files).

LogME (You et al. 2021, "LogME: Practical Assessment of Pre-trained Models for Transfer
Learning"): for each target column y, the Bayesian linear model y = F w + noise with prior
w ~ N(0, I / alpha) and noise ~ N(0, I / beta) has the marginal likelihood ("evidence")

    log p(y | alpha, beta) = d/2 log alpha + n/2 log beta - n/2 log 2 pi
                             - beta/2 ||F m - y||^2 - alpha/2 ||m||^2 - 1/2 log |alpha I + beta F^T F|

with m = beta (alpha I + beta F^T F)^-1 F^T y the posterior mean. alpha and beta are set by
MacKay's fixed-point iteration (gamma = sum beta s_i / (alpha + beta s_i); alpha = gamma / ||m||^2;
beta = (n - gamma) / ||F m - y||^2), everything in the eigenbasis of F^T F from one SVD of F.
The score is the maximised evidence per sample, averaged over the target columns (one-hot
columns of the labels present). Unlike the reference code, the log-determinant counts the d - k
eigenvalues that are 0 when F has rank k < d (fewer samples than dimensions), so the value is
the exact evidence in every case.

TextEmb (Poth et al. 2021, "What to Pre-Train on?"): the cosine similarity of two datasets'
mean text embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import AdaptxError

MAX_ITERATIONS = 200
TOLERANCE = 1e-7  # relative change of alpha / beta at which the fixed point counts as reached


@dataclass(frozen=True)
class Evidence:
    value: float  # maximised log evidence per sample
    alpha: float  # prior precision of the weights
    beta: float  # noise precision
    iterations: int


@dataclass(frozen=True)
class Spectrum:
    """What LogME needs of the features, computed once for every target column."""

    n: int
    d: int
    u: np.ndarray  # (n, k) left singular vectors
    sigma: np.ndarray  # (d,) eigenvalues of F^T F: the k squared singular values, then d - k zeros


def spectrum(features: np.ndarray) -> Spectrum:
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2 or f.shape[1] < 1:
        raise AdaptxError(f"LogME needs a features matrix of at least 2 rows and 1 column, got shape {f.shape}")
    if not np.isfinite(f).all():
        raise AdaptxError("LogME: the features hold NaN or infinite values (a diverged adapter?)")
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    keep = s > (s.max() * max(f.shape) * np.finfo(np.float64).eps if s.size else 0.0)  # numerical rank
    sigma = np.zeros(f.shape[1])
    sigma[: int(keep.sum())] = s[keep] ** 2
    return Spectrum(f.shape[0], f.shape[1], u[:, keep], sigma)


def log_evidence(spec: Spectrum, target: np.ndarray) -> Evidence:
    """The maximised evidence of one target column (see the module docstring)."""
    y = np.asarray(target, dtype=np.float64).reshape(-1)
    if y.shape[0] != spec.n:
        raise AdaptxError(f"LogME: {y.shape[0]} targets for {spec.n} feature rows")
    k = spec.u.shape[1]
    x = spec.u.T @ y  # y in the column space of F, by singular direction
    x2 = x ** 2
    outside = max(float(y @ y - x2.sum()), 0.0)  # the part of ||y||^2 no weight vector can fit
    s = spec.sigma[:k]
    alpha, beta = 1.0, 1.0
    for iteration in range(1, MAX_ITERATIONS + 1):
        ratio = alpha / beta
        gamma = float((s / (s + ratio)).sum())
        m2 = float((s * x2 / (s + ratio) ** 2).sum())  # ||m||^2
        res2 = float((x2 * (ratio / (s + ratio)) ** 2).sum()) + outside  # ||F m - y||^2
        # floors keep a perfect fit (res2 = 0) or a zero target (m2 = 0) finite
        alpha = gamma / max(m2, 1e-12) if gamma > 0 else 1e12
        beta = max(spec.n - gamma, 1e-12) / max(res2, 1e-12)
        if abs(alpha / beta - ratio) <= TOLERANCE * ratio:
            break
    ratio = alpha / beta
    m2 = float((s * x2 / (s + ratio) ** 2).sum())
    res2 = float((x2 * (ratio / (s + ratio)) ** 2).sum()) + outside
    value = (spec.d / 2 * np.log(alpha) + spec.n / 2 * np.log(beta) - spec.n / 2 * np.log(2 * np.pi)
             - beta / 2 * res2 - alpha / 2 * m2 - 0.5 * np.log(alpha + beta * spec.sigma).sum())
    return Evidence(float(value) / spec.n, alpha, beta, iteration)


def logme(features: np.ndarray, labels: np.ndarray) -> float:
    """LogME of integer class labels: the mean over the classes present of the evidence of their
    one-hot column (a class absent from the sample would be an all-zero column: left out)."""
    labels = np.asarray(labels).reshape(-1)
    classes = np.unique(labels)
    if classes.size < 2:
        raise AdaptxError(f"LogME needs at least two classes among the labels, got {classes.tolist()}")
    spec = spectrum(features)
    return float(np.mean([log_evidence(spec, (labels == c).astype(np.float64)).value for c in classes]))


def mean_embedding(embeddings: np.ndarray) -> np.ndarray:
    """A dataset's embedding: the mean of its texts' embeddings."""
    e = np.asarray(embeddings, dtype=np.float64)
    if e.ndim != 2 or not len(e):
        raise AdaptxError(f"a dataset embedding needs at least one text embedding, got shape {e.shape}")
    return e.mean(axis=0)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    if norm == 0:
        raise AdaptxError("TextEmb: a dataset embedding is all zeros; its cosine similarity is undefined")
    return float(a @ b) / norm
