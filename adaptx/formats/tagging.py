"""Tagging data: one tag per word (adaptx.readers, adaptx.intermediate_readers parse the files).

"conllu" (UD CoNLL-U, UPOS), "udpos_tsv" (XTREME's word<TAB>tag files; hub: google/xtreme
udpos.<Language>, pos_tags), "panx_tsv" (XTREME's PAN-X files; hub: PAN-X.<lang>, ner_tags) and
"ccg" (C&C's supertagger format or CCGbank .auto trees, its tag set the spec's first extra file;
local only: CCGbank is LDC-licensed).
"""

from __future__ import annotations

from .. import intermediate_readers, readers
from .base import DataFormat, Read, register_format


def _tags_from_hub(task, spec, ds, lang: str, where: str) -> Read:
    return Read(readers.tagged_sentences_from_hub(ds, "pos_tags" if "pos_tags" in ds.column_names else "ner_tags",
                                                  where=where))


def _conllu(task, spec, path, extra) -> Read:
    return Read(readers.read_conllu(path, allowed_tags=task.labels))


def _udpos(task, spec, path, extra) -> Read:
    return Read(readers.read_xtreme_udpos(path, allowed_tags=task.labels))


def _panx(task, spec, path, extra) -> Read:
    return Read(readers.read_panx(path, allowed_tags=task.labels))


def _ccg(task, spec, path, extra) -> Read:
    return Read(intermediate_readers.read_ccg(path, allowed_tags=intermediate_readers.read_tag_set(extra[0])))


register_format(DataFormat("conllu", local=_conllu, hub=_tags_from_hub))
register_format(DataFormat("udpos_tsv", local=_udpos, hub=_tags_from_hub))
register_format(DataFormat("panx_tsv", local=_panx, hub=_tags_from_hub))
register_format(DataFormat("ccg", local=_ccg))
