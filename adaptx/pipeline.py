"""The three phases as stages: intermediate training -> target training -> zero-shot evaluation.

Every stage's folder is named by its id and the hash of exactly what its result depends on
(`stages/<id>-<hash>/`): the base model's weights, the bytes and rows of the data it read,
the settings it uses and the hashes of the stages it builds on. A rerun with the same
inputs finds the folder and skips the work; a changed input gets a new folder, so results
from different data or settings can never be mixed and nothing finished is overwritten.
A folder holds `manifest.json` (status, hash, the recipe behind it, timings, versions),
`metrics.json`, the weights as safetensors, and, while training, a resumable checkpoint.

Evaluation is its own step: `<stage folder>/eval/<lang>-<split>-<hash>.json` holds one
language's predictions, keyed by the model and the evaluated rows, so changing languages or
rows evaluates saved models again without retraining. Data flows one way:
config -> stages -> results.json -> results.md.
"""

from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import yaml

from .config import ExperimentConfig, load_config, stable_hash
from .data import LoadedSplit, load_raw_text, load_split, sample_ids, with_labels_from_file
from .errors import AdaptxError
from .fileio import atomic_write_text
from .fingerprint import sha256_text
from .kinds import get_kind
from .kinds.base import Encoding
from .mixture import MLM, MULTITASK, mixture_task, mixture_weights
from .metrics import metric_for_language
from .models import RANDOM_PREFIX
from .modeling import Setup, build_model, load_model, save_model
from .packs import resolve_data_dir
from .report import write_results
from .runtime import Runtime, make_runtime
from .tasks import Task, get_task
from .train import TrainJob, predict, train_model
from .zoo import base_fingerprint, is_zoo_ref, resolve_zoo_refs, zoo_adapter_name, zoo_recipe

HASH_CHARS = 10  # of the stage hash in folder and file names


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

    @property
    def intermediate_label(self) -> str | None:
        return "+".join(self.intermediates) if self.intermediates else None


def plan_stages(cfg: ExperimentConfig) -> list[Stage]:
    """Intermediate work first, trained once per task and seed and reused by every target and
    strategy that needs it; a target adapter that a fusion includes is trained (as strategy `none`)
    before it. A target whose kind does not train (retrieval) is evaluated straight from the
    encoder each strategy gives it: the plain base (none), the intermediate adapter (stack), the
    fully fine-tuned intermediate encoder (full); fuse and full-none do not apply to it."""
    stages: list[Stage] = []
    include_target = cfg.fusion.include_target_adapter
    for seed in cfg.seeds:
        def adapter_stage(task: str) -> str:  # a zoo:NAME adapter comes from the zoo, not from a stage
            return task if is_zoo_ref(task) else f"intermediate-adapter-{task}-s{seed}"

        def name(task: str) -> str:
            return zoo_adapter_name(task) if is_zoo_ref(task) else task

        if {"stack", "fuse", "average", "merge"} & set(cfg.strategies):
            for task in [t for t in cfg.intermediate_tasks if not is_zoo_ref(t)]:
                stages.append(Stage(adapter_stage(task), "intermediate-adapter", task, "intermediate", seed))
        if "full" in cfg.strategies:
            for task in cfg.intermediate_tasks:
                stages.append(Stage(f"intermediate-full-{task}-s{seed}", "intermediate-full", task,
                                    "full-intermediate", seed))
        for target in cfg.targets:
            trains = get_kind(get_task(target).kind).trains
            none_id = f"target-{target}-none-s{seed}"
            if "none" in cfg.strategies or ("fuse" in cfg.strategies and include_target and trains):
                stages.append(Stage(none_id, "target", target, "none", seed, evaluate="none" in cfg.strategies,
                                    trains=trains))
            for strategy in cfg.strategies:
                if strategy == "full-none" and trains:
                    stages.append(Stage(f"target-{target}-full-none-s{seed}", "target", target, strategy, seed,
                                        evaluate=True))
                elif strategy == "fuse" and trains:
                    # the single-task adapters: fusing them is the adapter-native alternative to `multitask`
                    singles = [t for t in cfg.intermediate_tasks if t != MULTITASK]
                    adapters = {name(t): adapter_stage(t) for t in singles}
                    if include_target:
                        adapters[target] = none_id
                    fused, labels = list(adapters), [*singles, target][:len(adapters)]
                    stages.append(Stage(f"target-{target}-fuse-{'+'.join(fused)}-s{seed}", "target", target, "fuse",
                                        seed, labels, adapters, _stage_sources(adapters.values()), evaluate=True))
                elif strategy in ("average", "merge") and trains:  # all intermediate adapters, combined
                    adapters = {name(t): adapter_stage(t) for t in cfg.intermediate_tasks}
                    stages.append(Stage(f"target-{target}-{strategy}-{'+'.join(adapters)}-s{seed}", "target", target,
                                        strategy, seed, list(cfg.intermediate_tasks), adapters,
                                        _stage_sources(adapters.values()), evaluate=True))
                elif strategy in ("stack", "full"):  # one run per intermediate task
                    for task in cfg.intermediate_tasks:
                        source = adapter_stage(task) if strategy == "stack" else f"intermediate-full-{task}-s{seed}"
                        adapters = {name(task): source} if strategy == "stack" else {}
                        stages.append(Stage(f"target-{target}-{strategy}-{name(task)}-s{seed}", "target", target,
                                            strategy, seed, [task], adapters, _stage_sources([source]),
                                            evaluate=True, trains=trains))
    return stages


def _setup_recipe(setup: Setup) -> dict:
    """A setup as stage hashes see it: the average/merge fields only where used, so the hashes of
    stages that existed before those strategies stay what they were."""
    recipe = asdict(setup)
    for key in ("average", "merge", "combine_weights", "heads"):
        if not recipe[key]:
            del recipe[key]
    return recipe


