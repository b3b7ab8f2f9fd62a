"""What a search leaves in search/<study>/: the trials table (trials.csv, trials.md), plots,
best.yaml (and pareto/ for a multi-objective study) and the best trial's zero-shot results."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path

import yaml

from .config import build_config
from .fileio import atomic_write_text
from .run_folder import RunFolder
from .search_objective import SearchContext
from .search_space import SearchSpec
from .search_workers import SURPLUS_ATTR
from .tasks import get_task


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


def write_outputs(study, context: SearchContext) -> None:
    """trials.csv/.md, plots, best.yaml and the best trial's zero-shot results; several workers may
    finish together, so one writes at a time."""
    from filelock import FileLock

    with FileLock(str(context.folder / ".outputs.lock")):
        _write_outputs(study, context)


def _write_outputs(study, context: SearchContext) -> None:
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


def _objective_se(context: SearchContext, trial) -> float | None:
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


def _evaluate_best(best, context: SearchContext) -> bool:
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


