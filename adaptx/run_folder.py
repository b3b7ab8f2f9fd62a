"""The run folder's layout, in one place: every module that reads or writes a run or a stage asks
this one where its files are, so a layout change touches this module only (tests/test_architecture.py
checks it, and lists the few spellings left to modules being reworked).

    <run>/config.yaml                 the config as the run used it (`adaptx run` writes it)
    <run>/results.json                flat records; results.md and results-summary.json beside it
    <run>/stages/<id>-<hash>/         one folder per stage, named by its recipe's hash:
        manifest.json                 status, hash, the recipe behind it, timings, versions
        metrics.json                  what training recorded (task, strategy, English-dev history, ...)
        model/setup.json              the saved model's exact setup, beside its safetensors weights
        model/weights-dropped.json    a smoke run's full-model stage once its run is done: its encoder's
                                      weights deleted (numbers of a smoke run mean nothing; disk does)
        checkpoint.safetensors        while training: where a stopped stage resumes
        eval/<lang>-<split>-<hash>.json   one evaluation file per evaluated language
    <run>/analysis/                   `adaptx analyze`'s output (unless --out)
    <run>/search/<study>/             a search's studies: trials/NNNN/config.yaml, best/
    <run>/.locks/                     every lock: the run's (adaptx.stage_store), each stage's (StageFolder.lock)

Readers here only find and read files: what a finished stage must hold, and how a run writes it,
is adaptx.stage_store's; how a results record is checked, adaptx.report_files'.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import AdaptxError
from .fileio import atomic_write_text, read_json
from .safe_yaml import safe_load, shown

STAGES = "stages"
MANIFEST_FILE = "manifest.json"
METRICS_FILE = "metrics.json"
MODEL_DIR = "model"
SETUP_FILE = "setup.json"  # in a saved model's folder (a stage's model/, a zoo entry)
EVAL_DIR = "eval"
CHECKPOINT_FILE = "checkpoint.safetensors"
ENCODER_DIR = "encoder"  # in a saved model's folder: a fully fine-tuned encoder's weights
WEIGHTS_DROPPED_FILE = "weights-dropped.json"  # in a saved model's folder whose encoder was deleted
# in a saved encoder folder that left out tensors it kept frozen at the base's values (full_frozen_embeddings)
FROM_BASE_FILE = "from-base.json"
CONFIG_FILE = "config.yaml"
RESULTS_FILE = "results.json"
TABLES_FILE = "results.md"
SUMMARY_FILE = "results-summary.json"
ANALYSIS_DIR = "analysis"
SEARCH_DIR = "search"
LOCKS = ".locks"  # every lock of a run folder lives here (nothing in stages/ but stage folders)
HASH_CHARS = 10  # of the stage hash in folder and file names
# the files `adaptx run` writes at the top of its run folder (besides stages/, analysis/ and .locks/)
RUN_FILES = (CONFIG_FILE, RESULTS_FILE, TABLES_FILE, SUMMARY_FILE, "run.log")


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


def dropped_weights(encoder_folder) -> str | None:
    """Why a saved model's encoder folder holds no weights (StageFolder.drop_encoder's note), or None."""
    note = Path(encoder_folder).parent / WEIGHTS_DROPPED_FILE
    if Path(encoder_folder).is_dir() or not note.is_file():
        return None
    try:
        return str(json.loads(note.read_text(encoding="utf-8")).get("why") or "dropped")
    except (OSError, ValueError, AttributeError):
        return "dropped"


@dataclass(frozen=True)
class _Folder:
    """A folder by its path (a string is taken as a Path); equal to another of its kind at the same path."""

    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class StageFolder(_Folder):
    """One stage's folder: where its files are, and their content read as JSON objects."""

    @classmethod
    def holding(cls, eval_file: Path) -> StageFolder:
        """The stage folder an evaluation file (a results record's predictions) lies in."""
        return cls(Path(eval_file).parent.parent)

    @property
    def run(self) -> RunFolder:
        return RunFolder(self.path.parent.parent)

    @property
    def manifest_file(self) -> Path:
        return self.path / MANIFEST_FILE

    @property
    def metrics_file(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def model_dir(self) -> Path:
        return self.path / MODEL_DIR

    @property
    def setup_file(self) -> Path:
        return self.model_dir / SETUP_FILE

    @property
    def checkpoint_file(self) -> Path:
        return self.path / CHECKPOINT_FILE

    @property
    def encoder_dir(self) -> Path:
        return self.model_dir / ENCODER_DIR

    def drop_encoder(self, why: str) -> int:
        """Delete a fully fine-tuned encoder's weights, leaving a note that says why (its setup, head and
        evaluations stay); returns the bytes freed. A stage without its own encoder is left as it is."""
        import shutil

        if not self.encoder_dir.is_dir():
            return 0
        freed = sum(f.stat().st_size for f in self.encoder_dir.rglob("*") if f.is_file())
        write_json(self.model_dir / WEIGHTS_DROPPED_FILE, {"encoder": ENCODER_DIR, "why": why})
        shutil.rmtree(self.encoder_dir)
        return freed

    def holds_weights(self) -> bool:
        """Its saved model's weights are here (or were dropped on purpose, with a note saying why); False
        for a folder banked with its small files only (studies/.gitignore leaves weights out)."""
        return (self.model_dir / WEIGHTS_DROPPED_FILE).is_file() or any(self.model_dir.rglob("*.safetensors"))

    def eval_file(self, lang: str, split: str, digest: str) -> Path:
        return self.path / EVAL_DIR / f"{lang}-{split}-{digest[:HASH_CHARS]}.json"

    def eval_files(self) -> list[Path]:
        """Every evaluation file, in no particular order."""
        return list((self.path / EVAL_DIR).glob("*.json"))

    def eval_seconds(self) -> dict[Path, float | None]:
        """Each evaluation file and the seconds its language's scoring took, as the file records them (None:
        written before evaluation files recorded their seconds, or unreadable)."""
        found = {}
        for path in self.eval_files():
            try:
                entry = next(iter(json.loads(path.read_text(encoding="utf-8")).values()), None)
            except (OSError, ValueError, AttributeError):
                entry = None
            seconds = entry.get("seconds") if isinstance(entry, dict) else None
            found[path] = float(seconds) if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) else None
        return found

    def read_manifest(self, remedy: str) -> dict:
        return read_json(self.manifest_file, remedy, dict)

    def read_metrics(self, remedy: str) -> dict:
        return read_json(self.metrics_file, remedy, dict)

    def read_setup(self, remedy: str) -> dict:
        return read_json(self.setup_file, remedy, dict)

    def is_done(self) -> bool:
        """Finished, for a reader that only asks: a missing or unreadable manifest is not done."""
        try:
            return self.read_manifest("").get("status") == "done"
        except AdaptxError:
            return False

    def write_manifest(self, manifest: dict) -> None:
        write_json(self.manifest_file, manifest)

    def write_metrics(self, metrics: dict) -> None:
        write_json(self.metrics_file, metrics)

    def needed(self, stage_id: str, config_hash: str) -> StageFolder:
        """A stage this one builds on (its recipe's needs): a folder beside it."""
        return StageFolder(self.path.parent / stage_folder_name(stage_id, config_hash))

    def saved_adapter(self, name: str) -> Path | None:
        """The folder of adapter `name` in this stage's model: adapter-<name>, or, for a stage saved before
        adapter names carried seed and base ('qqp' rather than 'qqp-s0-<tag>'), the stage's own adapter
        when `name` is that adapter's name with a seed and base tag added."""
        if (self.model_dir / f"adapter-{name}").is_dir():
            return self.model_dir / f"adapter-{name}"
        own = self.read_setup("that stage is incomplete").get("own_adapter") if self.setup_file.is_file() else None
        if own and name.startswith(f"{own}-s") and (self.model_dir / f"adapter-{own}").is_dir():
            return self.model_dir / f"adapter-{own}"
        return None

    @contextmanager
    def lock(self, on_wait=None):
        """One process trains a stage; the others wait for it and then find it done (a file lock: released
        by the OS when its holder dies; the run folder must be on a file system every worker shares).
        on_wait(): called once if another process holds the stage, before waiting for it."""
        from filelock import FileLock, Timeout

        locks = self.run.locks_dir
        locks.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(locks / f"stage-{self.name}.lock"))
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


