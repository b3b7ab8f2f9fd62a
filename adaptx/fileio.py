"""Where adaptx keeps its files, and how it writes them.

Atomic file writes: write beside the target, then rename, so readers never see half a file.
`adaptx_home` lives here (not in embedded.py) because both the embedded-model cache and the
fingerprint cache need it, and embedded.py itself needs fingerprint.file_digest.
"""

from __future__ import annotations

import os
from pathlib import Path


def atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # per process: two writers never share a temp file
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def adaptx_home() -> Path:
    """Per-user cache root; `ADAPTX_HOME` overrides it."""
    env = os.environ.get("ADAPTX_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "adaptx"
