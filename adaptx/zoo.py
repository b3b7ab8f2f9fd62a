"""The adapter zoo: trained adapters published once, verified, and reused by runs and people.

A zoo is a folder (`--zoo DIR`, else `$ADAPTX_ZOO`, else `./adapter_zoo`; the zoo shipped with
adaptx is read beside it: adaptx.zoo_roots) with one folder per entry and an `index.json` that `adaptx zoo list` reads without opening the entries. An entry
is a loadable adaptx model: its adapters in the `adapters` library's safetensors format
(`adapter-<name>/`), `fusion/` for a fusion, `head.safetensors`, `setup.json` (the exact
active composition) and `card.json`, which says what it is, what it was trained on (base
model fingerprint, data, steps, seed, English dev score) and the sha256 of every file.

Safety: weights are safetensors only, and nothing here ever unpickles. Every use of an entry
(resolution for a run, export, push, a pull before it lands) re-checks the sha256 of every file,
refuses files the card does not list, any non-safetensors weight file and symbolic links, and
checks that each `.safetensors` file really has a safetensors header. An adapter is only
accepted on the base model whose weights it was trained on (compared by checksum fingerprint).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from .convergence import of_training
from .config import DTYPES, MIN_SEQ_LENGTH, POOLINGS
from .errors import AdaptxError
from .fileio import atomic_write_text, read_json
from .safe_yaml import shown
from .fingerprint import base_fingerprint, sha256_file
from .safetensors_check import safetensors_problem
from .run_folder import SETUP_FILE, StageFolder, stage_folder_name
from .strategies import STRATEGIES, TARGET_STRATEGIES, builds_on, get_strategy
from .zoo_index import (INDEX_FILE, entry_dirs, index_problems, index_record, load_index, record_problem,
                        write_index)
from .zoo_refs import NAME_RE, check_name, is_zoo_ref, zoo_ref_name
from .zoo_roots import ENV_VAR, holding, missing_entry, shipped_zoo, user_zoo

CARD_FILE = "card.json"
ENTRY_FORMAT = "adaptx-zoo-entry/1"
# the only file types an entry may hold: a pickle (.bin, .pt, .pkl, ...) can run code when loaded
ALLOWED_SUFFIXES = (".safetensors", ".json")
# strategy -> what a published stage of it is (adaptx.strategies: the strategies that can be published)
KINDS = {s.name: s.zoo_kind for s in STRATEGIES.values() if s.zoo_kind}
STANDALONE = tuple(s.name for s in STRATEGIES.values() if s.standalone)  # trained directly on the base

LICENSE_SOURCE = "adaptx.tasks (each Task's license; informational; check the upstream terms before redistributing)"

# card field -> allowed types; nested fields every card must carry
CARD_FIELDS = {
    "format": str, "name": str, "version": str, "task": str, "kind": str, "strategy": str, "languages": list,
    "base": dict, "adapter": (dict, type(None)), "head": dict, "members": list, "fusion": (dict, type(None)),
    "setup": str, "training": dict, "seed": int, "metrics": dict, "license": dict, "adaptx_version": str,
    "created_at": str, "source": dict, "files": dict,
}
NESTED_FIELDS = {
    "base": ("id", "revision", "fingerprint", "identity"),
    "head": ("file", "labels", "pooling", "dropout"),
    "training": ("data", "steps", "batch_size", "lr"),
    "metrics": ("en_dev",),
    "license": ("data", "source"),
}


def _whole(low: int):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# nested fields their readers use as they are (predict, zoo show, runs on zoo:NAME): a re-signed card
# with a label string for a list, a length as text, would otherwise predict wrongly or fail mid-way.
# field -> (test, what it must be); each is checked where present (NESTED_FIELDS says which must be)
NESTED_TYPES = {
    "base.id": (lambda v: v is None or isinstance(v, str), "a model name or null"),
    "base.fingerprint": (lambda v: isinstance(v, str), "a fingerprint string"),
    "base.identity": (lambda v: isinstance(v, dict), "an object (the base's weights and shape)"),
    "head.labels": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of label names"),
    "head.pooling": (lambda v: v in POOLINGS, f"one of {', '.join(POOLINGS)}"),
    "head.dropout": (lambda v: _number(v) and 0 <= v < 1, "a number in [0, 1)"),
    "training.data": (lambda v: isinstance(v, dict), "an object"),
    "training.steps": (_whole(0), "a whole number"),
    "training.batch_size": (_whole(1), "a whole number >= 1"),
    "training.max_seq_length": (lambda v: v is None or _whole(MIN_SEQ_LENGTH)(v),
                                f"a whole number >= {MIN_SEQ_LENGTH} or null"),
    "training.dtype": (lambda v: v is None or v in DTYPES, f"one of {', '.join(DTYPES)} or null"),
    "metrics.en_dev": (lambda v: isinstance(v, dict), "an object"),
}


def _nested_type_problems(card: dict, where: Path) -> list[str]:
    problems = []
    for key, (ok, what) in NESTED_TYPES.items():
        section, name = key.split(".")
        if name in card[section] and not ok(card[section][name]):
            problems.append(f"{where}: field {key} is {shown(card[section][name])}; expected {what}")
    return problems


# the files of an adapter folder that loading reads: the adapters library's weights and config, adaptx's metadata
ADAPTER_FILES = ("adapter.safetensors", "adapter_config.json", "adaptx-adapter.json")
ADAPTER_FIELDS = ("name", "folder", "weights", "sha256", "method", "reduction_factor", "config")
MEMBER_FIELDS = ("name", "task", "folder", "weights", "sha256", "source")


# -- names and roots ---------------------------------------------------------------------
# user_zoo (adaptx.zoo_roots) is what add/pull/remove write; reading an entry also looks in the shipped
# zoo (require_entry)


class _ZooFolder:
    """Creates the zoo folder (and missing parents) for add/pull; if the command then fails, removes
    the folders it created while they are still empty, so a refused command leaves no trace."""

    def __init__(self, zoo: Path):
        self.zoo, self.created = zoo, []

    def __enter__(self) -> Path:
        missing = [p for p in (self.zoo, *self.zoo.parents) if not p.exists()]
        try:
            self.zoo.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file where a parent folder should be, no permission
            raise AdaptxError(f"cannot create the zoo folder {self.zoo}: {exc.strerror or exc}") from exc
        self.created = missing  # innermost first
        return self.zoo

    def __exit__(self, exc_type, *_) -> None:
        if exc_type is not None:
            for folder in self.created:
                try:
                    folder.rmdir()  # only if empty: never removes what someone else put there meanwhile
                except OSError:
                    break


# -- reading and checking entries --------------------------------------------------------
def read_json_object(path: Path, remedy: str) -> dict:
    """A JSON object from a file; anything else (missing, not JSON, nested too deep, not an object) is
    an AdaptxError naming the file (adaptx.fileio.read_json)."""
    return read_json(path, remedy, dict)


def card_problems(card: dict, where: Path) -> list[str]:
    """Missing or mistyped card fields, and internal consistency (strategy vs kind, members vs files)."""
    problems = []
    for key, types in CARD_FIELDS.items():
        if key not in card:
            problems.append(f"{where}: field {key!r} is missing")
        elif not isinstance(card[key], types) or (types is int and isinstance(card[key], bool)):
            problems.append(f"{where}: field {key!r} has the wrong type ({type(card[key]).__name__})")
    for key, inner in NESTED_FIELDS.items():
        if isinstance(card.get(key), dict):
            problems += [f"{where}: field {key}.{k} is missing" for k in inner if k not in card[key]]
    if problems:
        return problems
    problems = _nested_type_problems(card, where)
    if problems:
        return problems
    try:
        return _consistency_problems(card, where)
    except (AttributeError, KeyError, TypeError) as exc:  # a hand-made or hostile card: never a traceback
        return [f"{where}: malformed ({type(exc).__name__}: {exc})"]


def _consistency_problems(card: dict, where: Path) -> list[str]:
    problems = []
    if card["format"] != ENTRY_FORMAT:
        problems.append(f"{where}: format {card['format']!r}; this adaptx reads {ENTRY_FORMAT!r}")
    if KINDS.get(card["strategy"]) != card["kind"]:
        problems.append(f"{where}: strategy {card['strategy']!r} with kind {card['kind']!r}; expected one of "
                        f"{', '.join(f'{s}->{k}' for s, k in KINDS.items())}")
    files = card["files"]
    parts = [("adapter", card["adapter"], ADAPTER_FIELDS)] if card["adapter"] else []
    parts += [(f"members[{i}]", m, MEMBER_FIELDS) for i, m in enumerate(card["members"])]
    for label, part, required in parts:
        missing = [k for k in required if not isinstance(part, dict) or k not in part]
        if missing:
            problems.append(f"{where}: field {label} lacks {', '.join(missing)}")
        elif not all(isinstance(part[k], str) for k in ("name", "folder", "weights", "sha256")):
            problems.append(f"{where}: field {label}: name, folder, weights and sha256 must be strings")
        elif label == "adapter" and not (_whole(1)(part["reduction_factor"]) and isinstance(part["method"], str)):
            problems.append(f"{where}: field adapter.reduction_factor is {shown(part['reduction_factor'])} and "
                            f"adapter.method {shown(part['method'])}; expected a whole number >= 1 and a method name")
        elif "/" in part["folder"] or part["folder"] in (".", "..") or not (
                part["weights"].startswith(part["folder"] + "/")):
            problems.append(f"{where}: {label}.folder {part['folder']!r} must be a folder of the entry that holds "
                            "its weights")
        elif files.get(part["weights"]) != part["sha256"]:
            problems.append(f"{where}: {label}.sha256 does not match files[{part['weights']!r}]")
        elif part["weights"] != f"{part['folder']}/{ADAPTER_FILES[0]}" or any(
                f"{part['folder']}/{f}" not in files for f in ADAPTER_FILES):
            problems.append(f"{where}: {label}: its folder must hold {', '.join(ADAPTER_FILES)} (weights: the first), "
                            "the files a run loads; publish the entry again from its stage")
    fusion = card["strategy"] in STRATEGIES and STRATEGIES[card["strategy"]].fusion
    if not fusion and not card["adapter"]:
        problems.append(f"{where}: field 'adapter' is null, but a {card['strategy']} entry has its own adapter")
    if fusion and not card["fusion"]:
        problems.append(f"{where}: field 'fusion' is null in a fusion entry")
    if card["head"].get("file") not in files or card["setup"] not in files:
        problems.append(f"{where}: head.file and setup must name files listed in 'files'")
    return problems


# JSON file name -> the fields adaptx (modeling.check_adapter_compatible) and the adapters library's
# loaders read from it without checking: a wrong one would be a traceback in the middle of a run
JSON_FIELDS = {"adaptx-adapter.json": {"base_fingerprint": dict},
               "adapter_config.json": {"name": str, "config": dict},
               "adapter_fusion_config.json": {"name": str, "config": dict}}


def _json_problems(path: Path, remedy: str) -> list[str]:
    """A JSON file of an entry: an object, with the fields its readers need (JSON_FIELDS)."""
    try:
        data = read_json_object(path, remedy)
    except AdaptxError as exc:
        return [str(exc)]
    return [f"{path}: field {key!r} is missing or not a JSON {'string' if kind is str else 'object'}; {remedy}"
            for key, kind in JSON_FIELDS.get(path.name, {}).items() if not isinstance(data.get(key), kind)]


def file_problems(entry: Path, card: dict) -> list[str]:
    """Every file listed with the right sha256, nothing unlisted, nothing that is not safetensors/JSON."""
    listed = card.get("files") if isinstance(card.get("files"), dict) else {}
    problems, present, reported = [], {}, set()
    for path in sorted(entry.rglob("*")):
        rel = path.relative_to(entry).as_posix()
        if path.is_symlink():
            problems.append(f"{path}: a symbolic link; entries hold plain files only: replace it with the file "
                            "itself, or remove the entry and add it again")
            reported.add(rel)
        elif path.is_dir() or rel == CARD_FILE:
            continue
        elif not path.is_file():
            problems.append(f"{path}: not a regular file (a FIFO, socket or device); entries hold plain files only")
            reported.add(rel)
        elif path.suffix not in ALLOWED_SUFFIXES:
            reported.add(rel)
            problems.append(f"{path}: a {path.suffix or 'suffix-less'} file; zoo entries hold safetensors weights "
                            "and JSON only (pickled .bin/.pt/.pkl weights can run code when loaded): delete it")
        elif rel not in listed:
            problems.append(f"{path}: not listed in the card's files; delete it or publish the entry again")
        else:
            present[rel] = path
    for rel, expected in sorted(listed.items()):
        if rel.startswith("/") or ".." in rel.split("/") or rel == CARD_FILE:
            problems.append(f"{entry / CARD_FILE}: files lists {rel!r}; expected a path inside the entry folder")
        elif rel in reported:
            continue
        elif Path(rel).suffix not in ALLOWED_SUFFIXES:
            problems.append(f"{entry / CARD_FILE}: files lists {rel!r}; entries hold safetensors weights and JSON only")
        elif rel in present:
            actual = sha256_file(present[rel])
            if actual != expected:
                problems.append(f"{present[rel]}: sha256 {actual[:12]}… does not match the card "
                                f"({str(expected)[:12]}…); the file changed after publishing: restore it, or remove "
                                "the entry and add it again")
            elif rel.endswith(".safetensors"):  # the whole header: a bad offset must not wait for a run to load it
                problem = safetensors_problem(present[rel])
                problems += [problem] if problem else []
            else:  # every JSON file parses as an object, before any run or library reads it
                problems += _json_problems(present[rel], "publish the entry again from its stage")
        else:
            problems.append(f"{entry / rel}: listed in the card but missing")
    return problems


def check_entry(entry: Path, index: dict | None = None) -> tuple[dict | None, list[str]]:
    """(card or None, problems): the card, every file, and (given an index) the index record."""
    card_path = entry / CARD_FILE
    linked = [f"{entry}: the entry folder is a symbolic link (to {os.path.realpath(entry)}); a zoo holds its entries "
              f"as plain folders: `adaptx zoo remove {entry.name}` removes the link (not its target)"
              ] if entry.is_symlink() else []
    try:
        card = read_json_object(card_path, "every zoo entry needs a card")
    except AdaptxError as exc:
        return None, linked + [str(exc)]
    problems = linked + card_problems(card, card_path)
    if card.get("name") != entry.name:
        problems.append(f"{card_path}: name {card.get('name')!r} differs from the folder name {entry.name!r}")
    problems += file_problems(entry, card)
    if index is not None and not problems:
        record = index["entries"].get(entry.name)
        if record is None:
            problems.append(f"{entry}: not in {INDEX_FILE}; check it and run `adaptx zoo verify --rebuild-index`")
        elif record != index_record(card, sha256_file(card_path)):
            problems.append(f"{card_path}: differs from its record in {INDEX_FILE} (the card or the index was edited); "
                            "check it and run `adaptx zoo verify --rebuild-index`")
    return card, problems


def require_entry(zoo: Path, name: str) -> tuple[Path, dict]:
    """A verified entry (card, files, index) of `zoo`, else of the shipped zoo, or an error listing every
    problem."""
    zoo = holding(zoo, check_name(name))
    entry = zoo / name
    if not entry.is_dir():
        raise AdaptxError(missing_entry(zoo, name))
    card, problems = check_entry(entry, load_index(zoo))
    if problems:
        raise AdaptxError(f"zoo entry {name!r} ({entry}) failed verification:\n  - " + "\n  - ".join(problems))
    return entry, card


def _move_into_place(tmp_entry: Path, entry: Path) -> None:
    try:
        tmp_entry.rename(entry)
    except OSError as exc:
        raise AdaptxError(f"cannot move the new entry into {entry}: {exc.strerror or exc} "
                          "(was it added at the same time by someone else?)") from exc


# -- commands: show, verify, remove (list: adaptx.zoo_index) -----------------------
def show_entry(zoo: Path, name: str) -> dict:
    """The card of a verified entry."""
    return require_entry(zoo, name)[1]


def verify_zoo(zoo: Path, name: str | None = None, rebuild_index: bool = False) -> tuple[int, list[str]]:
    """(entries checked, problems). rebuild_index: write the index from every entry that passes its own
    checks (card and files), so an entry added or edited by hand is accepted explicitly, never silently."""
    zoo = holding(zoo, check_name(name)) if name and not rebuild_index else zoo
    if not zoo.is_dir():
        shipped = shipped_zoo()
        hint = f"; the zoo shipped with adaptx: `adaptx zoo verify --zoo {shipped}`" if shipped is not None else ""
        raise AdaptxError(f"zoo folder {zoo} does not exist (set --zoo or ${ENV_VAR}){hint}")
    index = load_index(zoo)
    dirs = [zoo / check_name(name)] if name else entry_dirs(zoo)
    if name and not dirs[0].is_dir():
        raise AdaptxError(f"no zoo entry {name!r} in {zoo} (entries: {', '.join(sorted(index['entries'])) or 'none'})")
    problems, rebuilt = [], {}
    for entry in dirs:
        card, found = check_entry(entry, None if rebuild_index else index)
        problems += found
        if card is not None and not found:
            rebuilt[entry.name] = index_record(card, sha256_file(entry / CARD_FILE))
    if not name:
        if not rebuild_index:
            problems += index_problems(zoo)
            problems += [f"{zoo / INDEX_FILE}: lists {n!r}, but {zoo / n} does not exist; run `adaptx zoo verify "
                         "--rebuild-index`" for n in sorted(index["entries"]) if NAME_RE.match(n) and not (
                             zoo / n).is_dir()]
        allowed = (*ALLOWED_SUFFIXES, ".md", ".txt")  # the zoo's own README may sit beside the entries
        problems += [f"{p}: a {p.suffix} file in the zoo folder; pickles are not allowed anywhere in a zoo: delete it"
                     for p in sorted(zoo.iterdir()) if p.is_file() and p.suffix not in allowed
                     and p.name not in (".gitkeep", ".gitignore")]
    if rebuild_index:
        entries = {n: r for n, r in index["entries"].items()  # records of entries not checked now, if sound
                   if record_problem(n, r) is None and (zoo / n).is_dir() and n not in [d.name for d in dirs]}
        write_index(zoo, {**entries, **rebuilt})
    return len(dirs), problems


def remove_entry(zoo: Path, name: str) -> None:
    """Take the entry out of the index, then delete its folder (renamed aside first: a crash leaves a
    hidden folder that list and verify ignore, never half an entry)."""
    entry = zoo / check_name(name)
    index = load_index(zoo)
    if holding(zoo, name) != zoo:
        raise AdaptxError(f"zoo entry {name!r} is shipped with adaptx ({shipped_zoo()}), not in your zoo {zoo}; "
                          "shipped entries are not removed (an entry of that name in your zoo would shadow it)")
    linked = entry.is_symlink()  # a link (even a dangling one) is removed itself; its target is never touched
    if not linked and not entry.is_dir() and name not in index["entries"]:
        raise AdaptxError(f"no zoo entry {name!r} in {zoo} (entries: {', '.join(sorted(index['entries'])) or 'none'})")
    trash = zoo / f".remove-{name}-{os.getpid()}"
    if linked or entry.is_dir():
        entry.rename(trash)
    try:
        write_index(zoo, {n: r for n, r in index["entries"].items() if n != name})
    except OSError:
        if os.path.lexists(trash):
            trash.rename(entry)
        raise
    if trash.is_symlink():
        trash.unlink()
    else:
        shutil.rmtree(trash, ignore_errors=True)


# -- add: publish a finished stage -------------------------------------------------------
def _read_stage(stage_dir: Path) -> tuple[dict, dict, dict]:
    """(manifest, metrics, setup) of a finished adapter stage, or a clear error."""
    if not stage_dir.is_dir():
        raise AdaptxError(f"stage folder {stage_dir} does not exist; pass a folder like "
                          "runs/<run>/stages/<stage>-<hash>")
    stage = StageFolder(stage_dir)
    manifest = stage.read_manifest("pass a stage folder (runs/<run>/stages/<stage>-<hash>)")
    if not isinstance(manifest.get("recipe"), dict):
        raise AdaptxError(f"{stage.manifest_file}: has no recipe; not a stage folder written by adaptx run")
    if manifest.get("status") != "done":
        raise AdaptxError(f"{stage_dir}: stage status is {manifest.get('status')!r}, not 'done'; finish the run "
                          "(`adaptx run` resumes it) before publishing")
    try:
        named = stage_folder_name(manifest.get("stage"), manifest.get("config_hash"))
    except AdaptxError:  # an id or hash that is no folder name: it cannot match either
        named = None
    if stage_dir.name != named:
        raise AdaptxError(f"{stage_dir}: folder name does not match its manifest's stage and hash "
                          f"({manifest.get('stage')}, {str(manifest.get('config_hash'))[:10]}); the folder was "
                          "renamed or edited by hand")
    metrics = stage.read_metrics("the stage is incomplete: run it again")
    setup = stage.read_setup("the stage is incomplete: run it again")
    if setup.get("strategy") not in KINDS:
        raise AdaptxError(f"{stage_dir}: a {setup.get('strategy')!r} stage; the zoo holds adapters: an intermediate "
                          "adapter, a none/stack target adapter or a fusion (full fine-tuning trains no adapter)")
    return manifest, metrics, setup


def _weights_of(files: dict[str, Path], folder: str) -> str:
    found = [rel for rel in files if rel.startswith(folder + "/") and rel.endswith(".safetensors")]
    if len(found) != 1:
        raise AdaptxError(f"{folder}: expected one safetensors weight file, found {found or 'none'}")
    return found[0]


def _member_folders(stage_dir: Path, manifest: dict, setup: dict, zoo: Path) -> dict[str, tuple[Path, dict, str]]:
    """adapter name -> (folder, source, task) for the frozen adapters a stack/fuse stage was built on."""
    recipe, found = manifest["recipe"], {}
    for name in setup["frozen_adapters"]:
        zoo_source = recipe.get("zoo", {}).get(name)
        if zoo_source:  # published before: take the same bytes from this zoo, checked against the recipe
            try:
                entry, card = require_entry(zoo, zoo_source["entry"])
            except AdaptxError as exc:
                raise AdaptxError(f"{stage_dir}: was trained on zoo entry {zoo_source['entry']!r}; publish it to "
                                  f"the zoo that holds that entry (--zoo): {exc}") from exc
            folder = entry / card["adapter"]["folder"]
            if {k: v for k, v in card["files"].items() if k.startswith(card["adapter"]["folder"] + "/")} != (
                    zoo_source["files"]):
                raise AdaptxError(f"{stage_dir}: was trained on zoo entry {zoo_source['entry']!r}, but that entry in "
                                  f"{zoo} now has other files; publish from a run against the current entry")
            found[name] = (folder, {"zoo": zoo_source["entry"]}, card["task"])
            continue
        for stage_id, config_hash in recipe.get("needs", {}).items():
            needed = StageFolder(stage_dir).needed(stage_id, config_hash)
            saved = needed.saved_adapter(name)
            if saved is not None:
                task = needed.read_metrics("that stage is incomplete").get("task")
                if not isinstance(task, str):
                    raise AdaptxError(f"{needed.metrics_file}: has no task name; that stage is incomplete: run "
                                      "it again")
                found[name] = (saved, {"stage": stage_id, "config_hash": config_hash}, task)
                break
        else:
            raise AdaptxError(f"{stage_dir}: adapter {name!r} it builds on was not found in the stage folders it "
                              f"needs ({', '.join(recipe.get('needs', {})) or 'none'}) under {stage_dir.parent}")
    return found


def _refuse_links(folder: Path) -> list[Path]:
    """Everything under `folder`, after refusing any symbolic link there (the folder itself included):
    publishing follows no link, so a file from elsewhere on this machine never lands in a zoo or a hub repo."""
    paths = sorted(folder.rglob("*")) if folder.is_dir() and not folder.is_symlink() else []
    for path in [folder, *paths]:
        if path.is_symlink():
            raise AdaptxError(f"{path}: a symbolic link (to {os.path.realpath(path)}); the zoo publishes plain files "
                              "only: replace the link with the file itself, or run the stage again")
    return paths


def _collect_files(stage_dir: Path, members: dict) -> dict[str, Path]:
    """entry-relative path -> source file; refuses a stage folder holding anything but safetensors/JSON
    files, and any link."""
    model = StageFolder(stage_dir).model_dir
    files = {}
    for path in _refuse_links(model):
        if path.is_file():
            if path.suffix not in ALLOWED_SUFFIXES:
                raise AdaptxError(f"{path}: a {path.suffix} file in the stage's model folder; the zoo accepts "
                                  "safetensors weights and JSON only (never pickles)")
            files[path.relative_to(model).as_posix()] = path
    for name, (folder, _, _) in members.items():
        for path in _refuse_links(folder):
            if path.is_file():
                if path.suffix not in ALLOWED_SUFFIXES:
                    raise AdaptxError(f"{path}: a {path.suffix} file in adapter {name!r}; safetensors and JSON only")
                files[f"adapter-{name}/{path.relative_to(folder).as_posix()}"] = path
    return files


def _run_config(stage_dir: Path) -> dict:
    """The run's config.yaml (what the user called the base, the rows' sampling seed), or {}.
    A search's run folder has none: its first trial's stands in (adaptx.run_folder)."""
    import yaml

    try:
        return StageFolder(stage_dir).run.read_config()
    except (OSError, ValueError, yaml.YAMLError):
        return {}


def _portable_origin(origin: str, task_names) -> str:
    """A local data origin with the data folder taken off its paths ('../shared/data/qqp/x.json' ->
    'qqp/x.json': relative to --data-dir, in adaptx's local layout): a card carries no folder of the
    machine that trained it. Hub origins and paths outside the tasks' layout stay as they are."""
    from .tasks import get_task

    for name in task_names:
        try:
            task = get_task(name)
        except AdaptxError:
            continue
        for split in ("train", "dev"):
            spec = task.spec("local", split, "en")
            for part in (spec if isinstance(spec, tuple) else (spec,)) if spec else ():
                for rel in (part.path.format(lang="en"), *part.extra):
                    at = origin.find("/" + rel)
                    if at > 0:  # the data folder is what precedes it, back to the start or a separator
                        found = [origin.rfind(sep, 0, at) + len(sep) for sep in (" + ", ": ", " | ")
                                 if origin.rfind(sep, 0, at) >= 0]
                        start = max(found, default=0)
                        return origin.replace(origin[start:at + 1], "")
    return origin


def _base_card(stage_dir: Path, identity: dict) -> dict:
    from .models import BASE_FAMILIES

    name = _run_config(stage_dir).get("base_model")  # what the user called the base
    key = (identity.get("model_type"), identity.get("hidden_size"), identity.get("num_hidden_layers"),
           identity.get("vocab_size"))
    return {"id": identity.get("hub_id") or name or "unknown", "revision": identity.get("revision"),
            "family": BASE_FAMILIES.get(key, (None,))[0], "fingerprint": base_fingerprint(identity),
            "identity": identity}


def _make_card(name: str, version: str, stage_dir: Path, manifest: dict, metrics: dict, setup: dict,
               members: dict, files: dict[str, str]) -> dict:
    from .tasks import data_license, get_task
    from .version import __version__

    recipe, train = manifest["recipe"], metrics["train"]
    mixture = metrics.get("mixture")
    if mixture:  # a multi-task adapter: no single task's labels; its tasks' data licenses
        from .mixture import mixture_task

        task = mixture_task(metrics["task"], mixture["tasks"], mixture.get("cap"), mixture.get("mlm"))
    else:
        task = get_task(metrics["task"])
    strategy = setup["strategy"]
    adapter = None
    if setup.get("own_adapter"):
        folder = f"adapter-{setup['own_adapter']}"
        weights = _weights_of(files, folder)
        config = read_json_object(StageFolder(stage_dir).model_dir / folder / "adapter_config.json",
                                  "the stage is incomplete: run it again")
        adapter = {"name": setup["own_adapter"], "folder": folder, "weights": weights, "sha256": files[weights],
                   "method": setup["adapter_config"], "reduction_factor": setup["reduction_factor"],
                   "config": config.get("config", config)}
    member_cards = []
    for member, (_, source, member_task) in members.items():
        weights = _weights_of(files, f"adapter-{member}")
        member_cards.append({"name": member, "task": member_task, "folder": f"adapter-{member}", "weights": weights,
                             "sha256": files[weights], "source": source})
    fusion = None
    if get_strategy(strategy).fusion:
        fusion = {"folder": "fusion", "adapters": setup["fusion"], "settings": setup["fusion_config"],
                  "temperature": setup.get("fusion_temperature"),
                  "value_distance_from_identity": metrics.get("fusion", {}).get("value_distance_from_identity"),
                  "weights_sha256": {k: v for k, v in files.items() if k.startswith("fusion/")}}
    licensed = [*(mixture["tasks"] if mixture else [task.name]), *(m["task"] for m in member_cards)]
    licenses = {t: data_license(t) for t in licensed}
    data = recipe["data"]
    origin_tasks = list(mixture["tasks"]) if mixture else [task.name]
    run_data = _run_config(stage_dir).get("data") or {}
    sample_seed, max_dev = run_data.get("sample_seed"), run_data.get("max_dev_examples")
    return {
        "format": ENTRY_FORMAT, "name": name, "version": str(version), "task": task.name, "kind": KINDS[strategy],
        "strategy": strategy, "languages": list(task.languages) if strategy in TARGET_STRATEGIES else ["en"],  # intermediate: English
        "base": _base_card(stage_dir, recipe["base"]), "adapter": adapter,
        "head": {"file": "head.safetensors", "labels": metrics.get("labels") or list(task.labels), "pooling": setup["pooling"],
                 "dropout": setup["dropout"]},
        "members": member_cards, "fusion": fusion, "setup": SETUP_FILE,
        "training": {"data": {"train": _portable_origin(metrics["data"]["train"], origin_tasks),
                              "train_sha256": data["train"]["content"], "train_rows": data["train"]["n"],
                              "train_ids_digest": data["train"].get("rows"),
                              "dev": _portable_origin(metrics["data"]["dev"], origin_tasks),
                              "dev_sha256": data["dev"]["content"], "dev_rows": data["dev"]["n"],
                              "dev_ids_digest": data["dev"].get("rows"),
                              "sample_seed": sample_seed if isinstance(sample_seed, int) else None,
                              # a mixture samples its dev rows per task: rescoring needs the cap, not the total
                              "max_dev_examples": max_dev if isinstance(max_dev, int) else None},
                     **({"mixture": {"tasks": list(mixture["tasks"]), "cap": mixture.get("cap")}} if mixture else {}),
                     "steps": recipe["train"]["steps"], "batch_size": recipe["train"]["batch_size"],
                     "lr": recipe["train"]["lr"], "head_lr": recipe["train"].get("head_lr"),
                     "dtype": recipe.get("dtype"), "max_seq_length": recipe.get("max_seq_length"),
                     "trainable_parameters": metrics.get("trainable_parameters"),
                     # how it got there: every English-dev evaluation, the time, and where it ran
                     "dev_curve": [[h["step"], h["dev_score"]] for h in train.get("history", [])],
                     "train_seconds": train.get("train_seconds"),
                     "hardware": {k: v for k, v in (metrics.get("hardware") or {}).items()
                                  if k in ("device", "device_type", "dtype", "processes", "cpu_flags", "torch",
                                           "kernels")},
                     # whether English dev had stopped improving (adaptx.convergence; older stages: from the curve)
                     **of_training(train), "steps_trained": train.get("steps")},
        "seed": recipe["train"]["seed"],
        "metrics": {"en_dev": {"metric": train["metric"], "value": train["best_dev_score"], "step": train["best_step"],
                               "rows": data["dev"]["n"],
                               # per-row predictions at the best step: a rescore on other kernels counts agreeing rows
                               **({"predictions": train["best_dev_predictions"]}
                                  if train.get("best_dev_predictions") is not None else {}),
                               **({"versus_trivial": train["versus_trivial"]} if train.get("versus_trivial") else {})}},
        "license": {"data": licenses, "source": LICENSE_SOURCE},
        "adaptx_version": __version__, "versions": manifest.get("versions", {}),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": {"stage": manifest["stage"], "config_hash": manifest["config_hash"]},
        "files": files,
    }


def _stage_error(stage_dir: Path, exc: Exception) -> AdaptxError:
    """A stage folder from an older adaptx, or edited by hand: its files lack or mistype a field."""
    what = f"lacks {exc}" if isinstance(exc, KeyError) else f"has a mistyped field ({type(exc).__name__}: {exc})"
    return AdaptxError(f"{stage_dir}: its manifest.json, metrics.json or setup.json {what}; run the stage again "
                       "with this adaptx before publishing it")


def add_entry(zoo: Path, stage_dir: str | Path, name: str, version: str = "1") -> Path:
    """Publish a finished stage as entry `name`: copied into a hidden folder, verified, renamed into
    place, then indexed. A refused add leaves the zoo as it was (a zoo folder it created is removed)."""
    stage_dir = Path(stage_dir)
    check_name(name)
    with _ZooFolder(zoo):
        index = load_index(zoo)
        if os.path.lexists(zoo / name) or name in index["entries"]:
            raise AdaptxError(f"zoo entry {name!r} already exists in {zoo}; choose another name (e.g. with a "
                              f"version suffix) or `adaptx zoo remove {name}` first")
        manifest, metrics, setup = _read_stage(stage_dir)
        try:
            members = _member_folders(stage_dir, manifest, setup, zoo)
        except (KeyError, TypeError, AttributeError) as exc:
            raise _stage_error(stage_dir, exc) from exc
        sources = _collect_files(stage_dir, members)
        tmp = zoo / f".add-{name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            for rel, source in sources.items():
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, tmp / rel)
            files = {rel: sha256_file(tmp / rel) for rel in sources}  # the copied bytes are what gets verified later
            try:
                card = _make_card(name, version, stage_dir, manifest, metrics, setup, members, files)
            except (KeyError, TypeError, AttributeError) as exc:
                raise _stage_error(stage_dir, exc) from exc
            atomic_write_text(tmp / CARD_FILE, json.dumps(card, indent=1) + "\n")
            problems = card_problems(card, tmp / CARD_FILE) + file_problems(tmp, card)
            if problems:
                raise AdaptxError(f"{stage_dir}: cannot publish:\n  - " + "\n  - ".join(problems))
            _move_into_place(tmp, zoo / name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    write_index(zoo, {**index["entries"], name: index_record(card, sha256_file(zoo / name / CARD_FILE))})
    return zoo / name


# -- reuse: zoo:NAME in configs, export, loading -----------------------------------------
def resolve_zoo_adapter(name: str, zoo_root: str | Path, base_identity: dict) -> tuple[Path, dict]:
    """(adapter folder, card) of a verified standalone adapter entry trained on exactly this base.

    Refuses a missing or modified file (sha256), anything that is not safetensors/JSON, an entry
    out of step with the index, an adapter that needs another under it, and another base model.
    """
    zoo = Path(zoo_root)
    entry, card = require_entry(zoo, zoo_ref_name(name) if is_zoo_ref(name) else name)
    if card["strategy"] not in STANDALONE:
        raise AdaptxError(f"zoo:{entry.name} is a {card['kind']} entry ({card['strategy']}); only an adapter trained "
                          "directly on the base (an intermediate adapter or a `none` target adapter) can be "
                          "stacked or fused")
    check_trained_on(entry, card, base_identity)
    return entry / card["adapter"]["folder"], card


def check_trained_on(entry: Path, card: dict, base_identity: dict) -> None:
    """Refuse an entry on any base but the exact weights it was trained on (checksum fingerprints)."""
    mine, theirs = base_fingerprint(base_identity), card["base"]["fingerprint"]
    if mine != theirs:
        raise AdaptxError(f"zoo:{entry.name} was trained on base {card['base']['id']!r} (fingerprint {theirs}), but "
                          f"this run's base model has fingerprint {mine}; an adapter only fits the exact weights it "
                          "was trained on: use that base model, or train the task here (list it by name)")


def resolve_zoo_refs(cfg, base_identity: dict) -> dict[str, tuple[Path, dict]]:
    """zoo:NAME -> (adapter folder, card) for every zoo adapter the config's strategies use."""
    if not builds_on(cfg.strategies, "adapter"):
        return {}
    root = user_zoo(getattr(cfg, "zoo_dir", None))
    found = {t: resolve_zoo_adapter(t, root, base_identity) for t in cfg.intermediate_tasks if is_zoo_ref(t)}
    for task, token in cfg.zoo_adapters.items():  # a listed task's adapter mapped to an entry of that task
        if task not in cfg.intermediate_tasks:
            continue
        found[token] = resolve_zoo_adapter(token, root, base_identity)
        if found[token][1]["task"] != task:
            raise AdaptxError(f"zoo_adapters.{task}: {token} was trained on {found[token][1]['task']!r}, not {task!r}; "
                              f"map {task} to an entry of that task (adaptx zoo list), or list {token} in "
                              "intermediate_tasks on its own")
    _check_mergeable(cfg, found)
    return found


def _check_mergeable(cfg, found: dict) -> None:
    """The weight-space merges add adapters weight by weight: zoo adapters of another configuration
    (method, reduction factor) than the ones the run trains are refused before any adapter trains."""
    from .plan import adapter_source

    merging = [s for s in cfg.strategies if get_strategy(s).merge_method]
    if not merging:
        return
    shapes = {}
    for task in cfg.intermediate_tasks:
        source = adapter_source(cfg, task, cfg.seeds[0])
        if source in found:
            adapter = found[source][1]["adapter"]
            shapes[task] = (adapter["method"], adapter["reduction_factor"], f"zoo entry {source}")
        else:
            shapes[task] = (cfg.adapter.config, cfg.adapter.reduction_factor, "trained here: adapter.config and "
                            "adapter.reduction_factor")
    if len({(method, factor) for method, factor, _ in shapes.values()}) > 1:
        listing = "; ".join(f"{task}: {method}, reduction factor {factor} ({source})"
                            for task, (method, factor, source) in shapes.items())
        raise AdaptxError(f"strategies: {merging[0]!r} merges the intermediate adapters weight by weight, which needs "
                          f"adapters of one configuration, and these differ: {listing}; set adapter.config and "
                          f"adapter.reduction_factor to the zoo entries' (or drop {merging[0]!r})")


def zoo_recipe(token: str, card: dict) -> dict:
    """What a stage built on a zoo adapter depends on: the sha256 of each file of that adapter."""
    folder = card["adapter"]["folder"] + "/"
    return {"entry": zoo_ref_name(token), "files": {k: v for k, v in card["files"].items() if k.startswith(folder)}}


def entry_adapter_dirs(entry: Path, card: dict) -> dict[str, Path]:
    """name -> folder of the frozen adapters in an entry, for adaptx.modeling.load_model(entry, ...)."""
    return {m["name"]: entry / m["folder"] for m in card["members"]}


# export: adaptx.zoo_export (plain AdapterHub folders, the head in the library's format)


# -- the Hugging Face hub ----------------------------------------------------------------
def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__


def push_entry(zoo: Path, name: str, repo_id: str, revision: str | None = None) -> None:
    """Upload a verified entry to `repo_id` under `<name>/` (a hub repo can hold a whole zoo)."""
    import huggingface_hub

    from .zoo_modelcard import model_card

    entry, card = require_entry(zoo, name)
    message = f"adaptx zoo: {name} {card['version']} ({card['kind']}, {card['task']})"
    # the entry's files plus README.md (the model card the hub renders), staged aside: the entry itself
    # never holds a file its card does not list
    staged = Path(tempfile.mkdtemp(prefix=f"adaptx-push-{name}-"))
    try:
        for rel in [*card["files"], CARD_FILE]:
            (staged / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(entry / rel, staged / rel)
        (staged / "README.md").write_text(model_card(card, repo_id), encoding="utf-8")
        huggingface_hub.upload_folder(repo_id=repo_id, folder_path=str(staged), path_in_repo=name, revision=revision,
                                      commit_message=message,
                                      allow_patterns=[f"*{s}" for s in ALLOWED_SUFFIXES] + ["README.md"])
    except (OSError, ValueError) as exc:  # the hub's HTTP and offline errors derive from these
        raise AdaptxError(f"cannot push {name!r} to the hub repo {repo_id}: {_first_line(exc)} (logged in with "
                          "write access? `huggingface-cli login` or HF_TOKEN)") from exc
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def pull_entry(zoo: Path, repo_id: str, name: str, revision: str | None = None) -> Path:
    """Download entry `name` from `repo_id`, verify it (card, sha256 of every file, safetensors only)
    in a hidden folder, and only then move it into the zoo and index it."""
    import huggingface_hub

    check_name(name)
    with _ZooFolder(zoo):  # a failed pull (offline, refused) leaves no new zoo folder behind
        index = load_index(zoo)
        if os.path.lexists(zoo / name) or name in index["entries"]:
            raise AdaptxError(f"zoo entry {name!r} already exists in {zoo}; `adaptx zoo remove {name}` first")
        tmp = zoo / f".pull-{name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            # only JSON and safetensors are ever downloaded: a pickle in the repo never reaches this disk
            try:
                huggingface_hub.snapshot_download(repo_id=repo_id, revision=revision, local_dir=str(tmp),
                                                  allow_patterns=[f"{name}/*{s}" for s in ALLOWED_SUFFIXES])
            except (OSError, ValueError) as exc:  # the hub's HTTP and offline errors derive from these
                raise AdaptxError(f"cannot download {name!r} from the hub repo {repo_id}: {_first_line(exc)} "
                                  "(online? is the repo id right?)") from exc
            entry = tmp / name
            if not (entry / CARD_FILE).is_file():
                raise AdaptxError(f"{repo_id}: has no zoo entry {name!r} (no {name}/{CARD_FILE} at revision "
                                  f"{revision or 'main'})")
            card, problems = check_entry(entry)
            if problems:
                raise AdaptxError(f"{repo_id}: entry {name!r} failed verification; nothing was added to {zoo}:\n  - "
                                  + "\n  - ".join(problems))
            _move_into_place(entry, zoo / name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    write_index(zoo, {**index["entries"], name: index_record(card, sha256_file(zoo / name / CARD_FILE))})
    return zoo / name
