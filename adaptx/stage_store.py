"""The stage-folder format, in one place: `stages/<id>-<hash>/` under a run folder.

A folder holds `manifest.json` (status, hash, the recipe behind it, timings, versions),
`metrics.json`, the weights under `model/` as safetensors, while training a resumable
`checkpoint.safetensors`, and `eval/<lang>-<split>-<hash>.json` per evaluated language. The run,
the search (which locks stages so that one worker trains each) and the zoo (which publishes a
finished stage) all read and write it through this module.

Concurrency: `adaptx run` holds the whole run folder (`hold_run_folder`: one run at a time, the
refused one is told who holds it); search workers share a folder and take a lock per stage
(`StageStore.lock`), and so does a run for each stage it trains, so a run and a search never
train the same stage at once: the later one waits, then finds the stage done.
"""

from __future__ import annotations

import json
import math
import os
import platform
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from .errors import AdaptxError
from .fileio import atomic_write_text, check_output_folder, read_json
from .safe_yaml import shown

# every lock of a run folder lives in <run>/.locks/ (nothing in stages/ but stage folders)
LOCKS = ".locks"
RUN_LOCK = f"{LOCKS}/run.lock"  # held by `adaptx run` for its whole duration (an OS file lock)
RUN_HOLDER = f"{LOCKS}/run.holder.json"  # who holds it: pid, host, start time, command

HASH_CHARS = 10  # of the stage hash in folder and file names
# the files `adaptx run` writes at the top of its run folder (besides stages/, analysis/ and .locks/)
RUN_FILES = ("config.yaml", "results.json", "results.md", "results-summary.json", "run.log")


