"""Task models: a base encoder + adaptx's own prediction head, with adapters wired per strategy.

This is the seam to the `adapters` library, with the compositions (adaptx.compositions) that it
hands a stage's combination of adapters to: adapters are added, loaded, stacked, fused and merged
only here and there, through the library's public API (`adapters.init`, `add_adapter`,
`load_adapter`, `add_adapter_fusion`, `average_adapter`, `Stack`, `Fuse`, `Average`,
`save_adapter(use_safetensors=True)`). Heads are plain torch modules saved as safetensors, and every
saved model carries a `setup.json` with the exact active setup, so a fusion can never be reloaded
without its head or with the wrong composition (a known silent failure of hand-wired setups).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from .adapter_files import check_adapter_compatible, load_adapter, save_adapter
from .compositions import composition_for, fusion
from .errors import AdaptxError
from .fileio import read_json
from .kinds import get_kind
from .run_folder import ENCODER_DIR, FROM_BASE_FILE, SETUP_FILE
from .strategies import get_strategy
from .weight_files import require_safetensors

HEAD_FILE = "head.safetensors"


@dataclass
class Setup:
    """Everything needed to rebuild a trained model exactly."""

    strategy: str  # intermediate | none | stack | fuse | average | merge | full | full-none | full-intermediate
    num_labels: int
    kind: str = "classification"  # the task kind whose head this model carries
    pooling: str = "first"
    dropout: float = 0.1
    adapter_config: str = "seq_bn"
    reduction_factor: int = 16
    own_adapter: str | None = None  # the adapter this stage trains
    frozen_adapters: list[str] = field(default_factory=list)  # loaded, never trained here
    fusion: list[str] = field(default_factory=list)  # adapters fused (fuse strategy)
    fusion_config: dict = field(default_factory=dict)  # resolved AdapterFusion settings (library keys)
    fusion_temperature: float | None = None  # the fusion softmax temperature the saved weights go with
    average: list[str] = field(default_factory=list)  # frozen adapters whose outputs are averaged (Average block)
    merge: list[str] = field(default_factory=list)  # frozen adapters merged in weight space into one (average_adapter)
    combine_weights: list[float] = field(default_factory=list)  # one per average/merge adapter, used as given
    # task_arithmetic, ties, dare (adaptx.compositions.merges): lambda ("scale"), "density", "sign_method", DARE's "seed"
    merge_settings: dict = field(default_factory=dict)
    scaled: list[str] = field(default_factory=list)  # frozen adapters under learned scales (compositions.scaled)
    scale_per_layer: bool | None = None  # scaled: one scale per adapter and layer (False: one per adapter)
    base_fingerprint: dict = field(default_factory=dict)
    # full-model strategies: the word embeddings stay the base's (not trained, not saved; full_frozen_embeddings)
    frozen_embeddings: bool = False
    # multi-task training (kind 'mixture'): one head per task, task -> {"kind", "num_labels"}; each
    # batch names the task whose head it goes through
    heads: dict = field(default_factory=dict)

    @property
    def uses_adapters(self) -> bool:
        # the strategy table knows which strategies fine-tune the whole encoder (full, full-none,
        # full-intermediate); everything else wires adapters
        return not get_strategy(self.strategy).full_model


class MultiTaskHead(nn.Module):
    """One head per task of a mixture; every forward call names its task."""

    def __init__(self, heads: dict[str, nn.Module]):
        super().__init__()
        self.heads = nn.ModuleDict(heads)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor, task: str | None = None, **inputs):
        if task not in self.heads:
            raise AdaptxError(f"multi-task head: batch for task {task!r}; this model has heads for "
                              f"{', '.join(self.heads)}")
        return self.heads[task](hidden, attention_mask, **inputs)


class TaskModel(nn.Module):
    def __init__(self, encoder: nn.Module, head: nn.Module, setup: Setup, autocast_dtype=None):
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.setup = setup
        self.autocast_dtype = autocast_dtype  # torch.bfloat16 when the frozen base is bf16

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, task: str | None = None,
                **head_inputs) -> torch.Tensor:
        """task: which head of a multi-task model (None for one head); head_inputs: what a head needs
        besides the hidden states (the masked-LM head: the masked positions)."""
        device_type = input_ids.device.type
        # the library lowers the fusion temperature on every forward call; evaluation must not
        # move it, or a prediction would depend on how many batches came before it
        frozen_temperature = None if self.training else self.fusion_temperature()
        try:
            with torch.autocast(device_type, dtype=self.autocast_dtype or torch.float32,
                                enabled=self.autocast_dtype is not None):
                hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
                if task is not None:
                    head_inputs["task"] = task
                return self.head(hidden, attention_mask, **head_inputs)
        finally:
            if frozen_temperature is not None:
                self.set_fusion_temperature(frozen_temperature)

    def trainable_parameters(self) -> dict[str, nn.Parameter]:
        return {n: p for n, p in self.named_parameters() if p.requires_grad}

    # the fusion's state, asked by the training loop (adaptx.compositions.fusion has the mechanics)
    def _fusion_layers(self) -> list[nn.Module]:
        return fusion.fusion_layers(self.encoder)

    def fusion_temperature(self) -> float | None:
        """The fusion softmax temperature (the same in every layer), or None without fusion."""
        return fusion.temperature(self.encoder)

    def set_fusion_temperature(self, value: float | None) -> None:
        fusion.set_temperature(self.encoder, value)

    def fusion_value_distance(self) -> float | None:
        """How far the fusion's value matrices moved from identity (None without a value matrix)."""
        return fusion.value_distance(self.encoder)

    def regularization_loss(self) -> torch.Tensor | None:
        """AdapterFusion's value-matrix regulariser where the fusion settings ask for it, else None."""
        return fusion.regularization_loss(self.encoder, self.setup)


