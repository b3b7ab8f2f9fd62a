"""Which weight files adaptx loads from a folder: safetensors only, each checked before it is opened.

A pickled weight file (.bin, .pt, .pkl, ...) can run code when it is loaded, and both libraries
adaptx loads through fall back to one: `adapters` reads pytorch_adapter.bin with torch.load when
adapter.safetensors is missing, transformers reads pytorch_model.bin without use_safetensors=True.
Run folders are shared and copied like zoo entries, so every folder adaptx loads weights from
(adapters, fusion, heads, base and fine-tuned encoders) passes `require_safetensors` first.
"""

from __future__ import annotations

from pathlib import Path

from .errors import AdaptxError
from .safetensors_check import check_safetensors

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def require_safetensors(folder: Path, what: str, remedy: str, names: tuple[str, ...] = ()) -> list[Path]:
    """The safetensors files the loader will read from `folder`, each checked (`names`: the files it
    reads; empty: every *.safetensors, at least one). A folder without them is refused, naming the
    pickles found there instead."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AdaptxError(f"{what} {folder} does not exist; {remedy}")
    files = [folder / name for name in names] if names else sorted(folder.glob("*.safetensors"))
    missing = [f.name for f in files if not f.is_file()] if files else ["*.safetensors"]
    if missing:
        pickles = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
        if pickles:
            raise AdaptxError(f"{what} {folder} holds pickled weights ({', '.join(pickles)}) and no "
                              f"{', '.join(missing)}; adaptx loads safetensors only (a pickle can run code when "
                              f"it is loaded): {remedy}")
        raise AdaptxError(f"{what} {folder} has no {', '.join(missing)}; {remedy}")
    for file in files:
        check_safetensors(file)
    return files
