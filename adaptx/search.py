"""`adaptx search`: Optuna over compositions and fusion settings, pruned, resumable, and shared by
many workers through one study in a database.

One run folder (`--out`) holds everything: `stages/` are the content-hashed stage folders every
trial shares (an intermediate adapter is trained once, by whichever worker gets there first,
under a file lock, and reused by every trial; a trial whose settings repeat an earlier one's
reuses its target stage), `search.db` is the default SQLite study storage, and
`search/<study>/` has the per-trial folders (`trials/NNNN/config.yaml`, `trial.json`), the
trials table, plots, `best.yaml` and the best trial's zero-shot results.

The objective is the target task's English dev score (`train.best_dev_score` of the target stage:
the model-selection metric; target-language data is never looked at while searching).

Workers: every worker runs the same command against the same storage. `--trials N` is the study's
total of finished (complete or pruned) trials, counted over all workers and earlier runs, so N
workers together finish N trials and a rerun with a larger N adds trials. A trial asked for when N
are already running or finished is dropped (marked FAIL with user attr adaptx_surplus and left out
of every table). A killed worker loses at most its running trial: the trial is failed and retried
with the same parameters (Optuna's RetryHeartbeatStaleTrialCallback) as soon as its death is seen:
at once by a worker on the same host (its process is gone), else after `search.grace_period`
seconds without a heartbeat (Optuna's RDB heartbeat; for JournalStorage, which has none, adaptx
beats through a trial user attribute). The retry resumes the stage from its last checkpoint.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import logging
import math
import os
import shutil
import socket
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import yaml

from .config import build_config, load_config
from .errors import AdaptxError
from .fileio import atomic_write_text
from .run_folder import CONFIG_FILE, RunFolder
from .search_space import SearchSpec, parse_search, study_name_problem, trial_config_dict
from .tasks import get_task

WORKER_ATTR = "adaptx_worker"  # {trial, host, pid, start}: who runs a trial (a dead one is seen at once)
HEARTBEAT_ATTR = "adaptx_heartbeat"  # {trial, time}: storages without Optuna's heartbeat (JournalStorage)
SURPLUS_ATTR = "adaptx_surplus"  # a trial asked for when the study already had its N trials
STUDY_ATTR = "adaptx"  # the study's identity: search space, base model, the fixed experiment
MAX_RETRIES = 3  # per trial, after its worker died
MAX_FAILURES = 3  # trials in a row that fail in one worker before it gives up
POLL_SECONDS = 5.0
# settings that change nothing a trial's score depends on: left out of the study's identity
NEUTRAL = ("name", "output_dir", "device", "zoo_dir", "search", "gradient_checkpointing", "languages",
           "intermediate_tasks", "strategies", "train.checkpoint_every", "train.micro_batch_size", "data.dir",
           "data.max_eval_examples", "data.eval_split", "combine.weights")


class _Surplus(Exception):
    """The study already has its N trials running or finished: this one is dropped."""


def run_search(config_path, data_dir=None, out_dir=None, storage: str | None = None, study_name: str | None = None,
               trials: int | None = None, timeout: float | None = None, overrides=None) -> Path:
    """Run (or join, or continue) a study; write its outputs; return the study's output folder."""
    from .pipeline import Experiment, open_run
    from .plan import plan_stages

    where = str(config_path)
    cfg = load_config(config_path, overrides)
    if cfg.search is None:
        raise AdaptxError(f"{where}: no search: section; add one (adapters, compositions, space; see "
                          "docs/search.md) or use `adaptx run`")
    spec = parse_search(cfg, where)
    n_trials = spec.trials if trials is None else trials
    if n_trials < 1:
        raise AdaptxError(f"--trials: must be >= 1, got {n_trials}")
    timeout = spec.timeout if timeout is None else timeout
    if timeout is not None and not 0 < timeout < math.inf:  # nan would mean no limit at all
        raise AdaptxError(f"--timeout: expected a finite number of seconds > 0, got {timeout}")
    name = study_name if study_name is not None else spec.study or cfg.name
    if problem := study_name_problem(name):
        source = ("--study" if study_name is not None else f"{where}: search.study" if spec.study else
                  f"{where}: name (the default study name; set search.study or pass --study)")
        raise AdaptxError(f"{source}: {problem}")
    if len(cfg.targets) != 1:
        raise AdaptxError(f"{where}: target_task: a search optimises one target task's English dev score; "
                          f"got {', '.join(cfg.targets)}")
    from .kinds import get_kind
    from .tasks import get_task

    if not get_kind(get_task(cfg.targets[0]).kind).trains:
        raise AdaptxError(f"{where}: target_task: {cfg.targets[0]} is evaluated from the encoder without training, "
                          "so it has no English dev score to search on; pick a target task that trains")
    data_source = data_dir or cfg.data.dir  # as given (builtin:NAME stays a name in the trials' configs)
    run_dir, data_dir = open_run(cfg, data_dir, out_dir)

    # before any trial: the base model, every adapter of the pool (zoo entries verified), every data file
    union = build_config(trial_config_dict(cfg, {"intermediate_tasks": spec.adapters, "strategies": spec.compositions,
                                                 "combine.weights": None, "seeds": cfg.seeds[:1]}), where)
    experiment = Experiment(union, run_dir, data_dir)
    experiment.prepare(plan_stages(union))
    folder = run_dir / "search" / name  # a checked name: one folder per study, inside search/
    study, store, shown = _open_study(storage, run_dir, name, n_trials, cfg, spec, experiment)
    # a seeded sampler restarted from its seed would propose the points it proposed before
    study.sampler = _sampler(spec, n_trials, offset=len(study.get_trials(deepcopy=False)))
    folder.mkdir(parents=True, exist_ok=True)
    context = _Context(cfg, spec, experiment, run_dir, folder, data_source, store)
    print(f"adaptx: search {name!r}: {n_trials} trials in {shown} (now {_count_finished(study)} finished); "
          f"compositions {', '.join(spec.compositions)} over {', '.join(spec.adapters) or 'no adapters'}; "
          f"{len(spec.params) + (spec.weights is not None)} searched settings; objective: English dev "
          f"{get_task(cfg.targets[0]).metric} of {cfg.targets[0]}"
          f"{f' and {spec.objectives[1]} (minimised)' if spec.multi_objective else ''}; pruner {spec.pruner}; "
          f"trials in {folder}", flush=True)
    if len(cfg.seeds) > 1:
        print(f"adaptx: note: trials train with the first seed only ({cfg.seeds[0]}); seeds {cfg.seeds[1:]} are "
              "for `adaptx run best.yaml` to repeat", flush=True)
    started = time.perf_counter()
    try:
        _work(study, context, n_trials, timeout)
    except KeyboardInterrupt:
        _retry_own(study, context)
        raise
    print(f"adaptx: search {name!r}: this worker done after {time.perf_counter() - started:.0f}s; "
          f"{_count_finished(study)} finished trials in the study", flush=True)
    write_outputs(study, context)
    return folder


