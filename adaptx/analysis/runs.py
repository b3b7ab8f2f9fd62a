"""The run folders `adaptx analyze` reads: their records, base model, predictions and stage metrics.

A run folder (or a search's `best/`) holds results.json, whose records point at evaluation files
in stage folders; each stage folder's manifest names the base model's weights, and its
metrics.json the English-dev history. Problems are messages, never a stop: a run without
finished evaluations, a run on another base model than the first, a row two runs both have
(the first is kept) are reported and the rest is analysed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..adapter_names import role
from ..errors import AdaptxError
from ..fileio import read_json, read_text
from ..fusion_attention import summary_problem
from ..metrics import metric_for_language
from ..report import load_row, row_facts
from ..report_files import prediction_path, usable_records
from ..run_folder import RunFolder, StageFolder
from ..safe_yaml import load_yaml
from ..strategies import REPORT_ORDER, STRATEGIES

REMEDY = "rerun `adaptx run` with the run's config to re-evaluate"


@dataclass
class Run:
    folder: Path
    records: list[dict]
    base: str  # what the base model is called (the config's base_model, else the manifest's fingerprint)
    base_key: str  # the base's identity: its weights' hashes and shape, from a stage manifest
    family: str | None = None  # the base's family as the run named it (results-summary.json), e.g. xlm-roberta-large


@dataclass
class Target:
    """Everything analysed of one target task and metric, over every run that has it."""

    task: str
    metric: str
    rows: dict[str, dict] = field(default_factory=dict)  # row name -> {seed: {language: Evaluation}}
    keys: dict[str, tuple] = field(default_factory=dict)  # row name -> (strategy, intermediate)
    origin: dict[str, Path] = field(default_factory=dict)  # row name -> run folder
    splits: dict[str, str] = field(default_factory=dict)  # language -> evaluated split
    attention: dict[str, dict] = field(default_factory=dict)  # row name -> language -> fusion attention
    budget: int | str | None = None  # the target budget of a budget sweep's table (None: the run's one budget)
    facts: dict[str, dict] = field(default_factory=dict)  # row name -> adaptx.report.row_facts (convergence, ...)

    @property
    def name(self) -> str:
        """How tables, plots and gains.csv name it: the task, with its budget in a budget sweep."""
        return self.task if self.budget is None else f"{self.task} @{self.budget}"

    @property
    def languages(self) -> list[str]:
        return list(dict.fromkeys(lang for row in self.rows.values() for evs in row.values() for lang in evs))


def row_name(strategy: str, intermediate: str | None) -> str:
    return strategy if not intermediate else f"{strategy} ({intermediate})"


def read_runs(folders, messages: list[str]) -> list[Run]:
    """The runs with finished evaluations, all on the first one's base model; the rest are messages."""
    runs = []
    for folder in map(Path, folders):
        path = RunFolder(folder).results_file
        if not path.is_file():
            messages.append(f"{folder}: no finished evaluations (no results.json); skipped")
            continue
        try:
            good, problems = usable_records(read_json(path, REMEDY, list), str(path))
        except AdaptxError as exc:
            messages.append(f"{exc}; skipped")
            continue
        messages.extend(problems)
        records = [record for _, record in good]
        if not records:
            messages.append(f"{folder}: no finished evaluations in results.json; skipped")
            continue
        runs.append(Run(folder, records, *_base(folder, records), family=_family(folder)))
    kept = [r for r in runs if r.base_key == runs[0].base_key] if runs else []
    for run in runs:
        if run.base_key != runs[0].base_key:
            messages.append(f"{run.folder}: base model {run.base} differs from {runs[0].folder}'s ({runs[0].base}); "
                            "skipped: gains are compared on one base model (analyse each base on its own)")
    return kept


def collect_targets(runs: list[Run], messages: list[str]) -> list[Target]:
    """One Target per (task, metric), rows in report order; predictions read and checked."""
    targets: dict[tuple, Target] = {}
    for run in runs:
        groups: dict[tuple, list[dict]] = {}
        for r in run.records:  # a budget sweep: each budget its own target (rows paired within a budget)
            groups.setdefault((r["task"], r["metric"], r.get("budget"), r["strategy"], r["intermediate"]), []).append(r)
        for (task, metric, budget, strategy, intermediate), records in groups.items():
            target = targets.setdefault((task, metric, budget), Target(task, metric, budget=budget))
            name = row_name(strategy, intermediate)
            if name in target.rows:
                if run.folder != target.origin[name]:
                    messages.append(f"{target.name} {name}: in {target.origin[name]} and {run.folder}; kept the first "
                                    "(one row per strategy and intermediate task)")
                continue
            try:
                row = load_row(run.folder, records, lambda lang, m=metric: metric_for_language(m, lang))
            except AdaptxError as exc:
                messages.append(f"{task} {name} in {run.folder}: {exc}; row skipped")
                continue
            target.rows[name], target.keys[name], target.origin[name] = row, (strategy, intermediate), run.folder
            target.facts[name] = row_facts(records)
            for r in records:
                if target.splits.setdefault(r["language"], r["split"]) != r["split"]:
                    messages.append(f"{task} {name}: {r['language']} evaluated on {r['split']}, other rows on "
                                    f"{target.splits[r['language']]}; their comparison will be refused")
            if strategy in STRATEGIES and STRATEGIES[strategy].fusion:  # only fusion stages record attention
                target.attention[name] = _attention(run.folder, records, messages)
                if not target.attention[name]:
                    messages.append(f"{task} {name}: no fusion attention in its evaluation files (evaluated before "
                                    "adaptx recorded it); delete the stage's eval/ files and rerun `adaptx run` to "
                                    "re-evaluate it (no retraining)")
    for target in targets.values():
        order = sorted(target.rows, key=lambda n: _order(target.keys[n]))
        target.rows = {n: target.rows[n] for n in order}
    tasks = sorted({t.task for t in targets.values()})
    if len(tasks) > 1:
        messages.append(f"target tasks {', '.join(tasks)}: each is analysed on its own (gains are only ever "
                        "computed against a baseline of the same task)")
    return list(targets.values())


