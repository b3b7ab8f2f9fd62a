"""The config's `combine:` section, read by the compositions that combine frozen adapters without a
fusion layer (average, the merges, scaled); each names the keys it reads in its row's `settings`."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..config_fields import checked, in_range, one_of

WEIGHTED = ("combine.weights", "combine.train_target_adapter")  # the keys every weighted combination reads


@dataclass
class CombineSettings:
    """The strategies that combine frozen intermediate adapters without a fusion layer: `average`
    (outputs averaged by an Average block), the weight-space merges into one adapter `merge`,
    `task_arithmetic`, `ties` and `dare`, and `scaled` (a learned scale per adapter and layer).
    Which setting each reads: its row's `settings` (docs/merging.md)."""

    # one weight per intermediate task, e.g. {qqp: 0.7, sst2: 0.3}, used as given (not normalised;
    # negative allowed, as in LoraHub); null: 1/n each (ties: 1 each, its disjoint mean averages)
    weights: dict | None = None
    train_target_adapter: bool = True  # false: only the new head trains on the combined adapters
    # task_arithmetic, ties, dare: lambda, the factor on the merged adapter (Ilharco et al. 2023)
    scale: float = in_range("(0, inf)", default=1.0)
    # ties: the fraction of each adapter matrix's entries kept (largest magnitudes); dare: the chance
    # each entry is kept (drop rate 1 - density). null: ties 0.2 (the paper's k = 20%), dare 0.5
    density: float | None = checked(lambda v: None if math.isfinite(v) and 0 < v <= 1 else
                                    f"must be in (0, 1] (the fraction kept), got {v}", default=None)
    sign_method: str = one_of({"total": "sign of the summed values, the paper's", "frequency": "majority of signs"},
                              default="total")  # ties: how each entry's sign is elected
    scale_per_layer: bool = True  # scaled: one scale per adapter and layer; false: one per adapter, all layers

    def weights_for(self, tasks: list[str], unset: float | None = None) -> list[float]:
        """One weight per task: the configured ones, else `unset` each (None: 1/n each)."""
        if self.weights:
            return [float(self.weights[t]) for t in tasks]
        return [1.0 / len(tasks) if unset is None else unset] * len(tasks)

    def own_adapter(self, task: str) -> str | None:
        """The new target adapter trained on top of the combined ones (named after the task), if any."""
        return task if self.train_target_adapter else None