# -- storage -----------------------------------------------------------------------------------

def _open_study(storage, run_dir: Path, name: str, n_trials: int, cfg, spec: SearchSpec, experiment):
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
                                        sampler=_sampler(spec, n_trials), pruner=_pruner(spec, cfg))
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
    retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) or optuna.storages.RetryFailedTrialCallback
    last = None
    for attempt in range(5):  # workers starting together may race to create the tables
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # heartbeat is "experimental" in some Optuna versions
                store = optuna.storages.RDBStorage(
                    url, engine_kwargs=kwargs, heartbeat_interval=spec.heartbeat_interval,
                    grace_period=spec.grace_period, failed_trial_callback=retry(max_retry=MAX_RETRIES))
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


def _sampler(spec: SearchSpec, n_trials: int, offset: int = 0):
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


# -- workers -------------------------------------------------------------------------------------

class _Context:
    def __init__(self, cfg, spec, experiment, run_dir, folder, data_source, store):
        self.cfg, self.spec, self.experiment = cfg, spec, experiment
        self.run_dir, self.folder, self.data_source, self.store = run_dir, folder, data_source, store
        self.heartbeat_storage = _has_heartbeat(store)

    def trial_config(self, overrides: dict, output_dir: Path) -> dict:
        raw = trial_config_dict(self.cfg, dict(overrides, seeds=self.cfg.seeds[:1]))
        raw.pop("search", None)
        raw["output_dir"] = str(output_dir)
        if self.data_source is not None:
            text = str(self.data_source)
            raw["data"]["dir"] = text if text.startswith("builtin:") else str(Path(text).resolve())
        return raw

    def prepared(self, cfg):
        """(experiment, stages, the evaluated target stage) of a trial's config, every stage hashed: the
        search's loaded base, zoo entries and data are shared (Experiment.for_config)."""
        from .plan import plan_stages

        exp = self.experiment.for_config(cfg)
        stages = plan_stages(cfg)
        exp.prepare(stages)
        return exp, stages, next(s for s in stages if s.evaluate)


