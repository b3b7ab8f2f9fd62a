"""Which zoo folder and entry a name means, and a config's zoo:NAME adapters as the folders a run loads.

Two zoos take part. The user zoo (`--zoo DIR`, else `$ADAPTX_ZOO`, else `./adapter_zoo`) is where
add, pull and remove write. The shipped zoo comes with adaptx (adaptx/_zoo in an installed package,
the checkout's adapter_zoo/ in a source tree: adaptx.shipped) and is only read. `adaptx zoo list`
lists both, each row naming its zoo, and a name resolves from the user zoo first, then the shipped
one: a user entry of the same name shadows a shipped entry. In a checkout run from its root the
two are one folder, listed once.

require_entry: a name to its verified folder and card. resolve_zoo_refs: a config's zoo:NAME adapters,
resolved once when a run opens, each refused on any base but the exact weights it was trained on and,
for the weight-space merges, in another adapter configuration. zoo_recipe is what a stage built on a
zoo adapter records of it.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from .errors import AdaptxError
from .fingerprint import base_fingerprint
from .shipped import zoo_dir
from .strategies import builds_on, get_strategy
from .zoo_card import Card
from .zoo_index import load_index
from .zoo_refs import check_name, is_zoo_ref, zoo_ref_name
from .zoo_verify import check_entry

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



def require_entry(zoo: Path, name: str) -> tuple[Path, Card]:
    """A verified entry (card, files, index) of `zoo`, else of the shipped zoo, or an error listing every
    problem."""
    zoo = holding(zoo, check_name(name))
    entry = zoo / name
    if not entry.is_dir():
        raise AdaptxError(missing_entry(zoo, name))
    card, problems = check_entry(entry, load_index(zoo))
    if problems:
        raise AdaptxError(f"zoo entry {name!r} ({entry}) failed verification:\n  - " + "\n  - ".join(problems))
    return entry, card


def resolve_zoo_adapter(name: str, zoo_root: str | Path, base_identity: dict) -> tuple[Path, Card]:
    """(adapter folder, card) of a verified standalone adapter entry trained on exactly this base.

    Refuses a missing or modified file (sha256), anything that is not safetensors/JSON, an entry
    out of step with the index, an adapter that needs another under it, and another base model.
    """
    zoo = Path(zoo_root)
    entry, card = require_entry(zoo, zoo_ref_name(name) if is_zoo_ref(name) else name)
    if not card.standalone:
        raise AdaptxError(f"zoo:{entry.name} is a {card.kind} entry ({card.strategy}); only an adapter trained "
                          "directly on the base (an intermediate adapter or a `none` target adapter) can be "
                          "stacked or fused")
    check_trained_on(entry, card, base_identity)
    return entry / card.adapter.folder, card


def check_trained_on(entry: Path, card: Card, base_identity: dict) -> None:
    """Refuse an entry on any base but the exact weights it was trained on (checksum fingerprints)."""
    mine, theirs = base_fingerprint(base_identity), card.base.fingerprint
    if mine != theirs:
        raise AdaptxError(f"zoo:{entry.name} was trained on base {card.base.id!r} (fingerprint {theirs}), but "
                          f"this run's base model has fingerprint {mine}; an adapter only fits the exact weights it "
                          "was trained on: use that base model, or train the task here (list it by name)")


class ZooAdapter(NamedTuple):
    """A config's zoo:NAME adapter, resolved once when a run opens: the verified adapter folder a stage
    loads, the entry's card, and what a stage built on it records of it (zoo_recipe)."""

    folder: Path
    card: Card
    recipe: dict


def resolve_zoo_refs(cfg, base_identity: dict) -> dict[str, ZooAdapter]:
    """zoo:NAME -> its ZooAdapter, for every zoo adapter the config's strategies use."""
    if not builds_on(cfg.strategies, "adapter"):
        return {}
    root = user_zoo(getattr(cfg, "zoo_dir", None))
    found = {t: resolve_zoo_adapter(t, root, base_identity) for t in cfg.intermediate_tasks if is_zoo_ref(t)}
    for task, token in cfg.zoo_adapters.items():  # a listed task's adapter mapped to an entry of that task
        if task not in cfg.intermediate_tasks:
            continue
        found[token] = resolve_zoo_adapter(token, root, base_identity)
        if found[token][1].task != task:
            raise AdaptxError(f"zoo_adapters.{task}: {token} was trained on {found[token][1].task!r}, not {task!r}; "
                              f"map {task} to an entry of that task (adaptx zoo list), or list {token} in "
                              "intermediate_tasks on its own")
    _check_mergeable(cfg, found)
    return {token: ZooAdapter(folder, card, zoo_recipe(token, card)) for token, (folder, card) in found.items()}


def _check_mergeable(cfg, found: dict) -> None:
    """The weight-space merges add adapters weight by weight: zoo adapters of another configuration
    (method, reduction factor) than the ones the run trains are refused before any adapter trains."""
    from .plan import adapter_source

    merging = [s for s in cfg.strategies if get_strategy(s).merge_method]
    if not merging:
        return
    shapes = {}
    for task in cfg.intermediate_tasks:
        source = adapter_source(cfg, task, cfg.seeds[0])
        if source in found:
            adapter = found[source][1].adapter
            shapes[task] = (adapter.method, adapter.reduction_factor, f"zoo entry {source}")
        else:
            shapes[task] = (cfg.adapter.config, cfg.adapter.reduction_factor, "trained here: adapter.config and "
                            "adapter.reduction_factor")
    if len({(method, factor) for method, factor, _ in shapes.values()}) > 1:
        listing = "; ".join(f"{task}: {method}, reduction factor {factor} ({source})"
                            for task, (method, factor, source) in shapes.items())
        raise AdaptxError(f"strategies: {merging[0]!r} merges the intermediate adapters weight by weight, which needs "
                          f"adapters of one configuration, and these differ: {listing}; set adapter.config and "
                          f"adapter.reduction_factor to the zoo entries' (or drop {merging[0]!r})")


def zoo_recipe(token: str, card: Card) -> dict:
    """What a stage built on a zoo adapter depends on: the sha256 of each file of that adapter."""
    return {"entry": zoo_ref_name(token), "files": card.adapter_files()}
