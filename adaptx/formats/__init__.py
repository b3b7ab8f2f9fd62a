"""Data formats: one small module per family of formats, each registering its formats (a name, a
local reader, a hub reader) in formats/base.py when it is imported. data.py asks the registry.

Families: columns (classification: tsv, tsv_header, json_records, jsonl; hub: columns), tagging
(conllu, udpos_tsv, panx_tsv, ccg), qa (squad_json), multiple_choice (commonsenseqa_jsonl,
cosmosqa_csv, hellaswag_txt) and retrieval (tatoeba, bucc). A format registered from outside the
package (`register_format`) is read like these.
"""

from __future__ import annotations

# Importing a format module registers its formats (formats/base.register_format).
from . import columns, tagging, qa, multiple_choice, retrieval  # noqa: F401 - registers the formats
from .base import FORMATS, DataFormat, Read, hub_reader, local_reader, register_format

__all__ = ["DataFormat", "FORMATS", "Read", "hub_reader", "local_reader", "register_format"]
