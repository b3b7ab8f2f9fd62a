"""The name an adapter is saved and loaded under, and its inverse.

'<task>-s<seed>-<base tag>' (base tag: 8 hex digits of the base weights' fingerprint), so adapters of
different tasks, seeds or base models never collide when loaded side by side, exported, or published;
zoo entries keep 'zoo-NAME'. Pure string rules: the stage recipes build names, the analysis reads
them back.
"""

from __future__ import annotations

import re

_SUFFIX = re.compile(r"-s[0-9]+-[0-9a-f]{8}$")


def saved_name(name: str, seed: int, base_tag: str) -> str:
    return name if name.startswith("zoo-") else f"{name}-s{seed}-{base_tag}"


def role(saved: str) -> str:
    """'xnli-s1-da0cadf3' -> 'xnli': what the adapter is, the same for every seed of a row."""
    return _SUFFIX.sub("", saved)
