"""Typed experiment config: YAML + dotted `key=value` overrides, validated at load time.

Every error names the file, the dotted key and what is allowed, before any training starts.
Learning rates left as `null` take the defaults of the base model (see BASE_DEFAULTS):
the paper's rates suit XLM-R Large over many epochs, not a small model over a few hundred steps.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import yaml

from .errors import AdaptxError

STRATEGIES = ("none", "stack", "fuse", "full", "full-none")
ADAPTER_CONFIGS = ("seq_bn", "double_seq_bn")
POOLINGS = ("first", "mean")

# Per-base-model learning rates. "embedded": measured on multilingual-e5-small (GUIDE §3):
# adapters 1e-4 do not learn in 125 steps, 1e-3 do; full fine-tuning 5e-5 beats 2e-5.
# Anything else gets the paper's / AdapterFusion's settings for XLM-R Large.
BASE_DEFAULTS = {
    "embedded": {"lr_adapter": 1e-3, "lr_fusion": 1e-3, "lr_full": 5e-5, "lr_head": 1e-3},
    "*": {"lr_adapter": 1e-4, "lr_fusion": 5e-5, "lr_full": 1e-5, "lr_head": None},
}


@dataclass
class AdapterSettings:
    config: str = "seq_bn"  # bottleneck adapter: seq_bn (Pfeiffer) or double_seq_bn (Houlsby)
    reduction_factor: int = 16


@dataclass
class FusionSettings:
    train_target_adapter: bool = False  # also train a target adapter stacked on the fusion


@dataclass
class HeadSettings:
    pooling: str = "first"  # first token or masked mean over tokens
    dropout: float = 0.1


@dataclass
class TrainSettings:
    intermediate_steps: int = 125
    target_steps: int = 125
    batch_size: int = 32
    lr_adapter: float | None = None  # null: the base model's default (BASE_DEFAULTS)
    lr_fusion: float | None = None
    lr_full: float | None = None
    lr_head: float | None = None  # null: the base model's default (None there: the body's rate)
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    eval_every: int = 0  # English-dev model selection every N steps (0: only at the end)
    checkpoint_every: int = 25  # steps between resumable checkpoints
    max_grad_norm: float = 1.0


@dataclass
class DataSettings:
    source: str = "local"  # local (a folder in the layout of shared/data) or hub
    dir: str | None = None  # the local folder; --data-dir overrides it
    max_train_examples: int | None = None
    max_dev_examples: int | None = 500  # English dev rows for model selection
    max_eval_examples: int | None = None  # rows per language in the zero-shot evaluation
    eval_split: str | None = None  # null: the task's default (test where labeled, else dev)


@dataclass
class ExperimentConfig:
    name: str = "experiment"
    base_model: str = "embedded"
    base_dtype: str = "auto"  # fp32 | bf16 | auto (bf16 only where the hardware runs it natively)
    gradient_checkpointing: bool = False
    intermediate_tasks: list[str] = field(default_factory=list)
    target_task: str = "xnli"
    languages: list[str] | None = None  # null: every language of the target task
    strategies: list[str] = field(default_factory=lambda: list(STRATEGIES))
    max_seq_length: int = 128
    seeds: list[int] = field(default_factory=lambda: [0])
    output_dir: str = "runs/experiment"
    adapter: AdapterSettings = field(default_factory=AdapterSettings)
    fusion: FusionSettings = field(default_factory=FusionSettings)
    head: HeadSettings = field(default_factory=HeadSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    data: DataSettings = field(default_factory=DataSettings)

    def lr(self, kind: str) -> float | None:
        """Learning rate for 'adapter', 'fusion', 'full' or 'head', falling back to the base model's default.

        The head's default on the embedded model is 1e-3 whatever the body's rate: a new head
        trained at full fine-tuning's 5e-5 barely moves in a few hundred steps. None = the body's rate.
        """
        value = getattr(self.train, f"lr_{kind}")
        if value is not None:
            return value
        defaults = BASE_DEFAULTS.get(self.base_model, BASE_DEFAULTS["*"])
        return defaults[f"lr_{kind}"]

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
    if type(None) in args:
        if value is None:
            return None
        return _check_type(value, next(a for a in args if a is not type(None)), file, key)
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
    from .tasks import TASKS, get_task

    def fail(key: str, message: str):
        raise AdaptxError(f"{where}: {key}: {message}")

    for i, strategy in enumerate(cfg.strategies):
        if strategy not in STRATEGIES:
            fail(f"strategies[{i}]", f"unknown strategy {strategy!r}; allowed: {', '.join(STRATEGIES)}")
    if not cfg.strategies:
        fail("strategies", f"empty; list at least one of {', '.join(STRATEGIES)}")
    target = cfg.target_task
    if target not in TASKS or TASKS[target].role != "target":
        allowed = sorted(n for n, t in TASKS.items() if t.role == "target")
        fail("target_task", f"unknown target task {target!r}; allowed: {', '.join(allowed)}")
    intermediates = sorted(n for n, t in TASKS.items() if t.role == "intermediate")
    for i, name in enumerate(cfg.intermediate_tasks):
        if name not in intermediates:
            fail(f"intermediate_tasks[{i}]", f"unknown intermediate task {name!r}; allowed: {', '.join(intermediates)}")
    if len(set(cfg.intermediate_tasks)) != len(cfg.intermediate_tasks):
        fail("intermediate_tasks", "lists a task twice")
    needs_inter = sorted({"stack", "fuse", "full"} & set(cfg.strategies))
    if needs_inter and not cfg.intermediate_tasks:
        fail("intermediate_tasks", f"strategies {needs_inter} need at least one intermediate task")
    if "fuse" in cfg.strategies and len(cfg.intermediate_tasks) < 2:
        fail("intermediate_tasks", "strategy 'fuse' needs at least two intermediate tasks to fuse")
    task = get_task(target)
    for i, lang in enumerate(cfg.languages or []):
        if lang not in task.languages:
            fail(f"languages[{i}]", f"{target} has no language {lang!r}; allowed: {', '.join(task.languages)}")
    if cfg.adapter.config not in ADAPTER_CONFIGS:
        fail("adapter.config", f"{cfg.adapter.config!r}; allowed: {', '.join(ADAPTER_CONFIGS)} (fusion needs bottleneck adapters)")
    if cfg.adapter.reduction_factor < 1:
        fail("adapter.reduction_factor", "must be >= 1")
    if cfg.head.pooling not in POOLINGS:
        fail("head.pooling", f"{cfg.head.pooling!r}; allowed: {', '.join(POOLINGS)}")
    if cfg.data.source not in ("local", "hub"):
        fail("data.source", f"{cfg.data.source!r}; allowed: local, hub")
    if cfg.data.eval_split not in (None, "dev", "test"):
        fail("data.eval_split", f"{cfg.data.eval_split!r}; allowed: dev, test (or null for the task default)")
    positive = {
        "train.intermediate_steps": cfg.train.intermediate_steps, "train.target_steps": cfg.train.target_steps,
        "train.batch_size": cfg.train.batch_size, "max_seq_length": cfg.max_seq_length,
    }
    for key, value in positive.items():
        if value < 1:
            fail(key, f"must be >= 1, got {value}")
    if not 0 <= cfg.train.warmup_ratio < 1:
        fail("train.warmup_ratio", f"must be in [0, 1), got {cfg.train.warmup_ratio}")
    for key in ("lr_adapter", "lr_fusion", "lr_full", "lr_head"):
        value = getattr(cfg.train, key)
        if value is not None and not 0 < value < 1:
            fail(f"train.{key}", f"must be in (0, 1) or null, got {value}")
    if not cfg.seeds:
        fail("seeds", "empty; give at least one seed")


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read YAML (or start from defaults when path is None), apply overrides, validate."""
    raw: dict = {}
    where = "<defaults>"
    if path is not None:
        where = str(path)
        try:
            text = Path(path).read_text()
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
