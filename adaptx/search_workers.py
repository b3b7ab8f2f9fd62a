"""Several workers on one study: every worker runs the same `adaptx search` command against the same
storage. `--trials N` is the study's total of finished (complete or pruned) trials, counted over all
workers and earlier runs, so N workers together finish N trials and a rerun with a larger N adds trials.
A trial asked for when N are already running or finished is dropped (marked FAIL with user attr
adaptx_surplus and left out of every table). A killed worker loses at most its running trial: the trial
is failed and retried with the same parameters (Optuna's RetryHeartbeatStaleTrialCallback) as soon as
its death is seen: at once by a worker on the same host (its process is gone), else after
`search.grace_period` seconds without a heartbeat (Optuna's RDB heartbeat; for JournalStorage, which
has none, adaptx beats through a trial user attribute). The retry resumes the stage from its last
checkpoint."""

from __future__ import annotations

import os
import socket
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

from .errors import AdaptxError
from .search_storage import retry_callback

WORKER_ATTR = "adaptx_worker"  # {trial, host, pid, start}: who runs a trial (a dead one is seen at once)
HEARTBEAT_ATTR = "adaptx_heartbeat"  # {trial, time}: storages without Optuna's heartbeat (JournalStorage)
SURPLUS_ATTR = "adaptx_surplus"  # a trial asked for when the study already had its N trials
MAX_FAILURES = 3  # trials in a row that fail in one worker before it gives up
POLL_SECONDS = 5.0


class Surplus(Exception):
    """The study already has its N trials running or finished: this one is dropped."""


def _proc_start(pid: int) -> str | None:
    try:  # field 22 of /proc/PID/stat: the start time, so a reused pid is not taken for the worker
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def worker_record(number: int) -> dict:
    """Who runs trial `number` (WORKER_ATTR): a worker on the same host sees at once when it is gone."""
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
    getter = getattr(study._storage, "get_heartbeat_stale_trial_callback", None)
    callback = getter() if getter else None
    return retry_callback() if callback is None else callback


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


def _reap(study, context) -> None:
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
def heartbeat(trial, context):
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


def counted(study) -> list:
    return [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get(SURPLUS_ATTR)]


def count_finished(study) -> int:
    from optuna.trial import TrialState

    return sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in counted(study))


def work(study, context, n_trials: int, timeout: float | None, objective) -> None:
    """Run trials until the study has n_trials finished ones (or the timeout); a worker with nothing
    left to ask for waits for the others' running trials, and takes over those of a dead worker.
    objective: Optuna's objective of one trial (search_objective.run_trial, bound to the context)."""
    from optuna.trial import TrialState

    started, failures = time.time(), 0
    while True:
        _reap(study, context)
        trials = counted(study)
        finished = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
        if finished >= n_trials or (timeout is not None and time.time() - started >= timeout):
            return
        live = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
                   for t in trials)
        if live >= n_trials and not any(t.state == TrialState.WAITING for t in trials):
            time.sleep(POLL_SECONDS)  # the rest are running in other workers
            continue
        before = {t.number for t in study.get_trials(deepcopy=False)}
        study.optimize(objective, n_trials=1,
                       catch=(Surplus, AdaptxError), gc_after_trial=True)
        mine = [t for t in study.get_trials(deepcopy=False) if t.number not in before
                and (t.user_attrs.get(WORKER_ATTR) or {}).get("pid") == os.getpid()]
        failed = [t for t in mine if t.state == TrialState.FAIL and not t.user_attrs.get(SURPLUS_ATTR)]
        failures = failures + 1 if failed else 0
        if failures >= MAX_FAILURES:
            raise AdaptxError(f"{MAX_FAILURES} trials in a row failed in this worker (last: trial {failed[-1].number}: "
                              f"{failed[-1].user_attrs.get('error', 'see above')}); stopping")


def retry_own(study, context) -> None:
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