@dataclass(frozen=True)
class RunFolder(_Folder):
    """A run folder: its config, its results, its stage folders, its analysis."""

    @classmethod
    def of_results(cls, folder) -> RunFolder:
        """The run folder a results.json's folder belongs to (its prediction paths must stay inside it):
        that folder, or, for the best trial of a search (`<run>/search/<study>/best/`, whose records
        point at `<run>/stages/`), that run."""
        folder = Path(folder)
        if folder.name == "best" and folder.parent.parent.name == SEARCH_DIR:
            return cls(folder.parents[2])
        return cls(folder)

    @property
    def config_file(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def results_file(self) -> Path:
        return self.path / RESULTS_FILE

    @property
    def tables_file(self) -> Path:
        return self.path / TABLES_FILE

    @property
    def summary_file(self) -> Path:
        return self.path / SUMMARY_FILE

    @property
    def stages_dir(self) -> Path:
        return self.path / STAGES

    @property
    def analysis_dir(self) -> Path:
        return self.path / ANALYSIS_DIR

    @property
    def search_dir(self) -> Path:
        return self.path / SEARCH_DIR

    @property
    def locks_dir(self) -> Path:
        return self.path / LOCKS

    def stage(self, stage_id: str, config_hash: str) -> StageFolder:
        return StageFolder(self.stages_dir / stage_folder_name(stage_id, config_hash))

    def stage_named(self, folder_name: str) -> StageFolder:
        """The stage folder of that name (`<id>-<hash>`, as a search's trial records it)."""
        return StageFolder(self.stages_dir / folder_name)

    def stages(self) -> list[StageFolder]:
        """Every stage folder, by name (none when the run has trained nothing yet)."""
        if not self.stages_dir.is_dir():
            return []
        return [StageFolder(p) for p in sorted(self.stages_dir.iterdir()) if p.is_dir()]

    def stages_of(self, stage_id: str) -> list[StageFolder]:
        """The folders of one stage id, one per hash it was trained under, by name."""
        return [StageFolder(p) for p in sorted(self.stages_dir.glob(f"{stage_id}-*"))
                if p.name.rsplit("-", 1)[0] == stage_id]

    @staticmethod
    def stage_name_of(predictions: str) -> str:
        """The stage folder name a results record's predictions path (`stages/<name>/eval/...`) names."""
        parts = Path(predictions).parts
        return parts[1] if len(parts) > 1 else ""

    def config_source(self) -> Path:
        """The run's config.yaml; a search's run folder has none: its trials' configs share base and data
        settings (a study refuses others), so the first trial's stands in."""
        if self.config_file.is_file():
            return self.config_file
        return next(iter(sorted(self.path.glob(f"{SEARCH_DIR}/*/trials/*/{CONFIG_FILE}"))), self.config_file)

    def read_config(self) -> dict:
        """config_source() as a mapping ({} when there is none); OSError, ValueError and yaml.YAMLError
        (adaptx.safe_yaml's refusals) are the caller's to word."""
        path = self.config_source()
        loaded = safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
        return loaded if isinstance(loaded, dict) else {}
