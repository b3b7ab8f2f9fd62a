"""Which examples each training step sees: a pure function of (seed, step), so a resumed run
sees exactly the batches it would have seen.

One task: `batch_indices`, length-grouped seeded epochs. A mixture of tasks: `MixtureSampler`,
where each step's batch comes from one part, chosen with probability `mixture_weights` (p_i
proportional to min(n_i, cap), examples-proportional mixing with a cap, as in T5 and jiant); the
part of step s comes from a uniform draw of a generator seeded with (seed, s // CHUNK), and the
batch is the k-th batch of that part's own seeded epochs, k being how many earlier steps drew it.

This module depends on nothing of adaptx's but errors, so the kinds, the training loop and the
mixture catalog can all import it (it was split out of train.py and mixture.py to cut the
kinds <-> train <-> mixture import circle).
"""

from __future__ import annotations

import math

import numpy as np

from .errors import AdaptxError

CHUNK = 4096  # steps whose tasks are drawn from one seeded generator


def batch_indices(lengths: list[int], batch_size: int, seed: int, step: int, group: int = 50) -> list[int]:
    """The examples of `step`, a pure function of (seed, step) so a resumed run sees the same batches.

    Epochs are seeded permutations. Within each window of `group` batches the examples are
    sorted by length before batching (as transformers' LengthGroupedSampler does), so dynamic
    padding wastes little; the window's batches then run in a seeded random order.
    """
    import torch  # here, not at the top: config checks import this module and must not wait for torch

    n = len(lengths)
    per_epoch = max(1, math.ceil(n / batch_size))
    epoch, k = divmod(step, per_epoch)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)).tolist()
    window, pos = divmod(k, group)
    span = perm[window * group * batch_size : (window + 1) * group * batch_size]
    span.sort(key=lambda i: lengths[i])
    batches = [span[i : i + batch_size] for i in range(0, len(span), batch_size)]
    order = torch.randperm(len(batches), generator=torch.Generator().manual_seed(seed * 7919 + epoch * 104_729 + window))
    return batches[order[pos].item()]


def mixture_weights(sizes: list[int], cap: int | None, mlm_rate: float | None = None) -> np.ndarray:
    """Sampling probabilities: p_i proportional to min(n_i, cap) (cap None: to n_i); with mlm_rate,
    one more entry for the masked-LM part, which takes that share and scales the others to the rest."""
    if not sizes or any(n < 1 for n in sizes):
        raise AdaptxError(f"a mixture needs at least one part, each with examples; sizes {sizes}")
    capped = np.asarray([min(n, cap) if cap else n for n in sizes], dtype=np.float64)
    weights = capped / capped.sum()
    if mlm_rate:
        weights = np.append(weights * (1 - mlm_rate), mlm_rate)
    return weights


def part_seed(seed: int, part: int) -> int:
    """The seed of one part's own epochs (distinct for every part < 1009 of every seed)."""
    return seed * 1009 + part + 1


class MixtureSampler:
    """step -> (part, the k-th batch of that part): a pure function of (seed, step); the task
    schedule is memoised, so any step costs O(1) once its chunk is drawn."""

    def __init__(self, part_lengths: list[list[int]], weights, batch_size: int, seed: int):
        if len(part_lengths) != len(weights):
            raise AdaptxError(f"mixture: {len(weights)} weights for {len(part_lengths)} parts")
        self.lengths, self.batch_size, self.seed = part_lengths, batch_size, seed
        self.cdf = np.cumsum(np.asarray(weights, dtype=np.float64) / np.sum(weights))
        self.cdf[-1] = 1.0
        self.parts = np.zeros(0, dtype=np.int64)  # the part of every step drawn so far
        self.before = np.zeros((0, len(part_lengths)), dtype=np.int64)  # steps of each part before step s
        self.counts = np.zeros(len(part_lengths), dtype=np.int64)  # steps of each part among those drawn

    def _extend(self, step: int) -> None:
        while len(self.parts) <= step:
            draws = np.random.default_rng([self.seed, len(self.parts) // CHUNK]).random(CHUNK)
            parts = np.searchsorted(self.cdf, draws, side="right").clip(max=len(self.cdf) - 1)
            onehot = np.eye(len(self.cdf), dtype=np.int64)[parts]
            self.before = np.concatenate([self.before, self.counts + np.cumsum(onehot, axis=0) - onehot])
            self.counts = self.counts + onehot.sum(axis=0)
            self.parts = np.concatenate([self.parts, parts])

    def part(self, step: int) -> int:
        self._extend(step)
        return int(self.parts[step])

    def __call__(self, step: int) -> tuple[int, list[int]]:
        self._extend(step)
        part = int(self.parts[step])
        k = int(self.before[step, part])
        return part, batch_indices(self.lengths[part], self.batch_size, part_seed(self.seed, part), k)
