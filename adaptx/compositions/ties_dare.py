"""TIES and DARE merges of bottleneck adapters, on plain state dicts (pure torch).

The maths of the `ties` and `dare` compositions (adaptx.compositions.merges). `adapters` 1.3 merges
bottleneck adapters only linearly (`average_adapter`, which adaptx uses for `merge` and
`task_arithmetic`); these are the two merges it lacks, after Yadav et al. 2023 (TIES)
and Yu et al. 2024 (DARE), in the form peft's `add_weighted_adapter` gives them for LoRA.

A task vector is a fine-tuned model minus the model it started from. A bottleneck adapter starts
from a random initialisation that no two adapters share, so the only common origin is zero: the
task vector of an adapter is its weights themselves. Trimming (TIES) and dropping (DARE) act on
weight matrices only; vectors (biases, and any LayerNorm or gate vector) are kept whole — zeroing
half of a bias or a LayerNorm gain is not a small perturbation of a pre-trained value here, as it
is for a delta — and are then combined by the method's own rule (TIES: sign election and disjoint
mean; DARE: the weighted sum). Each state dict maps parameter names to tensors; all must have the
same names and shapes (adapters of one configuration).
"""

from __future__ import annotations

import math

import torch

from ..errors import AdaptxError

SIGN_METHODS = ("total", "frequency")


def _stacked(states: list[dict[str, torch.Tensor]], weights: list[float], what: str):
    """(names, weights tensor) after checking that the state dicts line up."""
    if len(states) < 2:
        raise AdaptxError(f"{what}: needs at least two adapters, got {len(states)}")
    if len(weights) != len(states):
        raise AdaptxError(f"{what}: {len(weights)} weights for {len(states)} adapters")
    names = sorted(states[0])
    for i, state in enumerate(states[1:], 1):
        if sorted(state) != names:
            extra = sorted(set(state) ^ set(names))[:3]
            raise AdaptxError(f"{what}: adapter {i} has other parameters than adapter 0 ({', '.join(extra)}); "
                              "only adapters of one configuration (method, reduction factor) can be merged")
        for name in names:
            if state[name].shape != states[0][name].shape:
                raise AdaptxError(f"{what}: {name} has shape {tuple(state[name].shape)} in adapter {i} but "
                                  f"{tuple(states[0][name].shape)} in adapter 0")
    return names, torch.tensor(weights, dtype=torch.float32)


def trim(tensor: torch.Tensor, density: float) -> torch.Tensor:
    """TIES' trim: the ceil(density * numel) entries of largest magnitude kept, the rest zero (ties at
    the threshold broken by position, as torch.topk breaks them)."""
    keep = math.ceil(density * tensor.numel())
    if keep >= tensor.numel():
        return tensor.clone()
    flat = tensor.flatten()
    mask = torch.zeros_like(flat, dtype=torch.bool)
    mask[flat.abs().topk(keep).indices] = True
    return (flat * mask).view_as(tensor)


def elect_sign(weighted: torch.Tensor, method: str) -> torch.Tensor:
    """One sign per entry over the adapters (dim 0): of the summed values ('total', TIES' mass) or of
    the count of positive vs negative values ('frequency'); a tie elects + (as peft does)."""
    if method == "total":
        votes = weighted.sum(0)
    elif method == "frequency":
        votes = torch.sign(weighted).sum(0)
    else:
        raise AdaptxError(f"TIES sign election {method!r}; allowed: {', '.join(SIGN_METHODS)}")
    return torch.where(votes >= 0, 1.0, -1.0)


def ties(states: list[dict[str, torch.Tensor]], weights: list[float], density: float,
         sign_method: str = "total", scale: float = 1.0) -> dict[str, torch.Tensor]:
    """TIES-merging: trim each adapter's matrices to their `density` largest magnitudes, weigh each
    adapter, elect a sign per entry, and average, per entry, only the nonzero values of the elected
    sign (the disjoint mean); everything times `scale` (the paper's lambda)."""
    if not 0 < density <= 1:
        raise AdaptxError(f"TIES: density must be in (0, 1], got {density}")
    names, w = _stacked(states, weights, "TIES")
    merged = {}
    for name in names:
        values = [s[name].float() for s in states]
        if values[0].dim() >= 2:
            values = [trim(v, density) for v in values]
        weighted = torch.stack(values) * w.view(-1, *[1] * values[0].dim())
        sign = elect_sign(weighted, sign_method)
        agree = (torch.sign(weighted) == sign) & (weighted != 0)
        mean = (weighted * agree).sum(0) / agree.sum(0).clamp(min=1)
        merged[name] = scale * mean
    return merged


def dare(states: list[dict[str, torch.Tensor]], weights: list[float], density: float, seed: int,
         scale: float = 1.0) -> dict[str, torch.Tensor]:
    """DARE: keep each entry of each adapter's matrices with probability `density` (drop rate
    1 - density) and rescale the kept ones by 1 / density, so each entry keeps its expected value;
    then the weighted sum, times `scale`. The masks come from one generator seeded with `seed`,
    drawn adapter by adapter and parameter by parameter in name order: the same seed, the same merge."""
    if not 0 < density <= 1:
        raise AdaptxError(f"DARE: density must be in (0, 1], got {density}")
    names, w = _stacked(states, weights, "DARE")
    generator = torch.Generator().manual_seed(int(seed))
    kept = []
    for state in states:
        one = {}
        for name in names:
            value = state[name].float()
            if value.dim() >= 2 and density < 1:
                mask = torch.bernoulli(torch.full(value.shape, density), generator=generator)
                value = value * mask / density
            one[name] = value
        kept.append(one)
    return {name: scale * sum(wi * k[name] for wi, k in zip(w.tolist(), kept)) for name in names}
