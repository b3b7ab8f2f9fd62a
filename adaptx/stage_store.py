"""The stage-folder format, in one place: `stages/<id>-<hash>/` under a run folder.

A folder holds `manifest.json` (status, hash, the recipe behind it, timings, versions),
`metrics.json`, the weights under `model/` as safetensors, while training a resumable
`checkpoint.safetensors`, and `eval/<lang>-<split>-<hash>.json` per evaluated language. The run,
the search (which locks stages so that one worker trains each) and the zoo (which publishes a
finished stage) all read and write it through this module.
"""

from __future__ import annotations

import json
import platform
import time
from contextlib import contextmanager
from pathlib import Path

from .errors import AdaptxError
from .fileio import atomic_write_text

HASH_CHARS = 10  # of the stage hash in folder and file names


def stage_folder_name(stage_id: str, config_hash: str) -> str:
    return f"{stage_id}-{config_hash[:HASH_CHARS]}"


def read_json(path: Path, remedy: str):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AdaptxError(f"{path} is unreadable ({type(exc).__name__}: {str(exc)[:100]}); {remedy}") from exc


def write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1))


def versions() -> dict:
    import adapters
    import torch
    import transformers

    from . import __version__

    return {"adaptx": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "adapters": adapters.__version__, "python": platform.python_version()}


def saved_adapter_folder(stage_folder: Path, name: str) -> Path | None:
    """The folder of adapter `name` in a stage folder: adapter-<name>, or, for a stage saved before
    adapter names carried seed and base ('qqp' rather than 'qqp-s0-<tag>'), the stage's own adapter
    when `name` is that adapter's name with a seed and base tag added."""
    model = stage_folder / "model"
    if (model / f"adapter-{name}").is_dir():
        return model / f"adapter-{name}"
    setup_file = model / "setup.json"
    own = read_json(setup_file, "that stage is incomplete").get("own_adapter") if setup_file.is_file() else None
    if own and name.startswith(f"{own}-s") and (model / f"adapter-{own}").is_dir():
        return model / f"adapter-{own}"
    return None


class StageStore:
    """The stage folders of one run folder, named by the stages' hashes."""

    def __init__(self, run_dir: Path, hashes: dict[str, str]):
        self.run_dir = Path(run_dir)
        self.hashes = hashes  # stage id -> hash (filled as stages are prepared)

    def dir(self, stage_id: str) -> Path:
        return self.run_dir / "stages" / stage_folder_name(stage_id, self.hashes[stage_id])

    def eval_file(self, stage_id: str, lang: str, split: str, digest: str) -> Path:
        return self.dir(stage_id) / "eval" / f"{lang}-{split}-{digest[:HASH_CHARS]}.json"

    def checkpoint(self, stage_id: str) -> Path:
        return self.dir(stage_id) / "checkpoint.safetensors"

    def check_existing(self, stage_ids) -> None:
        """Every stage folder already there is readable and is the stage its name says."""
        for stage_id in stage_ids:
            manifest = self.dir(stage_id) / "manifest.json"
            if manifest.exists():
                found = read_json(manifest, f"delete the folder {manifest.parent} to redo that stage")
                if found.get("config_hash") != self.hashes[stage_id]:
                    raise AdaptxError(f"{manifest}: records hash {found.get('config_hash')!r}, but its folder name "
                                      f"says {self.hashes[stage_id][:HASH_CHARS]}; the folder was copied or "
                                      f"edited by hand: delete {manifest.parent} to redo that stage")

    def finished(self, stage_id: str) -> dict | None:
        """The metrics of a stage finished before, else None (a damaged folder is a clear error)."""
        folder = self.dir(stage_id)
        manifest_path = folder / "manifest.json"
        if manifest_path.is_file():
            manifest = read_json(manifest_path, f"delete the folder {folder} to redo that stage")
            if manifest.get("status") == "done":
                return read_json(folder / "metrics.json", f"delete the folder {folder} to redo that stage")
        return None

    def is_done(self, stage_id: str) -> bool:
        """Finished, for a reader that only asks (a search's worker): an unreadable manifest is not done."""
        try:
            manifest = json.loads((self.dir(stage_id) / "manifest.json").read_text())
        except (OSError, ValueError):
            return False
        return manifest.get("status") == "done"

    def begin(self, stage_id: str, recipe: dict) -> float:
        """Mark a stage as running (its recipe recorded); returns the start time."""
        started = time.time()
        folder = self.dir(stage_id)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / "manifest.json", {"stage": stage_id, "status": "running", "config_hash": self.hashes[stage_id],
                                              "recipe": recipe, "started": started, "versions": versions()})
        return started

    def finish(self, stage_id: str, recipe: dict, started: float, metrics: dict, seconds: float | None = None) -> None:
        """metrics.json, then the manifest marked done (the stage counts as finished only then)."""
        folder = self.dir(stage_id)
        write_json(folder / "metrics.json", metrics)
        finished = time.time()
        write_json(folder / "manifest.json", {
            "stage": stage_id, "status": "done", "config_hash": self.hashes[stage_id], "recipe": recipe,
            "started": started, "finished": finished,
            "seconds": round(finished - started, 1) if seconds is None else seconds, "versions": versions()})
        self.checkpoint(stage_id).unlink(missing_ok=True)

    def adapter_folder(self, source_stage: str, saved_name: str) -> Path:
        """Where a finished stage saved an adapter that another stage loads."""
        folder = self.dir(source_stage)
        return saved_adapter_folder(folder, saved_name) or folder / "model" / f"adapter-{saved_name}"

    @contextmanager
    def lock(self, stage_id: str):
        """One process trains a stage; the others wait for it and then find it done (a file lock: released
        by the OS when its holder dies; the run folder must be on a file system every worker shares)."""
        from filelock import FileLock

        locks = self.run_dir / "stages" / ".locks"
        locks.mkdir(parents=True, exist_ok=True)
        with FileLock(str(locks / f"{self.dir(stage_id).name}.lock")):
            yield
