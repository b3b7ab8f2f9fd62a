"""Data sources with one interface: a local folder (layout of shared/data) or the Hugging Face hub.

`load_split(task, split, lang, source, data_dir)` returns a `LoadedSplit`: every Example of
the split (labels as indices into `task.labels`), where it came from, and a digest of its
content for stage hashes. A file, or a hub split, is read by the reader its format registered
(adaptx/formats/: a LocalFile's or HubSplit's `format` names it). Every problem (missing or
unreadable file, a field that is not text, a label outside the label set, a short row) is an
AdaptxError naming file and line.
`sample_ids` draws the seeded, label-stratified subsets that runs train and evaluate on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import AdaptxError
from .formats import hub_reader, local_reader
from .formats.columns import Example  # noqa: F401 - re-exported: tests and scripts import it from here
from .formats.retrieval import SentencePair  # noqa: F401 - re-exported: tests import it from here
from .packs import NO_DATA_DIR
from .tasks import Task, get_task


@dataclass
class LoadedSplit:
    examples: list  # Example (classification), TaggedSentence, QAExample, SentencePair or MiningSource
    origin: str  # the file, or the hub dataset, config and split
    digest: str  # sha256 of the file(s), or the datasets library's fingerprint of the hub split
    context: dict = field(default_factory=dict)  # what all examples share (BUCC: the English sentences)
    skipped: dict = field(default_factory=dict)  # rows left out on purpose -> count (the stage summary says so)


def _check_exists(task: Task, path: Path) -> None:
    if not path.is_file():
        raise AdaptxError(
            f"missing data file {path} for task {task.name!r}; a data folder in the local layout has it "
            f"(`adaptx data pull {task.name} --out DIR` writes one; docs/data.md#local-data-layout), "
            f"or set data.source: hub"
        )


def read_local(task: Task, spec, path: Path, data_dir: Path | None = None) -> tuple[list, dict]:
    """(examples, shared context) of a local file, read by its format's registered reader; the spec's
    further files (`extra`) are looked for in data_dir (default: the file's folder)."""
    _check_exists(task, path)
    extra = [Path(data_dir or path.parent) / name for name in spec.extra]
    for file in extra:
        _check_exists(task, file)
    read = local_reader(task, spec)(task, spec, path, extra)
    return read.examples, read.context


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
    read = hub_reader(task, spec)(task, spec, ds, lang, where)
    return read.examples, f"datasets-fingerprint:{getattr(ds, '_fingerprint', None)}", read.context, read.skipped


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
            raise AdaptxError(NO_DATA_DIR)
        path = Path(data_dir) / spec.path.format(lang=lang)
        examples, context = read_local(task, spec, path, Path(data_dir))
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


def load_task(name: str, source: str, data_dir) -> Task:
    """The registry's entry of a task as a run under data.source `source` reads it: where the registry
    names a label file of its data (CCG: the categories file, C&C's `categories`), with its labels
    read from that file."""
    import dataclasses

    from .intermediate_readers import read_tag_set

    task = get_task(name)
    if not task.params.get("label_file") or task.labels:
        return task
    if task.source(source) != "local":
        raise AdaptxError(f"task {task.name!r} has local data only ({task.description}); set data.source: local")
    if data_dir is None:
        raise AdaptxError(f"task {task.name!r} has no hub source ({task.description}): it reads the local data "
                          f"folder, also under data.source: hub, and none is set: pass --data-dir DIR or set data.dir")
    path = Path(data_dir) / task.params["label_file"]
    _check_exists(task, path)
    return dataclasses.replace(task, labels=read_tag_set(path))


def with_translations(translated, task: Task, english: LoadedSplit) -> LoadedSplit:
    """The paper's alternative (b) (config intermediate.translated): machine-translated training files in
    the task's own local layout under translated.dir/<lang>/, beside (add) or instead of (replace) the
    English data."""
    parts = [] if translated.mode == "replace" else [english]
    for lang in translated.languages:
        parts.append(load_split(task, "train", "en", "local", Path(translated.dir) / lang))
    examples = [e for part in parts for e in part.examples]
    translations = zip(translated.languages, parts[-len(translated.languages):])
    counts = ", ".join([*(["English " + str(len(english.examples))] if translated.mode == "add" else []),
                        *(f"{lang} {len(p.examples)}" for lang, p in translations)])
    return LoadedSplit(examples, " + ".join(p.origin for p in parts), "+".join(p.digest for p in parts),
                       english.context, {**english.skipped, f"machine-translated training rows ({counts})": 0})


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
