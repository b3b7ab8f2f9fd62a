"""Typed experiment config: YAML + dotted `key=value` overrides, validated at load time.

Every error names the file, the dotted key and what is allowed, before any training starts.
Learning rates left as `null` take the defaults of the base model's family (adaptx.models.BASE_FAMILIES):
the paper's rates suit XLM-R Large over many epochs, not a small model over a few hundred steps.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

import yaml

from .errors import AdaptxError

DEFAULT_STRATEGIES = ("none", "stack", "fuse", "full", "full-none")  # what a config without `strategies` runs
STRATEGIES = (*DEFAULT_STRATEGIES, "average", "merge")
ADAPTER_CONFIGS = ("seq_bn", "double_seq_bn")
POOLINGS = ("first", "mean")
FUSION_PRESETS = ("dynamic", "static")
EVAL_SPLITS = ("dev", "test")
EVALS_PER_RUN = 5  # eval_every: null evaluates English dev this many times per training run


@dataclass
class AdapterSettings:
    config: str = "seq_bn"  # bottleneck adapter: seq_bn (Pfeiffer) or double_seq_bn (Houlsby)
    reduction_factor: int = 16
    # the target stages' own adapter (null: reduction_factor); intermediate adapters keep reduction_factor
    target_reduction_factor: int | None = None


@dataclass
class FusionSettings:
    """AdapterFusion (Pfeiffer et al. 2021). Every null setting takes the preset's value.

    The paper's setting: preset dynamic (value matrix initialised near identity, regularised
    towards it) with include_target_adapter: true (the target task's own adapter, trained
    first, fused with the intermediate adapters) and the fusion learning rate 5e-5.
    """

    preset: str = "dynamic"  # dynamic (value matrix + regulariser) | static (no value matrix)
    key: bool | None = None
    query: bool | None = None
    value: bool | None = None
    query_before_ln: bool | None = None
    regularization: bool | None = None  # pull the value matrix towards identity (0.01 * ||I - V||^2)
    residual_before: bool | None = None
    temperature: bool | None = None  # softmax temperature 50 -> 1, lowered on every training forward
    value_before_softmax: bool | None = None
    value_initialized: bool | None = None  # value matrix starts as identity
    dropout_prob: float | None = None  # null: the base model's attention dropout
    include_target_adapter: bool = False  # fuse the target task's own adapter too (the paper's setting)
    train_target_adapter: bool = False  # also train a new target adapter stacked on the fusion

    def library_settings(self) -> dict:
        """The resolved AdapterFusion settings: the preset, then every explicit value."""
        from adapters import AdapterFusionConfig

        overrides = {k: v for k, v in dataclasses.asdict(self).items()
                     if k not in ("preset", "include_target_adapter", "train_target_adapter") and v is not None}
        return AdapterFusionConfig.load(self.preset, **overrides).to_dict()


@dataclass
class CombineSettings:
    """The `average` (outputs of the frozen intermediate adapters averaged by an Average block) and
    `merge` (their weights merged into one frozen adapter by average_adapter) strategies."""

    # one weight per intermediate task, e.g. {qqp: 0.7, sst2: 0.3}, used as given (not normalised;
    # negative allowed, as in LoraHub); null: 1/n each
    weights: dict | None = None
    train_target_adapter: bool = True  # false: only the new head trains on the combined adapters

    def weights_for(self, tasks: list[str]) -> list[float]:
        return [float(self.weights[t]) for t in tasks] if self.weights else [1.0 / len(tasks)] * len(tasks)


@dataclass
class HeadSettings:
    pooling: str = "first"  # first token or masked mean over tokens
    dropout: float = 0.1


@dataclass
class TrainSettings:
    intermediate_steps: int = 125
    target_steps: int = 125
    # budgets in epochs of the (sampled) English training set, overriding target_steps: one number,
    # or one per target task (the paper's: XNLI 2, PAWS-X 5, POS 10, NER 10, QA 2)
    target_epochs: float | dict | None = None
    target_batch_size: dict = field(default_factory=dict)  # per target task, e.g. {xquad: 16}; else batch_size
    batch_size: int = 32  # the effective batch: what one optimizer step sees, whatever the hardware
    micro_batch_size: int | str = "auto"  # per forward pass; gradients accumulate up to batch_size
    lr_adapter: float | None = None  # null: the base model's default (adaptx.models.BASE_FAMILIES)
    lr_fusion: float | None = None
    lr_full: float | None = None
    lr_head: float | None = None  # null: the base model's default (None there: the body's rate)
    # target stages only (null: lr_adapter / lr_head), so a search can vary them without retraining
    # the intermediate adapters that every trial shares
    target_lr_adapter: float | None = None
    target_lr_head: float | None = None
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    eval_every: int | None = None  # English-dev model selection every N steps (null: 5 times per run)
    checkpoint_every: int = 25  # steps between resumable checkpoints
    max_grad_norm: float = 1.0

    def eval_interval(self, steps: int) -> int:
        return self.eval_every or max(1, steps // EVALS_PER_RUN)

    def epochs_for(self, task: str) -> float | None:
        if isinstance(self.target_epochs, dict):
            return self.target_epochs.get(task)
        return self.target_epochs


@dataclass
class DataSettings:
    source: str = "local"  # local (a folder in the layout of shared/data) or hub
    dir: str | None = None  # the local folder; --data-dir overrides it
    max_train_examples: int | None = None  # seeded random sample of the English training set
    max_dev_examples: int | None = 500  # English dev rows for model selection (seeded, stratified sample)
    max_eval_examples: int | None = None  # rows per language in the zero-shot evaluation (seeded, stratified)
    eval_split: str | None = None  # null: per language, test where labeled, else dev rows held apart from selection
    sample_seed: int = 0  # seed of every data sample above (not the training seed: all runs see the same rows)


@dataclass
class MultitaskSettings:
    """The `multitask` intermediate adapter: one adapter, one head per task, trained on a mixture of
    intermediate tasks (adaptx.mixture). List `multitask` in intermediate_tasks to train it; stack,
    fuse and full then use it like any single-task adapter."""

    tasks: list[str] = field(default_factory=list)  # at least two intermediate task names
    # task i gets a share of the steps proportional to min(n_i, cap), n_i = its training examples
    # (after data.max_train_examples); null: proportional to n_i (a large task then drowns the small ones)
    cap: int | None = 20000


@dataclass
class MlmSettings:
    """The paper's alternative (a): multilingual masked-LM batches mixed into every intermediate stage."""

    source: str | None = None  # null: off; a folder of raw text files (*.txt, one text per line), or hub:DATASET[:CONFIG]
    rate: float = 0.2  # the share of intermediate steps that are masked-LM batches
    mask_probability: float = 0.15
    max_texts: int | None = 20000  # a seeded sample of this many lines (null: all)


