"""Where adaptx keeps its files, and how it writes them.

Atomic file writes: write beside the target, then rename, so readers never see half a file.
`read_json`: the one reader of adaptx's own JSON files (run folders, caches), which turns every
way such a file can be broken -- missing, not UTF-8, not JSON, nested too deep for Python's
parser, the wrong top-level type -- into an AdaptxError naming the file and the remedy.
`adaptx_home` lives here (not in embedded.py) because both the embedded-model cache and the
fingerprint cache need it, and embedded.py itself needs fingerprint.file_digest.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import AdaptxError

JSON_TYPES = {dict: "a JSON object", list: "a JSON list"}


def atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # per process: two writers never share a temp file
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_json(path: Path, remedy: str, expect: type | None = None):
    """The parsed content of a JSON file; `expect` (dict or list): the top-level type it must have."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AdaptxError(f"{path} is missing; {remedy}") from None
    except RecursionError:  # json's parser recurses once per nesting level: a hostile file exhausts the stack
        raise AdaptxError(f"{path} is unreadable (JSON nested too deeply); {remedy}") from None
    except (OSError, ValueError) as exc:  # ValueError: JSONDecodeError and UnicodeDecodeError
        raise AdaptxError(f"{path} is unreadable ({type(exc).__name__}: {str(exc)[:100]}); {remedy}") from exc
    if expect is not None and not isinstance(data, expect):
        raise AdaptxError(f"{path}: expected {JSON_TYPES.get(expect, expect.__name__)}, found "
                          f"{type(data).__name__}; {remedy}")
    return data


def adaptx_home() -> Path:
    """Per-user cache root; `ADAPTX_HOME` overrides it."""
    env = os.environ.get("ADAPTX_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "adaptx"
