"""Which intermediate adapters `adaptx rank` scores, and where each one's trained weights are.

A candidate is what a config lists under intermediate_tasks: `zoo:NAME` (a published adapter,
verified and refused on another base by adaptx.zoo_resolve when the experiment opens) or a task name
(its adapter is looked up among the finished intermediate stages of the run folder).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import AdaptxError
from ..fingerprint import base_fingerprint
from ..kinds import get_kind
from ..mixture import MULTITASK
from ..models import load_base_model
from ..plan import Stage, plan_stages
from ..run_folder import RunFolder
from ..tasks import get_task
from ..zoo_index import index_problems, list_entries
from ..zoo_refs import ZOO_PREFIX, is_zoo_ref
from ..zoo_resolve import zoos
from .features import REDUCTIONS

ALL = "all"
MIN_CANDIDATES = 2


@dataclass
class Candidate:
    token: str  # as intermediate_tasks lists it: zoo:NAME or a task name
    task: str  # its English task (a zoo entry's card task)
    stages: dict[str, Stage]  # target -> the stack stage a grid would train
    text_tasks: tuple[str, ...]  # whose English training texts TextEmb embeds: the task, or a mixture's parts
    adapter_dirs: dict[str, Path] | None = None  # saved adapter name -> folder; None: no trained adapter
    note: str = ""  # why LogME cannot score it, or where its adapter came from


def candidate_tokens(cfg, requested: list[str] | None, notes: list[str]) -> list[str]:
    """The candidates, in order, each once: --candidates (`all`: every intermediate entry of the zoo
    trained on this base), else the config's intermediate_tasks."""
    if requested == [ALL]:
        tokens = _all_zoo_entries(cfg, notes)
    elif requested:
        if ALL in requested:
            raise AdaptxError("--candidates: `all` stands alone (every zoo entry); list zoo:NAME entries or task "
                              "names otherwise")
        tokens = list(requested)
    else:
        tokens = list(cfg.intermediate_tasks)
    tokens = list(dict.fromkeys(tokens))
    if len(tokens) < MIN_CANDIDATES:
        where = "--candidates" if requested else "the config's intermediate_tasks"
        raise AdaptxError(f"adaptx rank needs at least {MIN_CANDIDATES} candidate adapters to rank; {where} gives "
                          f"{len(tokens)} ({', '.join(tokens) or 'none'}); list more with --candidates zoo:A zoo:B "
                          "... (or --candidates all)")
    return tokens


def _all_zoo_entries(cfg, notes: list[str]) -> list[str]:
    """Every intermediate entry of the user zoo and of the shipped one (a user entry shadows a shipped
    entry of the same name, as zoo:NAME resolves), trained on the config's base."""
    folders = zoos(cfg.zoo_dir)
    root = " and ".join(str(z.path) for z in folders)
    mine = base_fingerprint(load_base_model(cfg.base_model, dtype="fp32", weights=False).identity())
    entries: dict[str, dict] = {}
    for zoo in folders:
        for name, record in list_entries(zoo.path):
            if record["strategy"] == "intermediate":
                entries.setdefault(name, record)
        notes += [f"zoo: {problem}" for problem in index_problems(zoo.path)]
    entries = list(entries.items())
    other = [name for name, r in entries if r["base_fingerprint"] != mine]
    if other:
        notes.append(f"--candidates all: left out {len(other)} zoo entries trained on another base model "
                     f"({', '.join(other)})")
    found = [ZOO_PREFIX + name for name, r in entries if r["base_fingerprint"] == mine]
    if not found:
        raise AdaptxError(f"--candidates all: the zoo {root} has no intermediate adapter trained on base "
                          f"{cfg.base_model!r} (fingerprint {mine}); `adaptx zoo list` shows what it holds")
    return found


