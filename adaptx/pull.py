"""`adaptx data pull`: download registry tasks from the Hugging Face hub into the local layout.

Each file a task's `local` spec names (adaptx/tasks.py) is written from the `hub` spec of the
same split and language, in the format the local loader reads, so `adaptx run --data-dir DIR`
reads a pulled folder like shared/data. The hub's data are not shared/data's slices (full
MNLI vs a 9k subset, PAWS-X's own English train set vs PAWS-Wiki): numbers from the two are
not comparable.

Safety: the output folder is checked before anything is downloaded (a folder with files no
pull wrote is refused untouched); the hub is asked for each dataset's current revision
first, so a machine without network fails in seconds; every file is built in a staging
folder and read back through the local loader; only then are the files renamed into place
and the manifest written, last. Ctrl-C or an error before that leaves the folder as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .data import Example, read_local
from .data_manifest import (INCOMPLETE, MANIFEST, STAGING, file_entry, files_in, read_manifest, write_manifest)
from .errors import AdaptxError
from .fileio import atomic_write_text
from .fingerprint import sha256_file
from .formats.columns import label_index
from .tasks import HubSplit, LocalFile, Task, get_task
from .version import __version__

HUB_TIMEOUT_S = 20  # the revision lookup; without network it fails at once, on a dead link after this


@dataclass
class FilePlan:
    """One local file and the hub split it is written from."""

    path: str  # relative to the output folder
    local: LocalFile
    hub: HubSplit
    config: str | None  # hub config with the language filled in
    task: Task  # the first task that reads the file (tasks sharing a file share its labels)
    split: str
    lang: str

    @property
    def where(self) -> str:
        return f"hub dataset {self.hub.dataset} ({self.config}, {self.hub.split})"


def _source_and_format(item: FilePlan) -> tuple:
    return (item.hub.dataset, item.config, item.hub.split, item.hub.columns, item.local.format, item.local.columns,
            item.task.labels)


WRITABLE_FORMATS = ("tsv", "tsv_header", "json_records", "jsonl")  # the classification formats


def pullable_tasks() -> list[str]:
    from .tasks import TASKS

    return sorted(name for name, task in TASKS.items() if task.kind == "classification" and task.hub)


def plan_files(tasks: list[Task]) -> dict[str, FilePlan]:
    """Every local file of the tasks, each with its hub source; files that several tasks read
    (MNLI train for mnli and xnli) once. A split made of several files (ANLI's rounds) pairs
    each file with the hub split in the same place."""
    unsupported = [t.name for t in tasks if t.name not in pullable_tasks()]
    if unsupported:
        raise AdaptxError(f"`adaptx data pull` writes classification tasks only ({', '.join(pullable_tasks())}); "
                          f"{', '.join(unsupported)} cannot be pulled into the local layout: run "
                          f"{'it' if len(unsupported) == 1 else 'them'} with data.source: hub, or give the files "
                          "with --data-dir")
    plan: dict[str, FilePlan] = {}
    for task in tasks:
        for split, entry in task.local.items():
            if isinstance(entry, dict):
                langs = list(entry)
            else:
                first = entry[0] if isinstance(entry, tuple) else entry
                langs = list(task.languages) if "{lang}" in first.path else ["en"]
            for lang in langs:
                local, hub = task.spec("local", split, lang), task.spec("hub", split, lang)
                if hub is None:
                    continue  # nothing on the hub for this file; the local loader never needs it then
                locals_ = local if isinstance(local, tuple) else (local,)
                hubs = hub if isinstance(hub, tuple) else (hub,)
                if len(locals_) != len(hubs):
                    raise AdaptxError(f"task registry: {task.name} ({split}, {lang}) has {len(locals_)} local files "
                                      f"but {len(hubs)} hub splits")
                for part, source in zip(locals_, hubs):
                    if part.format not in WRITABLE_FORMATS:
                        raise AdaptxError(f"task registry: {task.name} reads {part.path} as {part.format!r}, which "
                                          f"`adaptx data pull` cannot write ({', '.join(WRITABLE_FORMATS)})")
                    item = FilePlan(part.path.format(lang=lang), part, source,
                                    source.config.format(lang=lang) if source.config else None, task, split, lang)
                    seen = plan.get(item.path)
                    if seen is None:
                        plan[item.path] = item
                    elif _source_and_format(seen) != _source_and_format(item):
                        raise AdaptxError(f"task registry: {item.path} is read by {seen.task.name} ({seen.split}) and "
                                          f"{task.name} ({split}) from different hub sources or formats")
    return plan


# -- the output folder ---------------------------------------------------------------------

def _earlier_pull(out: Path) -> tuple[dict[str, dict], list]:
    """The entries of files an earlier pull left in `out` (to keep beside the new ones) and its
    pull history. Refuses, touching nothing, a folder holding anything else."""
    if not out.exists():
        return {}, []
    if not out.is_dir():
        raise AdaptxError(f"--out {out} is a file; pass a folder path")
    manifest = read_manifest(out) or {"files": {}}
    if manifest.get("kind", "hub-pull") != "hub-pull":
        raise AdaptxError(f"--out {out} holds a {manifest['kind']} ({MANIFEST}), not a pull; nothing was changed. "
                          "Pull into a new or empty folder")
    interrupted = read_manifest(out, INCOMPLETE) or {"files": {}, "previous": {}}
    # a file is an earlier pull's when its bytes are what a manifest (or an interrupted pull) says
    known: dict[str, list[dict]] = {}
    for files in (manifest["files"], interrupted.get("previous", {}), interrupted["files"]):
        for name, entry in files.items():
            known.setdefault(name, []).append(entry)
    others, changed, keep = [], [], {}
    for name in files_in(out):
        if name.split("/")[0] in (STAGING, INCOMPLETE):
            continue  # our own leftovers of an interrupted pull
        if name not in known or (out / name).is_symlink():  # a pull writes plain files, never links
            others.append(name)
            continue
        digest = sha256_file(out / name)
        match = next((e for e in known[name] if e.get("sha256") == digest), None)
        if match is None:
            changed.append(name)
        else:
            keep[name] = match
    if others or changed:
        listed = ", ".join((others + changed)[:5]) + (" ..." if len(others) + len(changed) > 5 else "")
        what = ("files that no `adaptx data pull` wrote" if others
                else "files changed since `adaptx data pull` wrote them")
        raise AdaptxError(f"--out {out} holds {what} ({listed}); nothing was changed. Pull into a new or empty folder, "
                          "or into one that an earlier pull made and nobody edited")
    history = manifest.get("pulls", []) or interrupted.get("pulls", [])
    if not isinstance(history, list):
        raise AdaptxError(f"--out {out}: {MANIFEST} has 'pulls' of type {type(history).__name__}, expected a list of "
                          "earlier pulls; nothing was changed. Pull into a new or empty folder")
    return keep, history


# -- one file ------------------------------------------------------------------------------

def _hub_revision(dataset: str) -> str:
    """The dataset's current commit on the hub: recorded in the manifest and passed to
    load_dataset, so every file of one pull comes from one revision."""
    import huggingface_hub
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        return huggingface_hub.HfApi().dataset_info(dataset, timeout=HUB_TIMEOUT_S).sha
    except RepositoryNotFoundError as exc:
        raise AdaptxError(f"the Hugging Face hub has no dataset {dataset!r} (named in adaptx/tasks.py); nothing was "
                          "written") from exc
    except Exception as exc:  # noqa: BLE001 - offline, DNS, timeout, HTTP errors: all mean "cannot pull now"
        cause = (str(exc).splitlines() or [""])[0][:160]
        raise AdaptxError(f"cannot reach the Hugging Face hub (for {dataset}); nothing was written. `adaptx data pull` "
                          "needs network access and HF_HUB_OFFLINE unset; offline, pass --data-dir with a local data "
                          "folder (the quickstart runs from its built-in pack) "
                          f"[{type(exc).__name__}: {cause}]") from exc


def _load(item: FilePlan, revision: str):
    import datasets

    try:
        return datasets.load_dataset(item.hub.dataset, item.config, split=item.hub.split, revision=revision)
    except Exception as exc:  # noqa: BLE001 - download and parsing raise many types
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AdaptxError(f"cannot download {item.where} at revision {revision[:12]} for {item.path}: {first[:300]} "
                          f"({type(exc).__name__}); nothing was written, rerun to try again") from exc


def _check_schema(ds, item: FilePlan) -> list[str] | None:
    """Raise unless the columns the registry names exist with the expected types; returns the
    label column's class names (None where it is not a ClassLabel)."""
    import datasets

    col_a, col_b, col_label = item.hub.columns
    wanted = [c for c in (col_a, col_b, col_label) if c is not None]
    missing = [c for c in wanted if c not in ds.column_names]
    if missing:
        raise AdaptxError(f"{item.where}: expected columns {wanted} (adaptx/tasks.py), but {missing} are missing; "
                          f"found {ds.column_names}. The dataset's schema changed: update the task registry's hub spec")
    for col in (col_a, col_b):
        feature = ds.features[col] if col is not None else None
        text = isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string")
        if feature is not None and not text:
            raise AdaptxError(f"{item.where}: column {col!r} is {feature}, expected text (Value('string'))")
    feature = ds.features[col_label]
    if isinstance(feature, datasets.ClassLabel):
        labels = list(item.task.labels)
        if feature.names not in (labels, [str(i) for i in range(len(labels))]):
            raise AdaptxError(f"{item.where}: label names {feature.names} differ from {item.task.name}'s "
                              f"{labels} (in that order); the indices would mean different labels")
        return feature.names
    if not (isinstance(feature, datasets.Value) and (feature.dtype.startswith("int") or feature.dtype == "string")):
        raise AdaptxError(f"{item.where}: label column {col_label!r} is {feature}, expected a ClassLabel, "
                          "integers or label names")
    return None


def _clean(text: str | None) -> str | None:
    # the local TSV reader splits on tabs and line breaks and quotes nothing: those become spaces
    return None if text is None else text.replace("\r\n", " ").translate({9: " ", 10: " ", 13: " "})


def _rows(ds, item: FilePlan, max_rows: int | None, class_names) -> tuple[list[Example], list[int], dict]:
    """The split's labeled rows as Examples (the first max_rows of them), each row's id (the
    split's id column, else its row number) and counts for the manifest: unlabeled rows left
    out (ClassLabel -1, the hub's "no label": SNLI, PAWS-X) and text fields whose tabs or line
    breaks became spaces (TSV files only)."""
    col_a, col_b, col_label = item.hub.columns
    id_col = next((c for c in ("id", "idx") if c in ds.column_names), None)
    wanted = [c for c in (col_a, col_b, col_label, id_col) if c is not None]
    table = ds.select_columns(list(dict.fromkeys(wanted))).to_dict()
    n = len(table[col_label])
    keep = [i for i in range(n) if not (class_names is not None and table[col_label][i] == -1)]
    counts = {"rows_in_split": n, "unlabeled_rows_left_out": n - len(keep), "text_fields_cleaned": 0}
    if max_rows is not None:
        keep = keep[:max_rows]
    tsv = item.local.format in ("tsv", "tsv_header")
    examples = []
    for i in keep:
        a, b = table[col_a][i], table[col_b][i] if col_b is not None else None
        if a is None or (col_b is not None and b is None):
            raise AdaptxError(f"{item.where}, row {i}: a text field is null; expected text")
        if tsv:
            cleaned_a, cleaned_b = _clean(a), _clean(b)
            counts["text_fields_cleaned"] += (cleaned_a != a) + (cleaned_b != b)
            a, b = cleaned_a, cleaned_b
        examples.append(Example(a, b, label_index(item.task, table[col_label][i], f"{item.where}, row {i}")))
    ids = [table[id_col][i] if id_col else i for i in keep]
    return examples, ids, counts


def _name(column):
    return column[0] if isinstance(column, tuple) else column  # alternatives: the first name is written


def render(local: LocalFile, task: Task, examples: list[Example], ids: list) -> str:
    """The file text in the local format the registry names; labels as the task's label names."""
    col_a, col_b, col_label = local.columns
    named = [c for c in local.columns if c is not None]

    def fields(e: Example) -> dict:
        values = {col_a: e.text_a, col_label: task.labels[e.label]}
        if col_b is not None:
            values[col_b] = e.text_b
        return values

    if local.format in ("json_records", "jsonl"):
        records = [{_name(c): fields(e)[c] for c in named} for e in examples]
        if local.format == "jsonl":
            return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        # the layout of shared/data's PowerfulPromptFT files: an object of records keyed by row id
        return json.dumps({str(i): r for i, r in zip(ids, records)}, indent=4, ensure_ascii=True)
    lines = []
    if local.format == "tsv_header":
        lines.append("\t".join(_name(c) for c in named))
        lines += ["\t".join(fields(e)[c] for c in named) for e in examples]
    else:  # columns by index; a column the spec does not name (PAWS-Wiki's first) holds the row id
        width = max(named) + 1
        for i, e in zip(ids, examples):
            values = fields(e)
            lines.append("\t".join(values.get(c, str(i)) for c in range(width)))
    return "\n".join(lines) + "\n"


def _pull_file(item: FilePlan, staging: Path, revision: str, max_rows: int | None) -> dict:
    ds = _load(item, revision)
    class_names = _check_schema(ds, item)
    examples, ids, counts = _rows(ds, item, max_rows, class_names)
    if not examples:
        raise AdaptxError(f"{item.where}: no labeled rows to write to {item.path}")
    dest = staging / item.path
    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(dest, render(item.local, item.task, examples, ids))
    # read back exactly as a run will, so what a run trains on is what the hub holds
    if read_local(item.task, item.local, dest, staging)[0] != examples:
        raise AdaptxError(f"{item.path}: reading the written file back gives other rows than {item.where} "
                          "(an adaptx bug; please report it)")
    source = {"dataset": item.hub.dataset, "config": item.config, "split": item.hub.split, "revision": revision,
              "fingerprint": getattr(ds, "_fingerprint", None), "columns": list(item.hub.columns), **counts}
    return file_entry(dest, rows=len(examples), format=item.local.format, task=item.task.name, split=item.split,
                      language=item.lang, source=source)


# -- the command ---------------------------------------------------------------------------

def pull_tasks(task_names: list[str], out: str | Path, max_rows: int | None = None, log=print) -> Path:
    """Download the tasks from the hub into `out` in the local layout, with a manifest.

    max_rows: at most this many labeled rows per file, the split's first (row-aligned
    translations stay aligned). Files of an earlier pull into the same folder are kept (and
    replaced where this pull writes them again)."""
    if not task_names:
        raise AdaptxError("name at least one task to pull")
    tasks = [get_task(name) for name in dict.fromkeys(task_names)]
    if max_rows is not None and max_rows < 1:
        raise AdaptxError(f"--max-rows must be >= 1, got {max_rows}")
    plan = plan_files(tasks)
    out = Path(out)
    keep, history = _earlier_pull(out)
    revisions = {name: _hub_revision(name) for name in sorted({item.hub.dataset for item in plan.values()})}
    created = not out.exists()
    staging = out / STAGING
    started = time.time()
    try:
        out.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        new: dict[str, dict] = {}
        for k, (name, item) in enumerate(plan.items(), start=1):
            new[name] = _pull_file(item, staging, revisions[item.hub.dataset], max_rows)
            src = new[name]["source"]
            notes = [f"{src['unlabeled_rows_left_out']} unlabeled rows left out"] if src["unlabeled_rows_left_out"] \
                else []
            if src["text_fields_cleaned"]:
                notes.append(f"{src['text_fields_cleaned']} text fields had tabs or line breaks replaced by spaces")
            log(f"[{k}/{len(plan)}] {name}: {new[name]['rows']} rows from {item.where}"
                + (f" ({'; '.join(notes)})" if notes else ""))
        pull = {"tasks": [t.name for t in tasks], "max_rows": max_rows, "files": sorted(new),
                "revisions": revisions, "started": started, "finished": time.time()}
        _commit(out, staging, new, keep, history + [pull])
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # leave no empty folder behind where there was none
        raise
    shutil.rmtree(staging, ignore_errors=True)
    log(f"pulled {len(new)} files for {', '.join(t.name for t in tasks)} into {out} "
        f"(manifest: {out / MANIFEST}); run with --data-dir {out}")
    return out


def _commit(out: Path, staging: Path, new: dict[str, dict], keep: dict[str, dict], pulls: list) -> None:
    """Move the staged files into place and write the manifest, last. The incomplete-pull record
    goes first, so a crash between the renames leaves a folder that says what it is."""
    import datasets

    atomic_write_text(out / INCOMPLETE, json.dumps({"adaptx_data_manifest": 1, "files": new, "previous": keep,
                                                    "pulls": pulls}))
    (out / MANIFEST).unlink(missing_ok=True)
    for name in new:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / name, out / name)
    files = {**{k: v for k, v in keep.items() if k not in new}, **new}
    write_manifest(out, files, kind="hub-pull", adaptx=__version__, datasets=datasets.__version__, pulls=pulls)
    (out / INCOMPLETE).unlink()
