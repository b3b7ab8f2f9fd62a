"""Typed experiment config: YAML + dotted `key=value` overrides, validated at load time.

Every error names the file, the dotted key and what is allowed, before any training starts.
Learning rates left as `null` take the defaults of the base model's family (adaptx.models.BASE_FAMILIES):
the paper's rates suit XLM-R Large over many epochs, not a small model over a few hundred steps.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

from .compositions.combine_settings import CombineSettings
from .compositions.fusion import FusionSettings
from .config_fields import at_least, checked, in_range, one_of
from .errors import AdaptxError
from .fileio import read_text
from .safe_yaml import load_yaml, shown
from .search_space import parse_search
from .strategies import DEFAULT_STRATEGIES, TARGET_STRATEGIES as STRATEGIES, get_strategy
from .zoo_refs import NAME_RE, ZOO_PREFIX, is_zoo_ref, zoo_ref_name

ADAPTER_CONFIGS = ("seq_bn", "double_seq_bn")
POOLINGS = ("first", "mean")
DTYPES = ("fp32", "bf16", "fp16", "auto")  # runtime.DTYPES, not imported: runtime loads torch
EVAL_SPLITS = ("dev", "test")
EVALS_PER_RUN = 5  # eval_every: null evaluates English dev this many times per training run


def _device_problem(device: str) -> str | None:
    ok = device in ("auto", "cpu", "cuda") or device.startswith("cuda:") and device[5:].isdigit()
    return None if ok else f"{shown(device)}; allowed: auto, cpu, cuda, cuda:N"


def _mlm_source_problem(source: str) -> str | None:
    ok = source.strip() not in ("", "hub:")
    return None if ok else f"{shown(source)}: expected a folder of raw text files (*.txt) or hub:DATASET[:CONFIG]"


learning_rate = partial(in_range, "(0, 1)", default=None)  # a learning-rate field: in (0, 1), or null


@dataclass
class AdapterSettings:
    # bottleneck adapter: seq_bn (Pfeiffer) or double_seq_bn (Houlsby)
    config: str = one_of(ADAPTER_CONFIGS, " (fusion needs bottleneck adapters)", default="seq_bn")
    reduction_factor: int = at_least(1, default=16)
    # the target stages' own adapter (null: reduction_factor); intermediate adapters keep reduction_factor
    target_reduction_factor: int | None = at_least(1, default=None)


@dataclass
class HeadSettings:
    pooling: str = one_of(POOLINGS, default="first")  # first token or masked mean over tokens
    dropout: float = in_range("[0, 1)", default=0.1)


AUTO = "auto"  # a step budget: train until English dev stops improving (TrainSettings.auto)


def _steps_problem(value, several: bool = False) -> str | None:
    """A step budget: a whole number >= 1 or `auto`; with `several`, also a list of them (a budget sweep)."""
    if several and isinstance(value, list):
        if not value:
            return "expected at least one budget, e.g. [150, auto]"
        problems = [p for v in value if (p := _steps_problem(v))]
        if problems:
            return problems[0]
        return None if len({str(v) for v in value}) == len(value) else f"{shown(value)}: a budget is listed twice"
    if value == AUTO or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return None
    sweep = "; or a list of budgets, e.g. [150, 600, auto]" if several else ""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"must be >= 1, got {value}"
    return (f"expected int, got {type(value).__name__} {shown(value)} (a number of steps >= 1, or 'auto': until "
            f"English dev stops improving, train.auto{sweep})")


@dataclass
class AutoBudget:
    """What a step budget of `auto` means: evaluate English dev every `eval_every` steps and stop after
    `patience` evaluations without an improvement larger than `min_improvement`, or at `max_steps`
    (the learning-rate schedule spans max_steps). A stage that stops by patience has converged."""

    eval_every: int = at_least(1, default=50)
    patience: int = at_least(1, default=5)
    max_steps: int = at_least(1, default=3000)
    min_improvement: float = in_range("[0, 1)", default=0.0)  # in the selection metric's units (0.01: a point)


@dataclass
class TrainSettings:
    # a whole number of steps, or `auto`: until English dev stops improving (train.auto)
    intermediate_steps: Any = checked(_steps_problem, default=125)
    # the same, or a list of budgets: each target stage is trained once per budget (a budget sweep)
    target_steps: Any = checked(partial(_steps_problem, several=True), default=125)
    auto: AutoBudget = field(default_factory=AutoBudget)
    # budgets in epochs of the (sampled) English training set, overriding target_steps: one number,
    # or one per target task (the paper's: XNLI 2, PAWS-X 5, POS 10, NER 10, QA 2)
    target_epochs: float | dict | None = None
    # the same for intermediate stages, overriding intermediate_steps: one number, or one per
    # intermediate task (e.g. {squad2: 10} for a task with few training rows)
    intermediate_epochs: float | dict | None = None
    target_batch_size: dict = field(default_factory=dict)  # per target task, e.g. {xquad: 16}; else batch_size
    batch_size: int = at_least(1, default=32)  # the effective batch of one optimizer step, whatever the hardware
    micro_batch_size: int | str = "auto"  # per forward pass; gradients accumulate up to batch_size
    lr_adapter: float | None = learning_rate()  # null: the base model's default (adaptx.models.BASE_FAMILIES)
    lr_fusion: float | None = learning_rate()
    lr_full: float | None = learning_rate()
    lr_head: float | None = learning_rate()  # null: the base model's default (None there: the body's rate)
    # target stages only (null: lr_adapter / lr_head), so a search can vary them without retraining
    # the intermediate adapters that every trial shares
    target_lr_adapter: float | None = learning_rate()
    target_lr_head: float | None = learning_rate()
    warmup_ratio: float = in_range("[0, 1)", default=0.1)
    weight_decay: float = in_range("[0, inf)", default=0.0)
    # English-dev model selection every N steps (null: 5 times per run)
    eval_every: int | None = at_least(1, " or null (5 times per run)", default=None)
    checkpoint_every: int = at_least(1, default=25)  # steps between resumable checkpoints
    max_grad_norm: float = in_range("(0, inf)", default=1.0)

    def eval_interval(self, steps: int | str) -> int:
        if steps == AUTO:
            return self.auto.eval_every
        return self.eval_every or max(1, steps // EVALS_PER_RUN)

    def target_budgets(self) -> list:
        """The target step budgets: one (a number or `auto`), or the sweep's."""
        return list(self.target_steps) if isinstance(self.target_steps, list) else [self.target_steps]

    def epochs_for(self, task: str, phase: str = "target") -> float | None:
        """The epoch budget of a target (phase 'target') or intermediate ('intermediate') task, if set."""
        epochs = self.intermediate_epochs if phase == "intermediate" else self.target_epochs
        return epochs.get(task) if isinstance(epochs, dict) else epochs


