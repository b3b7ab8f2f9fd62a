"""Data sources with one interface: a local folder (layout of shared/data) or the Hugging Face hub.

`load_split(task, split, lang, source, data_dir)` returns a `LoadedSplit`: every Example of
the split (labels as indices into `task.labels`), where it came from, and a digest of its
content for stage hashes. Every problem (missing or unreadable file, a field that is not
text, a label outside the label set, a short row) is an AdaptxError naming file and line.
`sample_ids` draws the seeded, label-stratified subsets that runs train and evaluate on.
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import AdaptxError
from .tasks import Task

csv.field_size_limit(sys.maxsize)


@dataclass(frozen=True)
class Example:
    text_a: str
    text_b: str | None
    label: int


@dataclass
class LoadedSplit:
    examples: list[Example]
    origin: str  # the file, or the hub dataset, config and split
    digest: str  # sha256 of the file, or the datasets library's fingerprint of the hub split


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


def _text(value, field_name, where: str) -> str:
    # JSON null or a number in a text field is a broken record, not the text "None" or "3"
    if not isinstance(value, str):
        kind = "null" if value is None else type(value).__name__
        raise AdaptxError(f"{where}: field {field_name!r} is {kind} ({value!r}); expected text")
    return value


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


def _rows_json(path: Path):
    data = json.loads(path.read_text(encoding="utf-8"))
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


def _read_local(task: Task, spec, path: Path) -> list[Example]:
    if not path.is_file():
        raise AdaptxError(
            f"missing data file {path} for task {task.name!r}; expected the layout of shared/data "
            f"(see README, 'Local data layout'), or set data.source: hub"
        )
    col_a, col_b, col_label = spec.columns
    examples: list[Example] = []
    try:
        json_records = spec.format == "json_records"
        rows = _rows_json(path) if json_records else _rows_tsv(path, header=spec.format == "tsv_header")
        kind = "record" if json_records else "line"
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
            text_b = None if col_b is None else _text(b, col_b, where)
            examples.append(Example(_text(a, col_a, where), text_b, label_index(task, raw_label, where)))
    except UnicodeDecodeError as exc:
        raise AdaptxError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from exc
    except json.JSONDecodeError as exc:
        raise AdaptxError(f"{path}: not valid JSON: {exc}") from exc
    except OSError as exc:
        raise AdaptxError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return examples


def _read_hub(task: Task, spec, lang: str) -> tuple[list[Example], str]:
    import datasets

    config = spec.config.format(lang=lang) if spec.config else None
    try:
        ds = datasets.load_dataset(spec.dataset, config, split=spec.split)
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
    examples = []
    for i, row in enumerate(ds):
        here = f"{where}, row {i}"
        text_b = None if col_b is None else _text(row[col_b], col_b, here)
        examples.append(Example(_text(row[col_a], col_a, here), text_b, label_index(task, row[col_label], here)))
    return examples, f"datasets-fingerprint:{getattr(ds, '_fingerprint', None)}"


def load_split(task: Task, split: str, lang: str = "en", source: str = "local",
               data_dir: str | Path | None = None) -> LoadedSplit:
    """split: 'train', 'dev' (English, model selection), 'eval-dev' or 'eval-test' (per language)."""
    spec = task.spec(source, split, lang)
    if spec is None:
        raise AdaptxError(f"task {task.name!r} has no {split!r} split for language {lang!r} in its {source} source")
    if source == "local":
        from .fingerprint import file_digest

        if data_dir is None:
            raise AdaptxError("data.source is local but no data folder is set: pass --data-dir DIR or set data.dir "
                              "to a folder in the local layout (make one with `adaptx data pull TASK... --out DIR`); "
                              "only configs/quickstart.yaml has its rows built in (data.dir: builtin:quickstart)")
        path = Path(data_dir) / spec.path.format(lang=lang)
        examples = _read_local(task, spec, path)
        origin, digest = str(path), file_digest(path)
    else:
        examples, digest = _read_hub(task, spec, lang)
        origin = f"{spec.dataset} ({spec.config.format(lang=lang) if spec.config else None}, {spec.split})"
    if not examples:
        raise AdaptxError(f"{origin}: the {split} split of {task.name!r} ({lang}) is empty")
    return LoadedSplit(examples, origin, digest)


def sample_ids(labels: list[int], k: int | None, seed: int, exclude: set[int] | frozenset = frozenset()) -> list[int]:
    """A seeded random sample of k row ids, stratified by label, outside `exclude`; sorted.

    Each label gets its share of k by largest remainder, so a 100-row sample of a balanced
    3-class file has 33-34 rows per class. The draw depends only on (labels, k, seed, exclude),
    so row-aligned translations with the same labels get the same rows in every language.
    """
    pool = [i for i in range(len(labels)) if i not in exclude]
    if k is None or k >= len(pool):
        return pool
    rng = np.random.default_rng(seed)
    by_label: dict[int, list[int]] = {}
    for i in pool:
        by_label.setdefault(labels[i], []).append(i)
    groups = sorted(by_label)
    exact = np.array([len(by_label[g]) * k / len(pool) for g in groups])
    counts = np.floor(exact).astype(int)
    for j in np.argsort(-(exact - counts), kind="stable")[: k - counts.sum()]:
        counts[j] += 1
    chosen = [i for g, c in zip(groups, counts) for i in rng.choice(by_label[g], size=c, replace=False).tolist()]
    return sorted(chosen)
