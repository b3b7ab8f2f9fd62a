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

The modules: search_storage.py (the study's storage, identity, sampler, pruner), search_workers.py
(several workers on one study, dead workers' trials retried), search_objective.py (one trial),
search_outputs.py (tables, plots, best.yaml, the best trial zero-shot), search_space.py (the search:
section), search_defaults.py (the best trial against the config's defaults).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from .config import build_config, load_config
from .errors import AdaptxError
from .search_objective import SearchContext, run_trial
from .search_outputs import write_outputs
from .search_space import parse_search, study_name_problem, trial_config_dict
from .search_storage import make_sampler, open_study
from .search_workers import count_finished, retry_own, work
from .tasks import get_task


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
    study, store, shown = open_study(storage, run_dir, name, n_trials, cfg, spec, experiment)
    # a seeded sampler restarted from its seed would propose the points it proposed before
    study.sampler = make_sampler(spec, n_trials, offset=len(study.get_trials(deepcopy=False)))
    folder.mkdir(parents=True, exist_ok=True)
    context = SearchContext(cfg, spec, experiment, run_dir, folder, data_source, store)
    print(f"adaptx: search {name!r}: {n_trials} trials in {shown} (now {count_finished(study)} finished); "
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
        work(study, context, n_trials, timeout, lambda trial: run_trial(trial, context, n_trials))
    except KeyboardInterrupt:
        retry_own(study, context)
        raise
    print(f"adaptx: search {name!r}: this worker done after {time.perf_counter() - started:.0f}s; "
          f"{count_finished(study)} finished trials in the study", flush=True)
    write_outputs(study, context)
    return folder

