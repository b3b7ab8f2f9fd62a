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
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class SentencePair:
    """A retrieval example (Tatoeba): a sentence and its English translation."""

    source: str
    target: str


@dataclass(frozen=True)
class MiningSource:
    """A BUCC source sentence and the id of its gold English partner (None: it has none)."""

    id: str
    sentence: str
    gold: str | None


@dataclass
class LoadedSplit:
    examples: list  # Example (classification), TaggedSentence, QAExample, SentencePair or MiningSource
    origin: str  # the file, or the hub dataset, config and split
    digest: str  # sha256 of the file(s), or the datasets library's fingerprint of the hub split
    context: dict = field(default_factory=dict)  # what all examples share (BUCC: the English sentences)


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


def _check_exists(task: Task, path: Path) -> None:
    if not path.is_file():
        raise AdaptxError(
            f"missing data file {path} for task {task.name!r}; expected the layout of shared/data "
            f"(see README, 'Local data layout'), or set data.source: hub"
        )


def _read_other_format(task: Task, spec, path: Path, data_dir: Path) -> tuple[list, dict]:
    """Tagging, QA and retrieval files (adaptx.readers): (examples, shared context)."""
    from . import readers

    extra = [data_dir / name for name in spec.extra]
    for file in extra:
        _check_exists(task, file)
    if spec.format == "conllu":
        return readers.read_conllu(path, allowed_tags=task.labels), {}
    if spec.format == "udpos_tsv":
        return readers.read_xtreme_udpos(path, allowed_tags=task.labels), {}
    if spec.format == "panx_tsv":
        return readers.read_panx(path, allowed_tags=task.labels), {}
    if spec.format == "squad_json":
        # TyDiQA's English train file repeats ids (XTREME kept only their last part): renamed, counted
        return readers.read_squad_json(path, rename_duplicate_ids=True), {}
    if spec.format == "tatoeba":
        sources, targets = readers.read_tatoeba(path, extra[0])
        return [SentencePair(a, b) for a, b in zip(sources, targets)], {}
    if spec.format == "bucc":
        data = readers.read_bucc(path, extra[0], extra[1])
        return _mining_sources(data), {"targets": list(zip(data.tgt_ids, data.tgt_sentences))}
    raise AdaptxError(f"task {task.name!r}: unknown local file format {spec.format!r}")


def _mining_sources(data) -> list[MiningSource]:
    partner = {src: tgt for src, tgt in data.gold}
    return [MiningSource(i, text, partner.get(i)) for i, text in zip(data.src_ids, data.src_sentences)]


def _read_local(task: Task, spec, path: Path, data_dir: Path | None = None) -> tuple[list, dict]:
    _check_exists(task, path)
    if spec.format not in ("tsv", "tsv_header", "json_records"):
        return _read_other_format(task, spec, path, Path(data_dir or path.parent))
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
    return examples, {}


def _read_hub_other(task: Task, ds, lang: str, where: str) -> tuple[list, dict]:
    """Tagging, QA and retrieval rows in the hub's own schemas (adaptx.readers)."""
    from . import readers

    if task.kind == "tagging":
        return readers.tagged_sentences_from_hub(ds, "pos_tags" if "pos_tags" in ds.column_names else "ner_tags",
                                                 where=where), {}
    if task.kind == "qa":
        names = task.params.get("hub_language_filter")
        rows = ds if not names else (r for r in ds if str(r["id"]).startswith(f"{names[lang]}-"))
        examples, _realigned = readers.qa_examples_from_hub(rows, where)
        return examples, {}
    if task.params.get("mining"):
        data = readers.bucc_from_hub(ds, where)
        return _mining_sources(data), {"targets": list(zip(data.tgt_ids, data.tgt_sentences))}
    sources, targets = readers.tatoeba_from_hub(ds, where)
    return [SentencePair(a, b) for a, b in zip(sources, targets)], {}


def _read_hub(task: Task, spec, lang: str) -> tuple[list, str, dict]:
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
    where = f"hub dataset {spec.dataset} ({config}, {spec.split})"
    digest = f"datasets-fingerprint:{getattr(ds, '_fingerprint', None)}"
    if task.kind != "classification":
        examples, context = _read_hub_other(task, ds, lang, where)
        return examples, digest, context
    col_a, col_b, col_label = spec.columns
    missing = [c for c in spec.columns if c is not None and c not in ds.column_names]
    if missing:
        raise AdaptxError(f"{where}: expected columns {missing}, found {ds.column_names}")
    examples = []
    for i, row in enumerate(ds):
        here = f"{where}, row {i}"
        text_b = None if col_b is None else _text(row[col_b], col_b, here)
        examples.append(Example(_text(row[col_a], col_a, here), text_b, label_index(task, row[col_label], here)))
    return examples, digest, {}


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
        examples, context = _read_local(task, spec, path, Path(data_dir))
        files = [path, *(Path(data_dir) / name for name in spec.extra)]
        origin = str(path) if not spec.extra else " + ".join(map(str, files))
        digest = "+".join(file_digest(f) for f in files)
    else:
        examples, digest, context = _read_hub(task, spec, lang)
        origin = f"{spec.dataset} ({spec.config.format(lang=lang) if spec.config else None}, {spec.split})"
    if not examples:
        raise AdaptxError(f"{origin}: the {split} split of {task.name!r} ({lang}) is empty")
    return LoadedSplit(examples, origin, digest, context)


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
