"""Which saved model a prediction source names: a run folder (one of its stages), a stage folder, or
a zoo entry (`zoo:NAME` or the entry's folder). Reads the folders' JSON files only; adaptx.predict
loads the model.

A run folder's default stage is its best target stage by the run's own results table (the headline
metric averaged over the evaluated languages); a run that evaluated several target tasks, or has no
results table and several stages with a model, asks for --stage, listing the stages that predict.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import AdaptxError
from .fileio import read_json
from .run_folder import RunFolder, StageFolder, dropped_weights
from .tasks import get_task
from .zoo_card import CARD_FILE, entry_adapter_dirs
from .zoo_resolve import require_entry, user_zoo
from .zoo_refs import is_zoo_ref, zoo_ref_name


@dataclass
class SavedModel:
    """Everything needed to rebuild a saved model and feed it rows."""

    model_dir: Path  # the folder load_model reads (setup.json, head, adapters or encoder)
    base: str | None  # the base model's name (None: unknown; the caller must pass one)
    identity: dict  # what the base's weights must be (a stage recipe's `base`, a card's base identity)
    task: str
    labels: list[str] | None  # None: the task's registered labels
    dtype: str  # the frozen base's dtype the model was trained and evaluated in
    max_length: int
    stage: str | None = None  # the stage id (None: a zoo entry)
    description: str = ""
    adapter_dirs: dict[str, Path] = field(default_factory=dict)  # frozen adapters it loads
    note: str = ""  # why this stage (a run folder's default)


def _json(path: Path, remedy: str) -> dict:
    data = read_json(path, remedy)
    if not isinstance(data, dict):
        raise AdaptxError(f"{path}: expected a JSON object; {remedy}")
    return data


def resolve(source, stage: str | None = None, zoo=None) -> SavedModel:
    """The saved model `source` names (run folder, stage folder, zoo:NAME or a zoo entry folder)."""
    text = str(source)
    path = Path(text).expanduser()
    is_stage = StageFolder(path).manifest_file.is_file()
    if stage is not None and (is_zoo_ref(text) or is_stage or (path / CARD_FILE).is_file()):
        raise AdaptxError(f"--stage picks a stage of a run folder; {text} is a "
                          f"{'zoo entry' if is_zoo_ref(text) or (path / CARD_FILE).is_file() else 'stage folder'} "
                          "already: leave --stage out")
    if is_zoo_ref(text):
        return from_zoo(Path(user_zoo(zoo)), zoo_ref_name(text))
    if (path / CARD_FILE).is_file():
        return from_zoo(path.parent, path.name)
    if is_stage:
        return from_stage(path)
    if RunFolder(path).stages_dir.is_dir():
        folder, note = choose_stage(path, stage)
        return _with_note(from_stage(folder), note)
    raise AdaptxError(f"{text}: not a run folder (runs/NAME, with stages/), a stage folder "
                      "(runs/NAME/stages/ID-HASH, with manifest.json), zoo:NAME or a zoo entry folder (with "
                      f"{CARD_FILE})")


def _with_note(saved: SavedModel, note: str) -> SavedModel:
    saved.note = note
    return saved


def from_zoo(root: Path, name: str) -> SavedModel:
    entry, card = require_entry(root, name)  # every file's sha256 checked against the card
    return SavedModel(entry, card.base.id, card.base.identity, card.task, list(card.head.labels),
                      card.training.dtype or "fp32", card.training.max_seq_length or 128, None, f"zoo:{name} ({entry})",
                      entry_adapter_dirs(entry, card))


def from_stage(folder: Path) -> SavedModel:
    """A finished stage folder; its frozen adapters come from the stage folders it needs or the zoo."""
    remedy = "pass a finished stage folder (runs/NAME/stages/ID-HASH)"
    stage = StageFolder(folder)
    manifest = _json(stage.manifest_file, remedy)
    stage_id, recipe = manifest.get("stage"), manifest.get("recipe")
    if manifest.get("status") != "done" or not isinstance(recipe, dict):
        raise AdaptxError(f"{folder}: stage status is {manifest.get('status')!r}, not 'done'; finish the run "
                          "(`adaptx run` resumes it) before predicting with it")
    metrics = _json(stage.metrics_file, remedy)
    if not stage.model_dir.is_dir():
        raise AdaptxError(f"{folder}: stage {stage_id} has no trained model ({metrics.get('task')} is evaluated "
                          "straight from the encoder's sentence vectors: a retrieval task has no prediction head)")
    setup = _json(stage.setup_file, "the stage is incomplete: run it again")
    if setup.get("heads"):
        raise AdaptxError(f"{folder}: stage {stage_id} is a multi-task model (one head per task: "
                          f"{', '.join(setup['heads'])}); predicting with one of its heads is not supported")
    run_dir = stage.run.path
    _inside(stage.model_dir, run_dir, f"{folder}: its model folder")
    dirs = {name: _frozen_adapter(folder, recipe, name) for name in setup.get("frozen_adapters") or []}
    run_config, identity = _run_config(run_dir), recipe.get("base") or {}
    base = run_config.get("base_model") or identity.get("hub_id") or identity.get("random")
    return SavedModel(stage.model_dir, base, identity, metrics.get("task"), metrics.get("labels"),
                      recipe.get("dtype") or "fp32", recipe.get("max_seq_length") or run_config.get("max_seq_length")
                      or 128, stage_id, f"stage {stage_id} ({folder})", dirs)


def _frozen_adapter(folder: Path, recipe: dict, name: str) -> Path:
    """Where a frozen adapter of a stage is: a zoo entry's (checked) or a stage folder it needs."""
    zoo_source = (recipe.get("zoo") or {}).get(name)
    if zoo_source:
        root = Path(user_zoo(_run_config(StageFolder(folder).run.path).get("zoo_dir")))
        entry, card = require_entry(root, zoo_source["entry"])
        return entry / card.adapter.folder
    needs, stage = recipe.get("needs") or {}, StageFolder(folder)
    if not isinstance(needs, dict):
        raise AdaptxError(f"{stage.manifest_file}: recipe.needs: expected an object of stage id -> hash; "
                          "delete the stage folder to redo it")
    for stage_id, config_hash in needs.items():
        try:
            needed = stage.needed(stage_id, config_hash)
        except AdaptxError as exc:
            raise AdaptxError(f"{stage.manifest_file}: recipe.needs: {exc}") from None
        found = needed.saved_adapter(name)
        if found is not None:
            return _inside(found, stage.run.path, f"{folder}: adapter {name!r} it builds on")
    raise AdaptxError(f"{folder}: adapter {name!r} it builds on is in none of the stage folders it needs "
                      f"({', '.join(recipe.get('needs') or {}) or 'none'}) under {folder.parent}; were they deleted?")


