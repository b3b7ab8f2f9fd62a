"""Will the disk hold the run? Checked before any stage trains, so a run does not fail hours in on a full disk.

What a stage leaves on disk (docs/concepts.md, "Disk"):
  full-model stage   the whole encoder in fp32 (the base's parameters x 4 bytes; 449 MB for the embedded
                     base's 118M, 2.2 GB for XLM-R Large's 560M), half that with full_save_dtype bf16,
                     without the word embeddings with full_frozen_embeddings (18% of the embedded base's
                     parameters are left, 54% of XLM-R Large's)
  adapter stage      its adapter, fusion layers and head: a few MB (counted here as at most one h x h
                     matrix per layer plus the head, and three more per layer for a fusion)
  while it trains    a stage's checkpoint.safetensors: its trainable weights, the best weights so far and
                     AdamW's two moments (4 x its weights), deleted once the stage is done
The estimate counts the stages not yet done: their weights, plus the largest checkpoint one of them writes.
Evaluation files and logs (a few MB) are left out; so is the second checkpoint copy a write makes briefly.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .errors import AdaptxError
from .strategies import get_strategy

FP32 = 4  # bytes per saved parameter
SAVED_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}  # a full-model stage's encoder, by full_save_dtype
CHECKPOINT_COPIES = 4  # trainable weights, best weights, AdamW's exp_avg and exp_avg_sq


def base_parameters(config) -> int:
    """The parameter count of an encoder of this transformers config, built on the meta device (no memory)."""
    import torch
    from transformers import AutoModel

    with torch.device("meta"):
        try:
            model = AutoModel.from_config(config, add_pooling_layer=False)
        except TypeError:  # an architecture without a pooler option
            model = AutoModel.from_config(config)
    return sum(p.numel() for p in model.parameters())


def stage_bytes(strategy: str, config, parameters: int, full_dtype: str = "fp32",
                frozen_embeddings: bool = False) -> int:
    """The weights a trained stage saves (see the module docstring)."""
    if get_strategy(strategy).full_model:
        if frozen_embeddings:  # the word embeddings come from the base (full_frozen_embeddings)
            parameters -= config.vocab_size * config.hidden_size
        return parameters * SAVED_BYTES[full_dtype]
    hidden, layers = config.hidden_size, config.num_hidden_layers
    per_layer = hidden * hidden * (4 if get_strategy(strategy).fusion else 1)
    return (layers * per_layer + 2 * hidden * hidden) * FP32


def size(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n / 1e3:.0f} kB"


def free_bytes(run_dir: Path) -> int:
    """Free space where the run folder is (or will be: its nearest existing parent)."""
    path = Path(run_dir).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def needed(strategies: list[str], config, parameters: int, checkpoints: bool = True,
           full_dtype: str = "fp32", frozen_embeddings: bool = False) -> tuple[int, str]:
    """(bytes, how they add up) for the stages still to train, by their strategies. checkpoints=False: no
    stage trains long enough to write one (a smoke run's 2 steps)."""
    if not strategies:
        return 0, "nothing left to train"
    sizes = [stage_bytes(s, config, parameters, full_dtype, frozen_embeddings) for s in strategies]
    full = [b for s, b in zip(strategies, sizes) if get_strategy(s).full_model]
    adapter = [b for s, b in zip(strategies, sizes) if not get_strategy(s).full_model]
    # the checkpoint holds fp32 trainables whatever the saved dtype
    largest = max(stage_bytes(s, config, parameters, frozen_embeddings=frozen_embeddings) for s in strategies)
    checkpoint = largest * CHECKPOINT_COPIES if checkpoints else 0
    parts = [f"{len(full)} full-model stage(s) x {size(full[0])}" if full else "",
             f"{len(adapter)} adapter stage(s), {size(sum(adapter))} in all" if adapter else "",
             f"{size(checkpoint)} for the largest checkpoint while its stage trains" if checkpoints else ""]
    return sum(sizes) + checkpoint, "; ".join(p for p in parts if p)


def check_disk_budget(experiment, stages) -> None:
    """Refuse a run whose stages still to train cannot fit on the run folder's disk, with the numbers."""
    todo = [s.strategy for s in stages if s.trains and experiment.store.finished(s.id) is None]
    if not todo:
        return
    config = experiment.base.config
    total, parts = needed(todo, config, base_parameters(config), checkpoints=not experiment.cfg.smoke,
                          full_dtype=experiment.cfg.saved_full_dtype(experiment.runtime.dtype),
                          frozen_embeddings=experiment.cfg.full_frozen_embeddings)
    free = free_bytes(experiment.run_dir)
    if total > free:
        raise AdaptxError(f"run folder {experiment.run_dir}: this run needs about {size(total)} of disk ({parts}), but "
                          f"only {size(free)} is free there; free some space, pass --out with a folder on a larger "
                          "disk, or drop full-model strategies (each saves the whole encoder: README, \"Disk\")")
