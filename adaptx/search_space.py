"""The search space of `adaptx search`: the `search:` section of an experiment YAML.

```yaml
search:
  adapters: [qqp, sst2, mnli]        # the pool (default: intermediate_tasks); task names or zoo:NAME
  compositions: [stack, fuse, average, merge]   # none | stack | fuse | average | merge | task_arithmetic
                                               # | ties | dare | scaled
  max_adapters: 3                    # largest subset fuse/average/merge combine (default: the whole pool)
  space:                             # dotted config keys, as in `adaptx run ... key=value`
    fusion.preset: [dynamic, static]                    # a list: one of these values
    train.lr_fusion: {low: 5.0e-4, high: 5.0e-3, log: true}   # a range: float, or int when both ends are
                                                              # (an int range's step is a whole number)
    combine.weights: {low: -0.5, high: 1.5}            # one weight per combined adapter (average, merges)
    combine.density: {low: 0.1, high: 0.9}             # ties, dare (docs/merging.md)
  objectives: [dev]                  # or [dev, adapters | trainable_parameters | latency]
  pruner: median                     # median | halving | hyperband | none (default: median; none with 2 objectives)
  sampler: tpe                       # tpe | random
  seed: null                         # the sampler's seed (reproducible with one worker)
  trials: 20                         # the study's total of finished trials (--trials overrides)
  timeout: null                      # seconds per worker, finite and > 0 (--timeout overrides)
  study: null                        # the study's name (default: the config's name; --study overrides):
                                     # letters, digits, '-', '_', as zoo entry names (it names search/<study>/)
  compare_defaults: true             # at the end: the best trial vs the config's own strategies on held-apart
  holdout_examples: 2000             # English rows (this many, null: all; adaptx.search_defaults)
```

A trial picks a composition, then its adapters (`stack`: one of the pool; the others: a subset of
2..max_adapters), then a value for every key of `space` that applies to that composition:
`fusion.*` and `train.lr_fusion` to fuse only, each `combine.*` key to the compositions that read
it (COMBINE_KEYS: weights to average and the merges, density to ties and dare, ...), everything
else to all. Only settings of the target stage can be searched: the
intermediate adapters are trained once and shared by every trial, so keys that would change them
(`adapter.reduction_factor`, `train.lr_adapter`, `train.lr_head`, ...) are refused with the
target-only key to use instead. Every value is checked against the config's own validation
before any trial runs. Nothing here imports Optuna: `load_config` validates the section, and the
config's own class builds the probed configs (this module imports nothing from adaptx.config).
"""

from __future__ import annotations

import copy
import itertools
import json
import math
from dataclasses import asdict, dataclass, field

from .errors import AdaptxError
from .safe_yaml import shown
from .strategies import COMPOSITIONS, get_strategy
from .zoo_refs import NAME_RE

MULTI = tuple(c for c in COMPOSITIONS if get_strategy(c).combines == 2)  # compositions of 2 or more adapters
FUSING = tuple(c for c in COMPOSITIONS if get_strategy(c).fusion)  # fuse: fusion.* and train.lr_fusion settings
COMBINING = tuple(c for c in MULTI if c not in FUSING)  # average, the merges, scaled: combine.* settings
# each combine.* setting applies to the compositions that read it (adaptx.strategies: Strategy.settings)
COMBINE_KEYS = {key: tuple(c for c in COMBINING if key in get_strategy(c).settings)
                for key in dict.fromkeys(k for c in COMBINING for k in get_strategy(c).settings)}
SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "halving", "hyperband", "none")
COSTS = ("adapters", "trainable_parameters", "latency")
SECTION_KEYS = ("adapters", "compositions", "max_adapters", "space", "objectives", "pruner", "pruner_warmup_steps",
                "sampler", "seed", "trials", "timeout", "study", "heartbeat_interval", "grace_period",
                "compare_defaults", "holdout_examples")
WEIGHTS_KEY = "combine.weights"
# what a key applies to; keys not listed apply to every composition
ONLY_FOR = {**COMBINE_KEYS, "fusion.": FUSING, "train.lr_fusion": FUSING, "combine.": COMBINING}
# settings of the target stage only: nothing that every trial shares changes with them
SEARCHABLE = ("fusion.", "combine.", "train.lr_fusion", "train.target_lr_adapter", "train.target_lr_head",
              "train.target_steps", "train.target_epochs", "adapter.target_reduction_factor")