def _inside(path: Path, run_dir: Path, what: str) -> Path:
    """`path`, refused unless it resolves (links followed) inside the run folder: a run folder's
    weights are its own, never files elsewhere on this machine that a link or a hand-edited manifest
    points at."""
    try:
        inside = path.resolve().is_relative_to(run_dir.resolve())
    except (OSError, RuntimeError, ValueError):  # a link loop
        inside = False
    if not inside:
        raise AdaptxError(f"{what} is {path}, which leads outside the run folder {run_dir} (to "
                          f"{os.path.realpath(path)}); adaptx loads a run's weights from its own stages/ only: "
                          "restore the stage folder, or run the stage again")
    return path


def _run_config(run_dir: Path) -> dict:
    """The run's config.yaml as written by `adaptx run` (a search's: its first trial's), or {}."""
    import yaml

    run = RunFolder(run_dir)
    try:
        return run.read_config()
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise AdaptxError(f"{run.config_source()}: unreadable ({type(exc).__name__}); it names the run's base "
                          "model") from exc


# -- a run folder's stages -----------------------------------------------------------------

@dataclass
class _Stage:
    folder: Path
    id: str
    task: str
    strategy: str
    intermediate: str | None
    score: tuple[str, float, int] | None = None  # (metric, average over languages, languages) from results.json
    dropped: bool = False  # a smoke run deleted its fully fine-tuned encoder once the run was done

    def line(self, ambiguous: bool) -> str:
        what = self.strategy + (f" on {self.intermediate}" if self.intermediate else "")
        score = f"; zero-shot {self.score[0]} {self.score[1]:.1f} (average of {self.score[2]} languages)" \
            if self.score else ""
        return f"  {self.folder.name if ambiguous else self.id}  ({self.task}, {what}{score})"


def _predicting_stages(run_dir: Path) -> list[_Stage]:
    """The finished stages with a trained model, in folder order."""
    found = []
    for stage in RunFolder(run_dir).stages():
        if stage.name.startswith(".") or not stage.setup_file.is_file():
            continue
        try:
            manifest = _json(stage.manifest_file, "")
            metrics = _json(stage.metrics_file, "")
        except AdaptxError:
            continue  # unfinished or damaged: not offered
        if manifest.get("status") == "done":
            found.append(_Stage(stage.path, str(manifest.get("stage")), str(metrics.get("task")),
                                str(metrics.get("strategy")), metrics.get("intermediate"),
                                dropped=dropped_weights(stage.encoder_dir) is not None))
    return found