@dataclass
class TranslatedSettings:
    """The paper's alternative (b): machine-translated intermediate training data, in the task's own
    local format and layout, one data folder per language: DIR/<lang>/<the task's train file>."""

    dir: str | None = None  # null: off
    languages: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)  # which intermediate tasks (empty: every one listed)
    mode: str = "add"  # add: beside the English data | replace: instead of it (English dev still selects)


@dataclass
class IntermediateSettings:
    """Options of every intermediate stage (adapter or full fine-tuning): the paper's two alternatives."""

    mlm: MlmSettings = field(default_factory=MlmSettings)
    translated: TranslatedSettings = field(default_factory=TranslatedSettings)


@dataclass
class ExperimentConfig:
    name: str = "experiment"
    base_model: str = "embedded"
    base_dtype: str = "auto"  # fp32 | bf16 | fp16 (CUDA only) | auto (bf16 where native, fp16 on older GPUs)
    device: str = "auto"  # auto (a GPU when there is one) | cpu | cuda | cuda:N
    allow_random_base: bool = False  # random:<arch> base models are for benchmarks and tests only
    gradient_checkpointing: bool = False
    intermediate_tasks: list[str] = field(default_factory=list)
    target_task: str | list[str] = "xnli"  # one target task, or a list (one run, an XTREME summary)
    languages: list[str] | None = None  # null: every language of the target task
    strategies: list[str] = field(default_factory=lambda: list(DEFAULT_STRATEGIES))
    max_seq_length: int = 128
    seeds: list[int] = field(default_factory=lambda: [0])
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
    search: dict | None = None  # `adaptx search`'s space and settings (adaptx.search); `adaptx run` ignores it

    def lr(self, kind: str, defaults: dict) -> float | None:
        """Learning rate for 'adapter', 'fusion', 'full' or 'head': the config's, else the base model's default.

        `defaults` come from the base model's family (adaptx.models.base_family). The head's
        default on the embedded model is 1e-3 whatever the body's rate: a new head trained at
        full fine-tuning's 5e-5 barely moves in a few hundred steps. None = the body's rate.
        """
        value = getattr(self.train, f"lr_{kind}")
        return value if value is not None else defaults[f"lr_{kind}"]

    @property
    def targets(self) -> list[str]:
        return [self.target_task] if isinstance(self.target_task, str) else list(self.target_task)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _check_type(value: Any, hint: Any, file: str, key: str) -> Any:
    """Validate (and lightly coerce: int -> float) one value against its annotation."""
    where = f"{file}: {key}"
    origin = get_origin(hint)
    if origin is None and dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise AdaptxError(f"{where}: expected a mapping with keys {', '.join(f.name for f in fields(hint))}, got {value!r}")
        return _build(hint, value, file, key + ".")
    args = get_args(hint)
    if type(None) in args and value is None:
        return None
    options = [a for a in args if a is not type(None)]
    if origin in (Union, UnionType) and options:  # the first alternative the value fits
        if len(options) == 1:
            return _check_type(value, options[0], file, key)
        for option in options:
            try:
                return _check_type(value, option, file, key)
            except AdaptxError:
                continue
        names = " or ".join(getattr(o, "__name__", str(o)) for o in options)
        raise AdaptxError(f"{where}: expected {names}, got {type(value).__name__} {value!r}")
    if origin is dict and not isinstance(value, dict):
        raise AdaptxError(f"{where}: expected a mapping, got {value!r}")
    if hint is dict and not isinstance(value, dict):
        raise AdaptxError(f"{where}: expected a mapping, got {value!r}")
    if origin is list:
        if not isinstance(value, list):
            raise AdaptxError(f"{where}: expected a list, got {value!r}")
        return [_check_type(v, args[0], file, f"{key}[{i}]") for i, v in enumerate(value)]
    if hint is float and isinstance(value, (int, str)) and not isinstance(value, bool):
        try:
            return float(value)  # YAML reads 1e-3 (no dot) as a string
        except ValueError:
            pass
    if hint in (int, float, str, bool) and type(value) is not hint:
        raise AdaptxError(f"{where}: expected {hint.__name__}, got {type(value).__name__} {value!r}")
    return value


