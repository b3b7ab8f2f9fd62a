"""Extractive QA data: "squad_json" (SQuAD-format JSON files; hub: rajpurkar/squad and google/xtreme's
XQuAD, MLQA and TyDiQA configs, all in SQuAD's schema). adaptx.readers parses both."""

from __future__ import annotations

from .. import readers
from .base import DataFormat, Read, register_format


def _squad_json(task, spec, path, extra) -> Read:
    # TyDiQA's English train file repeats ids (XTREME kept only their last part): renamed, counted
    return Read(readers.read_squad_json(path, rename_duplicate_ids=True))


def _squad_from_hub(task, spec, ds, lang: str, where: str) -> Read:
    """A task whose languages share one hub split (TyDiQA) keeps the rows whose id starts with the
    language's hub name (task.params['hub_language_filter'])."""
    names = task.params.get("hub_language_filter")
    rows = ds if not names else (r for r in ds if str(r["id"]).startswith(f"{names[lang]}-"))
    examples, _realigned = readers.qa_examples_from_hub(rows, where)
    return Read(examples)


register_format(DataFormat("squad_json", local=_squad_json, hub=_squad_from_hub))