def _stage_sources(sources) -> list[str]:
    """The stages a stage reads from (zoo adapters are checked files, not stages)."""
    return [s for s in sources if not is_zoo_ref(s)]


class Experiment:
    """Holds the run's config, data samples and stage hashes; runs stages in order."""

    def __init__(self, cfg: ExperimentConfig, run_dir: Path, data_dir: str | None, runtime: Runtime | None = None):
        from .models import load_base_model

        self.cfg = cfg
        self.run_dir = run_dir
        self.data_dir = data_dir
        if cfg.base_model.startswith(RANDOM_PREFIX) and not cfg.allow_random_base:
            raise AdaptxError(f"base_model: {cfg.base_model!r} has random weights: it is for benchmarks and tests "
                              "only and its numbers mean nothing; set allow_random_base: true to run it anyway")
        self.runtime = runtime or make_runtime(cfg.device, cfg.base_dtype)
        # tokenizer and config only: each stage loads a fresh encoder itself
        self.base = load_base_model(cfg.base_model, dtype="fp32", weights=False)
        self._check_against_base()
        self.family, self.lr_defaults = self.base.family
        self.base_identity = self.base.identity()
        self.zoo = resolve_zoo_refs(cfg, self.base_identity)  # zoo:NAME -> (verified adapter folder, card)
        self.pad_id = self.base.tokenizer.pad_token_id
        self.targets = [get_task(t) for t in cfg.targets]
        for target in self.targets:
            for metric in target.metrics:
                metric_for_language(metric, target.languages[0])  # an unknown metric fails now
        self.languages = {t.name: [lang for lang in (cfg.languages or t.languages) if lang in t.languages]
                          for t in self.targets}
        self.eval_splits = {t.name: self._plan_eval_splits(t) for t in self.targets}
        self._splits: dict[tuple, LoadedSplit] = {}
        self._encoded: dict[tuple, Encoding] = {}
        # adapter names carry task, seed and this tag of the base model's weights (adapter_name)
        self.base_tag = sha256_text(base_fingerprint(self.base_identity))[:8]
        self._tasks: dict[str, Task] = self._run_tasks()
        self.stage_hashes: dict[str, str] = {}
        self._trained: tuple[str | None, object] = (None, None)  # (stage id, model) just trained

    def _check_against_base(self) -> None:
        cfg, base = self.cfg, self.base
        if cfg.max_seq_length > base.max_length():
            raise AdaptxError(f"max_seq_length: {cfg.max_seq_length} is longer than base model {cfg.base_model!r} "
                              f"accepts ({base.max_length()} positions); set max_seq_length <= {base.max_length()}")
        hidden = base.config.hidden_size
        for key in ("reduction_factor", "target_reduction_factor"):
            value = getattr(cfg.adapter, key)
            if value is not None and value > hidden:
                raise AdaptxError(f"adapter.{key}: {value} leaves no bottleneck on a base model of width {hidden}; "
                                  f"use at most {hidden}")

    def _plan_eval_splits(self, task) -> dict[str, str | None]:
        """The split each language is evaluated on: the configured one, or test where labeled, else
        dev; None where this data source has neither for the language (reported as missing)."""
        source, requested = self.cfg.data.source, self.cfg.data.eval_split
        plan = {lang: self._available_split(task, lang, requested) for lang in self.languages[task.name]}
        missing = [lang for lang, split in plan.items() if split is None]
        if missing and requested:
            have = [lang for lang, split in plan.items() if split is not None]
            raise AdaptxError(
                f"data.eval_split: {task.name} has no labeled {requested} split for {', '.join(missing)} in its "
                f"{source} source (it has one for: {', '.join(have) or 'none'}); set data.eval_split: null "
                "(test where labeled, else dev rows held apart from model selection) or drop those languages"
            )
        if missing and self.cfg.languages and source == "local":
            split = task.eval_split_for(source, missing[0], None)
            if split:  # the user asked for this language and its file should be there: say which
                load_split(task, f"eval-{split}", missing[0], source, self.data_dir)
        if len(missing) == len(plan):
            raise AdaptxError(f"{task.name}: no language has evaluation data in the {source} source "
                              f"({', '.join(missing)}); {task.description}. Use data.source: hub, or another task")
        return plan

    def _available_split(self, task, lang: str, requested: str | None) -> str | None:
        for split in ([requested] if requested else ["test", "dev"]):
            spec = task.spec(self.cfg.data.source, f"eval-{split}", lang)
            if spec is None:
                continue
            if self.cfg.data.source == "local" and self.data_dir is not None:
                files = [spec.path.format(lang=lang), *spec.extra]
                if not all((Path(self.data_dir) / f).is_file() for f in files) and not self.cfg.languages:
                    continue  # every language of the task was asked for: this one is reported missing
            return split
        return None

    def missing_languages(self, task_name: str) -> list[str]:
        return [lang for lang, split in self.eval_splits[task_name].items() if split is None]

    # -- tasks: the registry's, and the mixtures this run trains --------------------------
    def _run_tasks(self) -> dict[str, Task]:
        """The multitask mixture (`multitask` in intermediate_tasks), and with intermediate.mlm each
        intermediate task mixed with masked-LM batches ('<task>+mlm': what its stages train on)."""
        cfg, tasks = self.cfg, {}
        mlm = cfg.intermediate.mlm
        if MULTITASK in cfg.intermediate_tasks:
            tasks[MULTITASK] = mixture_task(MULTITASK, cfg.multitask.tasks, cfg.multitask.cap)
        if mlm.source:
            tasks[MLM] = Task(name=MLM, role="intermediate", kind="mlm", labels=(), languages=(),
                              params={"mask_probability": mlm.mask_probability},
                              description=f"masked-LM batches on raw text from {mlm.source}")
            settings = {"rate": mlm.rate, "mask_probability": mlm.mask_probability, "source": mlm.source,
                        "max_texts": mlm.max_texts}
            for name in cfg.intermediate_tasks:
                if not is_zoo_ref(name):
                    parts = cfg.multitask.tasks if name == MULTITASK else [name]
                    tasks[f"{name}+{MLM}"] = mixture_task(f"{name}+{MLM}", parts, cfg.multitask.cap, settings)
        return tasks

    def task(self, name: str) -> Task:
        """A task of this run: a mixture it defines, else the registry's entry, with its label set
        read from the data where the registry names a label file (CCG's categories)."""
        if name not in self._tasks:
            task = get_task(name)
            if task.params.get("label_file") and not task.labels:
                task = with_labels_from_file(task, self.source_for(name), self.data_dir)
            self._tasks[name] = task
        return self._tasks[name]

    def source_for(self, task_name: str) -> str:
        """data.source, except for a task with no hub source at all (CCG: CCGbank is LDC-licensed),
        which always reads the local folder (data.dir / --data-dir)."""
        registered = task_name not in self._tasks or self._tasks[task_name].kind != "mixture"
        if registered and task_name != MLM and not get_task(task_name).hub:
            return "local"
        return self.cfg.data.source

    def trained_task(self, stage: Stage) -> str:
        """The task whose data a stage trains on: its own, or for an intermediate stage with
        intermediate.mlm its mixture with masked-LM batches."""
        if stage.kind.startswith("intermediate") and self.cfg.intermediate.mlm.source:
            return f"{stage.task}+{MLM}"
        return stage.task

    def parts(self, task_name: str, split: str) -> list[str]:
        """The tasks a split of a mixture is made of (masked-LM text in training only)."""
        params = self.task(task_name).params
        mlm = [MLM] if params.get("mlm") and split == "train" else []
        return [*params["tasks"], *mlm]

    # -- data ----------------------------------------------------------------------------
    def split(self, task_name: str, split: str, lang: str = "en") -> LoadedSplit:
        key = (task_name, split, lang)
        if key not in self._splits:
            if task_name == MLM:
                mlm = self.cfg.intermediate.mlm
                self._splits[key] = load_raw_text(mlm.source)
            else:
                loaded = load_split(self.task(task_name), split, lang, self.source_for(task_name), self.data_dir)
                if split == "train" and task_name in self.translated_tasks():
                    loaded = self._with_translations(task_name, loaded)
                self._splits[key] = loaded
        return self._splits[key]

    def translated_tasks(self) -> list[str]:
        """The intermediate tasks whose training data intermediate.translated changes."""
        tr, cfg = self.cfg.intermediate.translated, self.cfg
        if tr.dir is None:
            return []
        trained = [t for t in cfg.intermediate_tasks if not is_zoo_ref(t) and t != MULTITASK]
        trained += cfg.multitask.tasks if MULTITASK in cfg.intermediate_tasks else []
        return list(tr.tasks) or list(dict.fromkeys(trained))

    def _with_translations(self, task_name: str, english: LoadedSplit) -> LoadedSplit:
        """The paper's alternative (b): machine-translated training files in the task's own local
        layout under translated.dir/<lang>/, beside (add) or instead of (replace) the English data."""
        tr = self.cfg.intermediate.translated
        parts = [] if tr.mode == "replace" else [english]
        for lang in tr.languages:
            parts.append(load_split(self.task(task_name), "train", "en", "local", Path(tr.dir) / lang))
        examples = [e for part in parts for e in part.examples]
        translations = zip(tr.languages, parts[-len(tr.languages):])
        counts = ", ".join([*(["English " + str(len(english.examples))] if tr.mode == "add" else []),
                            *(f"{lang} {len(p.examples)}" for lang, p in translations)])
        return LoadedSplit(examples, " + ".join(p.origin for p in parts), "+".join(p.digest for p in parts),
                           english.context, {**english.skipped, f"machine-translated training rows ({counts})": 0})

    def row_ids(self, task_name: str, split: str, lang: str = "en") -> list[int]:
        """The rows a run uses: seeded, label-stratified samples; zero-shot dev rows exclude the
        rows used for model selection (and, in row-aligned translations, their translations)."""
        d = self.cfg.data
        examples = self.split(task_name, split, lang).examples
        labels = [getattr(e, "label", 0) for e in examples]  # kinds without a label: a plain random sample
        if task_name == MLM:
            return sample_ids(labels, self.cfg.intermediate.mlm.max_texts, d.sample_seed)
        if split == "train":
            return sample_ids(labels, d.max_train_examples, d.sample_seed)
        if split == "dev":
            return sample_ids(labels, d.max_dev_examples, d.sample_seed)
        exclude: set[int] = set()
        task = self.task(task_name)
        if split == "eval-dev" and (task.dev_row_aligned or lang == "en"):
            selection = self.row_ids(task_name, "dev")
            if hasattr(examples[0], "id"):  # QA: translations share the question id, not the row
                chosen = {self.split(task_name, "dev").examples[i].id for i in selection}
                exclude = {i for i, e in enumerate(examples) if e.id in chosen}
            else:
                exclude = set(selection)
        return sample_ids(labels, d.max_eval_examples, d.sample_seed, exclude)

    def data(self, task_name: str, split: str, lang: str = "en") -> Encoding:
        """The sampled rows of a split, encoded by the task's kind."""
        key = (task_name, split, lang)
        if key not in self._encoded and self.task(task_name).kind == "mixture":  # its tasks, each encoded alone
            task = self.task(task_name)
            self._encoded[key] = get_kind(task.kind).combine(task, [(name, self.data(name, split, lang))
                                                                    for name in self.parts(task_name, split)])
        if key not in self._encoded:
            task, loaded = self.task(task_name), self.split(task_name, split, lang)
            ids = self.row_ids(task_name, split, lang)
            encoding = get_kind(task.kind).encode(task, [loaded.examples[i] for i in ids], self.base.tokenizer,
                                                   self.cfg.max_seq_length)
            encoding.ids = ids
            encoding.context.update(loaded.context, n_all=len(loaded.examples))
            self._encoded[key] = encoding
        return self._encoded[key]

    def origin(self, task_name: str, split: str) -> str:
        if self.task(task_name).kind == "mixture":
            return " | ".join(f"{name}: {self.origin(name, split)}" for name in self.parts(task_name, split))
        return self.split(task_name, split).origin

    def data_recipe(self, task_name: str, split: str, lang: str = "en") -> dict:
        """What a stage read: the file's content digest and which of its rows (a mixture: of every part)."""
        if self.task(task_name).kind == "mixture":
            parts = [self.data_recipe(name, split, lang) for name in self.parts(task_name, split)]
            return {"content": "+".join(p["content"] for p in parts),
                    "rows": sha256_text(json.dumps([p["rows"] for p in parts]))[:16], "n": sum(p["n"] for p in parts)}
        ids = self.row_ids(task_name, split, lang)
        return {"content": self.split(task_name, split, lang).digest, "rows": sha256_text(json.dumps(ids))[:16],
                "n": len(ids)}

    # -- stages --------------------------------------------------------------------------
    def setup_for(self, stage: Stage) -> Setup:
        """The stage's model, its adapters under their logical names (task names): what the stage hash
        covers. model_setup gives the names the weights are saved and loaded under."""
        cfg = self.cfg
        task = self.task(self.trained_task(stage))
        common = dict(num_labels=len(task.labels), kind=task.kind, pooling=cfg.head.pooling, dropout=cfg.head.dropout,
                      base_fingerprint=self.base.fingerprint)
        if task.kind == "mixture":  # one head per task of the mixture
            common["heads"] = {name: {"kind": self.task(name).kind, "num_labels": len(self.task(name).labels)
                                      if name != MLM else self.base.config.vocab_size}
                               for name in self.parts(task.name, "train")}
        s = stage.strategy
        if s.startswith("full"):  # full-intermediate, full, full-none: no adapter settings involved
            return Setup(s, **common)
        if not stage.trains:  # evaluated as the strategy leaves the encoder: frozen adapters only
            return Setup(s, frozen_adapters=list(stage.adapters), **common)
        reduction = cfg.adapter.reduction_factor
        if stage.kind == "target" and cfg.adapter.target_reduction_factor is not None:
            reduction = cfg.adapter.target_reduction_factor
        adapter = dict(adapter_config=cfg.adapter.config, reduction_factor=reduction)
        if s in ("intermediate", "none"):
            return Setup(s, own_adapter=stage.task, **adapter, **common)
        if s == "stack":
            return Setup(s, own_adapter=stage.task, frozen_adapters=list(stage.adapters), **adapter, **common)
        if s in ("average", "merge"):  # the frozen adapters combined, a new target adapter (optional) + head on top
            names = list(stage.adapters)
            own = stage.task if cfg.combine.train_target_adapter else None
            return Setup(s, own_adapter=own, frozen_adapters=names, average=names if s == "average" else [],
                         merge=names if s == "merge" else [],
                         combine_weights=cfg.combine.weights_for(stage.intermediates), **adapter, **common)
        fused = list(stage.adapters)
        own = None
        if cfg.fusion.train_target_adapter:  # a new target adapter on top; the fused one keeps the task's name
            own = f"{stage.task}-top" if stage.task in fused else stage.task
        return Setup(s, own_adapter=own, frozen_adapters=fused, fusion=fused,
                     fusion_config=cfg.fusion.library_settings(), **adapter, **common)

    def job_for(self, stage: Stage) -> TrainJob:
        cfg, t = self.cfg, self.cfg.train
        lr_kind = "full" if stage.strategy.startswith("full") else "fusion" if stage.strategy == "fuse" else "adapter"
        steps, batch_size = t.intermediate_steps, t.batch_size
        if stage.kind == "target":
            batch_size = int(t.target_batch_size.get(stage.task, t.batch_size))
            epochs = t.epochs_for(stage.task)
            steps = math.ceil(epochs * len(self.data(stage.task, "train")) / batch_size) if epochs else t.target_steps
        lr, head_lr = cfg.lr(lr_kind, self.lr_defaults), cfg.lr("head", self.lr_defaults)
        if stage.kind == "target":  # target-only rates (a search varies them; intermediate stages keep theirs)
            lr = t.target_lr_adapter if lr_kind == "adapter" and t.target_lr_adapter is not None else lr
            head_lr = t.target_lr_head if t.target_lr_head is not None else head_lr
        return TrainJob(steps=steps, lr=lr, batch_size=batch_size, seed=stage.seed,
                        micro_batch_size=t.micro_batch_size,
                        warmup_ratio=t.warmup_ratio, weight_decay=t.weight_decay, eval_every=t.eval_interval(steps),
                        checkpoint_every=t.checkpoint_every, max_grad_norm=t.max_grad_norm,
                        head_lr=head_lr, metric=self.task(self.trained_task(stage)).metric,
                        description=stage.id)

    def recipe(self, stage: Stage) -> dict:
        """Exactly what a stage's trained weights depend on. Not in it, because they cannot change
        the result: evaluation settings (their own step), other phases' settings, checkpoint_every
        (resumption is exact), gradient_checkpointing (recomputation gives the same numbers), the
        micro-batch, the device and the number of processes (the effective batch and the update are
        the same; only float rounding and dropout draws differ)."""
        if not stage.trains:
            return {"stage": stage.id, "base": self.base_identity, "dtype": self.runtime.dtype,
                    "setup": _setup_recipe(self.setup_for(stage)), "needs": {n: self.stage_hashes[n] for n in stage.needs},
                    **self._zoo_recipe(stage)}
        job = self.job_for(stage)
        train = {k: v for k, v in asdict(job).items() if k not in ("checkpoint_every", "description", "micro_batch_size")}
        return {
            "stage": stage.id, "base": self.base_identity, "dtype": self.runtime.dtype,
            "max_seq_length": self.cfg.max_seq_length, "setup": _setup_recipe(self.setup_for(stage)), "train": train,
            "data": {"train": self.data_recipe(self.trained_task(stage), "train"),
                     "dev": self.data_recipe(self.trained_task(stage), "dev")},
            "needs": {n: self.stage_hashes[n] for n in stage.needs},
            **self._zoo_recipe(stage), **self._mixture_recipe(stage),
        }

    def _mixture_recipe(self, stage: Stage) -> dict:
        """A mixture's sampling settings (cap, masked-LM share and masking): only where there is one."""
        task = self.task(self.trained_task(stage))
        return {"mixture": dict(task.params)} if task.kind == "mixture" else {}

    def mixture_summary(self, stage: Stage) -> dict | None:
        """Which tasks a mixture stage trained on and each one's share of the steps."""
        task = self.task(self.trained_task(stage))
        if task.kind != "mixture":
            return None
        train = self.data(task.name, "train")
        parts = train.context["parts"]
        mlm = task.params.get("mlm")
        weights = mixture_weights([len(e.examples) for n, e in parts if n != MLM], task.params.get("cap"),
                                  mlm["rate"] if mlm else None)
        return {"tasks": list(task.params["tasks"]), "cap": task.params.get("cap"), "mlm": mlm,
                "examples": {n: len(e.examples) for n, e in parts},
                "step_share": {n: round(float(w), 4) for (n, _), w in zip(parts, weights)}}

    def _zoo_recipe(self, stage: Stage) -> dict:
        """The sha256 of every file of the zoo adapters a stage loads: a changed entry retrains it."""
        used = {name: zoo_recipe(src, self.zoo[src][1]) for name, src in stage.adapters.items() if is_zoo_ref(src)}
        return {"zoo": used} if used else {}

    def eval_recipe(self, stage: Stage, lang: str) -> dict:
        task = get_task(stage.task)
        split = self.eval_splits[task.name][lang]
        return {"model": self.stage_hashes[stage.id], "language": lang, "split": split, "metrics": list(task.metrics),
                "params": {k: v for k, v in task.params.items() if k != "hub_language_filter"},
                "max_seq_length": self.cfg.max_seq_length, "data": self.data_recipe(task.name, f"eval-{split}", lang)}

    def stage_dir(self, stage_id: str) -> Path:
        return self.run_dir / "stages" / f"{stage_id}-{self.stage_hashes[stage_id][:HASH_CHARS]}"

    def eval_file(self, stage: Stage, lang: str) -> Path:
        digest = stable_hash(self.eval_recipe(stage, lang))
        split = self.eval_splits[stage.task][lang]
        return self.stage_dir(stage.id) / "eval" / f"{lang}-{split}-{digest[:HASH_CHARS]}.json"

    def prepare(self, stages: list[Stage]) -> None:
        """Before any training: read every split the run needs (bad data fails in seconds), hash
        every stage, and check that every stage folder already there is readable."""
        for stage in stages:
            if stage.trains:
                self.data(self.trained_task(stage), "train")
                self.data(self.trained_task(stage), "dev")
            self.stage_hashes[stage.id] = stable_hash(self.recipe(stage))
        for target in self.targets:
            for lang, split in self.eval_splits[target.name].items():
                if split is not None:
                    self.data(target.name, f"eval-{split}", lang)
        for stage in stages:
            manifest = self.stage_dir(stage.id) / "manifest.json"
            if manifest.exists():
                found = _read_json(manifest, f"delete the folder {manifest.parent} to redo that stage")
                if found.get("config_hash") != self.stage_hashes[stage.id]:
                    raise AdaptxError(f"{manifest}: records hash {found.get('config_hash')!r}, but its folder name "
                                      f"says {self.stage_hashes[stage.id][:HASH_CHARS]}; the folder was copied or "
                                      f"edited by hand: delete {manifest.parent} to redo that stage")

    def notes(self, stage: Stage) -> list[str]:
        """Facts a reader of the stage summary should know (legitimate, but easy to misread): where
        local data is not the task's own, rows left out or changed on purpose, the alternatives used."""
        notes: list[str] = []
        if stage.trains:
            trained = self.trained_task(stage)
            task = self.task(trained)
            names = self.parts(trained, "train") if task.kind == "mixture" else [trained]
            for name in names:
                if self.task(name).train_note:
                    notes.append(self.task(name).train_note if len(names) == 1 else
                                 f"{name}: {self.task(name).train_note}")
            for split in ("train", "dev"):
                for problem, count in self._skipped(trained, split).items():
                    notes.append(f"{split}: {problem}" + (f": {count}" if count else ""))
            if MLM in names:
                mlm = self.cfg.intermediate.mlm
                notes.append(f"{mlm.rate:.0%} of the steps are masked-LM batches on raw text from {mlm.source} "
                             f"({mlm.mask_probability:.0%} of tokens masked, static); the base ships no MLM head, so "
                             "one was initialised: decoder tied to the word embeddings, new transform (identity) "
                             "and bias")
        if stage.kind == "target" and stage.trains:
            target_train = self.split(stage.task, "train").digest
            for task in stage.intermediates:
                if not is_zoo_ref(task) and self.task(task).kind == "mixture":
                    continue  # a mixture's parts are named in its own stage's notes
                digest = (self.zoo[task][1]["training"]["data"]["train_sha256"] if is_zoo_ref(task)
                          else self.split(task, "train").digest)
                if task != stage.task and digest == target_train:
                    notes.append(f"intermediate task {task} trains on the same English data as {stage.task}'s "
                                 "target training (the paper's grid includes this pairing)")
        return notes

    def _skipped(self, task_name: str, split: str) -> dict:
        """Rows left out (or added: translations) while loading, and problems counted while encoding."""
        if self.task(task_name).kind == "mixture":
            return {f"{name}: {k}": v for name in self.parts(task_name, split)
                    for k, v in self._skipped(name, split).items()}
        return {**self.split(task_name, split).skipped, **self.data(task_name, split).skipped}

    def build(self, stage: Stage):
        from .models import load_encoder

        setup = self.model_setup(stage)
        full = not setup.uses_adapters
        # full fine-tuning keeps fp32 master weights; a bf16 base then runs under autocast
        source = self.base.source
        if stage.strategy == "full":  # continue from the fully fine-tuned intermediate encoder
            source = str(self.stage_dir(stage.needs[0]) / "model" / "encoder")
        encoder = load_encoder(source, "fp32" if full else self.runtime.dtype)
        if self.cfg.gradient_checkpointing:  # recompute activations in backward: less memory, ~30% more time
            encoder.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        torch.manual_seed(stage.seed)  # the new head and adapters start from the seed
        return build_model(encoder, setup, self.adapter_dirs(stage), self.autocast).to(self.runtime.device)

    @property
    def autocast(self):
        return self.runtime.autocast_dtype

    def adapter_name(self, name: str, seed: int) -> str:
        """The name an adapter is saved and loaded under: '<task>-s<seed>-<base tag>' (base tag: 8 hex
        digits of the base weights' fingerprint), so adapters of different tasks, seeds or base models
        never collide when loaded side by side, exported, or published. Zoo entries keep 'zoo-NAME'."""
        return name if name.startswith("zoo-") else f"{name}-s{seed}-{self.base_tag}"

    def model_setup(self, stage: Stage) -> Setup:
        """setup_for with every adapter under its saved name (adapter_name)."""
        from dataclasses import replace

        setup = self.setup_for(stage)
        named = {key: [self.adapter_name(n, stage.seed) for n in getattr(setup, key)]
                 for key in ("frozen_adapters", "fusion", "average", "merge") if hasattr(setup, key)}
        own = self.adapter_name(setup.own_adapter, stage.seed) if setup.own_adapter else None
        return replace(setup, own_adapter=own, **named)

    def adapter_dirs(self, stage: Stage) -> dict[str, Path]:
        """Folders of the frozen adapters a stage loads, under their saved and their logical names (a
        stage saved before adapter names carried seed and base loads with its own setup.json)."""
        dirs = {}
        for name, source in stage.adapters.items():
            saved = self.adapter_name(name, stage.seed)
            if is_zoo_ref(source):
                folder = self.zoo[source][0]  # a zoo entry's verified adapter folder
            else:
                setup_file = self.stage_dir(source) / "model" / "setup.json"
                own = saved
                if setup_file.is_file():  # the name it was saved under, old runs' plain task names included
                    own = _read_json(setup_file, f"delete {setup_file.parent.parent} to retrain it")["own_adapter"]
                folder = self.stage_dir(source) / "model" / f"adapter-{own}"
            dirs[saved] = dirs[name] = folder
        return dirs

    def load_trained(self, stage: Stage):
        from .models import load_encoder

        def loader(encoder_folder):
            return load_encoder(str(encoder_folder) if encoder_folder else self.base.source,
                                "fp32" if encoder_folder else self.runtime.dtype)

        model = load_model(self.stage_dir(stage.id) / "model", loader, self.adapter_dirs(stage), self.autocast)
        return model.to(self.runtime.device)

    def run_stage(self, stage: Stage, on_evaluate=None) -> dict:
        """Train (or find) one stage; returns its metrics. With several processes all train together
        and only the main process writes the stage folder. on_evaluate: train_model's observer of
        English-dev evaluations (a search's pruner)."""
        folder = self.stage_dir(stage.id)
        main = self.runtime.is_main
        manifest_path = folder / "manifest.json"
        digest = self.stage_hashes[stage.id]
        if manifest_path.is_file():
            manifest = _read_json(manifest_path, f"delete the folder {folder} to redo that stage")
            if manifest.get("status") == "done":
                metrics = _read_json(folder / "metrics.json", f"delete the folder {folder} to redo that stage")
                if main:
                    print(f"= {stage.id}: done before, skipped ({_train_summary(metrics)})", flush=True)
                return metrics
        started = time.time()
        recipe = self.recipe(stage)
        if main:
            folder.mkdir(parents=True, exist_ok=True)
            _write_json(manifest_path, {"stage": stage.id, "status": "running", "config_hash": digest,
                                        "recipe": recipe, "started": started, "versions": _versions()})
        if not stage.trains:  # nothing to train: the folder holds its evaluations
            metrics = {"stage": stage.id, "task": stage.task, "strategy": stage.strategy, "seed": stage.seed,
                       "intermediate": stage.intermediate_label, "train": None, "notes": self.notes(stage),
                       "hardware": self.runtime.describe()}
            if main:
                _write_json(folder / "metrics.json", metrics)
                _write_json(manifest_path, {"stage": stage.id, "status": "done", "config_hash": digest,
                                            "recipe": recipe, "started": started, "finished": time.time(),
                                            "seconds": 0.0, "versions": _versions()})
            self.runtime.wait()
            return metrics
        model = self.build(stage)
        trained = self.trained_task(stage)
        train_data, dev = self.data(trained, "train"), self.data(trained, "dev")
        self.runtime.reset_peak_memory()
        summary = train_model(model, train_data, dev, self.job_for(stage), self.pad_id,
                              folder / "checkpoint.safetensors", self.runtime, on_evaluate=on_evaluate)
        metrics = {"stage": stage.id, "task": stage.task, "strategy": stage.strategy, "seed": stage.seed,
                   "intermediate": stage.intermediate_label, "train": summary, "notes": self.notes(stage),
                   "data": {"train": self.origin(trained, "train"), "train_rows": len(train_data),
                            "dev": self.origin(trained, "dev"), "dev_rows": len(dev)},
                   "trainable_parameters": sum(p.numel() for p in model.trainable_parameters().values()),
                   "hardware": dict(self.runtime.describe(), micro_batch_size=summary["micro_batch_size"],
                                    peak_memory=self.runtime.peak_memory_gb())}
        if self.mixture_summary(stage):
            metrics["mixture"] = self.mixture_summary(stage)
        if self.task(trained).params.get("label_file"):  # a label set read from the data (CCG's categories)
            metrics["labels"] = list(self.task(trained).labels)
        if stage.strategy == "fuse":
            metrics["fusion"] = {"settings": self.setup_for(stage).fusion_config,
                                 "value_distance_from_identity": model.fusion_value_distance()}
        if stage.strategy in ("average", "merge"):
            setup = self.setup_for(stage)
            metrics["combine"] = {"adapters": setup.frozen_adapters, "weights": setup.combine_weights,
                                  "target_adapter": setup.own_adapter is not None}
        if main:
            save_model(model, folder / "model")
            _write_json(folder / "metrics.json", metrics)
            _write_json(manifest_path, {"stage": stage.id, "status": "done", "config_hash": digest, "recipe": recipe,
                                        "started": started, "finished": time.time(),
                                        "seconds": round(time.time() - started, 1), "versions": _versions()})
            (folder / "checkpoint.safetensors").unlink(missing_ok=True)
            print(f"+ {stage.id}: {_train_summary(metrics)}", flush=True)
        self.runtime.wait()  # later stages in every process read what the main process just wrote
        self._trained = (stage.id, model)  # evaluation right after training reuses the model in memory
        return metrics

    def evaluate(self, stage: Stage) -> list[dict]:
        """Zero-shot scores of a stage in every language of its task (every metric the task
        reports); returns results records. Missing languages are reported, not scored."""
        task, kind = get_task(stage.task), get_kind(get_task(stage.task).kind)
        model = self._trained[1] if self._trained[0] == stage.id else None
        records, started = [], time.perf_counter()
        languages = [lang for lang, split in self.eval_splits[task.name].items() if split is not None]
        # decided before anything is written, so every process evaluates the same languages together
        done = {lang for lang in languages if self.eval_file(stage, lang).is_file()}
        self.runtime.wait()
        for lang in languages:
            path, split = self.eval_file(stage, lang), self.eval_splits[task.name][lang]
            if lang in done:
                result = _read_json(path, f"delete {path} to evaluate again")[lang]
            else:
                if model is None:
                    model = self.load_trained(stage) if stage.trains else self.build(stage)
                data = self.data(task.name, f"eval-{split}", lang)
                if kind.trains:
                    preds = predict(model, data, self.pad_id, progress=f"eval {stage.id} {lang}", runtime=self.runtime)
                    scored, golds = list(range(len(data.examples))), kind.golds(data)
                else:
                    scored, preds, golds = kind.evaluate(model, data, self.pad_id, seed=self.cfg.data.sample_seed)
                scores = {m: metric_for_language(m, lang).compute(preds, golds) for m in task.metrics}
                result = {"ids": [data.ids[i] for i in scored], "pred": preds, "gold": golds, "scores": scores,
                          "split": split, "n": len(scored), "skipped": data.skipped,
                          "origin": self.split(task.name, f"eval-{split}", lang).origin}
                if self.runtime.is_main:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    _write_json(path, {lang: result})
            for metric in task.metrics:
                records.append({"task": task.name, "strategy": stage.strategy, "intermediate": stage.intermediate_label,
                                "language": lang, "split": result["split"], "metric": metric,
                                "value": round(result["scores"][metric] * 100, 2), "seed": stage.seed,
                                "n": result["n"], "predictions": str(path.relative_to(self.run_dir))})
        self._trained = (None, None)
        if self.runtime.is_main:
            scores = {r["language"]: r["value"] for r in records if r["metric"] == task.metric}
            missing = self.missing_languages(task.name)
            print(f"  {stage.id}: zero-shot {task.metric} {_average_text(scores)}"
                  f"{f'; missing here: {chr(44).join(missing)}' if missing else ''} "
                  f"({time.perf_counter() - started:.0f}s)", flush=True)
        self.runtime.wait()
        return records

    def report_context(self) -> dict:
        """What the results table says besides the records: missing languages, the base's family."""
        return {"targets": [t.name for t in self.targets], "base_family": self.family,
                "missing": {t.name: self.missing_languages(t.name) for t in self.targets}}

    def _describe_intermediate(self) -> list[str]:
        """The multitask mixture and the alternatives (masked-LM, translated data), when used."""
        cfg, lines = self.cfg, []
        if MULTITASK in cfg.intermediate_tasks:
            task = self.task(MULTITASK)
            summary = self.mixture_summary(Stage("describe", "target", MULTITASK, "describe", cfg.seeds[0]))
            lines.append(f"adaptx: multitask: one adapter, one head per task, on {' + '.join(task.params['tasks'])}; "
                         f"each batch from one task, share of steps {_shares(summary)} (examples-proportional, "
                         f"cap {task.params['cap']}); selected on the mean of the tasks' English dev metrics")
        mlm = cfg.intermediate.mlm
        if mlm.source:
            lines.append(f"adaptx: intermediate stages: {mlm.rate:.0%} of steps are masked-LM batches on "
                         f"{len(self.data(MLM, 'train').examples)} texts from {self.split(MLM, 'train').origin} "
                         "(MLM head initialised from the tied word embeddings)")
        tr = cfg.intermediate.translated
        if tr.dir:
            lines.append(f"adaptx: intermediate training data of {', '.join(self.translated_tasks())}: "
                         f"{'English + ' if tr.mode == 'add' else ''}machine-translated {', '.join(tr.languages)} "
                         f"from {tr.dir} (English dev selects)")
        return lines

    def describe(self, stages: list[Stage]) -> str:
        """What the run will do, printed before it starts."""
        cfg = self.cfg
        lrs = []
        for kind in ("adapter", "fusion", "full", "head"):
            value, own = cfg.lr(kind, self.lr_defaults), getattr(cfg.train, f"lr_{kind}") is not None
            lrs.append(f"{kind} {value if value is not None else 'body rate'} ({'config' if own else 'default'})")
        family = self.family or "unrecognised architecture: the paper's XLM-R rates"
        rows = cfg.data.max_eval_examples or "all"
        lines = [
            f"adaptx: {len(stages)} stages -> {self.run_dir} (base {cfg.base_model}: {self.family or 'unknown family'}, "
            f"{self.runtime.dtype} [{self.runtime.dtype_reason}] on {self.runtime.device_name()}"
            f"{f', {self.runtime.world_size} processes' if self.runtime.world_size > 1 else ''})",
            f"adaptx: learning rates: {', '.join(lrs)}; defaults for {family}",
        ]
        for target in self.targets:
            by_split: dict[str, list[str]] = {}
            for lang, split in self.eval_splits[target.name].items():
                by_split.setdefault(split or "missing", []).append(lang)
            where = "; ".join(f"{split}{' (rows held apart from model selection)' if split == 'dev' else ''} for "
                              f"{', '.join(langs)}" for split, langs in by_split.items())
            if get_kind(target.kind).trains:
                selection = (f"model selection on {len(self.data(target.name, 'dev'))} English dev rows of "
                             f"{self.split(target.name, 'dev').origin}; ")
            else:
                selection = "no training (evaluated from the encoder); "
            lines.append(f"adaptx: {target.name}: {selection}zero-shot {'/'.join(target.metrics)} on {where}; "
                         f"{rows} rows per language (seeded sample)")
            if target.train_note:
                lines.append(f"adaptx: {target.name}: {target.train_note}")
        lines += self._describe_intermediate()
        skipped = {f"{t.name} {s}" for t in self.targets for s in ("fuse", "full-none")
                   if s in cfg.strategies and not get_kind(t.kind).trains}
        if skipped:
            lines.append(f"adaptx: not applicable without target training: {', '.join(sorted(skipped))}")
        return "\n".join(lines)