def _build(cls, raw: dict, file: str, prefix: str = ""):
    hints = get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise AdaptxError(f"{file}: {prefix}{unknown[0]}: unknown key; allowed keys here: {', '.join(names)}")
    return cls(**{n: _check_type(raw[n], hints[n], file, prefix + n) for n in names if n in raw})


def parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise AdaptxError(f"override {text!r}: expected key=value, e.g. train.target_steps=50")
    key, value = text.split("=", 1)
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError as exc:
        raise AdaptxError(f"override {text!r}: value is not valid YAML ({exc})") from exc
    return key.strip().split("."), parsed


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    for text in overrides or []:
        path, value = parse_override(text)
        node = raw
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise AdaptxError(f"override {text!r}: {part} is not a section")
        node[path[-1]] = value
    return raw


def validate(cfg: ExperimentConfig, where: str) -> None:
    """Every setting in range, before anything is loaded or trained. Checks that need the base
    model (max_seq_length vs its positions, reduction factor vs its width) run when it is known."""
    from .tasks import TASKS, get_task

    def fail(key: str, message: str):
        raise AdaptxError(f"{where}: {key}: {message}")

    def unique(key: str, values: list) -> None:
        seen = set()
        for i, value in enumerate(values):
            if value in seen:
                fail(f"{key}[{i}]", f"{value!r} is listed twice")
            seen.add(value)

    for i, strategy in enumerate(cfg.strategies):
        if strategy not in STRATEGIES:
            fail(f"strategies[{i}]", f"unknown strategy {strategy!r}; allowed: {', '.join(STRATEGIES)}")
    if not cfg.strategies:
        fail("strategies", f"empty; list at least one of {', '.join(STRATEGIES)}")
    unique("strategies", cfg.strategies)
    if not isinstance(cfg.target_task, (str, list)) or not cfg.targets:
        fail("target_task", "expected a task name or a non-empty list of task names")
    allowed = sorted(n for n, t in TASKS.items() if t.role == "target")
    for i, target in enumerate(cfg.targets):
        key = "target_task" if isinstance(cfg.target_task, str) else f"target_task[{i}]"
        if not isinstance(target, str) or target not in allowed:
            fail(key, f"unknown target task {target!r}; allowed: {', '.join(allowed)}")
    unique("target_task", cfg.targets)
    intermediates = sorted(n for n, t in TASKS.items() if t.role == "intermediate")
    from .mixture import MULTITASK
    from .zoo import NAME_RE, ZOO_PREFIX, is_zoo_ref, zoo_ref_name

    for i, name in enumerate(cfg.intermediate_tasks):
        if is_zoo_ref(name) and not NAME_RE.match(zoo_ref_name(name)):
            fail(f"intermediate_tasks[{i}]", f"{name!r}: expected {ZOO_PREFIX}NAME with NAME an entry of the adapter "
                 "zoo (letters, digits, '-', '_'; see `adaptx zoo list`)")
        if not is_zoo_ref(name) and name not in intermediates and name != MULTITASK:
            fail(f"intermediate_tasks[{i}]", f"unknown intermediate task {name!r}; allowed: "
                 f"{', '.join(intermediates)}, {MULTITASK} (the mixture of multitask.tasks), or {ZOO_PREFIX}NAME "
                 "for a published adapter (adaptx zoo list)")
    unique("intermediate_tasks", cfg.intermediate_tasks)
    _validate_intermediate_options(cfg, intermediates, fail, unique)
    zoo_refs = [name for name in cfg.intermediate_tasks if is_zoo_ref(name)]
    if zoo_refs and "full" in cfg.strategies:
        fail("strategies", f"'full' fine-tunes the whole model on each intermediate task's data, and {zoo_refs[0]} "
             "is a published adapter, not data to fine-tune on; drop 'full' or list only task names in "
             "intermediate_tasks")
    needs_inter = sorted({"stack", "fuse", "full"} & set(cfg.strategies))
    if needs_inter and not cfg.intermediate_tasks:
        fail("intermediate_tasks", f"strategies {needs_inter} need at least one intermediate task")
    for strategy in ("average", "merge"):
        if strategy in cfg.strategies and len(cfg.intermediate_tasks) < 2:
            fail("intermediate_tasks", f"strategy {strategy!r} combines intermediate adapters: list at least two "
                 "(one adapter alone is strategy 'stack')")
    weights = cfg.combine.weights
    if weights is not None:
        if set(weights) != set(cfg.intermediate_tasks):
            fail("combine.weights", f"expected one weight for each of intermediate_tasks "
                 f"({', '.join(cfg.intermediate_tasks) or 'none'}), got {', '.join(map(str, weights)) or 'none'}")
        for task, value in weights.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                fail(f"combine.weights.{task}", f"must be a finite number, got {value!r}")
    # fuse combines the single-task adapters (the multitask adapter is the alternative it is compared with)
    fused = len([t for t in cfg.intermediate_tasks if t != MULTITASK]) + int(cfg.fusion.include_target_adapter)
    if "fuse" in cfg.strategies and fused < 2:
        fail("intermediate_tasks", "strategy 'fuse' needs at least two adapters to fuse: list two intermediate "
             "tasks (besides multitask, which is not fused), or one with fusion.include_target_adapter: true")
    known = list(dict.fromkeys(lang for target in cfg.targets for lang in get_task(target).languages))
    names = " or ".join(cfg.targets)
    if cfg.languages is not None:
        if not cfg.languages:
            fail("languages", f"empty list; use null for every language of {names} ({', '.join(known)})")
        for i, lang in enumerate(cfg.languages):
            if lang not in known:
                fail(f"languages[{i}]", f"{names} has no language {lang!r}; allowed: {', '.join(known)}")
        unique("languages", cfg.languages)
    if not cfg.seeds:
        fail("seeds", "empty; give at least one seed")
    for i, seed in enumerate(cfg.seeds):
        if seed < 0:
            fail(f"seeds[{i}]", f"must be >= 0, got {seed}")
    unique("seeds", cfg.seeds)
    if cfg.adapter.config not in ADAPTER_CONFIGS:
        fail("adapter.config", f"{cfg.adapter.config!r}; allowed: {', '.join(ADAPTER_CONFIGS)} (fusion needs bottleneck adapters)")
    if cfg.head.pooling not in POOLINGS:
        fail("head.pooling", f"{cfg.head.pooling!r}; allowed: {', '.join(POOLINGS)}")
    if cfg.fusion.preset not in FUSION_PRESETS:
        fail("fusion.preset", f"{cfg.fusion.preset!r}; allowed: {', '.join(FUSION_PRESETS)}")
    if cfg.base_dtype not in ("fp32", "bf16", "fp16", "auto"):
        fail("base_dtype", f"{cfg.base_dtype!r}; allowed: fp32, bf16, fp16, auto")
    device = cfg.device
    if not (device in ("auto", "cpu", "cuda") or device.startswith("cuda:") and device[5:].isdigit()):
        fail("device", f"{device!r}; allowed: auto, cpu, cuda, cuda:N")
    micro = cfg.train.micro_batch_size
    if micro != "auto":
        if isinstance(micro, bool) or not isinstance(micro, int):
            fail("train.micro_batch_size", f"{micro!r}; expected auto or a whole number")
        if not 1 <= micro <= cfg.train.batch_size or cfg.train.batch_size % micro:
            fail("train.micro_batch_size", f"{micro} must divide train.batch_size ({cfg.train.batch_size}) "
                 "(gradients accumulate over batch_size / micro_batch_size micro-batches)")
    if cfg.data.source not in ("local", "hub"):
        fail("data.source", f"{cfg.data.source!r}; allowed: local, hub")
    if cfg.data.eval_split not in (None, *EVAL_SPLITS):
        fail("data.eval_split", f"{cfg.data.eval_split!r}; allowed: dev, test (or null: test where labeled, else dev)")

    t, d = cfg.train, cfg.data
    at_least_one = {
        "train.intermediate_steps": t.intermediate_steps, "train.target_steps": t.target_steps,
        "train.batch_size": t.batch_size, "train.checkpoint_every": t.checkpoint_every, "train.eval_every": t.eval_every,
        "max_seq_length": cfg.max_seq_length, "adapter.reduction_factor": cfg.adapter.reduction_factor,
        "adapter.target_reduction_factor": cfg.adapter.target_reduction_factor,
        "data.max_train_examples": d.max_train_examples, "data.max_dev_examples": d.max_dev_examples,
        "data.max_eval_examples": d.max_eval_examples,
    }
    for key, value in at_least_one.items():
        if value is not None and value < 1:
            hint = " or null" if key.startswith("data.") else " or null (5 times per run)" if key == "train.eval_every" else ""
            fail(key, f"must be >= 1{hint}, got {value}")
    epochs = t.target_epochs if isinstance(t.target_epochs, dict) else {"*": t.target_epochs}
    for key, mapping in (("train.target_epochs", epochs), ("train.target_batch_size", t.target_batch_size)):
        for task_name, value in mapping.items():
            if value is None and key == "train.target_epochs":
                continue
            where_ = key if task_name == "*" else f"{key}.{task_name}"
            if task_name != "*" and task_name not in cfg.targets:
                fail(where_, f"{task_name!r} is not a target task of this config ({', '.join(cfg.targets)})")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                fail(where_, f"must be a number > 0, got {value!r}")
            if key == "train.target_batch_size" and value != int(value):
                fail(where_, f"must be a whole number, got {value}")
    if d.sample_seed < 0:
        fail("data.sample_seed", f"must be >= 0, got {d.sample_seed}")
    # half-open ranges: (key, value, low, high, low_inclusive); None = not set
    ranges = [
        ("train.warmup_ratio", t.warmup_ratio, 0.0, 1.0, True),
        ("train.weight_decay", t.weight_decay, 0.0, math.inf, True),
        ("train.max_grad_norm", t.max_grad_norm, 0.0, math.inf, False),
        ("head.dropout", cfg.head.dropout, 0.0, 1.0, True),
        ("fusion.dropout_prob", cfg.fusion.dropout_prob, 0.0, 1.0, True),
        *((f"train.lr_{k}", getattr(t, f"lr_{k}"), 0.0, 1.0, False) for k in ("adapter", "fusion", "full", "head")),
        *((f"train.target_lr_{k}", getattr(t, f"target_lr_{k}"), 0.0, 1.0, False) for k in ("adapter", "head")),
    ]
    for key, value, low, high, low_inclusive in ranges:
        if value is None:
            continue
        above = value >= low if low_inclusive else value > low
        if not math.isfinite(value) or not above or not value < high:
            if high == math.inf:
                fail(key, f"must be a finite number {'>=' if low_inclusive else '>'} {low:g}, got {value}")
            fail(key, f"must be in {'[' if low_inclusive else '('}{low:g}, {high:g}), got {value}")
    if cfg.search is not None:  # the search space is checked with the config (adaptx.search_space)
        from .search_space import parse_search

        parse_search(cfg, where)


