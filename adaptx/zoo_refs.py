"""The `zoo:NAME` syntax of configs: a published adapter listed where an intermediate task goes.

Pure string rules, known to the config checks, the stage planner and the zoo alike.
"""

from __future__ import annotations

import re

from .errors import AdaptxError

ZOO_PREFIX = "zoo:"
# no dots (adapter names become torch module names), no ':' or '/' (file and hub paths)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise AdaptxError(f"zoo entry name {name!r}: expected 1-80 letters, digits, '-' or '_', starting with a "
                          "letter or digit (no dots, colons or slashes), e.g. qqp-e5small-s0")
    return name


def is_zoo_ref(token: str) -> bool:
    return isinstance(token, str) and token.startswith(ZOO_PREFIX)


def zoo_ref_name(token: str) -> str:
    return token[len(ZOO_PREFIX):]


def zoo_adapter_name(token: str) -> str:
    """The adapter name a zoo entry is loaded as in a run (never equal to a task name)."""
    return "zoo-" + zoo_ref_name(token)
