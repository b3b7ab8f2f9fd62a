"""A per-user cache of `adaptx rank`'s features, keyed by a content hash of everything they depend on.

A ranking's cost is its forward passes: the target's features under every candidate adapter and
the plain base, and every dataset's text embeddings. They depend on the model (the base's weights
by checksum, each adapter file's sha256, the setup, dtype, device type, torch's version), on the
exact token ids and rows read, the pooling and the batch size. The key is the sha256 of all of
them, so a changed adapter, row or setting is a new entry and a stale one is never read: a rerun
(another `--top`, a `--grid` to score against, one more candidate) recomputes only what is new.

Entries are .npy files under <adaptx home>/rank-features/, written atomically; the features are
computed in float32, so they are stored as float32 and come back bit-identical. Delete the folder
to free the space; ADAPTX_RANK_CACHE=off turns the cache off.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

from ..fileio import adaptx_home

FOLDER = "rank-features"
FORMAT = 1  # bump when what adaptx.rank.features computes changes


def enabled() -> bool:
    return os.environ.get("ADAPTX_RANK_CACHE", "on").lower() not in ("off", "0", "false", "no")


def content_key(*parts) -> str:
    """sha256 over the parts: arrays by dtype, shape and bytes, everything else as sorted JSON."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(f"{part.dtype}{part.shape}".encode())
            digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
        digest.update(b"\0")
    return digest.hexdigest()


def cached(key: str | None, compute: Callable[[], np.ndarray], dtype=np.float64) -> np.ndarray:
    """The array stored under `key` as `dtype`, else compute() (then stored). key None: no caching."""
    if key is None or not enabled():
        return compute()
    path = adaptx_home() / FOLDER / f"{key}.npy"
    try:
        return np.load(path, allow_pickle=False).astype(dtype)
    except (OSError, ValueError):
        pass  # missing or damaged: computed again
    value = compute()
    _store(path, value)
    return value


def _store(path: Path, value: np.ndarray) -> None:
    """As float32 when that loses nothing (features computed in float32 and widened), else as it is."""
    narrow = value.astype(np.float32)
    if np.array_equal(narrow.astype(value.dtype), value):
        value = narrow
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(tmp, value, allow_pickle=False)
        os.replace(tmp, path)
    except OSError:
        pass  # an unwritable cache only costs recomputing next time
    finally:
        tmp.unlink(missing_ok=True)