def _adapter_config(setup: Setup):
    import adapters

    if setup.adapter_config == "seq_bn":
        return adapters.SeqBnConfig(reduction_factor=setup.reduction_factor)
    if setup.adapter_config == "double_seq_bn":
        return adapters.DoubleSeqBnConfig(reduction_factor=setup.reduction_factor)
    raise AdaptxError(f"adapter config {setup.adapter_config!r}; expected seq_bn or double_seq_bn")


def _set_trainable(model: TaskModel, setup: Setup, extras: dict[str, nn.Module]) -> None:
    """Exactly the parameters a strategy trains, whatever the library's defaults are."""
    if not setup.uses_adapters:
        for p in model.parameters():
            p.requires_grad_(True)
        if setup.frozen_embeddings:
            model.encoder.get_input_embeddings().weight.requires_grad_(False)
        return
    composition = composition_for(setup.strategy)
    for name, p in model.encoder.named_parameters():
        own = setup.own_adapter is not None and f"adapters.{setup.own_adapter}." in name
        p.requires_grad_(own or (composition is not None and composition.trains(name, setup)))
    for module in (model.head, *extras.values()):  # the head, and what the composition attached (scales)
        for p in module.parameters():
            p.requires_grad_(True)


def build_model(encoder: nn.Module, setup: Setup, adapter_dirs: dict[str, Path] | None = None,
                autocast_dtype=None) -> TaskModel:
    """Wire adapters for `setup` onto a freshly loaded encoder and add a new head.

    adapter_dirs: saved adapters (name -> folder) for `frozen_adapters`.
    """
    hidden = encoder.config.hidden_size
    if setup.heads:
        head = MultiTaskHead({task: get_kind(spec["kind"]).head(hidden, spec["num_labels"], setup.pooling,
                                                                 setup.dropout) for task, spec in setup.heads.items()})
    else:
        head = get_kind(setup.kind).head(hidden, setup.num_labels, setup.pooling, setup.dropout)
    for module in head.modules():  # a masked-LM head scores against the encoder's own word embeddings
        if hasattr(module, "tie"):
            module.tie(encoder.get_input_embeddings())
    extras = _wire_adapters(encoder, setup, adapter_dirs) if setup.uses_adapters else {}
    model = TaskModel(encoder, head, setup, autocast_dtype)
    for name, module in extras.items():
        model.add_module(name, module)
    _set_trainable(model, setup, extras)
    return model


def _wire_adapters(encoder: nn.Module, setup: Setup, adapter_dirs: dict[str, Path] | None) -> dict[str, nn.Module]:
    """The frozen adapters, the composition over them, the stage's own adapter on top; returns what the
    composition attached beside them (adaptx.compositions.base.Composition.attach)."""
    import adapters

    composition = composition_for(setup.strategy)
    adapters.init(encoder)
    for name in setup.frozen_adapters:
        folder = Path((adapter_dirs or {}).get(name, ""))
        check_adapter_compatible(folder, setup.base_fingerprint)
        load_adapter(encoder, folder, name)
    if composition:
        composition.prepare(encoder, setup)
    if setup.own_adapter:
        encoder.add_adapter(setup.own_adapter, config=_adapter_config(setup))
    extras = composition.attach(encoder, setup) if composition else {}
    _activate(encoder, setup)
    # adapter/fusion weights stay fp32 master weights even on a bf16 base
    for name, module in encoder.named_modules():
        if ".adapters." in f".{name}." or "adapter_fusion_layer" in name:
            module.float()
    return extras


def save_model(model: TaskModel, out_dir: Path, full_dtype: str = "fp32") -> None:
    """Write the trained parts as safetensors plus setup.json (the shareable artifact). full_dtype: what a
    fully fine-tuned encoder is saved in (config full_save_dtype); below fp32 its weights are rounded in
    memory first, so the model evaluated next is the one a reload gives (loaders read it back in fp32)."""
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    setup = model.setup
    enc = model.encoder
    if setup.uses_adapters:
        if setup.own_adapter:
            save_adapter(enc, out_dir, setup.own_adapter, setup.base_fingerprint, setup.adapter_config)
        if composition := composition_for(setup.strategy):
            composition.save(model, out_dir)
    else:
        _save_encoder(enc, out_dir / ENCODER_DIR, full_dtype, setup.frozen_embeddings)
    save_file({k: v.detach().contiguous() for k, v in model.head.state_dict().items()}, str(out_dir / HEAD_FILE))
    setup.fusion_temperature = model.fusion_temperature()
    (out_dir / SETUP_FILE).write_text(json.dumps(asdict(setup), indent=2))