def stage_metrics(runs: list[Run], messages: list[str]) -> list[dict]:
    """metrics.json of the stages the runs' results come from and of the stages those built on (each
    once): a run folder also keeps stages of earlier configs, and a search's holds every trial's."""
    seen, found = set(), []
    for run in runs:
        root = RunFolder.of_results(run.folder)
        todo = []
        for r in run.records:
            try:
                todo.append(StageFolder.holding(prediction_path(run.folder, r["predictions"])))
            except AdaptxError:
                continue  # collect_targets has reported it
        while todo:
            stage = todo.pop()
            if stage.path.resolve() in seen:
                continue
            seen.add(stage.path.resolve())
            try:
                recipe = stage.read_manifest("its earlier stages' curves are left out").get("recipe")
                needs = recipe.get("needs") if isinstance(recipe, dict) else None
                todo += [root.stage(needed, digest) for needed, digest in needs.items()
                         if isinstance(digest, str)] if isinstance(needs, dict) else []
                found.append(stage.read_metrics("the stage's English-dev curve is left out"))
            except AdaptxError as exc:
                messages.append(str(exc))
    return found


def _attention(folder: Path, records: list[dict], messages: list[str]) -> dict:
    """language -> the fusion attention its evaluation file recorded, averaged over seeds (fuse rows);
    a malformed entry is a message and left out."""
    per_lang: dict[str, list[dict]] = {}
    for r in records:
        try:
            path = prediction_path(folder, r["predictions"])
            entry = read_json(path, REMEDY, dict).get(r["language"], {})
        except AdaptxError:
            continue  # load_row has read these files already; a file unreadable now has no attention
        summary = entry.get("fusion_attention") if isinstance(entry, dict) else None
        if summary is None:
            continue
        problem = summary_problem(summary)
        if problem:
            messages.append(f"{path} [{r['language']}]: fusion_attention: {problem}; left out of the fusion "
                            f"attention ({REMEDY})")
            continue
        per_lang.setdefault(r["language"], []).append(summary)
    out = {}
    for lang, summaries in per_lang.items():
        first = summaries[0]
        # each seed's adapters are saved under their own names: match them by what they are
        roles = [role(a) for a in first["adapters"]]
        same = [s for s in summaries
                if [role(a) for a in s["adapters"]] == roles and len(s["layers"]) == len(first["layers"])]
        layers = [{**layer, "weights": [sum(s["layers"][i]["weights"][k] for s in same) / len(same)
                                        for k in range(len(first["adapters"]))]}
                  for i, layer in enumerate(first["layers"])]
        out[lang] = {"adapters": roles, "layers": layers, "seeds": len(same)}
    return out


def _base(folder: Path, records: list[dict]) -> tuple[str, str]:
    """(name, identity) of a run's base model: the manifest's base fingerprint identifies it."""
    key, name = "unknown", None
    try:
        stage = StageFolder.holding(prediction_path(folder, records[0]["predictions"]))
        base = stage.read_manifest("the base model is taken as unknown")["recipe"]["base"]
        key = json.dumps(base, sort_keys=True)
    except (AdaptxError, KeyError, TypeError):
        pass
    config = RunFolder.of_results(folder).config_file
    if config.is_file():
        try:
            name = (load_yaml(config.read_text(encoding="utf-8"), str(config)) or {}).get("base_model")
        except (AdaptxError, OSError, UnicodeDecodeError, AttributeError):
            name = None
    return (str(name) if name else f"fingerprint {key[:60]}"), key


def _family(folder: Path) -> str | None:
    """The base family the run's report recorded (None when it has no readable summary)."""
    path = RunFolder.of_results(folder).summary_file
    try:
        family = json.loads(read_text(path))["context"]["base_family"]
    except (AdaptxError, OSError, ValueError, KeyError, TypeError):  # AdaptxError: a FIFO, never waited on
        return None
    return family if isinstance(family, str) else None


def _order(key: tuple) -> tuple:
    strategy, intermediate = key
    return (REPORT_ORDER.index(strategy) if strategy in REPORT_ORDER else len(REPORT_ORDER), strategy,
            intermediate or "")
