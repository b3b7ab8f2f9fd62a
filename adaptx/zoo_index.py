"""The zoo's index.json: one record per entry, what `adaptx zoo list` reads and filters on without
opening the entries. It is written after every add, pull, remove (adaptx.zoo_folder) and --rebuild-index
(adaptx.zoo_verify); the entries themselves (cards, files, verification) are not read here.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import AdaptxError
from .fileio import atomic_write_text, read_json
from .strategies import STRATEGIES
from .zoo_card import Card
from .zoo_refs import NAME_RE

INDEX_FILE = "index.json"
INDEX_FORMAT = "adaptx-zoo-index/1"
# index record field -> type: what `adaptx zoo list` shows and filters on
RECORD_FIELDS = {"version": str, "task": str, "kind": str, "strategy": str, "members": list, "base_id": str,
                 "base_fingerprint": str, "en_dev": dict, "created_at": str}
# kinds that more than one strategy publishes (target: none or stack): only there does the list name the strategy
_SHARED_KINDS = {k for k in (s.zoo_kind for s in STRATEGIES.values())
                 if k and sum(s.zoo_kind == k for s in STRATEGIES.values()) > 1}


def index_record(card: Card, card_sha256: str) -> dict:
    """What `adaptx zoo list` shows and filters on, without opening the entry."""
    return {"version": card.version, "task": card.task, "kind": card.kind, "strategy": card.strategy,
            "base_id": card.base.id, "base_family": card.base.family, "base_fingerprint": card.base.fingerprint,
            "method": card.adapter.method if card.adapter else "fusion",
            "members": [m.name for m in card.members], "en_dev": card.en_dev,
            "created_at": card.created_at, "card_sha256": card_sha256}


def load_index(zoo: Path) -> dict:
    path = zoo / INDEX_FILE
    if not path.is_file():
        return {"format": INDEX_FORMAT, "entries": {}}
    index = read_json(path, "run `adaptx zoo verify --rebuild-index` to rebuild it from the entries", dict)
    if index.get("format") != INDEX_FORMAT or not isinstance(index.get("entries"), dict):
        raise AdaptxError(f"{path}: not an {INDEX_FORMAT} index; run `adaptx zoo verify --rebuild-index`")
    return index


def write_index(zoo: Path, entries: dict) -> None:
    text = json.dumps({"format": INDEX_FORMAT, "entries": dict(sorted(entries.items()))}, indent=1)
    atomic_write_text(zoo / INDEX_FILE, text + "\n")


def entry_dirs(zoo: Path) -> list[Path]:
    """Entry folders (hidden folders are temporary work of add/pull/remove)."""
    return sorted(p for p in zoo.iterdir() if p.is_dir() and not p.name.startswith(".")) if zoo.is_dir() else []


def record_problem(name, record) -> str | None:
    """Why an index record cannot be listed (a hand-edited or hostile index.json), or None."""
    if not NAME_RE.match(name):
        return f"the record name {name[:80]!r} is not a zoo entry name"
    if not isinstance(record, dict):
        return f"the record of {name!r} is a JSON {type(record).__name__}, not an object"
    bad = [k for k, kind in RECORD_FIELDS.items() if not isinstance(record.get(k), kind)]
    if not bad:
        dev = record["en_dev"]
        bad += [] if all(isinstance(m, str) for m in record["members"]) else ["members"]
        bad += [] if isinstance(record.get("base_family"), (str, type(None))) else ["base_family"]
        bad += [] if isinstance(dev.get("metric"), str) and (dev.get("value") is None or (
            isinstance(dev.get("value"), (int, float)) and not isinstance(dev.get("value"), bool))) else ["en_dev"]
    if bad:
        return f"the record of {name!r} has missing or mistyped fields ({', '.join(bad)})"
    return None


def index_problems(zoo: Path) -> list[str]:
    """Index records `adaptx zoo list` skips, each with the remedy."""
    return [f"{zoo / INDEX_FILE}: {problem}; not listed: run `adaptx zoo verify --rebuild-index`"
            for name, record in sorted(load_index(zoo)["entries"].items())
            if (problem := record_problem(name, record))]


def list_entries(zoo: Path, task: str | None = None, base: str | None = None) -> list[tuple[str, dict]]:
    """(name, index record) from the index alone; base matches the id, family or fingerprint (prefix).
    Records that cannot be shown are left out (index_problems says which)."""
    entries = {n: r for n, r in load_index(zoo)["entries"].items() if record_problem(n, r) is None}

    def base_matches(record: dict) -> bool:
        fingerprint = record["base_fingerprint"]
        return base in (record["base_id"], record.get("base_family")) or fingerprint.startswith(base) or (
            fingerprint.split(":", 1)[-1].startswith(base))

    return [(n, r) for n, r in sorted(entries.items())
            if (task is None or r["task"] == task) and (base is None or base_matches(r))]


def kind_label(kind: str, strategy: str) -> str:
    """The kind, with the strategy only where the kind does not already say it ('target (stack)', 'intermediate')."""
    return f"{kind} ({strategy})" if kind in _SHARED_KINDS else kind


def _row(name: str, r: dict, where: str) -> str:
    dev = r["en_dev"]
    score = "-" if dev["value"] is None else f"{dev['value']:.3f}"
    kind = kind_label(r["kind"], r["strategy"])
    return (f"| {name} | {r['version']} | {kind} | {r['task']} | {'+'.join(r['members']) or '-'} | "
            f"{r['base_id']} ({r['base_fingerprint'][:19]}) | {dev['metric']} {score} | {r['created_at'][:10]} | "
            f"{where} |")


def _nothing_found(zoos) -> str:
    parts = []
    for zoo in zoos:
        indexed = load_index(zoo.path)["entries"]
        unindexed = [p.name for p in entry_dirs(zoo.path) if p.name not in indexed]
        hint = (f", {len(unindexed)} folders not in {INDEX_FILE}: run `adaptx zoo verify --rebuild-index`"
                if unindexed else "")
        parts.append(f"{len(indexed)} in {zoo.path}{hint}")
    return f"no zoo entries match ({'; '.join(parts)})" if any(
        load_index(z.path)["entries"] for z in zoos) else f"no zoo entries in {' or '.join(str(z.path) for z in zoos)}"


def format_listing(zoos, task: str | None = None, base: str | None = None) -> str:
    """The entries of every zoo (adaptx.zoo_resolve.zoos: the user zoo, then the shipped one), each row naming
    its zoo; a shipped entry that a user entry of the same name shadows says so. Then which folders they are."""
    seen, lines = set(), []
    for zoo in zoos:
        for name, record in list_entries(zoo.path, task, base):
            lines.append(_row(name, record, zoo.origin + (" (shadowed by user)" if name in seen else "")))
        seen |= set(load_index(zoo.path)["entries"])
    if not lines:
        return _nothing_found(zoos)
    header = ["| name | version | kind | task | members | base | en dev | created | zoo |",
              "|---|---|---|---|---|---|---:|---|---|"]
    where = [f"{zoo.origin} zoo: {zoo.path} ({zoo.how})" for zoo in zoos]
    return "\n".join(header + lines + [""] + where)
