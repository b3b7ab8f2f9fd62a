"""A zoo entry's card.json: its schema, the checks a card must pass, and `Card`, the typed card every
reader of an entry uses (resolution, rescoring, list/show, export, the hub's model card, convergence).

The file on disk stays plain JSON (`Card.data` is it, as read): a card is checked once by parse_card
(every required field present and typed, its parts consistent), and then read through Card's fields
instead of by digging in nested dicts. Sections whose inner fields a card need not have (training
facts, fusion settings, the dev score's details) stay dicts: their readers treat each field as optional.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from .config import DTYPES, MIN_SEQ_LENGTH, POOLINGS
from .safe_yaml import shown
from .strategies import STRATEGIES

CARD_FILE = "card.json"
ENTRY_FORMAT = "adaptx-zoo-entry/1"
# the only file types an entry may hold: a pickle (.bin, .pt, .pkl, ...) can run code when loaded
ALLOWED_SUFFIXES = (".safetensors", ".json")
# strategy -> what a published stage of it is (adaptx.strategies: the strategies that can be published)
KINDS = {s.name: s.zoo_kind for s in STRATEGIES.values() if s.zoo_kind}
STANDALONE = tuple(s.name for s in STRATEGIES.values() if s.standalone)  # trained directly on the base

# card field -> allowed types; nested fields every card must carry
CARD_FIELDS = {
    "format": str, "name": str, "version": str, "task": str, "kind": str, "strategy": str, "languages": list,
    "base": dict, "adapter": (dict, type(None)), "head": dict, "members": list, "fusion": (dict, type(None)),
    "setup": str, "training": dict, "seed": int, "metrics": dict, "license": dict, "adaptx_version": str,
    "created_at": str, "source": dict, "files": dict,
}
NESTED_FIELDS = {
    "base": ("id", "revision", "fingerprint", "identity"),
    "head": ("file", "labels", "pooling", "dropout"),
    "training": ("data", "steps", "batch_size", "lr"),
    "metrics": ("en_dev",),
    "license": ("data", "source"),
}


def _whole(low: int):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# nested fields their readers use as they are (predict, zoo show, runs on zoo:NAME): a re-signed card
# with a label string for a list, a length as text, would otherwise predict wrongly or fail mid-way.
# field -> (test, what it must be); each is checked where present (NESTED_FIELDS says which must be)
NESTED_TYPES = {
    "base.id": (lambda v: v is None or isinstance(v, str), "a model name or null"),
    "base.fingerprint": (lambda v: isinstance(v, str), "a fingerprint string"),
    "base.identity": (lambda v: isinstance(v, dict), "an object (the base's weights and shape)"),
    "head.labels": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of label names"),
    "head.pooling": (lambda v: v in POOLINGS, f"one of {', '.join(POOLINGS)}"),
    "head.dropout": (lambda v: _number(v) and 0 <= v < 1, "a number in [0, 1)"),
    "training.data": (lambda v: isinstance(v, dict), "an object"),
    "training.steps": (_whole(0), "a whole number"),
    "training.batch_size": (_whole(1), "a whole number >= 1"),
    "training.max_seq_length": (lambda v: v is None or _whole(MIN_SEQ_LENGTH)(v),
                                f"a whole number >= {MIN_SEQ_LENGTH} or null"),
    "training.dtype": (lambda v: v is None or v in DTYPES, f"one of {', '.join(DTYPES)} or null"),
    "metrics.en_dev": (lambda v: isinstance(v, dict), "an object"),
}

# the files of an adapter folder that loading reads: the adapters library's weights and config, adaptx's metadata
ADAPTER_FILES = ("adapter.safetensors", "adapter_config.json", "adaptx-adapter.json")
ADAPTER_FIELDS = ("name", "folder", "weights", "sha256", "method", "reduction_factor", "config")
MEMBER_FIELDS = ("name", "task", "folder", "weights", "sha256", "source")


# -- the typed card ----------------------------------------------------------------------
@dataclass(frozen=True)
class Base:
    """The base model an entry was trained on; only these exact weights (fingerprint) accept it."""

    id: str | None  # what the publisher called it (a hub id, "embedded", a folder name) or None
    fingerprint: str
    identity: dict  # the base's weights and shape, as a stage recipe records them
    revision: object = None
    family: str | None = None


@dataclass(frozen=True)
class Head:
    file: str
    labels: list[str]
    pooling: str
    dropout: float


@dataclass(frozen=True)
class OwnAdapter:
    """The adapter the entry's stage trained (none in a fusion entry)."""

    name: str
    folder: str
    weights: str
    sha256: str
    method: str
    reduction_factor: int
    config: object