def _shares(summary: dict) -> str:
    return ", ".join(f"{name} {share:.0%}" for name, share in summary["step_share"].items())


def _average_text(scores: dict[str, float]) -> str:
    others = [v for k, v in scores.items() if k != "en"]
    text = f"avg {sum(scores.values()) / len(scores):.1f}"
    return text + (f" (w/o en {sum(others) / len(others):.1f})" if others and len(others) < len(scores) else "")


def _train_summary(metrics: dict) -> str:
    train = metrics["train"]
    if train is None:
        return "nothing to train (evaluated from the encoder)"
    text = (f"en dev {train['metric']} {train['best_dev_score']:.3f} (best of {len(train['history'])} evaluations, "
            f"step {train['best_step']}), {train['train_seconds']:.0f}s training")
    distance = metrics.get("fusion", {}).get("value_distance_from_identity")
    if distance is not None:
        text += f", fusion value matrices {distance:.3f} from identity"
        text += " (regularised)" if train.get("fusion_regularizer") else " (not regularised)"
    for note in metrics.get("notes", []):
        text += f"\n  note: {note}"
    return text


def _read_json(path: Path, remedy: str):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AdaptxError(f"{path} is unreadable ({type(exc).__name__}: {str(exc)[:100]}); {remedy}") from exc


