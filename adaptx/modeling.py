"""Task models: a base encoder + adaptx's own prediction head, with adapters wired per strategy.

This is the seam to the `adapters` library: adapters are added, loaded, stacked and fused
only here, through its public API (`adapters.init`, `add_adapter`, `load_adapter`,
`add_adapter_fusion`, `average_adapter`, `Stack`, `Fuse`, `Average`, `save_adapter(use_safetensors=True)`). Heads are
plain torch modules saved as safetensors, and every saved model carries a `setup.json`
with the exact active setup, so a fusion can never be reloaded without its head or with
the wrong composition (a known silent failure of hand-wired setups).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from .errors import AdaptxError
from .fileio import read_json
from .kinds import get_kind
from .merging import dare, ties
from .scaled import attach_scales
from .strategies import get_strategy
from .weight_files import require_safetensors

SETUP_FILE = "setup.json"
HEAD_FILE = "head.safetensors"
# the adapters library's weight file names (adapters.utils): with use_safetensors=True it still falls
# back to pickles (pytorch_adapter.bin) when these are missing, so adaptx checks for them first
ADAPTER_WEIGHTS = "adapter.safetensors"
FUSION_WEIGHTS = "model_adapter_fusion.safetensors"
SCALES_FILE = "scales.safetensors"  # the scaled composition's learned scales


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
    # task_arithmetic, ties, dare (adaptx.merging): lambda ("scale"), "density", "sign_method", DARE's "seed"
    merge_settings: dict = field(default_factory=dict)
    scaled: list[str] = field(default_factory=list)  # frozen adapters under learned scales (adaptx.scaled)
    scale_per_layer: bool | None = None  # scaled: one scale per adapter and layer (False: one per adapter)
    base_fingerprint: dict = field(default_factory=dict)
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

    def _fusion_layers(self) -> list[nn.Module]:
        from adapters.methods.modeling import BertFusion

        return [m for m in self.encoder.modules() if isinstance(m, BertFusion)]

    def fusion_temperature(self) -> float | None:
        """The fusion softmax temperature (the same in every layer), or None without fusion."""
        layers = self._fusion_layers()
        return float(layers[0].T) if layers else None

    def set_fusion_temperature(self, value: float | None) -> None:
        if value is not None:
            for layer in self._fusion_layers():
                layer.T = float(value)

    def fusion_value_distance(self) -> float | None:
        """Mean over layers of ||V - I|| (Frobenius): how far the fusion's value matrices moved from
        identity, the quantity the regulariser penalises. None without a value matrix."""
        values = [layer.value.weight.detach().float() for layer in self._fusion_layers() if hasattr(layer, "value")]
        if not values:
            return None
        eye = torch.eye(values[0].shape[0])
        return sum(torch.linalg.matrix_norm(v - eye).item() for v in values) / len(values)

    def regularization_loss(self) -> torch.Tensor | None:
        """AdapterFusion's value-matrix regulariser, 0.01 * sum over layers of ||I - V||^2, exactly as
        the library defines it (`get_fusion_regularization_loss`). adapters applies it only inside
        its own AdapterTrainer; adaptx's loop adds it to the loss when the fusion settings ask for it."""
        config = self.setup.fusion_config
        if not (self.setup.fusion and config.get("regularization") and config.get("value")):
            return None
        return self.encoder.get_fusion_regularization_loss()


def _adapter_config(setup: Setup):
    import adapters

    if setup.adapter_config == "seq_bn":
        return adapters.SeqBnConfig(reduction_factor=setup.reduction_factor)
    if setup.adapter_config == "double_seq_bn":
        return adapters.DoubleSeqBnConfig(reduction_factor=setup.reduction_factor)
    raise AdaptxError(f"adapter config {setup.adapter_config!r}; expected seq_bn or double_seq_bn")


