"""One trial of a search: its config from the trial's parameters, its stages run (shared with every
other trial through the run folder's content-hashed stages), its score (the target stage's English dev
`train.best_dev_score`; a multi-objective study adds a cost), its trials/NNNN/ folder."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import yaml

from .config import build_config
from .errors import AdaptxError
from .fileio import atomic_write_text
from .run_folder import CONFIG_FILE
from .search_space import trial_config_dict
from .search_storage import has_heartbeat
from .search_workers import SURPLUS_ATTR, WORKER_ATTR, Surplus, counted, heartbeat, worker_record


class SearchContext:
    """What every trial of one worker shares: the config, the search space, the loaded experiment and its
    folders; builds a trial's config and its prepared experiment."""

    def __init__(self, cfg, spec, experiment, run_dir, folder, data_source, store):
        self.cfg, self.spec, self.experiment = cfg, spec, experiment
        self.run_dir, self.folder, self.data_source, self.store = run_dir, folder, data_source, store
        self.heartbeat_storage = has_heartbeat(store)

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


def run_trial(trial, context: SearchContext, n_trials: int):
    """Optuna's objective: one trial, run to its score (or pruned, or failed, or dropped as Surplus)."""
    import optuna
    from optuna.trial import TrialState

    trial.set_user_attr(WORKER_ATTR, worker_record(trial.number))
    ahead = [t for t in counted(trial.study) if t.number < trial.number
             and t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)]
    if len(ahead) >= n_trials:  # another worker asked at the same moment and got the last place
        trial.set_user_attr(SURPLUS_ATTR, True)
        raise Surplus(f"the study already has {n_trials} trials running or finished")
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
              "worker": worker_record(trial.number),
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
        with heartbeat(trial, context):
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

    model = exp.trained_model(stage)
    dev = exp.data(stage.task, "dev")
    predict(model, dev, exp.pad_id, runtime=exp.runtime)  # warm-up
    began = time.perf_counter()
    predict(model, dev, exp.pad_id, runtime=exp.runtime)
    return round((time.perf_counter() - began) * 1000 / max(1, len(dev)), 3)  # ms per English dev example