def check_targets(cfg) -> None:
    """Every target must have English training data LogME can read, before anything loads."""
    for name in cfg.targets:
        kind = get_task(name).kind
        if not get_kind(kind).trains:
            raise AdaptxError(f"adaptx rank: {name} is a {kind} task without English training data, so there is "
                              "nothing to estimate from; it needs no target training either: `adaptx run CONFIG "
                              "strategies=[stack]` measures every candidate directly at the cost of one "
                              "evaluation each. Rank the other targets on their own (target_task=[...])")
        if kind not in REDUCTIONS:
            raise AdaptxError(f"adaptx rank: {name} is a {kind} task; ranking covers {', '.join(REDUCTIONS)} targets")


def candidate_overrides(tokens: list[str]) -> list[str]:
    """The overrides that make a config's plan train exactly `stack` over these candidates."""
    return [f"intermediate_tasks={json.dumps(tokens)}", "strategies=[stack]"]


def resolve(exp, tokens: list[str]) -> list[Candidate]:
    """Each candidate's task, its stack stage per target (first seed) and its trained adapter."""
    seed = exp.cfg.seeds[0]
    stages = [s for s in plan_stages(exp.cfg) if s.seed == seed]
    out = []
    for token in tokens:
        task = exp.zoo[token].card.task if is_zoo_ref(token) else token
        cand = Candidate(token, task, {s.task: s for s in stages if s.kind == "target" and s.intermediates == [token]},
                         _text_tasks(exp, token, task))
        stage = next(iter(cand.stages.values()))
        try:
            if is_zoo_ref(next(iter(stage.adapters.values()))):  # listed as zoo:NAME, or mapped in zoo_adapters
                cand.adapter_dirs = exp.adapter_dirs(stage)
            else:
                cand.adapter_dirs, cand.note = _trained(exp, stages, stage)
        except AdaptxError as exc:
            cand.note = f"LogME not scored: {exc}"
        out.append(cand)
    return out


def _text_tasks(exp, token: str, task: str) -> tuple[str, ...]:
    """A mixture adapter learned from its parts' texts (the card's training.mixture.tasks, or the
    config's multitask.tasks); any other adapter from its task's."""
    if is_zoo_ref(token):
        mixture = exp.zoo[token].card.training.mixture or {}
        parts = mixture.get("tasks")
    else:
        parts = exp.cfg.multitask.tasks if token == MULTITASK else None
    return tuple(parts) if parts else (task,)


def _trained(exp, stages: list[Stage], stack: Stage) -> tuple[dict[str, Path], str]:
    """(saved name -> folder, note) of the adapter a finished intermediate stage of the run folder
    saved: the stage of exactly this config's recipe, else the one finished stage of that id (trained
    in another dtype or on other data: the note says so)."""
    (source,) = stack.needs
    (name,) = stack.adapters
    saved = exp.recipes.adapter_name(name, stack.seed)
    why = f"no finished stage {source}"
    try:
        exp.recipes.hash(next(s for s in stages if s.id == source))
        if exp.store.is_done(source):
            folder = exp.store.adapter_folder(source, saved)
            return {saved: folder, name: folder}, ""
    except AdaptxError as exc:  # e.g. its data is not in this data folder: its recipe cannot be rebuilt
        why = f"its stage recipe cannot be rebuilt here ({exc})"
    found = {f.name: folder for f in RunFolder(exp.run_dir).stages_of(source)
             if f.is_done() and (folder := f.saved_adapter(saved)) is not None}  # stage folder -> adapter folder
    if len(found) == 1:
        ((stage_folder, folder),) = found.items()
        return {saved: folder, name: folder}, (
            f"adapter from {stage_folder}, whose recipe differs from this config's ({why})")
    if found:
        why = f"{len(found)} finished stage folders {source}-*, none of this config's recipe"
    raise AdaptxError(f"no trained adapter for {name!r} in {exp.run_dir} ({why}); train it first (`adaptx run "
                      "CONFIG` with any adapter strategy trains the intermediate adapters), or pass --run with the "
                      "run folder that has it")