def check_adapter_compatible(adapter_dir: Path, fingerprint: dict) -> None:
    """Refuse an adapter trained on another base model before anything is loaded."""
    meta_path = adapter_dir / "adaptx-adapter.json"
    if not meta_path.is_file():
        raise AdaptxError(f"{adapter_dir}: not an adaptx adapter folder (no adaptx-adapter.json)")
    theirs = read_json(meta_path, "delete the stage folder that saved it to retrain it", dict).get("base_fingerprint")
    if not isinstance(theirs, dict):
        raise AdaptxError(f"{meta_path}: base_fingerprint: expected an object; delete the stage folder that saved "
                          "it to retrain it")
    diffs = {k: (theirs.get(k), v) for k, v in fingerprint.items() if theirs.get(k) != v}
    if diffs:
        detail = ", ".join(f"{k}: adapter {a} vs base {b}" for k, (a, b) in diffs.items())
        raise AdaptxError(f"adapter {adapter_dir} was trained on a different base model ({detail})")


def _set_trainable(model: TaskModel, setup: Setup) -> None:
    """Exactly the parameters a strategy trains, whatever the library's defaults are."""
    if not setup.uses_adapters:
        for p in model.parameters():
            p.requires_grad_(True)
        return
    fusion_key = ",".join(setup.fusion)
    for name, p in model.encoder.named_parameters():
        own = setup.own_adapter is not None and f"adapters.{setup.own_adapter}." in name
        fused = bool(setup.fusion) and f"adapter_fusion_layer.{fusion_key}." in name
        p.requires_grad_(own or fused)
    for p in model.head.parameters():
        p.requires_grad_(True)
    if hasattr(model, "scales"):  # the scaled composition's scales (adaptx.scaled)
        for p in model.scales.parameters():
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
    scales = None
    if setup.uses_adapters:
        import adapters
        from adapters.composition import Fuse

        adapters.init(encoder)
        for name in setup.frozen_adapters:
            folder = Path((adapter_dirs or {}).get(name, ""))
            check_adapter_compatible(folder, setup.base_fingerprint)
            _load_adapter(encoder, folder, name)
        if setup.merge:
            _merge_adapters(encoder, setup)
        if setup.own_adapter:
            encoder.add_adapter(setup.own_adapter, config=_adapter_config(setup))
        if setup.fusion:
            encoder.add_adapter_fusion(Fuse(*setup.fusion), config=setup.fusion_config or "dynamic")
            _keep_fusion_attention_in_fp32(encoder)
        _activate(encoder, setup)
        scales = attach_scales(encoder, setup.scaled, setup.scale_per_layer is not False) if setup.scaled else None
        if setup.average or setup.scaled:
            # the library's Average block weighs its children with an fp32 tensor, which turns a bf16
            # stream into fp32 before the next base LayerNorm; fp32 LayerNorms take either dtype
            for module in encoder.modules():
                if isinstance(module, nn.LayerNorm):
                    module.float()
        # adapter/fusion weights stay fp32 master weights even on a bf16 base
        for name, module in encoder.named_modules():
            if ".adapters." in f".{name}." or "adapter_fusion_layer" in name:
                module.float()
    model = TaskModel(encoder, head, setup, autocast_dtype)
    if scales is not None:
        model.scales = scales
    _set_trainable(model, setup)
    return model


def merged_adapter_name(setup: Setup) -> str:
    return "+".join(setup.merge)


