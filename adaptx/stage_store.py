"""A run's stage folders while it trains: which folder each stage's hash names, what a finished
stage must hold, marking stages running and done, and holding the run folder. Where the files are
is adaptx.run_folder's (`stages/<id>-<hash>/`: manifest, metrics, model, evaluation files).

Concurrency: `adaptx run` holds the whole run folder (`hold_run_folder`: one run at a time, the
refused one is told who holds it); search workers share a folder and take a lock per stage
(`StageStore.lock`), and so does a run for each stage it trains, so a run and a search never
train the same stage at once: the later one waits, then finds the stage done.
"""

from __future__ import annotations

import math
import os
import platform
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from .errors import AdaptxError
from .fileio import check_output_folder, read_json
from .run_folder import HASH_CHARS, LOCKS, RUN_FILES, RunFolder, StageFolder, write_json

RUN_LOCK = f"{LOCKS}/run.lock"  # held by `adaptx run` for its whole duration (an OS file lock)
RUN_HOLDER = f"{LOCKS}/run.holder.json"  # who holds it: pid, host, start time, command


def versions() -> dict:
    import adapters
    import torch
    import transformers

    from .version import __version__

    return {"adaptx": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "adapters": adapters.__version__, "python": platform.python_version()}


class StageStore:
    """The stage folders of one run folder, named by the stages' hashes."""

    def __init__(self, run_dir: Path, hashes: dict[str, str]):
        self.run_dir = Path(run_dir)
        self.run = RunFolder(self.run_dir)
        self.hashes = hashes  # stage id -> hash (filled as stages are prepared)
        # finished stages that train again: banked without weights that a later step still needs (adaptx.banked)
        self.retrain: dict[str, str] = {}

    def folder(self, stage_id: str) -> StageFolder:
        return self.run.stage(stage_id, self.hashes[stage_id])

    def dir(self, stage_id: str) -> Path:
        return self.folder(stage_id).path

    def eval_file(self, stage_id: str, lang: str, split: str, digest: str) -> Path:
        return self.folder(stage_id).eval_file(lang, split, digest)

    def checkpoint(self, stage_id: str) -> Path:
        return self.folder(stage_id).checkpoint_file

    def check_existing(self, stage_ids) -> None:
        """Every stage folder already there is readable and is the stage its name says; a finished stage
        keeps its final weights only (a checkpoint left by a crash right after it was marked done goes)."""
        for stage_id in stage_ids:
            stage = self.folder(stage_id)
            if stage.manifest_file.exists():
                found = stage.read_manifest(f"delete the folder {stage.path} to redo that stage")
                if found.get("config_hash") != self.hashes[stage_id]:
                    raise AdaptxError(f"{stage.manifest_file}: records hash {found.get('config_hash')!r}, but its "
                                      f"folder name says {self.hashes[stage_id][:HASH_CHARS]}; the folder was copied "
                                      f"or edited by hand: delete {stage.path} to redo that stage")
                if found.get("status") == "done":
                    stage.checkpoint_file.unlink(missing_ok=True)

    def finished(self, stage_id: str) -> dict | None:
        """The metrics of a stage finished before, else None (a damaged folder is a clear error;
        a stage in `retrain` is not finished until it has trained again)."""
        if stage_id in self.retrain:
            return None
        stage = self.folder(stage_id)
        if stage.manifest_file.is_file():
            remedy = f"delete the folder {stage.path} to redo that stage"
            if stage.read_manifest(remedy).get("status") == "done":
                metrics = stage.read_metrics(remedy)
                problem = _metrics_problem(metrics)
                if problem:
                    raise AdaptxError(f"{stage.metrics_file}: {problem}; {remedy}")
                return metrics
        return None

    def is_done(self, stage_id: str) -> bool:
        """Finished, for a reader that only asks (a search's worker): an unreadable manifest is not done."""
        return self.folder(stage_id).is_done()

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
        stage = self.folder(stage_id)
        stage.path.mkdir(parents=True, exist_ok=True)
        stage.write_manifest({"stage": stage_id, "status": "running", "config_hash": self.hashes[stage_id],
                              "recipe": recipe, "started": started, "versions": versions()})
        return started

    def finish(self, stage_id: str, recipe: dict, started: float, metrics: dict, seconds: float | None = None) -> None:
        """metrics.json, then the manifest marked done (the stage counts as finished only then)."""
        stage = self.folder(stage_id)
        stage.write_metrics(metrics)
        finished = time.time()
        stage.write_manifest({
            "stage": stage_id, "status": "done", "config_hash": self.hashes[stage_id], "recipe": recipe,
            "started": started, "finished": finished,
            "seconds": round(finished - started, 1) if seconds is None else seconds, "versions": versions()})
        stage.checkpoint_file.unlink(missing_ok=True)
        self.retrain.pop(stage_id, None)

    def adapter_folder(self, source_stage: str, saved_name: str) -> Path:
        """Where a finished stage saved an adapter that another stage loads."""
        stage = self.folder(source_stage)
        return stage.saved_adapter(saved_name) or stage.model_dir / f"adapter-{saved_name}"

    def lock(self, stage_id: str, on_wait=None):
        """One process trains a stage; the others wait for it (adaptx.run_folder.StageFolder.lock)."""
        return self.folder(stage_id).lock(on_wait)


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
        RunFolder(run_dir).locks_dir.mkdir(parents=True, exist_ok=True)
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