def _write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1))


def _versions() -> dict:
    import adapters
    import transformers

    from . import __version__

    return {"adaptx": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "adapters": adapters.__version__, "python": platform.python_version()}


def run_experiment(config_path, data_dir=None, out_dir=None, overrides=None) -> Path:
    """Run (or resume) every stage of a config; write results.json and results.md; print the table.

    Everything that can be checked is checked before the run folder is touched: the config,
    the data folder, the base model, every data file, every existing stage folder. Only then
    is the run's config.yaml written (atomically), so a refused run changes nothing.
    """
    cfg = load_config(config_path, overrides)
    run_dir = Path(out_dir or cfg.output_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise AdaptxError(f"run folder {run_dir} is a file; pass --out with a folder path")
    data_dir = resolve_data_dir(data_dir or cfg.data.dir, cfg)  # builtin:NAME -> the data pack shipped with adaptx
    if cfg.data.source == "local" and data_dir is not None and not Path(data_dir).is_dir():
        raise AdaptxError(f"data folder {data_dir} does not exist (pass --data-dir pointing at a folder like shared/data)")
    experiment = Experiment(cfg, run_dir, data_dir)
    stages = plan_stages(cfg)
    experiment.prepare(stages)
    main = experiment.runtime.is_main
    if main:
        print(experiment.describe(stages), flush=True)
        run_dir.mkdir(parents=True, exist_ok=True)
        resolved = cfg.to_dict()
        resolved["data"]["dir"] = str(Path(data_dir).resolve()) if data_dir else None
        atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(resolved, sort_keys=False))
    started = time.perf_counter()
    records: list[dict] = []
    for stage in stages:
        experiment.run_stage(stage)
        if stage.evaluate:
            records += experiment.evaluate(stage)
            if main:
                write_results(run_dir, records, experiment.report_context())  # partial results survive a crash
    if main:
        table = write_results(run_dir, records, experiment.report_context())
        print(table)
        print(f"adaptx: finished in {time.perf_counter() - started:.0f}s; results in {run_dir}/results.json and results.md")
    return run_dir