def _merge_adapters(encoder: nn.Module, setup: Setup) -> None:
    """The weight-space merges: one new adapter from the loaded ones, whose sources are then deleted,
    so only the merged adapter runs. `merge` and `task_arithmetic`: every weight is
    scale * sum_i w_i * weight_i (adapters' `average_adapter`, weights as given, not normalised:
    LoraHub-style weights may be negative or not sum to 1). `ties` and `dare`: the library creates the
    merged adapter (and refuses adapters of different configurations), adaptx.merging computes its
    weights. Saved with the stage (save_model) and loaded from there, so a stage predicts with the
    exact adapter it was trained on."""
    if len(setup.combine_weights) != len(setup.merge):
        raise AdaptxError(f"merge: {len(setup.combine_weights)} weights for {len(setup.merge)} adapters")
    method, settings = get_strategy(setup.strategy).merge_method or "linear", setup.merge_settings
    scale, name, n = float(settings.get("scale", 1.0)), merged_adapter_name(setup), len(setup.merge)
    linear = [scale * w for w in setup.combine_weights] if method == "linear" else [1.0 / n] * n
    try:
        encoder.average_adapter(name, list(setup.merge), weights=linear, normalize_weights=False)
    except ValueError as exc:  # e.g. adapters of different configurations (reduction factors)
        raise AdaptxError(f"cannot merge adapters {', '.join(setup.merge)}: {exc}") from exc
    if method != "linear":
        states = [_adapter_state(encoder, source) for source in setup.merge]
        if method == "ties":
            merged = ties(states, setup.combine_weights, settings["density"], settings["sign_method"], scale)
        else:
            merged = dare(states, setup.combine_weights, settings["density"], settings["seed"], scale)
        params = dict(encoder.named_parameters())
        with torch.no_grad():
            for key, value in merged.items():
                params[key.replace(_ANY_ADAPTER, f".adapters.{name}.")].copy_(value)
    for source in setup.merge:
        encoder.delete_adapter(source)


_ANY_ADAPTER = ".adapters.<merged>."  # an adapter's parameter names with its own name taken out


def _adapter_state(encoder: nn.Module, name: str) -> dict[str, torch.Tensor]:
    """One adapter's parameters, named without the adapter's name (so two adapters' names match)."""
    marker = f".adapters.{name}."
    return {n.replace(marker, _ANY_ADAPTER): p.detach() for n, p in encoder.named_parameters() if marker in n}


def _keep_fusion_attention_in_fp32(encoder: nn.Module) -> None:
    """Run AdapterFusion's attention over adapters outside CPU bf16 autocast.

    Its per-token attention is thousands of tiny batched matmuls; in bf16 on a CPU they are
    ~10x slower than in fp32 (GUIDE §3: a 2-adapter fusion batch took 21 s in bf16, 2.8 s in
    fp32). Forward hooks (public torch API, the library is untouched) switch autocast off for
    each fusion layer and cast its inputs to fp32; its output goes back to the input dtype, so
    the rest of the model sees what it saw before. GPUs keep autocast: their bf16 bmm is fast.
    """
    from adapters.methods.modeling import BertFusion

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

    for module in encoder.modules():
        if isinstance(module, BertFusion):
            module.register_forward_pre_hook(before, with_kwargs=True)
            module.register_forward_hook(after, with_kwargs=True, always_call=True)


def save_model(model: TaskModel, out_dir: Path) -> None:
    """Write the trained parts as safetensors plus setup.json (the shareable artifact)."""
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    setup = model.setup
    enc = model.encoder
    if setup.uses_adapters:
        if setup.own_adapter:
            _save_adapter(enc, out_dir, setup.own_adapter, setup.base_fingerprint, setup.adapter_config)
        if setup.merge:  # an ordinary adapter folder: stack it, fuse it or publish it like any other
            _save_adapter(enc, out_dir, merged_adapter_name(setup), setup.base_fingerprint, setup.adapter_config,
                          merged_from={"strategy": setup.strategy, "adapters": setup.merge,
                                       "weights": setup.combine_weights, "settings": setup.merge_settings})
        if setup.scaled:
            save_file({"omega": model.scales.omega.detach().contiguous()}, str(out_dir / SCALES_FILE))
        if setup.fusion:
            folder = out_dir / "fusion"
            folder.mkdir(exist_ok=True)
            enc.save_adapter_fusion(str(folder), ",".join(setup.fusion), use_safetensors=True)
    else:
        enc.save_pretrained(out_dir / "encoder", safe_serialization=True)
    save_file({k: v.detach().contiguous() for k, v in model.head.state_dict().items()}, str(out_dir / HEAD_FILE))
    setup.fusion_temperature = model.fusion_temperature()
    (out_dir / SETUP_FILE).write_text(json.dumps(asdict(setup), indent=2))