TARGET_ONLY = {"adapter.reduction_factor": "adapter.target_reduction_factor",
               "train.lr_adapter": "train.target_lr_adapter", "train.lr_head": "train.target_lr_head"}
SET_BY_SEARCH = {"intermediate_tasks": "search.adapters", "strategies": "search.compositions",
                 "combine.weights": "a range {low, high} (one weight per adapter)"}


@dataclass
class Param:
    """One searched config key: `choices` (categorical) or a range low..high."""

    key: str
    choices: list | None = None
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    applies: tuple[str, ...] = field(default_factory=lambda: tuple(COMPOSITIONS))  # a tuple: studies store it

    @property
    def is_int(self) -> bool:
        return self.choices is None and all(isinstance(v, int) for v in (self.low, self.high))

    def suggest(self, trial, name: str | None = None):
        name = name or self.key
        if self.choices is not None:
            return trial.suggest_categorical(name, self.choices)
        if self.is_int:
            return trial.suggest_int(name, self.low, self.high, step=self.step or 1, log=self.log)
        return trial.suggest_float(name, self.low, self.high, step=self.step, log=self.log)


@dataclass
class SearchSpec:
    adapters: list[str]
    compositions: list[str]
    max_adapters: int
    params: list[Param] = field(default_factory=list)
    weights: Param | None = None  # combine.weights: the range of each adapter's weight
    objectives: list[str] = field(default_factory=lambda: ["dev"])
    pruner: str = "median"
    sampler: str = "tpe"
    seed: int | None = None
    trials: int = 20
    timeout: float | None = None
    study: str | None = None
    heartbeat_interval: int = 30
    grace_period: int = 120
    # no pruning before this target step: compositions learn at different speeds (a stacked
    # adapter starts slower than a fusion) and an early report can stop one that would catch up
    pruner_warmup_steps: int = 0
    # the best trial against the config's own strategies on English rows no selection saw
    compare_defaults: bool = True
    holdout_examples: int | None = 2000  # None: every row of the English evaluation split

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    def subsets(self) -> list[str]:
        """The adapter subsets fuse/average/merge choose from, as 'a+b' (Optuna's choices must be scalars)."""
        return ["+".join(c) for k in range(2, self.max_adapters + 1) for c in itertools.combinations(self.adapters, k)]

    def identity(self) -> dict:
        """What makes two studies the same search: everything but budgets, sampler and pruner."""
        return {"adapters": self.adapters, "compositions": self.compositions, "max_adapters": self.max_adapters,
                "space": [asdict(p) for p in self.params], "weights": asdict(self.weights) if self.weights else None,
                "objectives": self.objectives}

    def suggest(self, trial) -> tuple[str, list[str], dict]:
        """One trial's composition, adapters and config overrides (dotted key -> value)."""
        composition = trial.suggest_categorical("composition", self.compositions)
        combines = get_strategy(composition).combines
        if combines == 1:
            adapters = [trial.suggest_categorical("adapter", self.adapters)]
        elif combines == 2:
            adapters = trial.suggest_categorical("adapters", self.subsets()).split("+")
        else:
            adapters = []
        overrides: dict = {"strategies": [composition], "intermediate_tasks": adapters}
        for param in self.params:
            if composition in param.applies:
                overrides[param.key] = param.suggest(trial)
        if self.weights is not None and composition in self.weights.applies:
            overrides[WEIGHTS_KEY] = {a: self.weights.suggest(trial, f"{WEIGHTS_KEY}.{a}") for a in adapters}
        return composition, adapters, overrides


def trial_config_dict(cfg, overrides: dict) -> dict:
    """The experiment config (a plain mapping, no search section) a trial runs."""
    raw = copy.deepcopy(cfg.to_dict())
    raw["search"] = None
    for key, value in overrides.items():
        node = raw
        parts = key.split(".")
        for part in parts[:-1]:
            node = node[part]
        node[parts[-1]] = copy.deepcopy(value)
    return raw


def _applies(key: str) -> tuple[str, ...]:
    for prefix, compositions in ONLY_FOR.items():
        if key == prefix or (prefix.endswith(".") and key.startswith(prefix)):
            return compositions
    return tuple(COMPOSITIONS)


def _known_key(raw: dict, key: str) -> bool:
    node = raw
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return not isinstance(node, dict) or key in ("combine.weights", "train.target_epochs")


