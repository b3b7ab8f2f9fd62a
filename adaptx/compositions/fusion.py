"""The `fuse` composition: an AdapterFusion layer (Pfeiffer et al. 2021) trained over frozen adapters.

Its row, its `fusion:` config section, its setup (the fused adapters and the resolved library
settings) and its mechanics: the fusion layer added through the library's public API, kept in fp32
on a CPU, saved and loaded checked like an adapter, its temperature, value matrices and regulariser.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..adapter_files import load_fusion
from ..config_fields import in_range, one_of
from ..strategy_row import Strategy
from .base import Composition, register

FUSION_PRESETS = ("dynamic", "static")


@dataclass
class FusionSettings:
    """AdapterFusion (Pfeiffer et al. 2021). Every null setting takes the preset's value.

    The paper's setting: preset dynamic (value matrix initialised near identity, regularised
    towards it) with include_target_adapter: true (the target task's own adapter, trained
    first, fused with the intermediate adapters) and the fusion learning rate 5e-5.
    """

    preset: str = one_of(FUSION_PRESETS, default="dynamic")  # dynamic (value matrix, regularised) | static (none)
    key: bool | None = None
    query: bool | None = None
    value: bool | None = None
    query_before_ln: bool | None = None
    regularization: bool | None = None  # pull the value matrix towards identity (0.01 * ||I - V||^2)
    residual_before: bool | None = None
    temperature: bool | None = None  # softmax temperature 50 -> 1, lowered on every training forward
    value_before_softmax: bool | None = None
    value_initialized: bool | None = None  # value matrix starts as identity
    dropout_prob: float | None = in_range("[0, 1)", default=None)  # null: the base model's attention dropout
    include_target_adapter: bool = False  # fuse the target task's own adapter too (the paper's setting)
    train_target_adapter: bool = False  # also train a new target adapter stacked on the fusion

    def library_settings(self) -> dict:
        """The resolved AdapterFusion settings: the preset, then every explicit value."""
        from adapters import AdapterFusionConfig

        overrides = {k: v for k, v in dataclasses.asdict(self).items()
                     if k not in ("preset", "include_target_adapter", "train_target_adapter") and v is not None}
        return AdapterFusionConfig.load(self.preset, **overrides).to_dict()


@register
class Fusion(Composition):
    row = Strategy("fuse", "adapter", 2, "fusion", ("none",), 2, "fusion", default=True)
    adapter_slots = ("fusion",)

    def setup_fields(self, stage, cfg, names: list[str]) -> dict:
        own = None
        if cfg.fusion.train_target_adapter:  # a new target adapter on top; the fused one keeps the task's name
            own = f"{stage.task}-top" if stage.task in names else stage.task
        return dict(own_adapter=own, frozen_adapters=names, fusion=names, fusion_config=cfg.fusion.library_settings())

    def attach(self, encoder, setup) -> dict:
        from adapters.composition import Fuse

        encoder.add_adapter_fusion(Fuse(*setup.fusion), config=setup.fusion_config or "dynamic")
        keep_attention_in_fp32(encoder)
        return {}

    def block(self, setup):
        from adapters.composition import Fuse

        return Fuse(*setup.fusion)

    def trains(self, parameter: str, setup) -> bool:
        return f"adapter_fusion_layer.{','.join(setup.fusion)}." in parameter

    def save(self, model, out_dir) -> None:
        folder = out_dir / "fusion"
        folder.mkdir(exist_ok=True)
        model.encoder.save_adapter_fusion(str(folder), ",".join(model.setup.fusion), use_safetensors=True)

    def load(self, model, out_dir, remedy: str) -> None:
        load_fusion(model.encoder, out_dir / "fusion", ",".join(model.setup.fusion), remedy)
        set_temperature(model.encoder, model.setup.fusion_temperature)  # where training left it

    def metrics(self, setup, model) -> dict:
        return {"fusion": {"settings": setup.fusion_config, "value_distance_from_identity": value_distance(model.encoder)}}


def fusion_layers(encoder) -> list:
    """The model's AdapterFusion layers, one per adapter layer (none without a fusion)."""
    from adapters.methods.modeling import BertFusion

    return [m for m in encoder.modules() if isinstance(m, BertFusion)]


def temperature(encoder) -> float | None:
    """The fusion softmax temperature (the same in every layer), or None without fusion."""
    layers = fusion_layers(encoder)
    return float(layers[0].T) if layers else None


def set_temperature(encoder, value: float | None) -> None:
    if value is not None:
        for layer in fusion_layers(encoder):
            layer.T = float(value)


def value_distance(encoder) -> float | None:
    """Mean over layers of ||V - I|| (Frobenius): how far the fusion's value matrices moved from
    identity, the quantity the regulariser penalises. None without a value matrix."""
    import torch

    values = [layer.value.weight.detach().float() for layer in fusion_layers(encoder) if hasattr(layer, "value")]
    if not values:
        return None
    eye = torch.eye(values[0].shape[0])
    return sum(torch.linalg.matrix_norm(v - eye).item() for v in values) / len(values)


def regularization_loss(encoder, setup):
    """AdapterFusion's value-matrix regulariser, 0.01 * sum over layers of ||I - V||^2, exactly as
    the library defines it (`get_fusion_regularization_loss`). adapters applies it only inside
    its own AdapterTrainer; adaptx's loop adds it to the loss when the fusion settings ask for it."""
    config = setup.fusion_config
    if not (setup.fusion and config.get("regularization") and config.get("value")):
        return None
    return encoder.get_fusion_regularization_loss()


def keep_attention_in_fp32(encoder) -> None:
    """Run AdapterFusion's attention over adapters outside CPU bf16 autocast.

    Its per-token attention is thousands of tiny batched matmuls; in bf16 on a CPU they are
    ~10x slower than in fp32 (GUIDE §3: a 2-adapter fusion batch took 21 s in bf16, 2.8 s in
    fp32). Forward hooks (public torch API, the library is untouched) switch autocast off for
    each fusion layer and cast its inputs to fp32; its output goes back to the input dtype, so
    the rest of the model sees what it saw before. GPUs keep autocast: their bf16 bmm is fast.
    """
    import torch

    def before(module, args, kwargs):
        on_cpu = bool(args) and torch.is_tensor(args[0]) and args[0].device.type == "cpu"
        context = torch.autocast("cpu", enabled=False) if on_cpu and torch.is_autocast_enabled("cpu") else None
        module.__dict__.setdefault("_adaptx_fp32", []).append((context, args[0].dtype if args else None))
        if context is None:
            return None
        context.__enter__()
        return tuple(a.float() if torch.is_tensor(a) else a for a in args), kwargs

    def after(module, args, kwargs, output):
        context, dtype = module.__dict__["_adaptx_fp32"].pop()
        if context is None:
            return None
        context.__exit__(None, None, None)
        return output.to(dtype) if torch.is_tensor(output) else output

    for module in fusion_layers(encoder):
        module.register_forward_pre_hook(before, with_kwargs=True)
        module.register_forward_hook(after, with_kwargs=True, always_call=True)
