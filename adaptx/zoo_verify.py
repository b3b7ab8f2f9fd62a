"""Verifying zoo entries: an entry's card (adaptx.zoo_card), every file it lists (sha256, safetensors
headers, the JSON its loaders read), nothing it does not list, and its record in the zoo's index
(`adaptx zoo verify` over a whole zoo: adaptx.zoo_folder.verify_zoo). Every use of an entry goes
through check_entry first (adaptx.zoo_resolve.require_entry, a pull before it lands).
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import AdaptxError
from .fileio import read_json
from .fingerprint import sha256_file
from .safetensors_check import safetensors_problem
from .zoo_card import ALLOWED_SUFFIXES, CARD_FILE, Card, parse_card
from .zoo_index import INDEX_FILE, index_record


def read_json_object(path: Path, remedy: str) -> dict:
    """A JSON object from a file; anything else (missing, not JSON, nested too deep, not an object) is
    an AdaptxError naming the file (adaptx.fileio.read_json)."""
    return read_json(path, remedy, dict)



# JSON file name -> the fields adaptx (modeling.check_adapter_compatible) and the adapters library's
# loaders read from it without checking: a wrong one would be a traceback in the middle of a run
JSON_FIELDS = {"adaptx-adapter.json": {"base_fingerprint": dict},
               "adapter_config.json": {"name": str, "config": dict},
               "adapter_fusion_config.json": {"name": str, "config": dict}}


def _json_problems(path: Path, remedy: str) -> list[str]:
    """A JSON file of an entry: an object, with the fields its readers need (JSON_FIELDS)."""
    try:
        data = read_json_object(path, remedy)
    except AdaptxError as exc:
        return [str(exc)]
    return [f"{path}: field {key!r} is missing or not a JSON {'string' if kind is str else 'object'}; {remedy}"
            for key, kind in JSON_FIELDS.get(path.name, {}).items() if not isinstance(data.get(key), kind)]


def file_problems(entry: Path, card: dict) -> list[str]:
    """Every file listed with the right sha256, nothing unlisted, nothing that is not safetensors/JSON."""
    listed = card.get("files") if isinstance(card.get("files"), dict) else {}
    problems, present, reported = [], {}, set()
    for path in sorted(entry.rglob("*")):
        rel = path.relative_to(entry).as_posix()
        if path.is_symlink():
            problems.append(f"{path}: a symbolic link; entries hold plain files only: replace it with the file "
                            "itself, or remove the entry and add it again")
            reported.add(rel)
        elif path.is_dir() or rel == CARD_FILE:
            continue
        elif not path.is_file():
            problems.append(f"{path}: not a regular file (a FIFO, socket or device); entries hold plain files only")
            reported.add(rel)
        elif path.suffix not in ALLOWED_SUFFIXES:
            reported.add(rel)
            problems.append(f"{path}: a {path.suffix or 'suffix-less'} file; zoo entries hold safetensors weights "
                            "and JSON only (pickled .bin/.pt/.pkl weights can run code when loaded): delete it")
        elif rel not in listed:
            problems.append(f"{path}: not listed in the card's files; delete it or publish the entry again")
        else:
            present[rel] = path
    for rel, expected in sorted(listed.items()):
        if rel.startswith("/") or ".." in rel.split("/") or rel == CARD_FILE:
            problems.append(f"{entry / CARD_FILE}: files lists {rel!r}; expected a path inside the entry folder")
        elif rel in reported:
            continue
        elif Path(rel).suffix not in ALLOWED_SUFFIXES:
            problems.append(f"{entry / CARD_FILE}: files lists {rel!r}; entries hold safetensors weights and JSON only")
        elif rel in present:
            actual = sha256_file(present[rel])
            if actual != expected:
                problems.append(f"{present[rel]}: sha256 {actual[:12]}… does not match the card "
                                f"({str(expected)[:12]}…); the file changed after publishing: restore it, or remove "
                                "the entry and add it again")
            elif rel.endswith(".safetensors"):  # the whole header: a bad offset must not wait for a run to load it
                problem = safetensors_problem(present[rel])
                problems += [problem] if problem else []
            else:  # every JSON file parses as an object, before any run or library reads it
                problems += _json_problems(present[rel], "publish the entry again from its stage")
        else:
            problems.append(f"{entry / rel}: listed in the card but missing")
    return problems


def check_entry(entry: Path, index: dict | None = None) -> tuple[Card | None, list[str]]:
    """(card, []) for an entry whose card, files and (given an index) index record pass; else (None, the
    problems)."""
    card_path = entry / CARD_FILE
    linked = [f"{entry}: the entry folder is a symbolic link (to {os.path.realpath(entry)}); a zoo holds its entries "
              f"as plain folders: `adaptx zoo remove {entry.name}` removes the link (not its target)"
              ] if entry.is_symlink() else []
    try:
        data = read_json_object(card_path, "every zoo entry needs a card")
    except AdaptxError as exc:
        return None, linked + [str(exc)]
    card, problems = parse_card(data, card_path)
    problems = linked + problems
    if data.get("name") != entry.name:
        problems.append(f"{card_path}: name {data.get('name')!r} differs from the folder name {entry.name!r}")
    problems += file_problems(entry, data)
    if index is not None and not problems:
        record = index["entries"].get(entry.name)
        if record is None:
            problems.append(f"{entry}: not in {INDEX_FILE}; check it and run `adaptx zoo verify --rebuild-index`")
        elif record != index_record(card, sha256_file(card_path)):
            problems.append(f"{card_path}: differs from its record in {INDEX_FILE} (the card or the index was edited); "
                            "check it and run `adaptx zoo verify --rebuild-index`")
    return (None if problems else card), problems