def build_config(raw: dict, where: str) -> ExperimentConfig:
    """A validated config from a mapping (what load_config does after reading the file)."""
    cfg = _build(ExperimentConfig, raw, where)
    validate(cfg, where)
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
            fail(f"multitask.tasks[{i}]", f"{name!r} is not an intermediate task; allowed: {', '.join(intermediates)} "
                 "(zoo adapters and the mixture itself cannot be mixed: a mixture trains on data)")
    unique("multitask.tasks", mt.tasks)
    if mt.cap is not None and mt.cap < 1:
        fail("multitask.cap", f"must be >= 1 or null (proportional to size), got {mt.cap}")
    mlm = cfg.intermediate.mlm
    if mlm.source is not None:
        if not isinstance(mlm.source, str) or not mlm.source.strip() or mlm.source.strip() == "hub:":
            fail("intermediate.mlm.source", f"{mlm.source!r}: expected a folder of raw text files (*.txt) or "
                 "hub:DATASET[:CONFIG]")
    for key, value in (("rate", mlm.rate), ("mask_probability", mlm.mask_probability)):
        if not math.isfinite(value) or not 0 < value < 1:
            fail(f"intermediate.mlm.{key}", f"must be in (0, 1), got {value}")
    if mlm.max_texts is not None and mlm.max_texts < 1:
        fail("intermediate.mlm.max_texts", f"must be >= 1 or null, got {mlm.max_texts}")
    tr = cfg.intermediate.translated
    if tr.mode not in ("add", "replace"):
        fail("intermediate.translated.mode", f"{tr.mode!r}; allowed: add (beside the English data), replace "
             "(instead of it)")
    if tr.dir is None:
        return
    if not tr.languages:
        fail("intermediate.translated.languages", "empty; list the languages of the translated data under "
             f"{tr.dir}/<lang>/")
    for i, lang in enumerate(tr.languages):
        if not isinstance(lang, str) or not lang or "/" in lang or lang == "en":
            fail(f"intermediate.translated.languages[{i}]", f"{lang!r}: expected a language code (a folder name "
                 "under translated.dir), not 'en' (the English data is the original)")
    unique("intermediate.translated.languages", tr.languages)
    trained = [t for t in cfg.intermediate_tasks if t in intermediates] + list(mt.tasks)
    for i, name in enumerate(tr.tasks):
        if name not in trained:
            fail(f"intermediate.translated.tasks[{i}]", f"{name!r} is not an intermediate task this config trains "
                 f"({', '.join(dict.fromkeys(trained)) or 'none'})")
    unique("intermediate.translated.tasks", tr.tasks)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read YAML (or start from defaults when path is None), apply overrides, validate."""
    raw: dict = {}
    where = "<defaults>"
    if path is not None:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise AdaptxError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}); save the config as UTF-8") from exc
        except OSError as exc:
            raise AdaptxError(f"cannot read config {path}: {exc.strerror or exc}") from exc
        try:
            raw = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise AdaptxError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(raw, dict):
            raise AdaptxError(f"{path}: expected a mapping of config keys at the top level")
    raw = apply_overrides(raw, overrides or [])
    cfg = _build(ExperimentConfig, raw, where)
    validate(cfg, where)
    return cfg


def stable_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]
