"""Which zoo folders a command reads and writes.

Two zoos take part. The user zoo (`--zoo DIR`, else `$ADAPTX_ZOO`, else `./adapter_zoo`) is where
add, pull and remove write. The shipped zoo comes with adaptx (adaptx/_zoo in an installed package,
the checkout's adapter_zoo/ in a source tree: adaptx.shipped) and is only read. `adaptx zoo list`
lists both, each row naming its zoo, and a name resolves from the user zoo first, then the shipped
one: a user entry of the same name shadows a shipped entry. In a checkout run from its root the
two are one folder, listed once.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import AdaptxError
from .shipped import zoo_dir
from .zoo_index import load_index

ENV_VAR = "ADAPTX_ZOO"
DEFAULT_ZOO = "adapter_zoo"
SHIPPED = "shipped"
USER = "user"


@dataclass(frozen=True)
class Zoo:
    path: Path
    origin: str  # USER or SHIPPED
    how: str  # what chose the folder, for people: "--zoo", "$ADAPTX_ZOO", "default ./adapter_zoo", "installed with adaptx"


def _user_choice(explicit) -> tuple[Path, str, str]:
    """(folder, the setting to change in a message, what chose it for a listing)."""
    if explicit:
        return Path(explicit).expanduser(), "--zoo", "--zoo (or the config's zoo_dir)"
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser(), f"${ENV_VAR}", f"${ENV_VAR}"
    return Path(DEFAULT_ZOO), f"--zoo or ${ENV_VAR}", f"the default zoo folder ./{DEFAULT_ZOO}"


def _checked(root: Path, setting: str) -> Path:
    if root.exists() and not root.is_dir():
        raise AdaptxError(f"zoo folder {root} is a file, not a folder; point {setting} at a zoo folder (a new or "
                          "existing folder holding index.json and one folder per entry)")
    return root


def user_zoo(explicit: str | Path | None = None) -> Path:
    """The zoo add/pull/remove write: the one given, else $ADAPTX_ZOO, else ./adapter_zoo (refused if a file
    is there)."""
    root, setting, _ = _user_choice(explicit)
    return _checked(root, setting)


def shipped_zoo() -> Path | None:
    return zoo_dir()


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def zoos(explicit: str | Path | None = None) -> list[Zoo]:
    """The zoos a listing shows, in resolution order: the user zoo, then the shipped one (once if they are
    the same folder)."""
    root, setting, how = _user_choice(explicit)
    _checked(root, setting)
    shipped = shipped_zoo()
    if shipped is not None and _same(root, shipped):
        return [Zoo(shipped, SHIPPED, f"installed with adaptx, also {how}")]
    found = [Zoo(root, USER, how)]
    return found + ([Zoo(shipped, SHIPPED, "installed with adaptx")] if shipped is not None else [])


def holding(zoo: Path, name: str) -> Path:
    """The zoo folder to read entry `name` from: `zoo` when it has the entry (or a record of it), else the
    shipped zoo when that has it, else `zoo` (whose error message then names what it holds)."""
    if os.path.lexists(zoo / name):
        return zoo
    shipped = shipped_zoo()
    if shipped is not None and (shipped / name).is_dir() and not _same(zoo, shipped):
        return shipped
    return zoo


def is_shipped(zoo: Path) -> bool:
    shipped = shipped_zoo()
    return shipped is not None and _same(zoo, shipped)


def missing_entry(zoo: Path, name: str) -> str:
    """The message for an entry in none of the zoos searched (`zoo`, then the shipped one): what each of
    them holds, and the names closest to `name` (an entry's task alone, `qqp`, names qqp-e5small-s0)."""
    names = sorted(load_index(zoo)["entries"])
    shipped = shipped_zoo()
    also, known = "", list(names)
    if shipped is not None and not is_shipped(zoo):
        shipped_names = sorted(load_index(shipped)["entries"])
        also = f"; nor in the zoo shipped with adaptx ({shipped}: {', '.join(shipped_names) or 'no entries'})"
        known += shipped_names
    close = [n for n in known if n.startswith(f"{name}-")] or difflib.get_close_matches(name, known, n=1)
    guess = f"; did you mean {' or '.join(dict.fromkeys(close))}" if close else ""
    return (f"no zoo entry {name!r} in {zoo} (entries: {', '.join(names) or 'none'}){also}{guess}; "
            f"see `adaptx zoo list --zoo {zoo}`")