@dataclass
class DataSettings:
    source: str = one_of(("local", "hub"), default="local")  # local (a folder in the layout of shared/data) or hub
    dir: str | None = None  # the local folder; --data-dir overrides it
    max_train_examples: int | None = at_least(1, " or null", default=None)  # seeded sample of the English train set
    max_dev_examples: int | None = at_least(1, " or null", default=500)  # English dev rows for selection (stratified)
    max_eval_examples: int | None = at_least(1, " or null", default=None)  # rows per language evaluated (stratified)
    # null: per language, test where labeled, else dev rows held apart from selection
    eval_split: str | None = one_of(EVAL_SPLITS, " (or null: test where labeled, else dev)", default=None)
    sample_seed: int = at_least(0, default=0)  # seeds every sample above (not training: all runs see the same rows)


@dataclass
class MultitaskSettings:
    """The `multitask` intermediate adapter: one adapter, one head per task, trained on a mixture of
    intermediate tasks (adaptx.mixture). List `multitask` in intermediate_tasks to train it; stack,
    fuse and full then use it like any single-task adapter."""

    tasks: list[str] = field(default_factory=list)  # at least two intermediate task names
    # task i gets a share of the steps proportional to min(n_i, cap), n_i = its training examples
    # (after data.max_train_examples); null: proportional to n_i (a large task then drowns the small ones)
    cap: int | None = at_least(1, " or null (proportional to size)", default=20000)


