"""Which adapter each AdapterFusion layer attends to, averaged over the rows a model predicts.

`adapters` computes the fusion's attention over adapters on every forward pass but returns it
only when asked (`output_attentions=True` on the fusion layer). `recording(model)` asks: a
pre-hook on each fusion layer turns that flag on, and a hook placed before adaptx's own fp32 hook
(compositions.fusion.keep_attention_in_fp32) takes the attention out of the layer's output, so the
layer returns exactly what it returned before and predictions do not change. Each row's weights
are averaged over its real tokens (the encoder's attention mask), then over rows.

With several processes each records the rows it predicts; `rows` says how many were averaged.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np


class FusionAttention:
    """Running sums of per-row mean attention, per (layer, location) of one fusion."""

    def __init__(self, adapters: list[str]):
        self.adapters = adapters
        self.sums: dict[tuple[int, str], np.ndarray] = {}
        self.rows: dict[tuple[int, str], int] = {}
        self.mask = None  # the attention mask of the batch being predicted

    def add(self, where: tuple[int, str], probs: np.ndarray) -> None:
        """probs: (batch, tokens, adapters) attention weights of one fusion layer."""
        mask = np.ones(probs.shape[:2]) if self.mask is None else self.mask[:, : probs.shape[1]]
        per_row = (probs * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1), 1)[:, None]
        self.sums[where] = self.sums.get(where, 0.0) + per_row.sum(axis=0)
        self.rows[where] = self.rows.get(where, 0) + probs.shape[0]

    def summary(self) -> dict | None:
        """{"adapters", "layers": [{"layer", "location", "weights"}], "rows"}: what evaluation files keep."""
        if not self.sums:
            return None
        layers = [{"layer": layer, "location": location,
                   "weights": [round(float(w), 6) for w in self.sums[layer, location] / self.rows[layer, location]]}
                  for layer, location in sorted(self.sums)]
        return {"adapters": self.adapters, "layers": layers, "rows": max(self.rows.values())}


def attention_record(attention: FusionAttention | None) -> dict:
    """What an evaluation file records of a fuse stage's attention (nothing for other stages)."""
    return {"fusion_attention": attention.summary()} if attention else {}


def summary_problem(summary) -> str | None:
    """What is wrong with a `fusion_attention` entry read back from an evaluation file (people edit
    and copy those), or None: the shape summary() writes, adapters named by strings, finite weights."""
    if not isinstance(summary, dict):
        return "expected an object with adapters, layers and rows"
    adapters, layers = summary.get("adapters"), summary.get("layers")
    if not isinstance(adapters, list) or not adapters or not all(isinstance(a, str) and a for a in adapters):
        return f"adapters: expected a list of adapter names, got {_short(adapters)}"
    if not isinstance(layers, list) or not layers:
        return f"layers: expected a non-empty list, got {_short(layers)}"
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict):
            return f"layers[{i}]: expected an object with layer, location and weights"
        index, weights = layer.get("layer"), layer.get("weights")
        if not isinstance(index, int) or isinstance(index, bool) or not isinstance(layer.get("location", ""), str):
            return f"layers[{i}]: layer {_short(index)}: expected a layer number (and a location name)"
        if not isinstance(weights, list) or len(weights) != len(adapters) or not all(
                isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) for w in weights):
            return (f"layers[{i}].weights: expected {len(adapters)} finite numbers (one per adapter), got "
                    f"{_short(weights)}")
    return None


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@contextmanager
def recording(model):
    """Yields a FusionAttention filled while the block runs (None for a model without fusion)."""
    from adapters.methods.bottleneck import BottleneckLayer

    encoder = getattr(model, "encoder", model)
    fusions = [(layer, name, fusion) for layer in encoder.modules() if isinstance(layer, BottleneckLayer)
               for name, fusion in layer.adapter_fusion_layer.items()]
    if not fusions:
        yield None
        return
    recorder = FusionAttention(fusions[0][1].split(","))  # Fuse(a, b) is named "a,b"; weights follow that order
    handles = [encoder.register_forward_pre_hook(_keep_mask(recorder), with_kwargs=True)]
    for layer, _, fusion in fusions:
        handles.append(fusion.register_forward_pre_hook(_ask_for_attention, with_kwargs=True))
        handles.append(fusion.register_forward_hook(_take_attention(recorder, (layer.layer_idx, layer.location_key)),
                                                    prepend=True))
    try:
        yield recorder
    finally:
        for handle in handles:
            handle.remove()


def _keep_mask(recorder: FusionAttention):
    def hook(module, args, kwargs):
        mask = kwargs.get("attention_mask", args[1] if len(args) > 1 else None)
        recorder.mask = None if mask is None else mask.detach().float().cpu().numpy()
    return hook


def _ask_for_attention(module, args, kwargs):
    return args, {**kwargs, "output_attentions": True}


def _take_attention(recorder: FusionAttention, where: tuple[int, str]):
    def hook(module, args, output):
        if isinstance(output, tuple):  # (context, attention probabilities as numpy)
            recorder.add(where, np.asarray(output[1], dtype=np.float64))
            return output[0]
        return None
    return hook