def _number(value, where: str):
    """A range end: YAML reads 1e-3 (no dot) as a string, so numeric strings are accepted."""
    if isinstance(value, bool):
        raise AdaptxError(f"{where}: expected a number, got {shown(value)}")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise AdaptxError(f"{where}: expected a number, got {shown(value)}") from None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise AdaptxError(f"{where}: expected a finite number, got {shown(value)}")
    return value


def _parse_range(key: str, spec: dict, where: str) -> Param:
    unknown = sorted(set(spec) - {"low", "high", "log", "step"}, key=str)
    if unknown:
        raise AdaptxError(f"{where}: {str(unknown[0])[:80]}: unknown key; a range has low, high, log, step")
    for end in ("low", "high"):
        if end not in spec:
            raise AdaptxError(f"{where}: a range needs both low and high (or give a list of values)")
    low, high = _number(spec["low"], f"{where}.low"), _number(spec["high"], f"{where}.high")
    if not low < high:
        raise AdaptxError(f"{where}: empty range: low ({low}) must be below high ({high}); a fixed value "
                          "belongs in the config itself, not in the space")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise AdaptxError(f"{where}.log: expected true or false, got {shown(log)}")
    if log and low <= 0:
        raise AdaptxError(f"{where}: log: true needs low > 0, got {low}")
    step = spec.get("step")
    if step is not None:
        step = _number(step, f"{where}.step")
        if step <= 0 or step > high - low:
            raise AdaptxError(f"{where}.step: must be > 0 and at most high - low, got {step}")
        if log:
            raise AdaptxError(f"{where}: log and step cannot be combined (Optuna samples one or the other)")
        if isinstance(low, int) and isinstance(high, int) and key != WEIGHTS_KEY:
            if step != int(step):  # Optuna would take int(step): 1.5 as 1, 0.5 as 0 (a crash in trial 0)
                raise AdaptxError(f"{where}.step: low and high are whole numbers, so the range gives whole numbers "
                                  f"and its step must be a whole number >= 1, got {step}; for a range of decimals "
                                  f"write low and high with a decimal point ({low}.0, {high}.0)")
            step = int(step)
    if isinstance(low, float) != isinstance(high, float) and key != WEIGHTS_KEY:
        low, high = float(low), float(high)  # 0 and 1.5: a float range
    if key == WEIGHTS_KEY:
        low, high = float(low), float(high)
    return Param(key, low=low, high=high, log=log, step=step, applies=_applies(key))


def parse_search(cfg, where: str) -> SearchSpec:
    """Read and check `cfg.search`; every error names the file and the key. Each probed trial config
    is checked by the config's own class (`ExperimentConfig.build`, i.e. adaptx.config.build_config),
    so this module needs nothing from adaptx.config."""
    build = type(cfg).build
    section = cfg.search
    if not isinstance(section, dict):
        raise AdaptxError(f"{where}: search: expected a mapping (adapters, compositions, space, ...), got {shown(section)}")
    unknown = sorted(set(section) - set(SECTION_KEYS), key=str)
    if unknown:
        raise AdaptxError(f"{where}: search.{str(unknown[0])[:80]}: unknown key; allowed keys here: {', '.join(SECTION_KEYS)}")

    def fail(key: str, message: str):
        raise AdaptxError(f"{where}: search.{key}: {message}")

    compositions, adapters, max_adapters = _parse_pool(cfg, section, where, fail, build)
    settings = _parse_settings(section, fail)
    params, weights = _parse_space(cfg, section, (compositions, adapters, max_adapters), where, fail, build)
    return SearchSpec(adapters, compositions, max_adapters, params, weights, **settings)


