"""Multi-task intermediate training: one adapter trained on a mixture of tasks (one head per task).

Each step's batch comes from one task, chosen with probability p_i proportional to min(n_i, cap)
(examples-proportional mixing with a cap, as in T5 and jiant: a large task cannot drown the small
ones), n_i being the task's number of training examples after sampling. Masked-LM batches (the
paper's alternative (a), `intermediate.mlm`) join a mixture as one more part with a fixed share
of the steps.

Which batch each step sees is `adaptx.sampling`'s job (MixtureSampler, mixture_weights); this
module keeps the names of a mixture and its registry-like Task entry.
"""

from __future__ import annotations

# re-exported: tests/test_mixture.py and rundata.py import them from here
from .sampling import CHUNK, MixtureSampler, mixture_weights  # noqa: F401
from .tasks import Task

MULTITASK = "multitask"  # the name of a config's `multitask` mixture in intermediate_tasks
MLM = "mlm"  # the masked-LM part of a mixture


def mixture_task(name: str, tasks: list[str], cap: int | None, mlm: dict | None = None) -> Task:
    """The registry-like entry of a mixture: kind 'mixture', selected on the mean of its tasks'
    English dev metrics (each task's own headline metric)."""
    parts = list(tasks) + ([MLM] if mlm else [])
    return Task(name=name, role="intermediate", kind="mixture", labels=(), languages=("en",),
                metric="mixture_mean", params={"tasks": tuple(tasks), "cap": cap, "mlm": mlm},
                description=f"mixture of {' + '.join(parts)} (examples-proportional, cap {cap})")