def _save_adapter(encoder, out_dir: Path, name: str, fingerprint: dict, method: str, **extra) -> None:
    """One adapter as safetensors plus adaptx-adapter.json (what check_adapter_compatible reads)."""
    folder = out_dir / f"adapter-{name}"
    folder.mkdir(exist_ok=True)
    encoder.save_adapter(str(folder), name, with_head=False, use_safetensors=True)
    meta = {"name": name, "base_fingerprint": fingerprint, "adapter_config": method,
            "reduction_factor": encoder.adapters_config.get(name)["reduction_factor"], **extra}
    (folder / "adaptx-adapter.json").write_text(json.dumps(meta, indent=2))


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
            _load_adapter(model.encoder, out_dir / f"adapter-{setup.own_adapter}", setup.own_adapter)
        merged = out_dir / f"adapter-{merged_adapter_name(setup)}"
        if setup.merge and merged.is_dir():  # the saved merge (stages saved before it was saved: rebuilt)
            _load_adapter(model.encoder, merged, merged_adapter_name(setup))
        if setup.scaled:
            _load_scales(model, out_dir / SCALES_FILE, remedy)
        if setup.fusion:
            _load_fusion(model.encoder, out_dir / "fusion", ",".join(setup.fusion), remedy)
        _activate(model.encoder, setup)  # load_adapter re-activates what it loads: restore the composition
        model.set_fusion_temperature(setup.fusion_temperature)
    else:
        model = build_model(base_loader(out_dir / "encoder"), setup, autocast_dtype=autocast_dtype)
    try:
        model.head.load_state_dict(load_file(str(head_file)))
    except RuntimeError as exc:  # missing, unexpected or reshaped tensors
        raise AdaptxError(f"{head_file} does not fit the head {SETUP_FILE} describes ({str(exc).splitlines()[0]}); "
                          f"{remedy}") from exc
    return model.eval()


def _load_scales(model: TaskModel, path: Path, remedy: str) -> None:
    from safetensors.torch import load_file

    require_safetensors(path.parent, "saved model", remedy, (path.name,))
    omega = load_file(str(path)).get("omega")
    if omega is None or omega.shape != model.scales.omega.shape:
        raise AdaptxError(f"{path}: expected a tensor 'omega' of shape {tuple(model.scales.omega.shape)} (source "
                          f"adapters x adapter layers); {remedy}")
    with torch.no_grad():
        model.scales.omega.copy_(omega)


def _load_adapter(encoder, folder: Path, name: str) -> None:
    """One saved adapter, from safetensors only (never the library's pickle fallback), checked to
    hold exactly the tensors of the adapter its adapter_config.json describes."""
    remedy = "delete the stage folder that saved it to retrain it"
    weights = require_safetensors(folder, f"adapter {name!r} folder", remedy, (ADAPTER_WEIGHTS,))[0]
    _load_checked(encoder, weights, f".adapters.{name}.", f"adapter {name!r}", remedy,
                  lambda: encoder.load_adapter(str(folder), load_as=name, with_head=False, use_safetensors=True))


def _load_fusion(encoder, folder: Path, key: str, remedy: str) -> None:
    """A saved AdapterFusion layer, checked like an adapter (_load_checked)."""
    weights = require_safetensors(folder, "fusion folder", remedy, (FUSION_WEIGHTS,))[0]
    _load_checked(encoder, weights, f".adapter_fusion_layer.{key}.", f"fusion {key!r}", remedy,
                  lambda: encoder.load_adapter_fusion(str(folder), key, use_safetensors=True))


# an adapter's or fusion's own name inside a parameter name: a saved adapter may be loaded under another
_OWNER = re.compile(r"\.(adapters|adapter_fusion_layer)\.[^.]+\.")


