"""Where a search's study lives and how it is opened: the Optuna storage (SQLite in the run folder,
any SQLAlchemy database such as PostgreSQL, or a journal file on a shared file system), the study's
identity (search space, base model, the fixed experiment: a study refuses any other), its sampler and
its pruner."""

from __future__ import annotations

import copy
import json
import time
import warnings
from pathlib import Path

from .errors import AdaptxError
from .search_space import SearchSpec

STUDY_ATTR = "adaptx"  # the study's identity: search space, base model, the fixed experiment
MAX_RETRIES = 3  # per trial, after its worker died
# settings that change nothing a trial's score depends on: left out of the study's identity
NEUTRAL = ("name", "output_dir", "device", "zoo_dir", "search", "gradient_checkpointing", "languages",
           "intermediate_tasks", "strategies", "train.checkpoint_every", "train.micro_batch_size", "data.dir",
           "data.max_eval_examples", "data.eval_split", "combine.weights")


def open_study(storage, run_dir: Path, name: str, n_trials: int, cfg, spec: SearchSpec, experiment):
    """(study, storage, the storage as shown in messages), the run folder created for it; a refused
    storage or study leaves no new empty folder behind."""
    import optuna

    new = _missing_folders(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        store, shown = open_storage(storage, run_dir, spec)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        directions = ["maximize"] + (["minimize"] if spec.multi_objective else [])
        try:
            study = optuna.create_study(storage=store, study_name=name, directions=directions, load_if_exists=True,
                                        sampler=make_sampler(spec, n_trials), pruner=_pruner(spec, cfg))
        except ValueError as exc:  # an existing study with other directions
            raise AdaptxError(f"study {name!r} in {shown}: {exc}; use another --study name") from exc
        _check_identity(study, name, shown, {"space": spec.identity(), "base": experiment.base_identity,
                                             "experiment": _fixed(cfg)})
    except AdaptxError:
        for folder in new:  # deepest first; one another worker has written into since stays
            try:
                folder.rmdir()
            except OSError:
                break
        raise
    return study, store, shown


def _missing_folders(path: Path) -> list[Path]:
    """`path` and its parents that do not exist yet, deepest first: what mkdir(parents=True) creates."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


# what a database says when another worker is creating the same tables at the same moment
RACE_SIGNS = ("already exists", "database is locked", "UNIQUE constraint failed", "duplicate key", "IntegrityError")


def open_storage(url: str | None, run_dir: Path, spec: SearchSpec):
    """An Optuna storage from --storage: None (SQLite in the run folder), any SQLAlchemy database URL
    (sqlite:///..., postgresql://user:pass@host:port/db, mysql://...), or journal:PATH (Optuna's
    JournalStorage in a file, for a shared file system). Unreachable storage fails here."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    if url is None:
        url = f"sqlite:///{(run_dir / 'search.db').resolve()}"
    if url.startswith("journal:"):
        path = Path(url[len("journal:"):].removeprefix("//"))
        if not path.parent.is_dir():
            raise AdaptxError(f"--storage {url}: folder {path.parent} does not exist (journal:PATH names a file on a "
                              "file system every worker shares)")
        not_journal = (f"--storage {url}: {path} is not an Optuna journal file ({{}}); journal:PATH must name a new "
                       "file or one that `adaptx search` workers wrote")
        try:
            if problem := _journal_problem(path):  # Optuna would append to any file, then fail on replay
                raise AdaptxError(not_journal.format(problem))
            return optuna.storages.JournalStorage(JournalFileBackend(str(path))), f"journal file {path}"
        except OSError as exc:
            raise AdaptxError(f"--storage {url}: cannot open the journal file: {exc}") from exc
        except AdaptxError:
            raise
        except Exception as exc:  # noqa: BLE001 - replaying a file that is no journal raises many types
            raise AdaptxError(not_journal.format(f"replaying it failed: {type(exc).__name__}: "
                                                 f"{str(exc)[:100]}")) from None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        raise AdaptxError(f"--storage {url!r}: not a database URL; expected e.g. sqlite:///study.db, "
                          "postgresql://user:password@host:5432/db or journal:PATH") from None
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    last = None
    for attempt in range(5):  # workers starting together may race to create the tables
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # heartbeat is "experimental" in some Optuna versions
                store = optuna.storages.RDBStorage(
                    url, engine_kwargs=kwargs, heartbeat_interval=spec.heartbeat_interval,
                    grace_period=spec.grace_period, failed_trial_callback=retry_callback())
            return store, shown
        except ModuleNotFoundError as exc:
            raise AdaptxError(f"--storage {shown}: the database driver is not installed ({exc.name}); for "
                              "PostgreSQL: pip install 'adaptx[postgres]' (psycopg)") from exc
        except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises several types for an unreachable server
            last = exc
            if not any(sign in str(exc) for sign in RACE_SIGNS):
                break
            time.sleep(1 + attempt)
    raise AdaptxError(f"--storage {shown}: cannot open the study database: {type(last).__name__}: "
                      f"{str(last).splitlines()[0][:300]}") from last


def _journal_problem(path: Path) -> str | None:
    """None for a missing or empty file or one whose first line is a journal record (a JSON object with
    an op_code; a first line still being written by another worker starts with '{'), else what it holds."""
    if not path.is_file():
        return None
    with path.open("rb") as f:
        first = f.readline(1 << 16)
    if not first or (not first.endswith(b"\n") and first.startswith(b"{")):
        return None
    try:
        record = json.loads(first)
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        return "its first line is not JSON"
    return None if isinstance(record, dict) and "op_code" in record else "its first line is no journal record"


def make_sampler(spec: SearchSpec, n_trials: int, offset: int = 0):
    """seed: reproducible with one worker (offset by the trials already in the study); leave it null
    with several workers, or they explore the same random points."""
    import optuna

    seed = None if spec.seed is None else spec.seed + offset
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    # a third of the budget explores at random (at least 4, at most Optuna's 10) before TPE models it;
    # constant_liar keeps parallel workers from proposing the same point
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(4, n_trials // 3)),
                                      constant_liar=True)


def _pruner(spec: SearchSpec, cfg):
    import optuna

    first_eval = max(cfg.train.eval_interval(cfg.train.target_steps), spec.pruner_warmup_steps)
    if spec.pruner == "median":  # after 2 finished trials, stop one below the median at the same step
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=spec.pruner_warmup_steps)
    if spec.pruner == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=first_eval, reduction_factor=3)
    if spec.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=first_eval, reduction_factor=3)
    return optuna.pruners.NopPruner()


