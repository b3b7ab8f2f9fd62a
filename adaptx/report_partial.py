"""What a run folder has evaluated beyond its results.json, and what it has not evaluated yet.

The pipeline rewrites results.json after each target stage's whole evaluation. An evaluation
interrupted midway (Ctrl-C, a lost machine) leaves one evaluation file per finished language in
the stage's folder (stages/<stage>-<hash>/eval/<lang>-<split>-<hash>.json) that no record names
yet, and a run stopped before its first stage finished evaluating has no results.json at all.
`adaptx report` reports those files too, and names the planned stages and languages without
results (the plan comes from the run's config.yaml; a search's run folder has none, and there the
languages the other stages of the task evaluated stand in).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from .budgets import budget_of_stage_id
from .errors import AdaptxError
from .fileio import read_json
from .report_files import evaluation_lists
from .run_folder import RunFolder, StageFolder
from .strategies import TARGET_STRATEGIES


def _key(record: dict) -> tuple:
    """A row of a table: a budget sweep's stages differ by their budget alone."""
    return record["task"], record["strategy"], record["intermediate"], record["seed"], record.get("budget")


def _budget_of(stage_id: str, planned: list | None):
    """A target stage's budget: the plan's, else read off the stage id ('-auto', '-b600'; None: no sweep)."""
    for stage in planned or []:
        if stage.id == stage_id:
            return stage.budget
    return budget_of_stage_id(stage_id)


def _stage_facts(metrics: dict, budget, known: list[dict]) -> dict:
    """What a recovered record says of its stage (adaptx.convergence.stage_facts): budget, steps and
    convergence from metrics.json; the facts of the adapters under it from a record of the same row at
    another budget (the same adapters), where results.json has one."""
    from .convergence import of_training

    train = metrics.get("train") if isinstance(metrics.get("train"), dict) else None
    steps = train.get("steps") if train else None
    facts = {"budget": budget, "steps": steps if type(steps) is int else None,
             "converged": of_training(train)["converged"] if train else None, "intermediate_converged": None}
    row = _key({**metrics, "budget": None})[:4]
    for record in known:
        if _key(record)[:4] == row:
            facts["intermediate_converged"] = record.get("intermediate_converged")
            if record.get("same_data"):
                facts["same_data"] = record["same_data"]
            break
    return facts


@dataclass
class Evaluations:
    records: list[dict] = field(default_factory=list)  # for evaluation files no results.json record names
    stages: dict[tuple, str] = field(default_factory=dict)  # row key -> stage id, of every finished target stage
    planned: list | None = None  # adaptx.plan.Stage of the run's config.yaml; None: no readable config.yaml
    languages: dict[str, list[str]] = field(default_factory=dict)  # task -> the languages the config evaluates
    search: bool = False  # a search's run folder: its trials are scored on English dev only, by design


def _target_stage(stage: StageFolder) -> dict | None:
    """metrics.json of a finished target stage folder (task, strategy, intermediate, seed), else None."""
    remedy = f"its evaluations are left out of the report; delete {stage.path} to redo that stage"
    if not stage.manifest_file.is_file() or stage.path.is_symlink():
        return None
    if stage.read_manifest(remedy).get("status") != "done":
        return None
    metrics = stage.read_metrics(remedy)
    if metrics.get("strategy") not in TARGET_STRATEGIES:
        return None  # an intermediate stage: nothing evaluated there
    if not (isinstance(metrics.get("task"), str) and isinstance(metrics.get("stage"), str)
            and isinstance(metrics.get("intermediate"), (str, type(None)))
            and isinstance(metrics.get("seed"), int) and not isinstance(metrics.get("seed"), bool)):
        raise AdaptxError(f"{stage.metrics_file}: lacks or mistypes stage, task, intermediate or seed; {remedy}")
    return metrics


def _newest_per_language(stage: StageFolder) -> dict[str, Path]:
    """language -> its newest evaluation file (an older one is from earlier evaluation settings)."""
    found: dict[str, Path] = {}
    files = sorted(stage.eval_files(), key=lambda p: (p.stat().st_mtime, p.name))
    for path in files:
        found[path.name.split("-", 1)[0]] = path
    return found


def _order(task_name: str, lang: str) -> tuple:
    """A language's place in its task's language list (English first, as the run evaluates them)."""
    from .tasks import TASKS

    languages = list(TASKS[task_name].languages) if task_name in TASKS else []
    return (languages.index(lang) if lang in languages else len(languages), lang)


