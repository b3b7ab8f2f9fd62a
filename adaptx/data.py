"""Data sources with one interface: a local folder (layout of shared/data) or the Hugging Face hub.

`load_split(task, split, lang, source, data_dir, limit)` returns a list of Examples whose
labels are indices into `task.labels`. Every problem (missing file, empty split, a label
outside the label set, a short row) is an AdaptxError naming the file and line.
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import AdaptxError
from .tasks import Task

csv.field_size_limit(sys.maxsize)


@dataclass(frozen=True)
class Example:
    text_a: str
    text_b: str | None
    label: int


def label_index(task: Task, raw, where: str) -> int:
    if isinstance(raw, str):
        raw = raw.strip()
        if raw in task.labels:
            return task.labels.index(raw)
        if raw.lstrip("-").isdigit():
            raw = int(raw)
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < len(task.labels):
        return raw
    allowed = ", ".join(f"{i} or {name!r}" for i, name in enumerate(task.labels))
    raise AdaptxError(f"{where}: label {raw!r} is not in {task.name}'s label set ({allowed})")


def _rows_tsv(path: Path, header: bool):
    # QUOTE_NONE: NLI text contains bare quotes; newline='' keeps CRLF files (PAWS-Wiki) readable
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        names = None
        for line_no, row in enumerate(reader, start=1):
            row = [cell.rstrip("\r") for cell in row]
            if not row or row == [""]:
                continue
            if header and names is None:
                names = row
                continue
            yield line_no, (dict(zip(names, row)) if header else row), names


def _read_local(task: Task, spec, path: Path, limit: int | None) -> list[Example]:
    if not path.is_file():
        raise AdaptxError(
            f"missing data file {path} for task {task.name!r}; expected the layout of shared/data "
            f"(see README, 'Local data layout'), or set data.source: hub"
        )
    col_a, col_b, col_label = spec.columns
    examples: list[Example] = []
    try:
        if spec.format == "json_records":
            data = json.loads(path.read_text(encoding="utf-8"))
            records = data.values() if isinstance(data, dict) else data
            rows = ((i + 1, rec, None) for i, rec in enumerate(records))
            kind = "record"
        else:
            rows = _rows_tsv(path, header=spec.format == "tsv_header")
            kind = "line"
        for line_no, row, names in rows:
            where = f"{path}, {kind} {line_no}"
            try:
                a = row[col_a]
                b = row[col_b] if col_b is not None else None
                raw_label = row[col_label]
            except (KeyError, IndexError, TypeError):
                want = [c for c in spec.columns if c is not None]
                got = names if names is not None else (list(row) if isinstance(row, dict) else f"{len(row)} columns")
                raise AdaptxError(f"{where}: expected fields {want}, found {got}") from None
            examples.append(Example(str(a), None if b is None else str(b), label_index(task, raw_label, where)))
            if limit is not None and len(examples) >= limit:
                break
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AdaptxError(f"{path}: cannot parse as {spec.format}: {exc}") from exc
    return examples


def _read_hub(task: Task, spec, lang: str, limit: int | None) -> list[Example]:
    import datasets

    config = spec.config.format(lang=lang) if spec.config else None
    split = spec.split if limit is None else f"{spec.split}[:{limit}]"
    try:
        ds = datasets.load_dataset(spec.dataset, config, split=split)
    except Exception as exc:  # noqa: BLE001 - the hub raises many types; all mean "not reachable or not found"
        raise AdaptxError(
            f"cannot load {spec.dataset} ({config}, {spec.split}) from the Hugging Face hub for task {task.name!r}: "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__} "
            "(offline? use data.source: local with --data-dir)"
        ) from exc
    col_a, col_b, col_label = spec.columns
    where = f"hub dataset {spec.dataset} ({config}, {spec.split})"
    missing = [c for c in spec.columns if c is not None and c not in ds.column_names]
    if missing:
        raise AdaptxError(f"{where}: expected columns {missing}, found {ds.column_names}")
    return [
        Example(row[col_a], row[col_b] if col_b else None, label_index(task, row[col_label], f"{where}, row {i}"))
        for i, row in enumerate(ds)
    ]


def load_split(task: Task, split: str, lang: str = "en", source: str = "local",
               data_dir: str | Path | None = None, limit: int | None = None) -> list[Example]:
    """split: 'train', 'dev' (English, model selection), 'eval-dev' or 'eval-test' (per language)."""
    specs = task.local if source == "local" else task.hub
    if split not in specs:
        have = ", ".join(sorted(specs))
        raise AdaptxError(f"task {task.name!r} has no {split!r} split in its {source} source (has: {have})")
    spec = specs[split]
    if source == "local":
        if data_dir is None:
            raise AdaptxError("data.source is local but no data folder is set: pass --data-dir DIR or set data.dir")
        path = Path(data_dir) / spec.path.format(lang=lang)
        examples = _read_local(task, spec, path, limit)
        origin = str(path)
    else:
        examples = _read_hub(task, spec, lang, limit)
        origin = f"{spec.dataset} ({spec.split})"
    if not examples:
        raise AdaptxError(f"{origin}: the {split} split of {task.name!r} ({lang}) is empty")
    return examples