def _has_heartbeat(store) -> bool:
    from optuna.storages._heartbeat import is_heartbeat_enabled

    return is_heartbeat_enabled(store)


def _proc_start(pid: int) -> str | None:
    try:  # field 22 of /proc/PID/stat: the start time, so a reused pid is not taken for the worker
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _me(number: int) -> dict:
    return {"trial": number, "host": socket.gethostname(), "pid": os.getpid(), "start": _proc_start(os.getpid())}


def _alive(worker: dict) -> bool:
    pid = worker.get("pid")
    if not isinstance(pid, int):
        return True
    if Path("/proc").is_dir():
        return _proc_start(pid) is not None and _proc_start(pid) == worker.get("start")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _retry_callback(study):
    import optuna

    getter = getattr(study._storage, "get_heartbeat_stale_trial_callback", None)
    callback = getter() if getter else None
    if callback is None:
        retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) or optuna.storages.RetryFailedTrialCallback
        callback = retry(max_retry=MAX_RETRIES)
    return callback


def _fail_and_retry(study, trial, why: str) -> None:
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    try:
        if not study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
            return
    except UpdateFinishedTrialError:  # another worker got there first
        return
    print(f"adaptx: trial {trial.number}: {why}; failed, retried with the same parameters", flush=True)
    _retry_callback(study)(study, study._storage.get_trial(trial._trial_id))


def _reap(study, context: _Context) -> None:
    """Fail and retry the trials of dead workers (Optuna's heartbeat for RDB storages; the worker's
    process on this host; adaptx's heartbeat attribute for storages without one)."""
    import optuna
    from optuna.trial import TrialState

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "experimental" since Optuna 2.9
        optuna.storages.fail_stale_trials(study)
    host, now = socket.gethostname(), time.time()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get(WORKER_ATTR) or {}
        if worker.get("trial") == trial.number and worker.get("host") == host and not _alive(worker):
            _fail_and_retry(study, trial, f"its worker (pid {worker.get('pid')} on {host}) is gone")
            continue
        if context.heartbeat_storage:
            continue
        beat = trial.user_attrs.get(HEARTBEAT_ATTR) or {}
        last = beat.get("time") if beat.get("trial") == trial.number else None
        last = last or (trial.datetime_start.timestamp() if trial.datetime_start else now)
        if now - last > context.spec.grace_period:
            _fail_and_retry(study, trial, f"no heartbeat for {now - last:.0f}s (grace period "
                                          f"{context.spec.grace_period}s)")


@contextmanager
def _heartbeat(trial, context: _Context):
    """Beat through a user attribute where the storage has no heartbeat of its own (JournalStorage)."""
    if context.heartbeat_storage:
        yield
        return
    stop = threading.Event()

    def beat():
        while True:
            try:
                trial.set_user_attr(HEARTBEAT_ATTR, {"trial": trial.number, "time": time.time()})
            except Exception:  # noqa: BLE001 - a missed beat is retried; the grace period covers several
                pass
            if stop.wait(context.spec.heartbeat_interval):
                return

    thread = threading.Thread(target=beat, daemon=True, name=f"adaptx-heartbeat-{trial.number}")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def _counted(study) -> list:
    return [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get(SURPLUS_ATTR)]