def _load_checked(encoder, weights: Path, marker: str, what: str, remedy: str, load) -> None:
    """load() the library's way, then hold the file to the parameters it loaded into (names with
    `marker`): the library loads non-strictly, so a file missing tensors would leave them as their
    random initialisation and predict silently, and one of other shapes fails inside torch."""
    try:
        load()
    except RuntimeError as exc:  # torch's load_state_dict: a tensor of another shape
        problem = _weights_problem(encoder, weights, marker) or str(exc).strip().splitlines()[-1].strip()
        raise AdaptxError(f"{weights} does not fit {what} ({problem}); {remedy}") from None
    problem = _weights_problem(encoder, weights, marker)
    if problem:
        raise AdaptxError(f"{weights} does not fit {what} ({problem}); {remedy}")


def _weights_problem(encoder, weights: Path, marker: str) -> str | None:
    """What a weights file lacks, has in excess, or has in another shape, against the model's own
    tensors whose names hold `marker`; None when they match one for one."""
    from .safetensors_check import tensor_shapes

    prefix = f"{getattr(encoder, 'base_model_prefix', '')}."

    def key(name: str) -> str:
        return _OWNER.sub(r".\1.*.", name.removeprefix(prefix))

    saved = {key(name): shape for name, shape in tensor_shapes(weights).items()}
    needed = {key(name): tuple(t.shape) for name, t in encoder.state_dict().items() if marker in f".{name}"}
    missing, extra = sorted(needed.keys() - saved.keys()), sorted(saved.keys() - needed.keys())
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        return f"it holds {len(needed) - len(missing)} of the {len(needed)} tensors needed; missing {missing[0]}{more}"
    if extra:
        return f"it holds {len(extra)} tensors the model has no place for, e.g. {extra[0]}"
    wrong = [name for name in sorted(needed) if saved[name] != needed[name]]
    if wrong:
        return (f"tensor {wrong[0]} has shape {list(saved[wrong[0]])}, the model's {list(needed[wrong[0]])} (another "
                "reduction factor or base width?)")
    return None


def average_block_weights(setup: Setup) -> list[float]:
    """The weights to give the library's Average block so that its output is sum_i w_i * h_i.

    adapters 1.3 returns mean_i(weights_i * h_i), a mean over the n children *after* weighting, so
    weights w_i given as they are would yield sum_i w_i * h_i / n: with the default 1/n each, every
    adapter layer's output (residual included) shrank to 1/n of the average. n * w_i undoes the mean."""
    n = len(setup.average)
    weights = list(setup.combine_weights) or [1.0 / n] * n
    return [n * w for w in weights]


def _activate(encoder, setup: Setup) -> None:
    """The active composition, bottom to top: (intermediate adapter | fusion | average of adapters |
    merged adapter) under the own adapter."""
    from adapters.composition import Average, Fuse, Stack

    if setup.merge:
        below = merged_adapter_name(setup)
    elif setup.scaled:  # weights of 1: the block's mean keeps the residual; the scales sit in hooks
        below = Average(*setup.scaled, weights=[1.0] * len(setup.scaled), normalize_weights=False)
    elif setup.average:
        below = Average(*setup.average, weights=average_block_weights(setup), normalize_weights=False)
    else:
        below = Fuse(*setup.fusion) if setup.fusion else (setup.frozen_adapters[0] if setup.frozen_adapters else None)
    composition = Stack(below, setup.own_adapter) if below is not None and setup.own_adapter else below or setup.own_adapter
    # set_active_adapters opens a forward context before the new setup is active, which makes
    # adapters log a misleading "none are activated" warning: quiet that logger for this call only
    mixin_logger = logging.getLogger("adapters.model_mixin")
    level = mixin_logger.level
    mixin_logger.setLevel(logging.ERROR)
    try:
        encoder.set_active_adapters(composition)
    finally:
        mixin_logger.setLevel(level)
