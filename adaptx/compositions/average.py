"""The `average` composition: the frozen adapters' outputs, weighted and summed by the library's
Average block, under a new target adapter (combine.train_target_adapter) and head."""

from __future__ import annotations

from ..strategy_row import Strategy
from .base import Composition, register
from .combine_settings import WEIGHTED


@register
class Average(Composition):
    row = Strategy("average", "adapter", 2, "adapter", ("none",), 3, settings=WEIGHTED)
    adapter_slots = ("average",)
    optional_slots = ("average", "combine_weights")

    def setup_fields(self, stage, cfg, names: list[str]) -> dict:
        return dict(own_adapter=cfg.combine.own_adapter(stage.task), frozen_adapters=names, average=names,
                    combine_weights=cfg.combine.weights_for(stage.intermediates))

    def amend_recipe(self, recipe: dict) -> None:
        if "average" in recipe:
            # outputs combined as sum_i w_i h_i (average_block_weights); stages trained before, when
            # the library's mean divided by n once more, must not be reused
            recipe["average_output"] = "weighted_sum"

    def attach(self, encoder, setup) -> dict:
        keep_layer_norms_fp32(encoder)
        return {}

    def block(self, setup):
        return average_block(setup.average, average_block_weights(setup))


def average_block_weights(setup) -> list[float]:
    """The weights to give the library's Average block so that its output is sum_i w_i * h_i.

    adapters 1.3 returns mean_i(weights_i * h_i), a mean over the n children *after* weighting, so
    weights w_i given as they are would yield sum_i w_i * h_i / n: with the default 1/n each, every
    adapter layer's output (residual included) shrank to 1/n of the average. n * w_i undoes the mean."""
    n = len(setup.average)
    weights = list(setup.combine_weights) or [1.0 / n] * n
    return [n * w for w in weights]


def average_block(names: list[str], weights: list[float]):
    """The library's Average block over `names`, its weights used as given (mean_i(weights_i * h_i))."""
    from adapters.composition import Average as AverageBlock

    return AverageBlock(*names, weights=weights, normalize_weights=False)


def keep_layer_norms_fp32(encoder) -> None:
    """The library's Average block weighs its children with an fp32 tensor, which turns a bf16
    stream into fp32 before the next base LayerNorm; fp32 LayerNorms take either dtype."""
    from torch import nn

    for module in encoder.modules():
        if isinstance(module, nn.LayerNorm):
            module.float()