def _count_finished(study) -> int:
    from optuna.trial import TrialState

    return sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in _counted(study))


def _work(study, context: _Context, n_trials: int, timeout: float | None) -> None:
    """Run trials until the study has n_trials finished ones (or the timeout); a worker with nothing
    left to ask for waits for the others' running trials, and takes over those of a dead worker."""
    from optuna.trial import TrialState

    started, failures = time.time(), 0
    while True:
        _reap(study, context)
        trials = _counted(study)
        finished = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
        if finished >= n_trials or (timeout is not None and time.time() - started >= timeout):
            return
        live = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
                   for t in trials)
        if live >= n_trials and not any(t.state == TrialState.WAITING for t in trials):
            time.sleep(POLL_SECONDS)  # the rest are running in other workers
            continue
        before = {t.number for t in study.get_trials(deepcopy=False)}
        study.optimize(lambda trial: _objective(trial, context, n_trials), n_trials=1,
                       catch=(_Surplus, AdaptxError), gc_after_trial=True)
        mine = [t for t in study.get_trials(deepcopy=False) if t.number not in before
                and (t.user_attrs.get(WORKER_ATTR) or {}).get("pid") == os.getpid()]
        failed = [t for t in mine if t.state == TrialState.FAIL and not t.user_attrs.get(SURPLUS_ATTR)]
        failures = failures + 1 if failed else 0
        if failures >= MAX_FAILURES:
            raise AdaptxError(f"{MAX_FAILURES} trials in a row failed in this worker (last: trial {failed[-1].number}: "
                              f"{failed[-1].user_attrs.get('error', 'see above')}); stopping")


def _retry_own(study, context: _Context) -> None:
    """Ctrl-C: the trial this worker was running is retried by the next worker."""
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.FAIL)):
        worker = trial.user_attrs.get(WORKER_ATTR) or {}
        if worker.get("pid") == os.getpid() and worker.get("trial") == trial.number:
            if trial.state == TrialState.RUNNING:
                _fail_and_retry(study, trial, "interrupted")
            elif trial.number == max(t.number for t in study.get_trials(deepcopy=False)
                                     if (t.user_attrs.get(WORKER_ATTR) or {}).get("pid") == os.getpid()):
                print(f"adaptx: trial {trial.number}: interrupted; retried with the same parameters", flush=True)
                _retry_callback(study)(study, study._storage.get_trial(trial._trial_id))


