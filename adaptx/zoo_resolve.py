"""Resolution: a zoo entry's name to its verified folder and card (require_entry: the user zoo, else the
shipped one), and a config's zoo:NAME adapters to the adapter folders a run stacks or fuses, refused on
any base but the exact weights they were trained on and, for the weight-space merges, in another
adapter configuration. zoo_recipe is what a stage built on a zoo adapter records of it.
"""

from __future__ import annotations

from pathlib import Path

from .errors import AdaptxError
from .fingerprint import base_fingerprint
from .strategies import builds_on, get_strategy
from .zoo_card import Card
from .zoo_index import load_index
from .zoo_refs import check_name, is_zoo_ref, zoo_ref_name
from .zoo_roots import holding, missing_entry, user_zoo
from .zoo_verify import check_entry


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


def resolve_zoo_refs(cfg, base_identity: dict) -> dict[str, tuple[Path, Card]]:
    """zoo:NAME -> (adapter folder, card) for every zoo adapter the config's strategies use."""
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
    return found


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