@dataclass(frozen=True)
class Member:
    """A frozen adapter the entry was built on (a stack's or fusion's), carried in its own folder."""

    name: str
    task: object  # its task's name as published (a hand-made card may say anything)
    folder: str
    weights: str
    sha256: str
    source: object  # {"zoo": NAME} or {"stage": ID, "config_hash": HASH}


@dataclass(frozen=True)
class Training:
    """How the entry was trained; `facts` is the whole section (optional facts: curve, time, hardware)."""

    data: dict  # train/dev origins, sha256s, row counts, the sampling seed
    steps: int
    batch_size: int
    lr: object
    dtype: str | None
    max_seq_length: int | None
    facts: dict

    @property
    def mixture(self) -> dict | None:
        """A multi-task entry's mixture (tasks, cap), if the card records one as an object."""
        found = self.facts.get("mixture")
        return found if isinstance(found, dict) else None

    @property
    def hardware(self) -> dict | None:
        found = self.facts.get("hardware")
        return found if isinstance(found, dict) else None


@dataclass(frozen=True)
class Card:
    """A zoo entry's card, read through typed fields. Build it with parse_card (checked) or
    Card.of(data) for a card already checked."""

    name: str
    version: str
    task: str
    kind: str
    strategy: str
    languages: list
    base: Base
    adapter: OwnAdapter | None
    head: Head
    members: tuple[Member, ...]
    fusion: dict | None  # folder, adapters, settings, temperature, weights_sha256
    setup: str  # the entry file holding the active composition
    training: Training
    seed: int
    en_dev: dict  # metric, value, step, rows; optionally predictions and versus_trivial
    license: dict
    adaptx_version: str
    created_at: str
    files: dict  # entry-relative path -> sha256 of every file but the card
    data: dict = field(repr=False, compare=False)  # the card as on disk

    @classmethod
    def of(cls, data: dict) -> Card:
        """The typed view of card fields as read (for a checked card: parse_card)."""
        base, head, training = data["base"], data["head"], data["training"]
        adapter = data["adapter"]
        return cls(
            name=data["name"], version=data["version"], task=data["task"], kind=data["kind"],
            strategy=data["strategy"], languages=data["languages"],
            base=Base(base["id"], base["fingerprint"], base["identity"], base.get("revision"), base.get("family")),
            adapter=OwnAdapter(**{k: adapter[k] for k in ADAPTER_FIELDS}) if adapter else None,
            head=Head(head["file"], head["labels"], head["pooling"], head["dropout"]),
            members=tuple(Member(**{k: m[k] for k in MEMBER_FIELDS}) for m in data["members"]),
            fusion=data["fusion"], setup=data["setup"],
            training=Training(training["data"], training["steps"], training["batch_size"], training["lr"],
                              training.get("dtype"), training.get("max_seq_length"), training),
            seed=data["seed"], en_dev=data["metrics"]["en_dev"], license=data["license"],
            adaptx_version=data["adaptx_version"], created_at=data["created_at"], files=data["files"], data=data)

    @property
    def standalone(self) -> bool:
        """Trained directly on the base: the only entries a run can stack or fuse as zoo:NAME."""
        return self.strategy in STANDALONE

    @property
    def single(self) -> bool:
        """One adapter and its head: no frozen adapters under it, no fusion."""
        return not self.members and self.fusion is None

    def adapter_files(self) -> dict[str, str]:
        """path -> sha256 of the files of the entry's own adapter folder."""
        folder = self.adapter.folder + "/"
        return {k: v for k, v in self.files.items() if k.startswith(folder)}


def entry_adapter_dirs(entry: Path, card: Card) -> dict[str, Path]:
    """name -> folder of the frozen adapters in an entry, for adaptx.modeling.load_model(entry, ...)."""
    return {m.name: entry / m.folder for m in card.members}


