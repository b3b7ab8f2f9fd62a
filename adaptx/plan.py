"""What a run trains and evaluates, from the config alone: the stages and what each builds on.

A pure function of the config (no data, no model): the data-pack check and `adaptx search` plan
with it as well as the run itself. The rules per strategy come from adaptx.strategies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .budgets import budget_suffix
from .config import AUTO, ExperimentConfig
from .kinds import get_kind
from .mixture import MULTITASK
from .strategies import builds_on, get_strategy
from .tasks import get_task
from .zoo_refs import is_zoo_ref, zoo_adapter_name


@dataclass
class Stage:
    """One unit of training with its own folder; `adapters` maps each frozen adapter it loads to
    the stage that trained it; `needs` are all stage ids whose outputs it reads."""

    id: str
    kind: str  # intermediate-adapter | intermediate-full | target
    task: str
    strategy: str  # intermediate | full-intermediate | none | stack | fuse | average | merge | full | full-none
    seed: int
    intermediates: list[str] = field(default_factory=list)  # what the results table names it after
    adapters: dict[str, str] = field(default_factory=dict)
    needs: list[str] = field(default_factory=list)
    evaluate: bool = False  # zero-shot evaluation (target stages the config asks for)
    trains: bool = True  # False: the task's kind is evaluated straight from the encoder (retrieval)
    budget: int | str | None = None  # a target stage's step budget where the run sweeps them (else train's own)

    @property
    def intermediate_label(self) -> str | None:
        return "+".join(self.intermediates) if self.intermediates else None


def stage_sources(sources) -> list[str]:
    """The stages a stage reads from (zoo adapters are checked files, not stages)."""
    return [s for s in sources if not is_zoo_ref(s)]


def plan_stages(cfg: ExperimentConfig) -> list[Stage]:
    """Intermediate work first, trained once per task and seed and reused by every target and
    strategy that needs it; a target adapter that a fusion includes is trained (as strategy `none`)
    before it. A target whose kind does not train (retrieval) is evaluated straight from the
    encoder each strategy gives it: the plain base (none), the intermediate adapter (stack), the
    fully fine-tuned intermediate encoder (full); the others do not apply to it."""
    stages: list[Stage] = []
    for seed in cfg.seeds:
        stages += _intermediate_stages(cfg, seed)
        for target in cfg.targets:
            trains = get_kind(get_task(target).kind).trains  # a retrieval target has no budget to sweep
            for budget in target_budgets(cfg) if trains else [None]:
                stages += _target_stages(cfg, target, seed, budget)
    return stages


def target_budgets(cfg: ExperimentConfig) -> list:
    """The budgets a target stage is trained at, each its own stage: [None] where the config has one
    number of steps (the stage ids and hashes of such runs stay what they always were), else each
    budget of the sweep, or `auto`."""
    budgets = cfg.train.target_budgets()
    return [None] if len(budgets) == 1 and budgets[0] != AUTO else budgets


def adapter_source(cfg: ExperimentConfig, task: str, seed: int) -> str:
    """Where the adapter strategies get intermediate task `task`'s adapter: a zoo:NAME token (listed as
    such, or mapped to the task in zoo_adapters), else the stage that trains it."""
    token = task if is_zoo_ref(task) else cfg.zoo_adapters.get(task)
    return token or f"intermediate-adapter-{task}-s{seed}"


def _full_stage(task: str, seed: int) -> str:
    return f"intermediate-full-{task}-s{seed}"


def _name(cfg: ExperimentConfig, task: str) -> str:
    """The adapter's name in the model (a zoo adapter's never equals a task name)."""
    token = task if is_zoo_ref(task) else cfg.zoo_adapters.get(task)
    return zoo_adapter_name(token) if token else task


def _intermediate_stages(cfg: ExperimentConfig, seed: int) -> list[Stage]:
    stages = []
    if builds_on(cfg.strategies, "adapter"):
        stages += [Stage(source, "intermediate-adapter", task, "intermediate", seed)
                   for task in cfg.intermediate_tasks if not is_zoo_ref(source := adapter_source(cfg, task, seed))]
    if builds_on(cfg.strategies, "full"):
        stages += [Stage(_full_stage(task, seed), "intermediate-full", task, "full-intermediate", seed)
                   for task in cfg.intermediate_tasks]
    return stages


def _target_stages(cfg: ExperimentConfig, target: str, seed: int, budget=None) -> list[Stage]:
    trains = get_kind(get_task(target).kind).trains
    fuses_target = cfg.fusion.include_target_adapter and trains and any(
        get_strategy(s).fusion for s in cfg.strategies)
    stages = []
    if "none" in cfg.strategies or fuses_target:  # the target adapter a fusion includes is trained first
        stages.append(Stage(_target_id(target, "none", None, seed, budget), "target", target, "none", seed,
                            evaluate="none" in cfg.strategies, trains=trains, budget=budget))
    for name in cfg.strategies:
        strategy = get_strategy(name)
        if name == "none" or not (trains or strategy.without_target_training):
            continue
        if strategy.combines == 0:
            stages.append(Stage(_target_id(target, name, None, seed, budget), "target", target, name, seed, evaluate=True,
                                budget=budget))
        elif strategy.combines == 1:  # one run per intermediate task
            for task in cfg.intermediate_tasks:
                on_adapter = strategy.builds_on == "adapter"
                source = adapter_source(cfg, task, seed) if on_adapter else _full_stage(task, seed)
                adapters = {_name(cfg, task): source} if on_adapter else {}
                label = _name(cfg, task) if is_zoo_ref(task) else task
                stages.append(Stage(_target_id(target, name, label, seed, budget), "target", target, name, seed,
                                    [task], adapters, stage_sources([source]), evaluate=True, trains=trains,
                                    budget=budget))
        else:  # every intermediate adapter in one stage
            adapters, labels = _combined(cfg, strategy, target, seed, budget)
            stages.append(Stage(_target_id(target, name, "+".join(adapters), seed, budget), "target", target, name, seed,
                                labels, adapters, stage_sources(adapters.values()), evaluate=True,
                                budget=budget))
    return stages


def _combined(cfg: ExperimentConfig, strategy, target: str, seed: int, budget=None) -> tuple[dict[str, str], list[str]]:
    """(adapter name -> source stage, table labels) of a stage that combines intermediate adapters. A
    fusion combines the single-task adapters (fusing them is the adapter-native alternative to
    `multitask`), with the target task's own adapter where the config includes it."""
    if not strategy.fusion:
        return ({_name(cfg, t): adapter_source(cfg, t, seed) for t in cfg.intermediate_tasks},
                list(cfg.intermediate_tasks))
    singles = [t for t in cfg.intermediate_tasks if t != MULTITASK]
    adapters = {_name(cfg, t): adapter_source(cfg, t, seed) for t in singles}
    if cfg.fusion.include_target_adapter:
        adapters[target] = _target_id(target, "none", None, seed, budget)
    return adapters, [*singles, target][:len(adapters)]


def _target_id(target: str, strategy: str, intermediate: str | None, seed: int, budget=None) -> str:
    return f"target-{target}-{strategy}{f'-{intermediate}' if intermediate else ''}-s{seed}{budget_suffix(budget)}"