@dataclass
class MlmSettings:
    """The paper's alternative (a): multilingual masked-LM batches mixed into every intermediate stage."""

    # null: off; a folder of raw text files (*.txt, one text per line), or hub:DATASET[:CONFIG]
    source: str | None = checked(_mlm_source_problem, default=None)
    rate: float = in_range("(0, 1)", default=0.2)  # the share of intermediate steps that are masked-LM batches
    mask_probability: float = in_range("(0, 1)", default=0.15)
    max_texts: int | None = at_least(1, " or null", default=20000)  # a seeded sample of this many lines (null: all)


@dataclass
class TranslatedSettings:
    """The paper's alternative (b): machine-translated intermediate training data, in the task's own
    local format and layout, one data folder per language: DIR/<lang>/<the task's train file>."""

    dir: str | None = None  # null: off
    languages: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)  # which intermediate tasks (empty: every one listed)
    # the translated rows go beside the English rows or replace them (English dev still selects)
    mode: str = one_of({"add": "beside the English data", "replace": "instead of it"}, default="add")


@dataclass
class IntermediateSettings:
    """Options of every intermediate stage (adapter or full fine-tuning): the paper's two alternatives."""

    mlm: MlmSettings = field(default_factory=MlmSettings)
    translated: TranslatedSettings = field(default_factory=TranslatedSettings)