def _parse_pool(cfg, section: dict, where: str, fail, build) -> tuple[list[str], list[str], int]:
    """The compositions, the adapter pool and the largest subset."""
    # default: every composition that uses adapters
    compositions = section.get("compositions", [c for c in COMPOSITIONS if get_strategy(c).combines])
    if not isinstance(compositions, list) or not compositions:
        fail("compositions", f"expected a non-empty list of {', '.join(COMPOSITIONS)}, got {shown(compositions)}")
    for i, c in enumerate(compositions):
        if c not in COMPOSITIONS:
            fail(f"compositions[{i}]", f"unknown composition {shown(c)}; allowed: {', '.join(COMPOSITIONS)}")
    if len(set(compositions)) != len(compositions):
        fail("compositions", f"a composition is listed twice: {shown(compositions)}")
    adapters = section.get("adapters", list(cfg.intermediate_tasks))
    if not isinstance(adapters, list) or not all(isinstance(a, str) for a in adapters):
        fail("adapters", f"expected a list of intermediate task names or zoo:NAME, got {shown(adapters)}")
    if len(set(adapters)) != len(adapters):
        fail("adapters", f"an adapter is listed twice: {shown(adapters)}")
    if not adapters and any(get_strategy(c).combines for c in compositions):
        fail("adapters", "empty: list at least one intermediate task (or zoo:NAME) to compose, or set "
             "intermediate_tasks in the config")
    if adapters:  # every adapter must be one a config accepts
        try:
            base = trial_config_dict(cfg, {"intermediate_tasks": adapters, "strategies": ["stack"],
                                           "combine.weights": None})
            build(base, f"{where} (search.adapters)")
        except AdaptxError as exc:
            raise AdaptxError(f"{where}: search.adapters: {exc}") from None
    multi = [c for c in compositions if c in MULTI]
    if multi and len(adapters) < 2:
        fail("compositions", f"{multi[0]} combines two or more adapters, but search.adapters has "
             f"{len(adapters)} ({', '.join(adapters) or 'none'}); add adapters or drop {', '.join(multi)}")
    max_adapters = section.get("max_adapters", len(adapters))
    if isinstance(max_adapters, bool) or not isinstance(max_adapters, int) or (
            multi and not 2 <= max_adapters <= len(adapters)):
        fail("max_adapters", f"expected a whole number from 2 to {len(adapters)} (the pool's size), got {shown(max_adapters)}")
    return compositions, adapters, max_adapters


def _parse_settings(section: dict, fail) -> dict:
    """The objectives, pruner, sampler and budgets: SearchSpec's keyword arguments."""
    objectives = section.get("objectives", ["dev"])
    if (not isinstance(objectives, list) or not objectives or objectives[0] != "dev" or len(objectives) > 2
            or (len(objectives) == 2 and objectives[1] not in COSTS)):
        fail("objectives", f"expected [dev] or [dev, COST] with COST one of {', '.join(COSTS)}, got {shown(objectives)} "
             "(dev: the target task's English dev score, maximised; COST: minimised)")
    pruner = section.get("pruner")
    if pruner is not None and pruner not in PRUNERS:
        fail("pruner", f"{shown(pruner)}; allowed: {', '.join(PRUNERS)}")
    if len(objectives) > 1 and pruner not in (None, "none"):
        fail("pruner", f"{shown(pruner)} with two objectives: Optuna prunes single-objective studies only; "
             "drop the pruner or the second objective")
    pruner = pruner or ("none" if len(objectives) > 1 else "median")
    warmup = section.get("pruner_warmup_steps", 0)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        fail("pruner_warmup_steps", f"expected a whole number of target steps >= 0, got {shown(warmup)}")
    sampler = section.get("sampler", "tpe")
    if sampler not in SAMPLERS:
        fail("sampler", f"{shown(sampler)}; allowed: {', '.join(SAMPLERS)}")
    seed = section.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        fail("seed", f"expected a whole number >= 0 or null, got {shown(seed)}")
    trials = section.get("trials", 20)
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        fail("trials", f"expected a whole number >= 1, got {shown(trials)}")
    timeout = section.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not 0 < timeout < math.inf):  # nan and inf too: they would mean no limit
        fail("timeout", f"expected a finite number of seconds > 0, or null for no limit, got {shown(timeout)}")
    study = section.get("study")
    if study is not None and (problem := study_name_problem(study)):
        fail("study", problem)
    beats = {}
    for key, default in (("heartbeat_interval", 30), ("grace_period", 120)):
        value = section.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            fail(key, f"expected a whole number of seconds >= 1, got {shown(value)}")
        beats[key] = value
    if beats["grace_period"] <= beats["heartbeat_interval"]:
        fail("grace_period", f"must exceed heartbeat_interval ({beats['heartbeat_interval']} s), or live trials "
             "would be taken for dead ones")
    compare = section.get("compare_defaults", True)
    if not isinstance(compare, bool):
        fail("compare_defaults", f"expected true or false, got {shown(compare)}")
    holdout = section.get("holdout_examples", 2000)
    if holdout is not None and (isinstance(holdout, bool) or not isinstance(holdout, int) or holdout < 1):
        fail("holdout_examples", f"expected a whole number of English rows >= 1, or null for all, got {shown(holdout)}")
    return {"objectives": objectives, "pruner": pruner, "sampler": sampler, "seed": seed, "trials": trials,
            "timeout": timeout, "study": study, **beats, "pruner_warmup_steps": warmup,
            "compare_defaults": compare, "holdout_examples": holdout}