def _objective(trial, context: _Context, n_trials: int):
    import optuna
    from optuna.trial import TrialState

    trial.set_user_attr(WORKER_ATTR, _me(trial.number))
    ahead = [t for t in _counted(trial.study) if t.number < trial.number
             and t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)]
    if len(ahead) >= n_trials:  # another worker asked at the same moment and got the last place
        trial.set_user_attr(SURPLUS_ATTR, True)
        raise _Surplus(f"the study already has {n_trials} trials running or finished")
    spec, started = context.spec, time.perf_counter()
    composition, adapters, overrides = spec.suggest(trial)
    trial_dir = context.folder / "trials" / f"{trial.number:04d}"
    trial_dir.mkdir(parents=True, exist_ok=True)
    raw = context.trial_config(overrides, context.run_dir)
    atomic_write_text(trial_dir / CONFIG_FILE, yaml.safe_dump(raw, sort_keys=False))
    cfg = build_config(copy.deepcopy(raw), f"trial {trial.number}")
    label = f"{composition} {'+'.join(adapters)}".strip()
    for key, value in (("composition", composition), ("adapters", "+".join(adapters)), ("overrides", overrides)):
        trial.set_user_attr(key, value)
    exp, stages, target = context.prepared(cfg)
    record = {"number": trial.number, "composition": composition, "adapters": adapters, "params": trial.params,
              "stages": {s.id: str(exp.stage_dir(s.id)) for s in stages}, "target_stage": str(exp.stage_dir(target.id)),
              "worker": _me(trial.number),
              "retry_of": trial.study._storage.get_trial_system_attrs(trial._trial_id).get("failed_trial")}
    _write_trial(trial_dir, dict(record, state="RUNNING"))
    trial.set_user_attr("stage", exp.stage_dir(target.id).name)
    prunable = not spec.multi_objective and spec.pruner != "none"
    reused = exp.store.is_done(target.id)  # done before: nothing to train, never pruned
    trial.set_user_attr("reused", reused)
    best = {"score": -1.0}

    def report(step: int, score: float) -> None:
        best["score"] = max(best["score"], score)
        trial.report(best["score"], step)  # the best so far: the value the trial ends with if it stops improving
        if trial.should_prune():
            raise optuna.TrialPruned(f"en dev {best['score']:.3f} at step {step}")

    print(f"adaptx: trial {trial.number} [{label}]{' (retry of %s)' % record['retry_of'] if record['retry_of'] is not None else ''}"
          f": {_describe_params(trial.params)}", flush=True)
    try:
        with _heartbeat(trial, context):
            for stage in stages:
                with exp.store.lock(stage.id):
                    hook = report if stage is target and prunable and not reused else None
                    metrics = exp.run_stage(stage, on_evaluate=hook)
    except optuna.TrialPruned as exc:
        _write_trial(trial_dir, dict(record, state="PRUNED", pruned=str(exc), seconds=_since(started)))
        print(f"adaptx: trial {trial.number} [{label}]: pruned ({exc})", flush=True)
        raise
    except AdaptxError as exc:
        trial.set_user_attr("error", str(exc)[:500])
        _write_trial(trial_dir, dict(record, state="FAIL", error=str(exc), seconds=_since(started)))
        print(f"adaptx: trial {trial.number} [{label}]: failed: {exc}", flush=True)
        raise
    value = float(metrics["train"]["best_dev_score"])
    record.update(state="COMPLETE", value=value, history=metrics["train"]["history"], seconds=_since(started),
                  trainable_parameters=metrics.get("trainable_parameters"))
    result = value
    if spec.multi_objective:
        cost = _cost(spec.objectives[1], exp, target, metrics)
        trial.set_user_attr(spec.objectives[1], cost)
        record[spec.objectives[1]] = cost
        result = (value, cost)
    exp._trained = (None, None)
    _write_trial(trial_dir, record)
    print(f"adaptx: trial {trial.number} [{label}]: en dev {value:.4f}"
          f"{f', {spec.objectives[1]} {cost:g}' if spec.multi_objective else ''}"
          f"{' (stage reused)' if reused else ''}, {record['seconds']:.0f}s", flush=True)
    return result


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 1)


def _describe_params(params: dict) -> str:
    shown = {k: v for k, v in params.items() if k not in ("composition", "adapter", "adapters")}
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()) or "defaults"


def _write_trial(trial_dir: Path, record: dict) -> None:
    atomic_write_text(trial_dir / "trial.json", json.dumps(record, indent=1, default=str))


def _cost(kind: str, exp, stage, metrics: dict) -> float:
    """The second objective of a multi-objective study (minimised)."""
    setup = exp.setup_for(stage)
    if kind == "adapters":  # bottleneck adapters run per layer at inference (a merge is one)
        return float((1 if setup.merge else len(setup.frozen_adapters)) + (setup.own_adapter is not None))
    if kind == "trainable_parameters":
        return float(metrics.get("trainable_parameters") or 0)
    from .train import predict

    model = exp._trained[1] if exp._trained[0] == stage.id else exp.load_trained(stage)
    dev = exp.data(stage.task, "dev")
    predict(model, dev, exp.pad_id, runtime=exp.runtime)  # warm-up
    began = time.perf_counter()
    predict(model, dev, exp.pad_id, runtime=exp.runtime)
    return round((time.perf_counter() - began) * 1000 / max(1, len(dev)), 3)  # ms per English dev example


# -- outputs -------------------------------------------------------------------------------------