@dataclass
class ExperimentConfig:
    name: str = "experiment"
    base_model: str = "embedded"
    # fp32 | bf16 | fp16 (CUDA only) | auto (bf16 where native, fp16 on older GPUs)
    base_dtype: str = one_of(DTYPES, default="auto")
    device: str = checked(_device_problem, default="auto")  # auto (a GPU when there is one) | cpu | cuda | cuda:N
    allow_random_base: bool = False  # random:<arch> base models are for benchmarks and tests only
    smoke: bool = False  # set by `adaptx run --smoke` (adaptx.smoke): a tiny check run whose numbers mean nothing
    gradient_checkpointing: bool = False
    # what a full-model stage saves: fp32 (its master weights; the default) | base (the base's dtype: bf16
    # where the base runs in bf16, else fp32) | bf16 (always). bf16 halves the file (docs/concepts.md, "Disk");
    # the trained weights are rounded in memory too, so its evaluation and later stages see what a reload sees
    full_save_dtype: str = one_of(("fp32", "base", "bf16"), default="fp32")
    # full-model stages keep the base's word embeddings frozen and save without them (a fraction of the disk
    # and optimizer memory: the embeddings are 82% of the embedded base, 46% of XLM-R Large); not the paper's
    # full fine-tuning, so off by default. --smoke turns it on (docs/concepts.md, "Disk")
    full_frozen_embeddings: bool = False
    intermediate_tasks: list[str] = field(default_factory=list)
    target_task: str | list[str] = "xnli"  # one target task, or a list (one run, an XTREME summary)
    languages: list[str] | None = None  # null: every language of the target task
    strategies: list[str] = field(default_factory=lambda: list(DEFAULT_STRATEGIES))
    max_seq_length: int = at_least(1, default=128)
    seeds: list[int] = at_least(0, default_factory=lambda: [0])
    output_dir: str = "runs/experiment"
    adapter: AdapterSettings = field(default_factory=AdapterSettings)
    fusion: FusionSettings = field(default_factory=FusionSettings)
    combine: CombineSettings = field(default_factory=CombineSettings)
    head: HeadSettings = field(default_factory=HeadSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    data: DataSettings = field(default_factory=DataSettings)
    multitask: MultitaskSettings = field(default_factory=MultitaskSettings)
    intermediate: IntermediateSettings = field(default_factory=IntermediateSettings)
    zoo_dir: str | None = None  # where zoo:NAME intermediate adapters live (null: $ADAPTX_ZOO, else ./adapter_zoo)
    # intermediate task -> zoo:NAME: the adapter strategies take that task's adapter from the zoo instead
    # of training it; the full strategies still fine-tune on the task's data (adaptx.plan)
    zoo_adapters: dict[str, str] = field(default_factory=dict)
    search: dict | None = None  # `adaptx search`'s space and settings (adaptx.search); `adaptx run` ignores it

    def lr(self, kind: str, defaults: dict) -> float | None:
        """Learning rate for 'adapter', 'fusion', 'full' or 'head': the config's, else the base model's default.

        `defaults` come from the base model's family (adaptx.models.base_family). The head's
        default on the embedded model is 1e-3 whatever the body's rate: a new head trained at
        full fine-tuning's 5e-5 barely moves in a few hundred steps. None = the body's rate.
        """
        value = getattr(self.train, f"lr_{kind}")
        return value if value is not None else defaults[f"lr_{kind}"]

    def saved_full_dtype(self, run_dtype: str) -> str:
        """The dtype a full-model stage saves its encoder in (full_save_dtype), given the run's base dtype."""
        return run_dtype if self.full_save_dtype == "base" else self.full_save_dtype

    @property
    def targets(self) -> list[str]:
        return [self.target_task] if isinstance(self.target_task, str) else list(self.target_task)

    @staticmethod
    def build(raw: dict, where: str) -> ExperimentConfig:
        """A validated config from a mapping (build_config), for modules that must not import this one."""
        return build_config(raw, where)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _check_type(value: Any, hint: Any, file: str, key: str, problem=None) -> Any:
    """Validate (and lightly coerce: int -> float) one value against its annotation and `problem` (`checked`)."""
    where = f"{file}: {key}"
    origin = get_origin(hint)
    if origin is None and dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise AdaptxError(f"{where}: expected a mapping with keys {', '.join(f.name for f in fields(hint))}, got {shown(value)}")
        return _build(hint, value, file, key + ".")
    args = get_args(hint)
    if type(None) in args and value is None:
        return None
    options = [a for a in args if a is not type(None)]
    if origin in (Union, UnionType) and options:  # the first alternative the value fits
        if len(options) == 1:
            return _check_type(value, options[0], file, key, problem)
        for option in options:
            try:
                return _check_type(value, option, file, key)
            except AdaptxError:
                continue
        names = " or ".join(getattr(o, "__name__", str(o)) for o in options)
        raise AdaptxError(f"{where}: expected {names}, got {type(value).__name__} {shown(value)}")
    if dict in (origin, hint) and not isinstance(value, dict):
        raise AdaptxError(f"{where}: expected a mapping, got {shown(value)}")
    if origin is list:
        if not isinstance(value, list):
            raise AdaptxError(f"{where}: expected a list, got {shown(value)}")
        return [_check_type(v, args[0], file, f"{key}[{i}]", problem) for i, v in enumerate(value)]
    if hint is float and isinstance(value, (int, str)) and not isinstance(value, bool):
        try:
            value = float(value)  # YAML reads 1e-3 (no dot) as a string
        except ValueError:
            pass
    if hint in (int, float, str, bool) and type(value) is not hint:
        raise AdaptxError(f"{where}: expected {hint.__name__}, got {type(value).__name__} {shown(value)}")
    if problem and (message := problem(value)):
        raise AdaptxError(f"{where}: {message}")
    return value


def _build(cls, raw: dict, file: str, prefix: str = ""):
    hints = get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    unknown = sorted(set(raw) - set(names), key=str)  # key=str: YAML keys may be numbers, null, ...
    if unknown:
        raise AdaptxError(f"{file}: {prefix}{str(unknown[0])[:80]}: unknown key; allowed keys here: {', '.join(names)}")
    return cls(**{f.name: _check_type(raw[f.name], hints[f.name], file, prefix + f.name, f.metadata.get("problem"))
                  for f in fields(cls) if f.name in raw})


def parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise AdaptxError(f"override {shown(text)}: expected key=value, e.g. train.target_steps=50")
    key, value = text.split("=", 1)
    parsed = load_yaml(value, f"override {shown(text)}: value") if value.strip() else None
    return key.strip().split("."), parsed


def _dotted_keys(cls, prefix: str = "") -> list[str]:
    """Every key of a config class by its dotted name, sections and the fields inside them."""
    hints, keys = get_type_hints(cls), []
    for f in fields(cls):
        keys.append(prefix + f.name)
        if dataclasses.is_dataclass(hints[f.name]):
            keys += _dotted_keys(hints[f.name], prefix + f.name + ".")
    return keys


def _close_keys(key: str) -> list[str]:
    """Known dotted keys a mistyped one may have meant: similar names, and the same name in another section."""
    known = _dotted_keys(ExperimentConfig)
    leaf = key.rsplit(".", 1)[-1]
    same_leaf = [k for k in known if k.rsplit(".", 1)[-1] == leaf and k != key]
    return list(dict.fromkeys(same_leaf + difflib.get_close_matches(key, known, n=3)))[:3]


def _check_override(path: list[str], value: Any, text: str) -> None:
    """An override's key is a config key and its value fits that key, else an error that blames the
    override (not the YAML file) and names the closest known keys. Keys below a free mapping
    (search:, combine.weights, train.target_batch_size) are checked with the whole config."""
    cls, where = ExperimentConfig, f"override {shown(text)}"
    for i, part in enumerate(path):
        known = {f.name: f for f in fields(cls)}
        if part not in known:
            key = ".".join(path[:i + 1])
            close = _close_keys(".".join(path))
            meant = f"did you mean {' or '.join(close)}? " if close else ""
            raise AdaptxError(f"{where}: {key}: unknown key; {meant}allowed keys "
                              f"{'in ' + '.'.join(path[:i]) if i else 'at the top level'}: {', '.join(known)}")
        hint = get_type_hints(cls)[part]
        if i == len(path) - 1:
            _check_type(value, hint, where, ".".join(path), known[part].metadata.get("problem"))
            return
        if not dataclasses.is_dataclass(hint):
            return
        cls = hint


def _blame(where: str, key: str, overrides: dict[str, str] | None) -> str:
    """Who set a key that breaks a rule: the override naming it (or a section above it), else the file."""
    for name, text in (overrides or {}).items():
        if key == name or key.startswith((name + ".", name + "[")):
            return f"override {shown(text)}"
    return f"{where} (with overrides {', '.join(overrides.values())})" if overrides else where


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    for text in overrides or []:
        path, value = parse_override(text)
        _check_override(path, value, text)
        node = raw
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise AdaptxError(f"override {shown(text)}: {part} is not a section")
        node[path[-1]] = value
    return raw


def validate(cfg: ExperimentConfig, where: str, overrides: dict[str, str] | None = None) -> None:
    """The rules that relate several settings (each field's own was checked as it was read), before
    anything is loaded. Checks that need the base model (max_seq_length, reduction factor) run once it is.
    overrides: dotted key -> the `key=value` that set it, so that a broken rule blames the override."""

    def fail(key: str, message: str):
        raise AdaptxError(f"{_blame(where, key, overrides)}: {key}: {message}")

    def unique(key: str, values: list) -> None:
        for i, value in enumerate(values):
            if value in values[:i]:
                fail(f"{key}[{i}]", f"{shown(value)} is listed twice")

    intermediates = _check_tasks(cfg, fail, unique)
    _validate_intermediate_options(cfg, intermediates, fail, unique)
    _check_strategies(cfg, fail)
    from .mixture import MULTITASK

    _check_training(cfg, [*intermediates, MULTITASK], fail, unique)
    _check_limits(cfg, fail)
    if cfg.search is not None:  # the search space is checked with the config; its probes are built here
        parse_search(cfg, where)


def _check_tasks(cfg: ExperimentConfig, fail, unique) -> list[str]:
    """Strategies, tasks and languages are known names, each listed once; returns the intermediate tasks."""
    from .mixture import MULTITASK
    from .tasks import TASKS, get_task

    for i, strategy in enumerate(cfg.strategies):
        if strategy not in STRATEGIES:
            fail(f"strategies[{i}]", f"unknown strategy {shown(strategy)}; allowed: {', '.join(STRATEGIES)}")
    if not cfg.strategies:
        fail("strategies", f"empty; list at least one of {', '.join(STRATEGIES)}")
    unique("strategies", cfg.strategies)
    if not isinstance(cfg.target_task, (str, list)) or not cfg.targets:
        fail("target_task", "expected a task name or a non-empty list of task names")
    allowed = sorted(n for n, t in TASKS.items() if t.role == "target")
    for i, target in enumerate(cfg.targets):
        key = "target_task" if isinstance(cfg.target_task, str) else f"target_task[{i}]"
        if not isinstance(target, str) or target not in allowed:
            fail(key, f"unknown target task {shown(target)}; allowed: {', '.join(allowed)}")
    unique("target_task", cfg.targets)
    intermediates = sorted(n for n, t in TASKS.items() if t.role == "intermediate")
    for i, name in enumerate(cfg.intermediate_tasks):
        if is_zoo_ref(name) and not NAME_RE.match(zoo_ref_name(name)):
            fail(f"intermediate_tasks[{i}]", f"{shown(name)}: expected {ZOO_PREFIX}NAME with NAME an entry of the adapter "
                 "zoo (letters, digits, '-', '_'; see `adaptx zoo list`)")
        if not is_zoo_ref(name) and name not in intermediates and name != MULTITASK:
            fail(f"intermediate_tasks[{i}]", f"unknown intermediate task {shown(name)}; allowed: "
                 f"{', '.join(intermediates)}, {MULTITASK} (the mixture of multitask.tasks), or {ZOO_PREFIX}NAME "
                 "for a published adapter (adaptx zoo list)")
    unique("intermediate_tasks", cfg.intermediate_tasks)
    for task, token in cfg.zoo_adapters.items():
        if task not in intermediates and task != MULTITASK:  # a task not listed now is simply not used
            fail(f"zoo_adapters.{shown(task)}", f"unknown intermediate task; zoo_adapters maps an intermediate task "
                 f"({', '.join(intermediates)}, {MULTITASK}) to the published adapter the adapter strategies use")
        if not is_zoo_ref(token) or not NAME_RE.match(zoo_ref_name(token)):
            fail(f"zoo_adapters.{task}", f"{shown(token)}: expected {ZOO_PREFIX}NAME with NAME an entry of the adapter "
                 "zoo (see `adaptx zoo list`), e.g. zoo:qqp-e5small-s0")
    known = list(dict.fromkeys(lang for target in cfg.targets for lang in get_task(target).languages))
    names = " or ".join(cfg.targets)
    if cfg.languages is not None:
        if not cfg.languages:
            fail("languages", f"empty list; use null for every language of {names} ({', '.join(known)})")
        for i, lang in enumerate(cfg.languages):
            if lang not in known:
                fail(f"languages[{i}]", f"{names} has no language {shown(lang)}; allowed: {', '.join(known)}")
        unique("languages", cfg.languages)
    return intermediates


def _check_strategies(cfg: ExperimentConfig, fail) -> None:
    """What each listed strategy needs from intermediate_tasks (asked of adaptx.strategies)."""
    from .mixture import MULTITASK

    tasks = cfg.intermediate_tasks
    listed = [get_strategy(s) for s in STRATEGIES if s in cfg.strategies]  # in the table's order
    # average, merge: combine two or more frozen adapters without training a fusion over them
    averaging = [s.name for s in listed if s.combines == 2 and not s.fusion]
    zoo_refs = [name for name in tasks if is_zoo_ref(name)]
    full = [s.name for s in listed if s.builds_on == "full"]
    if zoo_refs and full:
        fail("strategies", f"{full[0]!r} fine-tunes the whole model on each intermediate task's data, and "
             f"{zoo_refs[0]} is a published adapter, not data to fine-tune on; drop {full[0]!r}, or list the task by "
             f"name and map it to the adapter in zoo_adapters (e.g. zoo_adapters: {{qqp: {ZOO_PREFIX}qqp-e5small-s0}}: "
             "the adapter strategies use the published adapter, the full ones fine-tune on qqp)")
    # the averaging strategies say what they need in their own message below
    needs_inter = sorted(s.name for s in listed if s.builds_on is not None and s.name not in averaging)
    if needs_inter and not tasks:
        fail("intermediate_tasks", f"strategies {needs_inter} need at least one intermediate task")
    if averaging and len(tasks) < 2:
        fail("intermediate_tasks", f"strategy {averaging[0]!r} combines intermediate adapters: list at least two "
             "(one adapter alone is strategy 'stack')")
    weights = cfg.combine.weights
    if weights is not None:
        if set(weights) != set(tasks):
            fail("combine.weights", f"expected one weight for each of intermediate_tasks "
                 f"({', '.join(tasks) or 'none'}), got {', '.join(map(str, weights)) or 'none'}")
        for task, value in weights.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                fail(f"combine.weights.{task}", f"must be a finite number, got {shown(value)}")
    # a fusion combines the single-task adapters (the multitask adapter is the alternative it is compared with)
    fused = len([t for t in tasks if t != MULTITASK]) + int(cfg.fusion.include_target_adapter)
    fusing = [s.name for s in listed if s.fusion]
    if fusing and fused < 2:
        fail("intermediate_tasks", f"strategy {fusing[0]!r} needs at least two adapters to fuse: list two "
             "intermediate tasks (besides multitask, which is not fused), or one with "
             "fusion.include_target_adapter: true")


def _check_training(cfg: ExperimentConfig, intermediates: list[str], fail, unique) -> None:
    """Seeds, micro-batches that divide the batch, and the per-target budgets."""
    if not cfg.seeds:
        fail("seeds", "empty; give at least one seed")
    unique("seeds", cfg.seeds)
    t = cfg.train
    micro = t.micro_batch_size
    if micro != "auto":
        if isinstance(micro, bool) or not isinstance(micro, int):
            fail("train.micro_batch_size", f"{shown(micro)}; expected auto or a whole number")
        if not 1 <= micro <= t.batch_size or t.batch_size % micro:
            fail("train.micro_batch_size", f"{micro} must divide train.batch_size ({t.batch_size}) "
                 "(gradients accumulate over batch_size / micro_batch_size micro-batches)")
    if len(t.target_budgets()) > 1 and t.target_epochs is not None:
        fail("train.target_epochs", f"{shown(t.target_epochs)} overrides every target budget, so the sweep "
             f"train.target_steps {shown(t.target_steps)} would train the same stage several times; set "
             "train.target_epochs: null, or one budget")

    def per_task(value) -> dict:
        return value if isinstance(value, dict) else {"*": value}

    for key, mapping, tasks, role in (
            ("train.target_epochs", per_task(t.target_epochs), cfg.targets, "a target"),
            # any intermediate task: one budget table serves a config whose task list an override narrows
            ("train.intermediate_epochs", per_task(t.intermediate_epochs), intermediates, "an intermediate"),
            ("train.target_batch_size", t.target_batch_size, cfg.targets, "a target")):
        for task_name, value in mapping.items():
            if value is None and key.endswith("_epochs"):
                continue
            where_ = key if task_name == "*" else f"{key}.{task_name}"
            if task_name != "*" and task_name not in tasks:
                fail(where_, f"{shown(task_name)} is not {role} task{' of this config' if role == 'a target' else ''} "
                     f"({', '.join(tasks)})")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                fail(where_, f"must be a number > 0, got {shown(value)}")
            if key == "train.target_batch_size" and value != int(value):
                fail(where_, f"must be a whole number, got {value}")


# a training seed seeds torch's generators (at most 2**64 - 1) after adaptx derives others from it (seed x 104729
# + ...); 2**32 - 1, the range numpy and most tools take, keeps every derived seed in range
MAX_SEED = 2**32 - 1
# room for a pair's special tokens (XLM-R: <s> a </s></s> b </s>) and a few tokens of each text: below
# it a tokenizer cannot truncate to the length and leaves every row whole (a 2000-word text reaches the model)
MIN_SEQ_LENGTH = 8
PATH_KEYS = ("output_dir", "zoo_dir", "data.dir", "intermediate.translated.dir", "intermediate.mlm.source")


def _check_limits(cfg: ExperimentConfig, fail) -> None:
    """Values every field check accepts but a run cannot use: seeds past what the random generators
    take, a sequence length too short to truncate to, paths no file system can hold."""
    from .fileio import path_problem

    for i, seed in enumerate(cfg.seeds):
        if seed > MAX_SEED:
            fail(f"seeds[{i}]", f"{seed} is too large; a seed is a whole number from 0 to {MAX_SEED}")
    if cfg.max_seq_length < MIN_SEQ_LENGTH:
        fail("max_seq_length", f"{cfg.max_seq_length} leaves no room for the text after the special tokens (a "
             f"tokenizer cannot truncate to it, so rows would reach the model whole); use at least {MIN_SEQ_LENGTH}")
    for key in PATH_KEYS:
        value = cfg
        for part in key.split("."):
            value = getattr(value, part)
        problem = path_problem(value) if isinstance(value, str) else None
        if problem:
            fail(key, f"{shown(value)} {problem}")


def build_config(raw: dict, where: str, overrides: dict[str, str] | None = None) -> ExperimentConfig:
    """A validated config from a mapping (what load_config does after reading the file)."""
    cfg = _build(ExperimentConfig, raw, where)
    validate(cfg, where, overrides)
    return cfg


def _validate_intermediate_options(cfg: ExperimentConfig, intermediates: list[str], fail, unique) -> None:
    """The multitask mixture and the paper's two alternatives (masked-LM batches, translated data)."""
    from .mixture import MULTITASK

    mt = cfg.multitask
    if MULTITASK in cfg.intermediate_tasks and len(mt.tasks) < 2:
        fail("multitask.tasks", f"intermediate_tasks lists {MULTITASK!r}: name at least two intermediate tasks to "
             f"mix, e.g. multitask: {{tasks: [mnli, qqp, sst2]}} (allowed: {', '.join(intermediates)})")
    for i, name in enumerate(mt.tasks):
        if name not in intermediates:
            fail(f"multitask.tasks[{i}]", f"{shown(name)} is not an intermediate task; allowed: {', '.join(intermediates)} "
                 "(zoo adapters and the mixture itself cannot be mixed: a mixture trains on data)")
    unique("multitask.tasks", mt.tasks)
    tr = cfg.intermediate.translated
    if tr.dir is None:
        return
    if not tr.languages:
        fail("intermediate.translated.languages", "empty; list the languages of the translated data under "
             f"{tr.dir}/<lang>/")
    for i, lang in enumerate(tr.languages):
        if not isinstance(lang, str) or not lang or "/" in lang or lang == "en":
            fail(f"intermediate.translated.languages[{i}]", f"{shown(lang)}: expected a language code (a folder name "
                 "under translated.dir), not 'en' (the English data is the original)")
    unique("intermediate.translated.languages", tr.languages)
    trained = [t for t in cfg.intermediate_tasks if t in intermediates] + list(mt.tasks)
    for i, name in enumerate(tr.tasks):
        if name not in trained:
            fail(f"intermediate.translated.tasks[{i}]", f"{shown(name)} is not an intermediate task this config trains "
                 f"({', '.join(dict.fromkeys(trained)) or 'none'})")
    unique("intermediate.translated.tasks", tr.tasks)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read YAML (or start from defaults when path is None), apply overrides, validate."""
    raw: dict = {}
    where = "<defaults>"
    if path is not None:
        where = str(path)
        try:
            text = read_text(path)  # a FIFO or device is refused, never waited on
        except UnicodeDecodeError as exc:
            raise AdaptxError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}); save the config as UTF-8") from exc
        except OSError as exc:
            raise AdaptxError(f"cannot read config {path}: {exc.strerror or exc}") from exc
        except AdaptxError as exc:  # a FIFO or device
            raise AdaptxError(f"{exc}: pass a config file (YAML)") from None
        raw = load_yaml(text, str(path)) or {}
        if not isinstance(raw, dict):
            raise AdaptxError(f"{path}: expected a mapping of config keys at the top level")
    given = {".".join(parse_override(text)[0]): text for text in overrides or []}
    return build_config(apply_overrides(raw, overrides or []), where, given)


def stable_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]