# -- checks ------------------------------------------------------------------------------
def parse_card(data: dict, where: Path) -> tuple[Card | None, list[str]]:
    """(the typed card, []) for a card that passes card_problems, else (None, its problems)."""
    problems = card_problems(data, where)
    return (None, problems) if problems else (Card.of(data), [])


def _nested_type_problems(card: dict, where: Path) -> list[str]:
    problems = []
    for key, (ok, what) in NESTED_TYPES.items():
        section, name = key.split(".")
        if name in card[section] and not ok(card[section][name]):
            problems.append(f"{where}: field {key} is {shown(card[section][name])}; expected {what}")
    return problems


def card_problems(card: dict, where: Path) -> list[str]:
    """Missing or mistyped card fields, and internal consistency (strategy vs kind, members vs files)."""
    problems = []
    for key, types in CARD_FIELDS.items():
        if key not in card:
            problems.append(f"{where}: field {key!r} is missing")
        elif not isinstance(card[key], types) or (types is int and isinstance(card[key], bool)):
            problems.append(f"{where}: field {key!r} has the wrong type ({type(card[key]).__name__})")
    for key, inner in NESTED_FIELDS.items():
        if isinstance(card.get(key), dict):
            problems += [f"{where}: field {key}.{k} is missing" for k in inner if k not in card[key]]
    if problems:
        return problems
    problems = _nested_type_problems(card, where)
    if problems:
        return problems
    try:
        return _consistency_problems(card, where)
    except (AttributeError, KeyError, TypeError) as exc:  # a hand-made or hostile card: never a traceback
        return [f"{where}: malformed ({type(exc).__name__}: {exc})"]


def _consistency_problems(card: dict, where: Path) -> list[str]:
    problems = []
    if card["format"] != ENTRY_FORMAT:
        problems.append(f"{where}: format {card['format']!r}; this adaptx reads {ENTRY_FORMAT!r}")
    if KINDS.get(card["strategy"]) != card["kind"]:
        problems.append(f"{where}: strategy {card['strategy']!r} with kind {card['kind']!r}; expected one of "
                        f"{', '.join(f'{s}->{k}' for s, k in KINDS.items())}")
    files = card["files"]
    parts = [("adapter", card["adapter"], ADAPTER_FIELDS)] if card["adapter"] else []
    parts += [(f"members[{i}]", m, MEMBER_FIELDS) for i, m in enumerate(card["members"])]
    for label, part, required in parts:
        missing = [k for k in required if not isinstance(part, dict) or k not in part]
        if missing:
            problems.append(f"{where}: field {label} lacks {', '.join(missing)}")
        elif not all(isinstance(part[k], str) for k in ("name", "folder", "weights", "sha256")):
            problems.append(f"{where}: field {label}: name, folder, weights and sha256 must be strings")
        elif label == "adapter" and not (_whole(1)(part["reduction_factor"]) and isinstance(part["method"], str)):
            problems.append(f"{where}: field adapter.reduction_factor is {shown(part['reduction_factor'])} and "
                            f"adapter.method {shown(part['method'])}; expected a whole number >= 1 and a method name")
        elif "/" in part["folder"] or part["folder"] in (".", "..") or not (
                part["weights"].startswith(part["folder"] + "/")):
            problems.append(f"{where}: {label}.folder {part['folder']!r} must be a folder of the entry that holds "
                            "its weights")
        elif files.get(part["weights"]) != part["sha256"]:
            problems.append(f"{where}: {label}.sha256 does not match files[{part['weights']!r}]")
        elif part["weights"] != f"{part['folder']}/{ADAPTER_FILES[0]}" or any(
                f"{part['folder']}/{f}" not in files for f in ADAPTER_FILES):
            problems.append(f"{where}: {label}: its folder must hold {', '.join(ADAPTER_FILES)} (weights: the first), "
                            "the files a run loads; publish the entry again from its stage")
    fusion = card["strategy"] in STRATEGIES and STRATEGIES[card["strategy"]].fusion
    if not fusion and not card["adapter"]:
        problems.append(f"{where}: field 'adapter' is null, but a {card['strategy']} entry has its own adapter")
    if fusion and not card["fusion"]:
        problems.append(f"{where}: field 'fusion' is null in a fusion entry")
    if card["head"].get("file") not in files or card["setup"] not in files:
        problems.append(f"{where}: head.file and setup must name files listed in 'files'")
    return problems