def study_name_problem(name) -> str | None:
    """None when `name` can name a study, else what is wrong. A study's outputs go to the folder
    search/<study>/ of the run folder, so its name follows the zoo's entry-name rule (zoo_refs.NAME_RE):
    no '..', slashes, dots or spaces, and no two names that would share a folder."""
    if isinstance(name, str) and NAME_RE.match(name):
        return None
    return (f"{shown(name)} is not a study name: expected 1-80 letters, digits, '-' or '_', starting with a letter "
            "or digit (the rule of zoo entry names: it names the folder search/<study>/ in the run folder)")


def _parse_space(cfg, section: dict, pool: tuple, where: str, fail, build) -> tuple[list[Param], Param | None]:
    """The searched keys, each value probed with a config it applies to; and the combine.weights range."""
    compositions, adapters, max_adapters = pool
    space = section.get("space") or {}
    if not isinstance(space, dict):
        fail("space", f"expected a mapping of dotted config keys to a list of values or a range, got {shown(space)}")
    raw = cfg.to_dict()
    params, weights = [], None
    for key, spec in space.items():
        at = f"space.{str(key)[:80]}"
        _check_space_key(raw, key, at, fail)
        applies = tuple(c for c in _applies(key) if c in compositions)
        if not applies:
            fail(at, f"applies only to {' and '.join(_applies(key))}, which search.compositions "
                 f"({', '.join(compositions)}) does not list")
        if isinstance(spec, list):
            if key == WEIGHTS_KEY:
                fail(at, "expected a range {low, high}: the range of each adapter's weight")
            if not spec:
                fail(at, "empty list: give at least one value")
            for i, value in enumerate(spec):
                if value is not None and not isinstance(value, (bool, int, float, str)):
                    fail(f"{at}[{i}]", f"expected a plain value (number, text, true/false, null), got {shown(value)}")
            if len(set(map(json.dumps, spec))) != len(spec):
                fail(at, f"a value is listed twice: {shown(spec)}")
            param = Param(key, choices=list(spec), applies=applies)
            probes = list(spec)
        elif isinstance(spec, dict):
            param = _parse_range(key, spec, f"{where}: search.{at}")
            param.applies = applies
            probes = [param.low, param.high]
        else:
            fail(at, f"expected a list of values or a range {{low, high, log, step}}, got {shown(spec)}")
        if key == WEIGHTS_KEY:
            weights = param
            continue
        for value in probes:  # every value must make a valid config for a composition it applies to
            overrides = _probe_overrides(applies[0], adapters, max_adapters)
            overrides[key] = value
            try:
                build(trial_config_dict(cfg, overrides), f"{where} (search.{at} = {shown(value)})")
            except AdaptxError as exc:
                raise AdaptxError(f"{where}: search.{at}: value {shown(value)} is not valid: {exc}") from None
        params.append(param)
    return params, weights


def _check_space_key(raw: dict, key, at: str, fail) -> None:
    """A searched key is a config key of the target stage only, not one the search sets itself."""
    if not isinstance(key, str):
        fail(at, "keys are dotted config keys, e.g. fusion.preset")
    if key in SET_BY_SEARCH and key != WEIGHTS_KEY:
        fail(at, f"set by the search itself; use {SET_BY_SEARCH[key]}")
    if key in TARGET_ONLY:
        fail(at, f"also changes the intermediate adapters every trial shares (they would be retrained for each "
             f"value); search {TARGET_ONLY[key]} instead, which only the target stage uses")
    if not _known_key(raw, key):
        fail(at, "not a config key (dotted as in `adaptx run CONFIG key=value`, e.g. fusion.temperature)")
    if not any(key == k or (k.endswith(".") and key.startswith(k)) for k in SEARCHABLE):
        fail(at, "not searchable: it changes what every trial shares (intermediate adapters, data, the base "
             f"model or evaluation); searchable: {', '.join(k + '*' if k.endswith('.') else k for k in SEARCHABLE)}")


def _probe_overrides(composition: str, adapters: list[str], max_adapters: int) -> dict:
    chosen = adapters[:get_strategy(composition).combines]  # none: 0, stack: 1, the others: their least, 2
    return {"strategies": [composition], "intermediate_tasks": chosen, "combine.weights": None}