def _fixed(cfg) -> dict:
    """The experiment around the space: what a trial's score depends on besides its parameters."""
    raw = copy.deepcopy(cfg.to_dict())
    for key in NEUTRAL:
        node, parts = raw, key.split(".")
        for part in parts[:-1]:
            node = node.get(part, {})
        node.pop(parts[-1], None)
    return raw


def _flat(obj, prefix="") -> dict:
    if isinstance(obj, dict):
        return {k: v for key, value in obj.items() for k, v in _flat(value, f"{prefix}{key}.").items()}
    return {prefix[:-1]: obj}


def _check_identity(study, name: str, shown: str, identity: dict) -> None:
    """A study belongs to one search space, base model and experiment: refuse any other."""
    identity = json.loads(json.dumps(identity))  # as the storage gives it back
    stored = study.user_attrs.get(STUDY_ATTR)
    if stored is None:
        study.set_user_attr(STUDY_ATTR, identity)
        return
    what = {"base": "base model", "space": "search space", "experiment": "experiment settings"}
    for key, label in what.items():
        if stored.get(key) != identity[key]:
            old, new = _flat(stored.get(key)), _flat(identity[key])
            diff = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
            detail = "; ".join(f"{k}: study {old.get(k)!r}, now {new.get(k)!r}" for k in diff[:4])
            raise AdaptxError(f"study {name!r} in {shown} was created with another {label} ({detail}); its trials "
                              "are not comparable with this config's: use another --study name or --storage")


def has_heartbeat(store) -> bool:
    """Whether the storage beats for its trials itself (Optuna's RDB heartbeat); else a worker beats through
    a trial attribute (search_workers.heartbeat)."""
    from optuna.storages._heartbeat import is_heartbeat_enabled

    return is_heartbeat_enabled(store)


def retry_callback():
    """Optuna's callback that retries a trial failed by its worker's death with the same parameters."""
    import optuna

    retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) or optuna.storages.RetryFailedTrialCallback
    return retry(max_retry=MAX_RETRIES)
