"""Adapters and fusion layers on disk: saved as safetensors with the adaptx-adapter.json that names
the base they were trained on, loaded from safetensors only (never the library's pickle fallback)
and held tensor by tensor to the parameters they load into.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .errors import AdaptxError
from .fileio import read_json
from .weight_files import require_safetensors

# the adapters library's weight file names (adapters.utils): with use_safetensors=True it still falls
# back to pickles (pytorch_adapter.bin) when these are missing, so adaptx checks for them first
ADAPTER_WEIGHTS = "adapter.safetensors"
FUSION_WEIGHTS = "model_adapter_fusion.safetensors"


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


def save_adapter(encoder, out_dir: Path, name: str, fingerprint: dict, method: str, **extra) -> None:
    """One adapter as safetensors plus adaptx-adapter.json (what check_adapter_compatible reads)."""
    folder = out_dir / f"adapter-{name}"
    folder.mkdir(exist_ok=True)
    encoder.save_adapter(str(folder), name, with_head=False, use_safetensors=True)
    meta = {"name": name, "base_fingerprint": fingerprint, "adapter_config": method,
            "reduction_factor": encoder.adapters_config.get(name)["reduction_factor"], **extra}
    (folder / "adaptx-adapter.json").write_text(json.dumps(meta, indent=2))


def load_adapter(encoder, folder: Path, name: str) -> None:
    """One saved adapter, from safetensors only (never the library's pickle fallback), checked to
    hold exactly the tensors of the adapter its adapter_config.json describes."""
    remedy = "delete the stage folder that saved it to retrain it"
    weights = require_safetensors(folder, f"adapter {name!r} folder", remedy, (ADAPTER_WEIGHTS,))[0]
    _load_checked(encoder, weights, f".adapters.{name}.", f"adapter {name!r}", remedy,
                  lambda: encoder.load_adapter(str(folder), load_as=name, with_head=False, use_safetensors=True))


def load_fusion(encoder, folder: Path, key: str, remedy: str) -> None:
    """A saved AdapterFusion layer, checked like an adapter (load_adapter's checks)."""
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
