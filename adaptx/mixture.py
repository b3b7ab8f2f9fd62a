"""Multi-task intermediate training: one adapter trained on a mixture of tasks (one head per task).

Each step's batch comes from one task, chosen with probability p_i proportional to min(n_i, cap)
(examples-proportional mixing with a cap, as in T5 and jiant: a large task cannot drown the small
ones), n_i being the task's number of training examples after sampling. Masked-LM batches (the
paper's alternative (a), `intermediate.mlm`) join a mixture as one more part with a fixed share
of the steps.

Batches are a pure function of (seed, step), as `adaptx.train.batch_indices` is for one task, so
a resumed run sees exactly the batches it would have seen: the task of step s comes from a
uniform draw of a generator seeded with (seed, s // CHUNK); the batch is the k-th batch of that
task's own seeded epochs, k being how many earlier steps drew the same task.
"""

from __future__ import annotations

import numpy as np

from .errors import AdaptxError
from .tasks import Task

MULTITASK = "multitask"  # the name of a config's `multitask` mixture in intermediate_tasks
MLM = "mlm"  # the masked-LM part of a mixture
CHUNK = 4096  # steps whose tasks are drawn from one seeded generator


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
        from .train import batch_indices

        if len(part_lengths) != len(weights):
            raise AdaptxError(f"mixture: {len(weights)} weights for {len(part_lengths)} parts")
        self._batch_indices = batch_indices
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
        return part, self._batch_indices(self.lengths[part], self.batch_size, part_seed(self.seed, part), k)


def mixture_task(name: str, tasks: list[str], cap: int | None, mlm: dict | None = None) -> Task:
    """The registry-like entry of a mixture: kind 'mixture', selected on the mean of its tasks'
    English dev metrics (each task's own headline metric)."""
    parts = list(tasks) + ([MLM] if mlm else [])
    return Task(name=name, role="intermediate", kind="mixture", labels=(), languages=("en",),
                metric="mixture_mean", params={"tasks": tuple(tasks), "cap": cap, "mlm": mlm},
                description=f"mixture of {' + '.join(parts)} (examples-proportional, cap {cap})")