def stage_folder_name(stage_id: str, config_hash: str) -> str:
    """The folder name of a stage under stages/. Ids and hashes are also read back from manifests
    (a stage's recipe.needs), which people edit: one that would make a path (a separator, a NUL
    byte) is refused here, so no reader of a manifest can be led out of stages/."""
    if not isinstance(stage_id, str) or not isinstance(config_hash, str) or not stage_id or not config_hash or any(
            c in stage_id + config_hash for c in "/\\\0"):
        raise AdaptxError(f"stage {shown(stage_id)} with hash {shown(config_hash)}: not a stage of this run folder "
                          "(a stage id and its hash are names, without path separators); a manifest's "
                          "recipe.needs was edited by hand? delete that stage folder to redo it")
    return f"{stage_id}-{config_hash[:HASH_CHARS]}"


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
    own = read_json(setup_file, "that stage is incomplete", dict).get("own_adapter") if setup_file.is_file() else None
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
                found = read_json(manifest, f"delete the folder {manifest.parent} to redo that stage", dict)
                if found.get("config_hash") != self.hashes[stage_id]:
                    raise AdaptxError(f"{manifest}: records hash {found.get('config_hash')!r}, but its folder name "
                                      f"says {self.hashes[stage_id][:HASH_CHARS]}; the folder was copied or "
                                      f"edited by hand: delete {manifest.parent} to redo that stage")

    def finished(self, stage_id: str) -> dict | None:
        """The metrics of a stage finished before, else None (a damaged folder is a clear error)."""
        folder = self.dir(stage_id)
        manifest_path = folder / "manifest.json"
        if manifest_path.is_file():
            remedy = f"delete the folder {folder} to redo that stage"
            manifest = read_json(manifest_path, remedy, dict)
            if manifest.get("status") == "done":
                metrics = read_json(folder / "metrics.json", remedy, dict)
                problem = _metrics_problem(metrics)
                if problem:
                    raise AdaptxError(f"{folder / 'metrics.json'}: {problem}; {remedy}")
                return metrics
        return None

    def is_done(self, stage_id: str) -> bool:
        """Finished, for a reader that only asks (a search's worker): an unreadable manifest is not done."""
        try:
            manifest = read_json(self.dir(stage_id) / "manifest.json", "", dict)
        except AdaptxError:
            return False
        return manifest.get("status") == "done"

    def read_eval(self, path: Path, lang: str, metrics) -> dict:
        """One language's result from an evaluation file written before, checked field by field
        (it is reused as it is: a hand-edited file must not reach the results as a traceback)."""
        remedy = f"delete {path} to evaluate again"
        result = read_json(path, remedy, dict).get(lang)
        problem = _eval_problem(result, lang, metrics)
        if problem:
            raise AdaptxError(f"{path}: {problem}; {remedy}")
        return result

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
    def lock(self, stage_id: str, on_wait=None):
        """One process trains a stage; the others wait for it and then find it done (a file lock: released
        by the OS when its holder dies; the run folder must be on a file system every worker shares).
        on_wait(): called once if another process holds the stage, before waiting for it."""
        from filelock import FileLock, Timeout

        locks = self.run_dir / LOCKS
        locks.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(locks / f"stage-{self.dir(stage_id).name}.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if on_wait is not None:
                on_wait()
            lock.acquire()
        try:
            yield
        finally:
            lock.release()


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _eval_problem(result, lang: str, metrics) -> str | None:
    """What is wrong with one language's entry of an evaluation file, or None."""
    if not isinstance(result, dict):
        return f"no entry for language {lang!r}" if result is None else f"{lang}: expected an object"
    if not isinstance(result.get("split"), str):
        return f"{lang}.split: expected a split name"
    if not isinstance(result.get("n"), int) or isinstance(result.get("n"), bool) or result["n"] < 0:
        return f"{lang}.n: expected a count of examples"
    scores = result.get("scores")
    for metric in metrics:
        if not isinstance(scores, dict) or not _is_number(scores.get(metric)):
            return f"{lang}.scores.{metric}: expected a finite number"
    return None


def _metrics_problem(metrics: dict) -> str | None:
    """What is wrong with a finished stage's metrics.json (the fields a rerun and a search read), or None."""
    if "train" not in metrics:
        return "train: missing"
    for key, kind in (("fusion", dict), ("notes", list)):
        if key in metrics and not isinstance(metrics[key], kind):
            return f"{key}: expected {'an object' if kind is dict else 'a list'}"
    train = metrics["train"]
    if train is None:
        return None
    if not isinstance(train, dict):
        return "train: expected an object (or null for a stage that trains nothing)"
    for key, ok in (("metric", lambda v: isinstance(v, str)), ("best_dev_score", _is_number),
                    ("best_step", lambda v: isinstance(v, int) and not isinstance(v, bool)),
                    ("train_seconds", _is_number), ("history", lambda v: isinstance(v, list))):
        if not ok(train.get(key)):
            return f"train.{key}: missing or of the wrong type"
    return None


def _holder(run_dir: Path) -> str:
    """Who holds a run folder, as its holder file says (it may not have written it yet)."""
    try:
        info = read_json(run_dir / RUN_HOLDER, "", dict)
        return (f"pid {int(info['pid'])} on host {str(info['host'])[:100]} since {str(info['started'])[:40]} "
                f"({str(info.get('command', 'adaptx run'))[:200]})")
    except (AdaptxError, KeyError, TypeError, ValueError):
        return f"another process (it has not recorded itself in {run_dir / RUN_HOLDER})"


def check_run_folder(run_dir: Path) -> Path:
    """A run folder a run can write, checked before anything loads: a usable path in a writable place
    (fileio.check_output_folder), and every file a run writes at its top a file or absent: a folder
    in the place of results.json would otherwise fail the run after all its training."""
    run_dir = check_output_folder(run_dir, "run folder")
    for name in RUN_FILES:
        path = run_dir / name
        if os.path.lexists(path) and not path.is_file():
            raise AdaptxError(f"{path} is not a file (a folder, FIFO or dangling link); a run writes its {name} "
                              "there: move it aside, or pass another --out")
    return run_dir


def check_run_folder_free(run_dir: Path) -> None:
    """Refuse early (before the base model and data are loaded) a run folder another `adaptx run`
    holds; creates nothing. hold_run_folder decides: this is only the quick answer."""
    from filelock import FileLock, Timeout

    if not (Path(run_dir) / RUN_LOCK).is_file():
        return
    lock = FileLock(str(Path(run_dir) / RUN_LOCK))
    try:
        lock.acquire(timeout=0)
        lock.release()
    except Timeout:
        raise AdaptxError(f"run folder {run_dir} is in use by {_holder(Path(run_dir))}; wait for it to finish "
                          "or use another --out") from None
    except OSError:
        return  # not writable here: hold_run_folder says so


@contextmanager
def hold_run_folder(run_dir: Path, command: str):
    """`adaptx run` alone in its run folder, for its whole duration: a second run is refused with the
    holder's pid, host and start time. An OS file lock, released if the holder dies; the holder file
    beside it is only for the message."""
    from filelock import FileLock, Timeout

    run_dir = Path(run_dir)
    lock = FileLock(str(run_dir / RUN_LOCK))
    try:
        (run_dir / LOCKS).mkdir(parents=True, exist_ok=True)
        lock.acquire(timeout=0)
    except Timeout:
        raise AdaptxError(f"run folder {run_dir} is in use by {_holder(run_dir)}; wait for it to finish "
                          "or use another --out") from None
    except OSError as exc:
        raise AdaptxError(f"cannot lock run folder {run_dir} ({exc.strerror or exc}); pass --out with a writable "
                          "folder") from exc
    try:
        write_json(run_dir / RUN_HOLDER, {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
                                          "started": time.strftime("%Y-%m-%d %H:%M:%S %z")})
        yield
    finally:
        (run_dir / RUN_HOLDER).unlink(missing_ok=True)
        lock.release()