def _records_of(path: Path, lang: str, metrics: dict, run_dir: Path, facts: dict) -> list[dict]:
    """The results records of one evaluation file, as the pipeline writes them (facts: _stage_facts)."""
    from .tasks import get_task

    remedy = "it is left out of the report; `adaptx run` with the run's config evaluates that language again"
    result = read_json(path, remedy, dict).get(lang)
    if not isinstance(result, dict) or not isinstance(result.get("scores"), dict) or not isinstance(
            result.get("split"), str) or not isinstance(result.get("n"), int):
        raise AdaptxError(f"{path}: no scores, split and n for language {lang!r}; {remedy}")
    ids, _, _ = evaluation_lists(result, path, lang)
    if len(ids) != result["n"]:
        raise AdaptxError(f"{path}: {len(ids)} predictions for n={result['n']}; {remedy}")
    records = []
    for metric in get_task(metrics["task"]).metrics:
        value = result["scores"].get(metric)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise AdaptxError(f"{path}: scores.{metric} is {value!r}, expected a number; {remedy}")
        records.append({"task": metrics["task"], "strategy": metrics["strategy"], "intermediate": metrics["intermediate"],
                        "language": lang, "split": result["split"], "metric": metric, "value": round(value * 100, 2),
                        "seed": metrics["seed"], "n": result["n"], "predictions": path.relative_to(run_dir).as_posix(),
                        **facts})
    return records


def recover_evaluations(run_dir: Path, known: list[dict], problems: list[str]) -> Evaluations:
    """Records for the evaluation files of finished target stages that `known` (results.json's sound
    records) does not name, and what the run planned. A damaged file is a message in `problems`."""
    found = Evaluations()
    named = {_key(r): StageFolder.holding(run_dir / r["predictions"]) for r in known}  # row -> the folder it reads
    named_files = {os.path.normpath(run_dir / r["predictions"]) for r in known}
    done = {(_key(r), r["language"]) for r in known}
    run = RunFolder(run_dir)
    _read_plan(run_dir, found)
    chosen: dict[tuple, tuple[float, StageFolder, dict]] = {}
    for folder in run.stages():
        files = folder.eval_files()
        if files and all(os.path.normpath(p) in named_files for p in files):
            continue  # results.json has all of it
        try:
            metrics = _target_stage(folder)
        except AdaptxError as exc:
            problems.append(str(exc))
            continue
        if metrics is None:
            continue
        key = _key({**metrics, "budget": _budget_of(metrics["stage"], found.planned)})
        found.stages[key] = metrics["stage"]
        # one folder per row: the one results.json reads, else the stage trained last (older hashes are old settings)
        rank = (2.0 if named.get(key) == folder else 1.0, folder.manifest_file.stat().st_mtime)
        if key not in chosen or rank > chosen[key][0]:
            chosen[key] = (rank, folder, metrics)
    for key, (_, folder, metrics) in sorted(chosen.items(), key=lambda item: str(item[0])):
        facts = _stage_facts(metrics, key[4], known)
        for lang, path in sorted(_newest_per_language(folder).items(), key=lambda item: _order(key[0], item[0])):
            if (key, lang) in done:
                continue
            try:
                found.records += _records_of(path, lang, metrics, run_dir, facts)
            except AdaptxError as exc:
                problems.append(str(exc))
    found.search = run.search_dir.is_dir()
    return found


def _read_plan(run_dir: Path, found: Evaluations) -> None:
    """The target stages and languages the run's config.yaml asks for (nothing when it cannot be read)."""
    from .config import load_config
    from .plan import plan_stages
    from .tasks import get_task

    config = RunFolder(run_dir).config_file
    if not config.is_file():
        return
    try:
        cfg = load_config(config)
        found.planned = [s for s in plan_stages(cfg) if s.evaluate]
        for name in cfg.targets:
            task = get_task(name)
            found.languages[name] = [lang for lang in (cfg.languages or task.languages) if lang in task.languages]
    except AdaptxError:  # an edited or older config.yaml: the report still names gaps among the stages it found
        found.planned = None


def not_evaluated(found: Evaluations, records: list[dict], context: dict) -> list[str]:
    """One line per target stage without every result: not trained yet, trained but not evaluated, or
    the languages it still lacks. Languages the data source has none of (context.missing) are not gaps."""
    evaluated: dict[tuple, set[str]] = {}
    for r in records:
        evaluated.setdefault(_key(r), set()).add(r["language"])
    missing = context.get("missing") or {}
    if found.planned is not None:
        rows = [((s.task, s.strategy, s.intermediate_label, s.seed, s.budget), s.id) for s in found.planned]
    else:
        rows = sorted(found.stages.items(), key=lambda item: item[1])
    lines = []
    for key, stage_id in rows:
        task = key[0]
        wanted = found.languages.get(task) or sorted({lang for k, langs in evaluated.items() if k[0] == task
                                                       for lang in langs})
        wanted = [lang for lang in wanted if lang not in missing.get(task, [])]
        have = evaluated.get(key, set())
        lacking = [lang for lang in wanted if lang not in have]
        if key not in found.stages and not have:
            lines.append(f"{stage_id}: not trained yet")
        elif not have:
            if not (found.search and found.planned is None):  # a search evaluates its best trial only
                lines.append(f"{stage_id}: trained, not evaluated")
        elif lacking:
            lines.append(f"{stage_id}: not evaluated in {', '.join(lacking)}")
    return lines
