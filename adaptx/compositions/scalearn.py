"""ScaLearn's scales (Frohmann et al. 2023), the mechanics of the `scaled` composition
(adaptx.compositions.scaled): one learned scale per source adapter and adapter layer (or one per
adapter, shared by all layers) over the source adapters' outputs.

At every adapter layer ScaLearn computes `h = r + sum_k omega[k, layer] * up_k`, where `r` is the
adapter residual and `up_k` the output of source adapter k's up-projection. `adapters` 1.3 has no
block for it: `Average` takes fixed Python floats, one list for all layers, and no gradient reaches
them; a static `Fuse` has no per-layer scalars. It is built here from public pieces only:

- the library's `Average(*sources, weights=[1] * n, normalize_weights=False)` block runs every
  source on the same input and returns `mean_k(r + up_k) = r + sum_k up_k / n` (adapters 1.3
  averages `weights * outputs` with torch.mean, so weights of 1 keep the residual exactly `r`);
- a torch forward hook on each source's `adapter_up` (public torch API; the library is untouched)
  multiplies `up_k` by `n * omega[k, layer]`, so the block returns exactly ScaLearn's `h`.

The scales start at 1/n (ScaLearn's "avg" initialisation, without its 0.001 noise): before training
the composition is the plain average of the adapters' outputs. tests/test_merging.py pins the
formula against a hand computation, so a library release that changed `Average` would fail there.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import AdaptxError


def adapter_sites(encoder: nn.Module, name: str) -> dict[str, nn.Module]:
    """The adapter layers (module path before '.adapters.') -> the up-projection of adapter `name`."""
    sites = {}
    for path, module in encoder.named_modules():
        head, sep, rest = path.rpartition(".adapters.")
        if sep and rest == name and hasattr(module, "adapter_up"):
            sites[head] = module.adapter_up
    return sites


class AdapterScales(nn.Module):
    """omega: (number of source adapters, number of adapter layers) or (sources, 1) when shared."""

    def __init__(self, sources: list[str], sites: list[str], per_layer: bool):
        super().__init__()
        self.sources, self.sites, self.per_layer = list(sources), list(sites), per_layer
        columns = len(sites) if per_layer else 1
        self.omega = nn.Parameter(torch.full((len(sources), columns), 1.0 / len(sources)))

    def factor(self, k: int, j: int) -> torch.Tensor:
        # the Average block divides by n: n * omega makes the sum of up-projections exactly ScaLearn's
        return len(self.sources) * self.omega[k, j if self.per_layer else 0]


def attach_scales(encoder: nn.Module, sources: list[str], per_layer: bool) -> AdapterScales:
    """Hook the scales onto every source adapter's up-projection; returns the (trainable) scales."""
    found = {name: adapter_sites(encoder, name) for name in sources}
    sites = list(found[sources[0]])
    for name in sources:
        config = encoder.adapters_config.get(name)
        if config is None or not found[name]:
            raise AdaptxError(f"scaled: adapter {name!r} is not a bottleneck adapter of this model")
        if config["ln_after"]:
            raise AdaptxError(f"scaled: adapter {name!r} has a LayerNorm after its up-projection (ln_after), so "
                              "scaling the projection is not scaling its output; use seq_bn or double_seq_bn")
        if list(found[name]) != sites:
            raise AdaptxError(f"scaled: adapters {sources[0]!r} and {name!r} sit in different layers "
                              "(different adapter configurations); combine adapters of one configuration")
    scales = AdapterScales(sources, sites, per_layer)
    for k, name in enumerate(sources):
        for j, site in enumerate(sites):
            found[name][site].register_forward_hook(_scaling_hook(scales, k, j))
    return scales


def _scaling_hook(scales: AdapterScales, k: int, j: int):
    def hook(module, args, output):
        return output * scales.factor(k, j)
    return hook
