"""Data sources with one interface: a local folder (layout of shared/data) or the Hugging Face hub.

`load_split(task, split, lang, source, data_dir)` returns a `LoadedSplit`: every Example of
the split (labels as indices into `task.labels`), where it came from, and a digest of its
content for stage hashes. Every problem (missing or unreadable file, a field that is not
text, a label outside the label set, a short row) is an AdaptxError naming file and line.
`sample_ids` draws the seeded, label-stratified subsets that runs train and evaluate on.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import AdaptxError
from .intermediate_readers import read_commonsenseqa, read_cosmosqa, read_hellaswag_txt
from .readers import TEXT_ENCODING, json_lines, parse_json, tsv_reader
from .tasks import Task

MULTIPLE_CHOICE_READERS = {"commonsenseqa_jsonl": read_commonsenseqa, "cosmosqa_csv": read_cosmosqa,
                           "hellaswag_txt": read_hellaswag_txt}

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

    @property
    def label(self) -> int:
        # the stratum of seeded samples: a sample keeps the file's share of sentences with a partner
        return int(self.gold is not None)


@dataclass
class LoadedSplit:
    examples: list  # Example (classification), TaggedSentence, QAExample, SentencePair or MiningSource
    origin: str  # the file, or the hub dataset, config and split
    digest: str  # sha256 of the file(s), or the datasets library's fingerprint of the hub split
    context: dict = field(default_factory=dict)  # what all examples share (BUCC: the English sentences)
    skipped: dict = field(default_factory=dict)  # rows left out on purpose -> count (the stage summary says so)


def label_index(task: Task, raw, where: str) -> int:
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


def _field(row, column):
    """row[column]; a tuple column names alternatives, the first one present is read (ANLI's released
    files call the premise 'context', exports of the hub's version 'premise')."""
    if isinstance(column, tuple):
        return row[next((c for c in column if c in row), column[0])]
    return row[column]


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


def _check_exists(task: Task, path: Path) -> None:
    if not path.is_file():
        raise AdaptxError(
            f"missing data file {path} for task {task.name!r}; a data folder in the local layout has it "
            f"(`adaptx data pull {task.name} --out DIR` writes one; docs/data.md#local-data-layout), "
            f"or set data.source: hub"
        )


def _read_other_format(task: Task, spec, path: Path, data_dir: Path) -> tuple[list, dict]:
    """Tagging, QA, multiple-choice and retrieval files (adaptx.readers, adaptx.intermediate_readers):
    (examples, shared context)."""
    from . import intermediate_readers, readers

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
    if spec.format == "ccg":  # extra[0]: the tag set (C&C's `categories` file)
        return intermediate_readers.read_ccg(path, allowed_tags=intermediate_readers.read_tag_set(extra[0])), {}
    if spec.format in MULTIPLE_CHOICE_READERS:
        return MULTIPLE_CHOICE_READERS[spec.format](path, num_choices=task.params["num_choices"]), {}
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
    if spec.format not in ("tsv", "tsv_header", "json_records", "jsonl"):
        return _read_other_format(task, spec, path, Path(data_dir or path.parent))
    col_a, col_b, col_label = spec.columns
    examples: list[Example] = []
    try:
        json_records = spec.format == "json_records"
        if json_records:
            rows = _rows_json(path)
        elif spec.format == "jsonl":
            rows = _rows_jsonl(path)
        else:
            rows = _rows_tsv(path, header=spec.format == "tsv_header")
        kind = "record" if json_records else "line"
        for line_no, row, names in rows:
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
    return examples, {}


def _check_single_text_column(task: Task, path: Path, names: list, columns: tuple) -> None:
    """A single-sentence task (SST-2) whose file has a second text column was probably meant for a
    sentence-pair task: reading only the first column would silently train on half the input."""
    known = {c for c in columns if c is not None} | {"id", "idx", "index"}
    others = [n for n in names if n not in known]
    if others:
        raise AdaptxError(f"{path}, line 1: header has column(s) {others} besides {[c for c in columns if c]}; "
                          f"{task.name} is a single-sentence task, and this file looks like a sentence pair or "
                          "another task's file")


def _read_hub_other(task: Task, ds, lang: str, where: str) -> tuple[list, dict]:
    """Tagging, QA and retrieval rows in the hub's own schemas (adaptx.readers)."""
    from . import readers

    if task.kind == "tagging":
        return readers.tagged_sentences_from_hub(ds, "pos_tags" if "pos_tags" in ds.column_names else "ner_tags",
                                                 where=where), {}
    if task.kind == "multiple_choice":
        from .intermediate_readers import multiple_choice_from_hub

        examples, unlabeled = multiple_choice_from_hub(ds, task.params["hub_schema"], task.params["num_choices"], where)
        return examples, {"_skipped": {"unlabeled rows left out": unlabeled} if unlabeled else {}}
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


def _read_hub(task: Task, spec, lang: str) -> tuple[list, str, dict, dict]:
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
        return examples, digest, context, context.pop("_skipped", {})
    col_a, col_b, col_label = spec.columns
    missing = [c for c in spec.columns if c is not None and c not in ds.column_names]
    if missing:
        raise AdaptxError(f"{where}: expected columns {missing}, found {ds.column_names}")
    examples, unlabeled = [], 0
    for i, row in enumerate(ds):
        here = f"{where}, row {i}"
        if row[col_label] == -1:  # the hub's "no gold label" (SNLI pairs without annotator agreement)
            unlabeled += 1
            continue
        text_b = None if col_b is None else _text(row[col_b], col_b, here)
        examples.append(Example(_text(row[col_a], col_a, here), text_b, label_index(task, row[col_label], here)))
    return examples, digest, {}, ({"rows without a gold label (-1) left out": unlabeled} if unlabeled else {})


def load_split(task: Task, split: str, lang: str = "en", source: str = "local",
               data_dir: str | Path | None = None) -> LoadedSplit:
    """split: 'train', 'dev' (English, model selection), 'eval-dev' or 'eval-test' (per language).

    A split whose spec is a tuple is the concatenation of its parts, in order (ANLI's three rounds;
    ANLI + MNLI + SNLI as the paper trained). A local file with `part` set is that part of a seeded
    split of the file by groups (see `holdout`)."""
    spec = task.spec(source, split, lang)
    if spec is None:
        raise AdaptxError(f"task {task.name!r} has no {split!r} split for language {lang!r} in its {source} source")
    if isinstance(spec, tuple):
        parts = [_load_one(task, part, split, lang, source, data_dir) for part in spec]
        skipped: dict = {}
        for part in parts:
            for key, count in part.skipped.items():
                skipped[key] = skipped.get(key, 0) + count
        return LoadedSplit([e for p in parts for e in p.examples], " + ".join(p.origin for p in parts),
                           "+".join(p.digest for p in parts), {}, skipped)
    return _load_one(task, spec, split, lang, source, data_dir)


def _load_one(task: Task, spec, split: str, lang: str, source: str, data_dir) -> LoadedSplit:
    skipped: dict = {}
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
        if getattr(spec, "part", None):
            examples = holdout(examples, spec.part, **task.params["holdout"])
            h = task.params["holdout"]
            origin += (f" ({spec.part} part of a seeded split by {h['group']}: {1 - h['dev_fraction']:.0%} train / "
                       f"{h['dev_fraction']:.0%} dev, seed {h['seed']})")
            digest += f":{spec.part}"
    else:
        examples, digest, context, skipped = _read_hub(task, spec, lang)
        origin = f"{spec.dataset} ({spec.config.format(lang=lang) if spec.config else None}, {spec.split})"
    if not examples:
        raise AdaptxError(f"{origin}: the {split} split of {task.name!r} ({lang}) is empty")
    return LoadedSplit(examples, origin, digest, context, skipped)


def holdout(examples: list, part: str, dev_fraction: float, seed: int, group: str) -> list:
    """One part ('train' or 'dev') of a deterministic split of a file that is the only labeled data
    available locally (a dev set): whole groups of examples (those sharing `group`, e.g. a QA
    paragraph or a Cosmos QA passage, so no context is in both parts) go to dev, in a seeded random
    order, until dev holds at least `dev_fraction` of the examples; the rest is train."""
    if part not in ("train", "dev"):
        raise AdaptxError(f"holdout part {part!r}; expected 'train' or 'dev'")
    from collections import Counter

    keys = [getattr(e, group) for e in examples]
    sizes = Counter(keys)
    groups = list(sizes)  # in order of first appearance
    chosen, count = set(), 0
    for g in np.random.default_rng(seed).permutation(len(groups)).tolist():
        if count >= dev_fraction * len(examples):
            break
        chosen.add(groups[g])
        count += sizes[groups[g]]
    return [e for e, key in zip(examples, keys) if (key in chosen) == (part == "dev")]


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


def with_labels_from_file(task: Task, source: str, data_dir) -> Task:
    """A task whose label set is a file of its data (CCG: the categories file, C&C's `categories`),
    with its labels read from that file."""
    import dataclasses

    from .intermediate_readers import read_tag_set

    if source != "local":
        raise AdaptxError(f"task {task.name!r} has local data only ({task.description}); set data.source: local")
    if data_dir is None:
        raise AdaptxError(f"task {task.name!r} has no hub source ({task.description}): it reads the local data "
                          f"folder, also under data.source: hub, and none is set: pass --data-dir DIR or set data.dir")
    path = Path(data_dir) / task.params["label_file"]
    _check_exists(task, path)
    return dataclasses.replace(task, labels=read_tag_set(path))


def load_raw_text(source: str) -> LoadedSplit:
    """Raw text for masked-LM training, one text per line: every *.txt file of a folder (sorted by
    name; recursively), or `hub:DATASET[:CONFIG]` (its train split's `text` column). Empty lines are
    skipped."""
    from .fingerprint import file_digest

    if source.startswith("hub:"):
        import datasets

        dataset, _, config = source[len("hub:"):].partition(":")
        try:
            ds = datasets.load_dataset(dataset, config or None, split="train")
        except Exception as exc:  # noqa: BLE001 - the hub raises many types
            raise AdaptxError(f"intermediate.mlm.source: cannot load {dataset} ({config or None}, train) from the "
                              f"Hugging Face hub: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__} "
                              "(offline? give a folder of .txt files instead)") from exc
        if "text" not in ds.column_names:
            raise AdaptxError(f"intermediate.mlm.source: {dataset} has no 'text' column (columns: {ds.column_names})")
        texts = [t for t in ds["text"] if isinstance(t, str) and t.strip()]
        loaded = LoadedSplit(texts, f"{dataset} ({config or None}, train)",
                             f"datasets-fingerprint:{getattr(ds, '_fingerprint', None)}")
    else:
        from .readers import _lines

        folder = Path(source)
        files = sorted(folder.rglob("*.txt")) if folder.is_dir() else []
        if not files:
            raise AdaptxError(f"intermediate.mlm.source: {folder} is not a folder with .txt files (raw text, one "
                              "text per line), nor hub:DATASET[:CONFIG]")
        texts = [line.strip() for f in files for _, line in _lines(f) if line.strip()]
        loaded = LoadedSplit(texts, f"{folder} ({len(files)} .txt files)", "+".join(file_digest(f) for f in files))
    if not loaded.examples:
        raise AdaptxError(f"intermediate.mlm.source: {source} holds no text")
    return loaded
