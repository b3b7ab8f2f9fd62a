"""Classification data: a sentence or sentence pair and a label, read by columns.

Local files: "tsv" (no header, columns by index), "tsv_header" (columns by name), "json_records"
(an object or list of records) and "jsonl"; hub splits: "columns" (the spec's columns of the
hub's rows). A LocalFile's or HubSplit's `columns` are (text_a, text_b or None, label); a tuple of
names is alternatives, the first present is read. A raw label is a label name or its index.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import AdaptxError
from ..readers import TEXT_ENCODING, json_lines, parse_json, tsv_reader
from .base import DataFormat, Read, register_format

csv.field_size_limit(sys.maxsize)


@dataclass(frozen=True)
class Example:
    text_a: str
    text_b: str | None
    label: int


def label_index(task, raw, where: str) -> int:
    if isinstance(raw, str):
        raw = raw.strip()
        raw = task.params.get("label_aliases", {}).get(raw, raw)  # ANLI's released files say e / n / c
        if raw in task.labels:
            return task.labels.index(raw)
        if raw.lstrip("-").isdigit():
            raw = int(raw)
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < len(task.labels):
        return raw
    allowed = ", ".join(f"{i} or {name!r}" for i, name in enumerate(task.labels))
    aliases = task.params.get("label_aliases")
    if aliases:
        allowed += f"; or {', '.join(map(repr, aliases))}"
    raise AdaptxError(f"{where}: label {raw!r} is not in {task.name}'s label set ({allowed})")


def _text(value, field_name, where: str) -> str:
    # JSON null or a number in a text field is a broken record, not the text "None" or "3"
    if not isinstance(value, str):
        kind = "null" if value is None else type(value).__name__
        raise AdaptxError(f"{where}: field {field_name!r} is {kind} ({value!r}); expected text")
    return value


def _rows_tsv(path: Path, header: bool):
    # QUOTE_NONE: NLI text contains bare quotes; newline='' keeps CRLF files (PAWS-Wiki) readable
    with open(path, encoding=TEXT_ENCODING, newline="") as handle:
        reader = tsv_reader(handle)
        names = None
        for line_no, row in enumerate(reader, start=1):
            row = [cell.rstrip("\r") for cell in row]
            if not row or row == [""]:
                continue
            if header and names is None:
                names = row
                continue
            if header and len(row) != len(names):  # a stray tab would silently shift or drop text
                raise AdaptxError(f"{path}, line {line_no}: {len(row)} tab-separated fields, but the header "
                                  f"({', '.join(names)}) has {len(names)}")
            yield line_no, (dict(zip(names, row)) if header else row), names


def _rows_jsonl(path: Path):
    for line_no, record in json_lines(path):
        yield line_no, record, None


def _rows_json(path: Path):
    data = parse_json(path.read_text(encoding=TEXT_ENCODING), path)
    if isinstance(data, dict):
        records = list(data.values())
    elif isinstance(data, list):
        records = data
    else:
        raise AdaptxError(f"{path}: expected a JSON object of records (or a list of records), "
                          f"got a {type(data).__name__}")
    for i, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise AdaptxError(f"{path}, record {i}: expected an object with fields, got {type(record).__name__} "
                              f"{str(record)[:60]!r}")
        yield i, record, None


def _field(row, column):
    """row[column]; a tuple column names alternatives, the first one present is read (ANLI's released
    files call the premise 'context', exports of the hub's version 'premise')."""
    if isinstance(column, tuple):
        return row[next((c for c in column if c in row), column[0])]
    return row[column]


def _check_single_text_column(task, path: Path, names: list, columns: tuple) -> None:
    """A single-sentence task (SST-2) whose file has a second text column was probably meant for a
    sentence-pair task: reading only the first column would silently train on half the input."""
    known = {c for c in columns if c is not None} | {"id", "idx", "index"}
    others = [n for n in names if n not in known]
    if others:
        raise AdaptxError(f"{path}, line 1: header has column(s) {others} besides {[c for c in columns if c]}; "
                          f"{task.name} is a single-sentence task, and this file looks like a sentence pair or "
                          "another task's file")


def _reader(rows, kind: str = "line"):
    """The local reader of one file format: `rows(path)` yields (number, row, header names or None);
    `kind` is what a number counts in messages (line, record)."""

    def read(task, spec, path: Path, extra) -> Read:
        col_a, col_b, col_label = spec.columns
        examples: list[Example] = []
        try:
            for line_no, row, names in rows(path):
                where = f"{path}, {kind} {line_no}"
                if names is not None and col_b is None and not examples:  # once, at the first row
                    _check_single_text_column(task, path, names, spec.columns)
                try:
                    a = _field(row, col_a)
                    b = _field(row, col_b) if col_b is not None else None
                    raw_label = _field(row, col_label)
                except (KeyError, IndexError, TypeError):
                    want = [c for c in spec.columns if c is not None]
                    got = names if names is not None else (list(row) if isinstance(row, dict) else f"{len(row)} columns")
                    raise AdaptxError(f"{where}: expected fields {want}, found {got}") from None
                text_b = None if col_b is None else _text(b, col_b, where)
                examples.append(Example(_text(a, col_a, where), text_b, label_index(task, raw_label, where)))
        except UnicodeDecodeError as exc:
            raise AdaptxError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from exc
        except OSError as exc:
            raise AdaptxError(f"cannot read {path}: {exc.strerror or exc}") from exc
        return Read(examples)

    return read


def read_hub_columns(task, spec, ds, lang: str, where: str) -> Read:
    """The spec's columns of hub rows; the hub's "no gold label" (-1: SNLI pairs without annotator
    agreement) is left out and counted."""
    col_a, col_b, col_label = spec.columns
    missing = [c for c in spec.columns if c is not None and c not in ds.column_names]
    if missing:
        raise AdaptxError(f"{where}: expected columns {missing}, found {ds.column_names}")
    examples, unlabeled = [], 0
    for i, row in enumerate(ds):
        here = f"{where}, row {i}"
        if row[col_label] == -1:
            unlabeled += 1
            continue
        text_b = None if col_b is None else _text(row[col_b], col_b, here)
        examples.append(Example(_text(row[col_a], col_a, here), text_b, label_index(task, row[col_label], here)))
    return Read(examples, {}, {"rows without a gold label (-1) left out": unlabeled} if unlabeled else {})


register_format(DataFormat("tsv", local=_reader(lambda path: _rows_tsv(path, header=False))))
register_format(DataFormat("tsv_header", local=_reader(lambda path: _rows_tsv(path, header=True))))
register_format(DataFormat("json_records", local=_reader(_rows_json, kind="record")))
register_format(DataFormat("jsonl", local=_reader(_rows_jsonl)))
register_format(DataFormat("columns", hub=read_hub_columns))
