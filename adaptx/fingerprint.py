"""Content fingerprints of files (data files, base-model weights), cached per user.

A stage's hash must change when the bytes it read change, whatever the file is called, so
files are identified by their sha256. Hashing a 2 GB checkpoint on every run would be slow,
so digests are cached under the adaptx home keyed by (real path, size, mtime, inode): a
file that is rewritten gets a new mtime and is hashed again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .errors import AdaptxError
from .fileio import adaptx_home, atomic_write_text, open_regular, read_text

_CACHE_FILE = "fingerprints.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open_regular(path, "rb") as handle:  # a FIFO is refused, never waited on
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _cache_path() -> Path:
    return adaptx_home() / _CACHE_FILE


def _read_cache(path: Path) -> dict:
    try:
        data = json.loads(read_text(path))
        return data if isinstance(data, dict) else {}
    except (AdaptxError, OSError, ValueError):
        return {}  # a missing or damaged cache only costs re-hashing


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes, from the cache when the file has not changed since it was hashed."""
    real = Path(path).resolve()
    stat = real.stat()
    key = f"{real}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ino}"
    cache_path = _cache_path()
    cache = _read_cache(cache_path)
    if key in cache:
        return cache[key]
    digest = sha256_file(real)
    cache = {k: v for k, v in _read_cache(cache_path).items() if not k.startswith(f"{real}|")}
    cache[key] = digest
    try:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(cache_path, json.dumps(cache, indent=0))
    except OSError:
        pass  # an unwritable cache only costs re-hashing next time
    return digest


def folder_digest(folder: str | Path, patterns: tuple[str, ...]) -> dict[str, str]:
    """Digests of the files in `folder` matching any glob in `patterns`, by relative name."""
    root = Path(folder)
    files = sorted({p for pattern in patterns for p in root.glob(pattern) if p.is_file()})
    return {str(p.relative_to(root)): file_digest(p) for p in files}


def base_fingerprint(identity: dict) -> str:
    """A checksum fingerprint of a base model's weights, from BaseModel.identity() (a stage recipe's
    `base`): sha256 over the sorted sha256s of its weight files, or hub id @ revision."""
    weights = identity.get("weights_sha256")
    if weights:
        return "sha256:" + sha256_text(json.dumps(sorted(weights.values())))
    return f"hub:{identity.get('hub_id')}@{identity.get('revision')}"