def _score_stages(run_dir: Path, stages: list[_Stage]) -> None:
    """Each target stage's headline zero-shot score in results.json (which names its folder)."""
    path = RunFolder(run_dir).results_file
    records = read_json(path, "delete it and run `adaptx run` again to rewrite it") if path.is_file() else []
    by_folder: dict[str, list[float]] = {}
    metric_of: dict[str, str] = {}
    for record in records if isinstance(records, list) else []:
        if not isinstance(record, dict) or not isinstance(record.get("predictions"), str):
            continue
        folder = RunFolder.stage_name_of(record["predictions"])
        try:
            headline = get_task(record.get("task")).metric
        except AdaptxError:
            continue
        if record.get("metric") == headline and isinstance(record.get("value"), (int, float)):
            by_folder.setdefault(folder, []).append(float(record["value"]))
            metric_of[folder] = headline
    for stage in stages:
        values = by_folder.get(stage.folder.name)
        if values:
            stage.score = (metric_of[stage.folder.name], sum(values) / len(values), len(values))


def _listing(stages: list[_Stage]) -> str:
    ids = [s.id for s in stages]
    return "\n".join(s.line(ids.count(s.id) > 1) for s in stages)


def choose_stage(run_dir: Path, wanted: str | None) -> tuple[Path, str]:
    """(stage folder, why it was chosen) of a run folder: the stage `wanted` names (its id, folder
    name, or a strategy that one evaluated stage has), else the best-scoring evaluated stage."""
    stages = _predicting_stages(run_dir)
    if not stages:
        raise AdaptxError(f"{run_dir}: no finished stage with a trained model (retrieval stages have none); run "
                          "`adaptx run` first")
    _score_stages(run_dir, stages)
    scored = [s for s in stages if s.score]
    if wanted is not None:
        matches = ([s for s in stages if s.folder.name == wanted] or [s for s in stages if s.id == wanted]
                   or [s for s in scored if s.strategy == wanted])
        if len(matches) > 1:
            matches = [s for s in matches if s.score] or matches  # the evaluated one is the run's current stage
        if len(matches) == 1:
            return matches[0].folder, f"stage {matches[0].id}"
        unfit = [s.path for s in RunFolder(run_dir).stages() if wanted in (s.name, s.name.rsplit("-", 1)[0])]
        if not matches and len(unfit) == 1:
            return unfit[0], f"stage {wanted}"  # a stage without a model: from_stage says why (retrieval, unfinished)
        problem = f"--stage {wanted!r} names {len(matches)} stages" if matches else f"no stage {wanted!r}"
        raise AdaptxError(f"{run_dir}: {problem}; pass one of these ids (or a folder name, or the strategy of an "
                          f"evaluated stage):\n{_listing(matches or stages)}")
    if len(stages) == 1:
        return stages[0].folder, f"stage {stages[0].id}, the run's only stage with a model"
    tasks = {s.task for s in scored}
    if len(tasks) != 1:
        why = f"it evaluated {len(tasks)} target tasks" if tasks else "it has no results table (results.json)"
        raise AdaptxError(f"{run_dir}: {why}; pick the stage to predict with: --stage ID (stage= in Python), one "
                          f"of:\n{_listing(stages)}")
    kept = [s for s in scored if not s.dropped]  # a smoke run's full-model stages have no weights to predict with
    if not kept:
        raise AdaptxError(f"{run_dir}: every evaluated stage's weights were dropped (a smoke run keeps no "
                          "full-model encoder); run without --smoke to keep them")
    best = max(kept, key=lambda s: s.score[1])  # of equal scores, the first by folder name
    others = ", ".join(s.id for s in kept if s is not best)
    passed = [s for s in scored if s.dropped and s.score[1] > best.score[1]]
    dropped = (f"; passed over {', '.join(s.id for s in passed)}: its weights were dropped (a smoke run keeps no "
               "full-model encoder)") if passed else ""
    return best.folder, (f"stage {best.id}: the best average zero-shot {best.score[0]} ({best.score[1]:.1f}) in "
                         f"{RunFolder(run_dir).results_file}{dropped}"
                         + (f"; --stage picks another ({others})" if others else ""))
