"""The `scaled` composition (ScaLearn-style): a learned scale per source adapter and adapter layer
over the frozen adapters' outputs (adaptx.compositions.scalearn), under a new target adapter and
head. The scales train with the head and are saved beside it."""

from __future__ import annotations

from ..errors import AdaptxError
from ..strategy_row import Strategy
from ..weight_files import require_safetensors
from .average import average_block, keep_layer_norms_fp32
from .base import Composition, register

SCALES_FILE = "scales.safetensors"  # the learned scales, beside the head


@register
class Scaled(Composition):
    row = Strategy("scaled", "adapter", 2, "adapter", ("none",), 8, "target",
                   settings=("combine.scale_per_layer", "combine.train_target_adapter"))
    adapter_slots = ("scaled",)
    optional_slots = ("scaled", "scale_per_layer")

    def setup_fields(self, stage, cfg, names: list[str]) -> dict:
        return dict(own_adapter=cfg.combine.own_adapter(stage.task), frozen_adapters=names, scaled=names,
                    scale_per_layer=cfg.combine.scale_per_layer)

    def attach(self, encoder, setup) -> dict:
        from .scalearn import attach_scales

        scales = attach_scales(encoder, setup.scaled, setup.scale_per_layer is not False)
        keep_layer_norms_fp32(encoder)
        return {"scales": scales}

    def block(self, setup):
        # weights of 1: the block's mean keeps the residual; the scales sit in hooks (scalearn)
        return average_block(setup.scaled, [1.0] * len(setup.scaled))

    def save(self, model, out_dir) -> None:
        from safetensors.torch import save_file

        save_file({"omega": model.scales.omega.detach().contiguous()}, str(out_dir / SCALES_FILE))

    def load(self, model, out_dir, remedy: str) -> None:
        import torch
        from safetensors.torch import load_file

        path = out_dir / SCALES_FILE
        require_safetensors(path.parent, "saved model", remedy, (path.name,))
        omega = load_file(str(path)).get("omega")
        if omega is None or omega.shape != model.scales.omega.shape:
            raise AdaptxError(f"{path}: expected a tensor 'omega' of shape {tuple(model.scales.omega.shape)} (source "
                              f"adapters x adapter layers); {remedy}")
        with torch.no_grad():
            model.scales.omega.copy_(omega)