def _save_encoder(encoder, folder: Path, dtype: str, frozen_embeddings: bool) -> None:
    """A fully fine-tuned encoder in `dtype`; with frozen embeddings, without them: a from-base.json lists
    what a loader takes from the base instead (adaptx.models.load_encoder)."""
    kept_frozen = []
    if frozen_embeddings:
        weight = encoder.get_input_embeddings().weight
        kept_frozen = [name for name, p in encoder.named_parameters() if p is weight]
    state = _rounded_state(encoder, dtype, skip=set(kept_frozen))
    if kept_frozen:
        if state is None:  # fp32: saved as trained, less what the base provides
            state = {name: t for name, t in encoder.state_dict().items() if name not in kept_frozen}
        # first: a folder cut short by a crash is never read as a whole encoder
        folder.mkdir(parents=True, exist_ok=True)
        (folder / FROM_BASE_FILE).write_text(json.dumps(
            {"tensors": kept_frozen, "why": "kept frozen at the base's values while the rest trained "
                                            "(full_frozen_embeddings): loaded from the base model"}, indent=1))
    encoder.save_pretrained(folder, safe_serialization=True, state_dict=state)


def _rounded_state(encoder, dtype: str, skip: set[str] = frozenset()) -> dict | None:
    """None (save as trained), or the encoder's floating-point weights in `dtype`, after rounding the
    encoder's own fp32 weights to the same values in place (except those in `skip`, which are not saved)."""
    if dtype == "fp32":
        return None
    target = {"bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
    state = {}
    with torch.no_grad():
        for name, tensor in encoder.state_dict().items():
            if name in skip:
                continue
            if tensor.is_floating_point():
                low = tensor.to(target)
                tensor.copy_(low)  # fp32 holds every bf16/fp16 value exactly: memory now equals the file
                tensor = low
            state[name] = tensor.contiguous()
    return state


def load_model(out_dir: Path, base_loader, adapter_dirs: dict[str, Path] | None = None,
               autocast_dtype=None) -> TaskModel:
    """Rebuild a saved model exactly: base_loader(encoder_folder_or_None) returns a fresh encoder."""
    from safetensors.torch import load_file

    setup_path = out_dir / SETUP_FILE
    if not setup_path.is_file():
        raise AdaptxError(f"{out_dir}: no {SETUP_FILE}; not a saved adaptx model")
    remedy = f"delete the stage folder {out_dir.parent} to redo it"
    try:
        setup = Setup(**read_json(setup_path, remedy, dict))
    except TypeError as exc:
        raise AdaptxError(f"{setup_path}: unreadable ({exc}); {remedy}") from exc
    head_file = require_safetensors(out_dir, "saved model", remedy, (HEAD_FILE,))[0]
    if setup.uses_adapters:
        encoder = base_loader(None)
        model = build_model(encoder, setup, adapter_dirs, autocast_dtype)
        if setup.own_adapter:
            load_adapter(model.encoder, out_dir / f"adapter-{setup.own_adapter}", setup.own_adapter)
        if composition := composition_for(setup.strategy):
            composition.load(model, out_dir, remedy)
        _activate(model.encoder, setup)  # load_adapter re-activates what it loads: restore the composition
    else:
        model = build_model(base_loader(out_dir / ENCODER_DIR), setup, autocast_dtype=autocast_dtype)
    try:
        model.head.load_state_dict(load_file(str(head_file)))
    except RuntimeError as exc:  # missing, unexpected or reshaped tensors
        raise AdaptxError(f"{head_file} does not fit the head {SETUP_FILE} describes ({str(exc).splitlines()[0]}); "
                          f"{remedy}") from exc
    return model.eval()


def _activate(encoder, setup: Setup) -> None:
    """The active composition, bottom to top: the composition's block (fusion, average, merged adapter,
    ...) or the one frozen adapter (stack), under the own adapter."""
    from adapters.composition import Stack

    if composition := composition_for(setup.strategy):
        below = composition.block(setup)
    else:
        below = setup.frozen_adapters[0] if setup.frozen_adapters else None
    active = Stack(below, setup.own_adapter) if below is not None and setup.own_adapter else below or setup.own_adapter
    # set_active_adapters opens a forward context before the new setup is active, which makes
    # adapters log a misleading "none are activated" warning: quiet that logger for this call only
    mixin_logger = logging.getLogger("adapters.model_mixin")
    level = mixin_logger.level
    mixin_logger.setLevel(logging.ERROR)
    try:
        encoder.set_active_adapters(active)
    finally:
        mixin_logger.setLevel(level)