def trial_rows(study, spec: SearchSpec) -> list[dict]:
    """One row per trial (surplus trials left out), for the tables."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get(SURPLUS_ATTR):
            continue
        params = {k: v for k, v in t.params.items() if k not in ("composition", "adapter", "adapters")}
        values = t.values or []
        last = max(t.intermediate_values) if t.intermediate_values else None
        row = {"trial": t.number, "state": t.state.name, "en_dev": values[0] if values else None,
               "composition": t.params.get("composition", t.user_attrs.get("composition")),
               "adapters": t.params.get("adapter") or t.params.get("adapters") or t.user_attrs.get("adapters") or "",
               "seconds": round(t.duration.total_seconds(), 1) if t.duration else None,
               "pruned_at_step": last if t.state.name == "PRUNED" else None,
               "retry_of": t.system_attrs.get("failed_trial"), "stage": t.user_attrs.get("stage")}
        if spec.multi_objective:
            row[spec.objectives[1]] = values[1] if len(values) > 1 else None
        row.update(params)
        rows.append(row)
    return rows


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_outputs(study, context: _Context) -> None:
    """trials.csv/.md, plots, best.yaml and the best trial's zero-shot results; several workers may
    finish together, so one writes at a time."""
    from filelock import FileLock

    with FileLock(str(context.folder / ".outputs.lock")):
        _write_outputs(study, context)


def _write_outputs(study, context: _Context) -> None:
    from optuna.trial import TrialState

    spec, folder = context.spec, context.folder
    rows = trial_rows(study, spec)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(folder / "trials.csv", buffer.getvalue())
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if not t.user_attrs.get(SURPLUS_ATTR)]
    best = max(complete, key=lambda t: (t.values[0], -t.number)) if complete else None
    pareto = {t.number for t in study.best_trials} if spec.multi_objective and complete else set()
    shown = [c for c in columns if c != "stage"]
    lines = [f"# Search {study.study_name!r}", "",
             f"Objective: English dev {get_task(context.cfg.targets[0]).metric} of {context.cfg.targets[0]}"
             f"{' and ' + spec.objectives[1] + ' (minimised)' if spec.multi_objective else ''}"
             " (model-selection metric, best checkpoint of each trial). "
             f"{len(complete)} complete, {sum(r['state'] == 'PRUNED' for r in rows)} pruned, "
             f"{sum(r['state'] == 'FAIL' for r in rows)} failed. "
             f"{'* best trial' if not pareto else '* on the Pareto front'}.", "",
             "| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    if best is not None and (se := _objective_se(context, best)) is not None:
        lines[2] += f" One standard error of a trial's English dev score: about {se:.1f} points (binomial)."
    for row in rows:
        mark = " *" if (best is not None and row["trial"] == best.number and not pareto) or row["trial"] in pareto else ""
        lines.append("| " + " | ".join(_cell(row.get(c)) + (mark if c == "trial" else "") for c in shown) + " |")
    atomic_write_text(folder / "trials.md", "\n".join(lines) + "\n")
    _plots(study, spec, folder)
    if best is None:
        print(f"adaptx: no complete trial yet; trials table in {folder / 'trials.md'}", flush=True)
        return
    raw = context.trial_config(best.user_attrs["overrides"], folder / "best-run")
    header = (f"# Best trial {best.number} of search {study.study_name!r}: English dev {best.values[0]:.4f}\n"
              f"# `adaptx run` of this file retrains it from scratch in output_dir and evaluates it zero-shot\n")
    atomic_write_text(folder / "best.yaml", header + yaml.safe_dump(raw, sort_keys=False))
    if pareto:
        shutil.rmtree(folder / "pareto", ignore_errors=True)  # the front moves: only its current members
        (folder / "pareto").mkdir()
        for t in study.best_trials:
            atomic_write_text(folder / "pareto" / f"trial-{t.number:04d}.yaml",
                              yaml.safe_dump(context.trial_config(t.user_attrs["overrides"], folder / f"pareto-run-{t.number}"),
                                             sort_keys=False))
    print("\n".join(lines[4:]), flush=True)
    print(f"adaptx: best trial {best.number}: {best.user_attrs.get('composition')} {best.user_attrs.get('adapters')}, "
          f"English dev {best.values[0]:.4f}; config {folder / 'best.yaml'}", flush=True)
    if _evaluate_best(best, context) and spec.compare_defaults:
        from .search_defaults import compare_with_defaults

        compare_with_defaults(best, context)


def _objective_se(context: _Context, trial) -> float | None:
    from .search_defaults import objective_standard_error

    path = RunFolder(context.run_dir).stage_named(str(trial.user_attrs.get("stage"))).metrics_file
    return objective_standard_error(json.loads(path.read_text())) if path.is_file() else None


def _plots(study, spec: SearchSpec, folder: Path) -> None:
    """optimization history and parameter importances (and the Pareto front) as PNG, via Optuna's
    matplotlib backend; importances wait for two finished trials that differ in a setting, and a plot
    Optuna cannot draw is skipped."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as ovm
    from optuna.exceptions import ExperimentalWarning

    target = (lambda t: t.values[0]) if spec.multi_objective else None
    plots = {"history.png": lambda: ovm.plot_optimization_history(study, target=target, target_name="English dev")}
    if _settings_varied(study):
        plots["importances.png"] = lambda: ovm.plot_param_importances(study, target=target, target_name="English dev")
    else:
        print("adaptx: importances.png not drawn yet: it needs two finished trials that differ in a setting", flush=True)
    if spec.multi_objective:
        plots["pareto.png"] = lambda: ovm.plot_pareto_front(study, target_names=["English dev", spec.objectives[1]])
    for name, draw in plots.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                warnings.simplefilter("ignore", UserWarning)  # "too few trials for accurate importances"
                ax = draw()
            figure = ax.figure if hasattr(ax, "figure") else ax.flatten()[0].figure
            figure.set_size_inches(9, 5)
            figure.tight_layout()
            tmp = folder / f".{name}.tmp.png"
            figure.savefig(tmp, dpi=100)
            os.replace(tmp, folder / name)
        except Exception as exc:  # noqa: BLE001 - plots are a convenience; the tables hold the numbers
            print(f"adaptx: {name} not drawn ({type(exc).__name__}: {str(exc)[:120]})", flush=True)
        finally:
            plt.close("all")


