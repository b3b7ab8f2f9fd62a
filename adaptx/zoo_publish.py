"""Publishing: a finished stage folder becomes a zoo entry (`adaptx zoo add`). The stage's model folder
and the frozen adapters it was built on (from the stages it needs, or the zoo entries it was trained on,
checked against its recipe) are copied into a hidden folder, carded (adaptx.zoo_stage_card), verified like
any entry and landed (adaptx.zoo_folder). Safetensors and JSON only; no symbolic link is followed.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from .errors import AdaptxError
from .fileio import atomic_write_text
from .fingerprint import sha256_file
from .run_folder import StageFolder, stage_folder_name
from .zoo_card import ALLOWED_SUFFIXES, CARD_FILE, KINDS, parse_card
from .zoo_folder import landing
from .zoo_resolve import require_entry
from .zoo_stage_card import make_card
from .zoo_verify import file_problems


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
            folder = entry / card.adapter.folder
            if card.adapter_files() != zoo_source["files"]:
                raise AdaptxError(f"{stage_dir}: was trained on zoo entry {zoo_source['entry']!r}, but that entry in "
                                  f"{zoo} now has other files; publish from a run against the current entry")
            found[name] = (folder, {"zoo": zoo_source["entry"]}, card.task)
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


def _stage_error(stage_dir: Path, exc: Exception) -> AdaptxError:
    """A stage folder from an older adaptx, or edited by hand: its files lack or mistype a field."""
    what = f"lacks {exc}" if isinstance(exc, KeyError) else f"has a mistyped field ({type(exc).__name__}: {exc})"
    return AdaptxError(f"{stage_dir}: its manifest.json, metrics.json or setup.json {what}; run the stage again "
                       "with this adaptx before publishing it")


def add_entry(zoo: Path, stage_dir: str | Path, name: str, version: str = "1") -> Path:
    """Publish a finished stage as entry `name`: copied into a hidden folder, verified, renamed into
    place, then indexed. A refused add leaves the zoo as it was (a zoo folder it created is removed)."""
    stage_dir = Path(stage_dir)
    with landing(zoo, name, "add", "choose another name (e.g. with a version suffix) or "
                                   f"`adaptx zoo remove {name}` first") as new:
        manifest, metrics, setup = _read_stage(stage_dir)
        try:
            members = _member_folders(stage_dir, manifest, setup, zoo)
        except (KeyError, TypeError, AttributeError) as exc:
            raise _stage_error(stage_dir, exc) from exc
        sources = _collect_files(stage_dir, members)
        for rel, source in sources.items():
            (new.work / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, new.work / rel)
        files = {rel: sha256_file(new.work / rel) for rel in sources}  # the copied bytes are what gets verified later
        try:
            data = make_card(name, version, stage_dir, manifest, metrics, setup, members, files)
        except (KeyError, TypeError, AttributeError) as exc:
            raise _stage_error(stage_dir, exc) from exc
        atomic_write_text(new.work / CARD_FILE, json.dumps(data, indent=1) + "\n")
        new.card, problems = parse_card(data, new.work / CARD_FILE)
        problems += file_problems(new.work, data)
        if problems:
            raise AdaptxError(f"{stage_dir}: cannot publish:\n  - " + "\n  - ".join(problems))
    return zoo / name
