"""The adapter zoo: trained adapters published once, verified, and reused by runs and people.

A zoo is a folder (`--zoo DIR`, else `$ADAPTX_ZOO`, else `./adapter_zoo`; the zoo shipped with
adaptx is read beside it: adaptx.zoo_resolve) with one folder per entry and an `index.json` that
`adaptx zoo list` reads without opening the entries. An entry
is a loadable adaptx model: its adapters in the `adapters` library's safetensors format
(`adapter-<name>/`), `fusion/` for a fusion, `head.safetensors`, `setup.json` (the exact
active composition) and `card.json`, which says what it is, what it was trained on (base
model fingerprint, data, steps, seed, English dev score) and the sha256 of every file.

Safety: weights are safetensors only, and nothing here ever unpickles. Every use of an entry
(resolution for a run, export, push, a pull before it lands) re-checks the sha256 of every file,
refuses files the card does not list, any non-safetensors weight file and symbolic links, and
checks that each `.safetensors` file really has a safetensors header. An adapter is only
accepted on the base model whose weights it was trained on (compared by checksum fingerprint).

This module is the zoo's face for the `adaptx zoo` command, scripts and tests; each concern has its module:
zoo_card.py (the card: schema, checks, the typed Card), zoo_verify.py (an entry's files and index record),
zoo_resolve.py (where zoos are; NAME and a config's zoo:NAME to verified entries), zoo_publish.py +
zoo_stage_card.py (a stage becomes an entry), zoo_folder.py (entries land and are removed; `zoo verify`),
zoo_hub.py (push and pull), zoo_index.py (index.json, `zoo list`), zoo_summary.py (`zoo show`),
zoo_export.py, zoo_rescore.py; zoo_refs.py: the zoo:NAME syntax and entry names.
"""

from __future__ import annotations

from pathlib import Path

from .zoo_card import (ALLOWED_SUFFIXES, CARD_FIELDS, CARD_FILE, ENTRY_FORMAT, KINDS, STANDALONE, Card,
                       card_problems, entry_adapter_dirs, parse_card)
from .zoo_folder import remove_entry, verify_zoo
from .zoo_hub import pull_entry, push_entry
from .zoo_index import INDEX_FILE, index_record, load_index, write_index
from .zoo_publish import add_entry
from .zoo_resolve import check_trained_on, require_entry, resolve_zoo_adapter, resolve_zoo_refs, user_zoo, zoo_recipe
from .zoo_verify import check_entry, file_problems

__all__ = ["ALLOWED_SUFFIXES", "CARD_FIELDS", "CARD_FILE", "ENTRY_FORMAT", "INDEX_FILE", "KINDS", "STANDALONE", "Card",
           "add_entry", "card_problems", "check_entry", "check_trained_on", "entry_adapter_dirs", "file_problems",
           "index_record", "load_index", "parse_card", "pull_entry", "push_entry", "remove_entry", "require_entry",
           "resolve_zoo_adapter", "resolve_zoo_refs", "show_entry", "user_zoo", "verify_zoo", "write_index",
           "zoo_recipe"]


def show_entry(zoo: Path, name: str) -> dict:
    """The card of a verified entry, as on disk."""
    return require_entry(zoo, name)[1].data