def _settings_varied(study) -> bool:
    """Whether parameter importances mean anything: two finished trials, and a setting that differs
    between them (Optuna draws one trial's importances as if they were findings)."""
    from optuna.trial import TrialState

    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if not t.user_attrs.get(SURPLUS_ATTR)]
    keys = {k for t in complete for k in t.params}
    return len(complete) >= 2 and any(len({repr(t.params.get(k)) for t in complete}) > 1 for k in keys)


class _ExpectedReload(logging.Filter):
    """Drops the adapters library's "Overwriting existing adapter" warning: rebuilding a saved stage
    (adaptx.modeling.load_model) adds its adapter, then loads the saved weights over it, by design."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Overwriting existing adapter")


@contextmanager
def _quiet_reloads():
    logger, quiet = logging.getLogger("adapters.loading"), _ExpectedReload()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def _evaluate_best(best, context: _Context) -> bool:
    """The best trial zero-shot in every language of the target task, from its stage in this run folder
    (a trial run on another machine without a shared folder: `adaptx run best.yaml` retrains it)."""
    from .report import write_results

    cfg = build_config(context.trial_config(best.user_attrs["overrides"], context.run_dir), "best trial")
    exp, _, target = context.prepared(cfg)
    if not exp.store.is_done(target.id):
        print(f"adaptx: the best trial's stage is not in {context.run_dir} (run elsewhere?): "
              f"`adaptx run {context.folder / 'best.yaml'}` trains and evaluates it", flush=True)
        return False
    with _quiet_reloads():
        records = exp.evaluate(target)
    out = context.folder / "best"
    out.mkdir(exist_ok=True)
    for record in records:  # predictions stay in the stage folder: point at them from here
        record["predictions"] = os.path.relpath(context.run_dir / record["predictions"], out)
    table = write_results(out, records, exp.report_context())
    print(table, flush=True)
    print(f"adaptx: zero-shot results of the best trial in {out}/results.md", flush=True)
    return True


