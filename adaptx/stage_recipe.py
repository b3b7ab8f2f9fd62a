"""What each stage is: its model setup, its training job, and the recipe its hash is taken of.

A stage's recipe holds exactly what its trained weights depend on; its hash names its folder, so a
changed input trains a new folder and a rerun finds the old one. Changing what goes into a recipe
retrains every existing run folder's stages: tests/test_stage_hash_guard.py pins the hashes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, replace

from .adapter_names import saved_name
from .compositions import composition_for, optional_slots
from .config import AUTO, ExperimentConfig, stable_hash
from .errors import AdaptxError
from .metrics import metric_for_language
from .mixture import MLM
from .modeling import Setup
from .plan import Stage
from .rundata import RunData
from .strategies import get_strategy
from .train import TrainJob
from .zoo_refs import is_zoo_ref


def _setup_recipe(setup: Setup) -> dict:
    """A setup as stage hashes see it: the fields of later strategies (the compositions' optional
    slots: average, merge, the merges' settings, scaled) and of mixtures only where used, so the
    hashes of stages that existed before them stay what they were."""
    recipe = asdict(setup)
    for key in ("heads", *optional_slots()):
        if recipe[key] in ([], {}, None):
            del recipe[key]
    if not recipe["frozen_embeddings"]:  # only where asked for: the stages that existed before keep their hashes
        del recipe["frozen_embeddings"]
    if composition := composition_for(setup.strategy):
        composition.amend_recipe(recipe)
    return recipe


class StageRecipes:
    """Setups, jobs and recipes of a run's stages; `hashes` fills as stages are prepared in order."""

    def __init__(self, cfg: ExperimentConfig, data: RunData, base, base_tag: str, dtype: str, lr_defaults: dict,
                 zoo: dict):
        self.cfg, self.data, self.base, self.base_tag = cfg, data, base, base_tag
        self.base_identity = base.identity()
        self.dtype, self.lr_defaults, self.zoo = dtype, lr_defaults, zoo
        self.hashes: dict[str, str] = {}

    def setup_for(self, stage: Stage) -> Setup:
        """The stage's model, its adapters under their logical names (task names): what the stage hash
        covers. model_setup gives the names the weights are saved and loaded under."""
        cfg, data = self.cfg, self.data
        task = data.task(data.trained_task(stage))
        common = dict(num_labels=len(task.labels), kind=task.kind, pooling=cfg.head.pooling, dropout=cfg.head.dropout,
                      base_fingerprint=self.base.fingerprint)
        parts = data.parts(task.name, "train")
        if parts:  # one head per task of the mixture
            common["heads"] = {name: {"kind": data.task(name).kind, "num_labels": len(data.task(name).labels)
                                      if name != MLM else self.base.config.vocab_size} for name in parts}
        strategy, s = get_strategy(stage.strategy), stage.strategy
        if strategy.full_model:  # no adapter settings involved
            return Setup(s, frozen_embeddings=cfg.full_frozen_embeddings, **common)
        if not stage.trains:  # evaluated as the strategy leaves the encoder: frozen adapters only
            return Setup(s, frozen_adapters=list(stage.adapters), **common)
        reduction = cfg.adapter.reduction_factor
        if stage.kind == "target" and cfg.adapter.target_reduction_factor is not None:
            reduction = cfg.adapter.target_reduction_factor
        adapter = dict(adapter_config=cfg.adapter.config, reduction_factor=reduction, **common)
        names = list(stage.adapters)
        if strategy.combines < 2:  # its own adapter, on top of the one it stacks on (if any)
            return Setup(s, own_adapter=stage.task, frozen_adapters=names, **adapter)
        # the frozen adapters fused, averaged, merged, scaled, ... (adaptx.compositions), a new target
        # adapter (optional) + head
        return Setup(s, **composition_for(s).setup_fields(stage, cfg, names), **adapter)

    def adapter_name(self, name: str, seed: int) -> str:
        """The name an adapter is saved and loaded under (adaptx.adapter_names)."""
        return saved_name(name, seed, self.base_tag)

    def model_setup(self, stage: Stage) -> Setup:
        """setup_for with every adapter under its saved name (adapter_name)."""
        setup = self.setup_for(stage)
        composition = composition_for(setup.strategy)
        slots = ("frozen_adapters", *(composition.adapter_slots if composition else ()))
        named = {key: [self.adapter_name(n, stage.seed) for n in getattr(setup, key)] for key in slots}
        own = self.adapter_name(setup.own_adapter, stage.seed) if setup.own_adapter else None
        return replace(setup, own_adapter=own, **named)

    def job_for(self, stage: Stage) -> TrainJob:
        cfg, t, data = self.cfg, self.cfg.train, self.data
        lr_kind = get_strategy(stage.strategy).lr_kind
        steps, batch_size = t.intermediate_steps, t.batch_size
        if stage.kind == "target":
            batch_size = int(t.target_batch_size.get(stage.task, t.batch_size))
            epochs = t.epochs_for(stage.task)
            budget = stage.budget if stage.budget is not None else t.target_steps
            steps = math.ceil(epochs * len(data.data(stage.task, "train")) / batch_size) if epochs else budget
        elif epochs := t.epochs_for(stage.task, "intermediate"):
            steps = math.ceil(epochs * len(data.data(data.trained_task(stage), "train")) / batch_size)
        until_converged = steps == AUTO  # up to max_steps, stopping once English dev stops improving
        eval_every = t.eval_interval(steps)
        steps = t.auto.max_steps if until_converged else steps
        lr, head_lr = cfg.lr(lr_kind, self.lr_defaults), cfg.lr("head", self.lr_defaults)
        if stage.kind == "target":  # target-only rates (a search varies them; intermediate stages keep theirs)
            lr = t.target_lr_adapter if lr_kind == "adapter" and t.target_lr_adapter is not None else lr
            head_lr = t.target_lr_head if t.target_lr_head is not None else head_lr
        return TrainJob(steps=steps, lr=lr, batch_size=batch_size, seed=stage.seed,
                        micro_batch_size=t.micro_batch_size,
                        warmup_ratio=t.warmup_ratio, weight_decay=t.weight_decay, eval_every=eval_every,
                        checkpoint_every=t.checkpoint_every, max_grad_norm=t.max_grad_norm,
                        head_lr=head_lr, metric=data.task(data.trained_task(stage)).metric,
                        patience=t.auto.patience if until_converged else None,
                        min_improvement=t.auto.min_improvement if until_converged else 0.0,
                        description=stage.id)

    def check_batch_fits(self, stage: Stage) -> None:
        """A trained stage's batch is at most its training rows: a larger one is a mistake (a missing zero, a
        per-task size meant elsewhere) that would train on all rows at every step."""
        if not stage.trains:
            return
        trained, batch_size = self.data.trained_task(stage), self.job_for(stage).batch_size
        rows = len(self.data.data(trained, "train"))
        if batch_size > rows:
            key = (f"train.target_batch_size.{stage.task}" if stage.kind == "target"
                   and stage.task in self.cfg.train.target_batch_size else "train.batch_size")
            raise AdaptxError(f"{key}: {batch_size} is more than the {rows} training rows of {trained} (stage "
                              f"{stage.id}); a step cannot take more rows than there are: set {key} <= {rows}")

    def recipe(self, stage: Stage) -> dict:
        """Exactly what a stage's trained weights depend on. Not in it, because they cannot change
        the result: evaluation settings (their own step), other phases' settings, checkpoint_every
        (resumption is exact), gradient_checkpointing (recomputation gives the same numbers), the
        micro-batch, the device and the number of processes (the effective batch and the update are
        the same; only float rounding and dropout draws differ)."""
        common = {"stage": stage.id, "base": self.base_identity, "dtype": self.dtype}
        needs = {n: self.hashes[n] for n in stage.needs}
        if not stage.trains:
            return {**common, "setup": _setup_recipe(self.setup_for(stage)), "needs": needs, **self._zoo_recipe(stage)}
        job = self.job_for(stage)
        train = {k: v for k, v in asdict(job).items() if k not in ("checkpoint_every", "description", "micro_batch_size")}
        if job.patience is None:  # a fixed budget: the recipe it always had (banked stages keep their hashes)
            del train["patience"], train["min_improvement"]
        trained = self.data.trained_task(stage)
        # checkpoint selection by a metric whose scores changed may pick another step: a new stage
        revision = metric_for_language(job.metric, "en").revision
        if revision > 1:
            train["metric_revision"] = revision
        saved = self.cfg.saved_full_dtype(self.dtype)
        if get_strategy(stage.strategy).full_model and saved != "fp32":  # rounded weights: another stage
            train["saved_dtype"] = saved
        return {
            **common, "max_seq_length": self.cfg.max_seq_length, "setup": _setup_recipe(self.setup_for(stage)),
            "train": train,
            "data": {"train": self.data.data_recipe(trained, "train"), "dev": self.data.data_recipe(trained, "dev")},
            "needs": needs, **self._zoo_recipe(stage), **self._mixture_recipe(trained),
        }

    def hash(self, stage: Stage) -> str:
        """Hash a stage (after the stages it needs) and remember it."""
        self.hashes[stage.id] = stable_hash(self.recipe(stage))
        return self.hashes[stage.id]

    def _mixture_recipe(self, task_name: str) -> dict:
        """A mixture's sampling settings (cap, masked-LM share and masking): only where there is one."""
        return {"mixture": dict(self.data.task(task_name).params)} if self.data.is_mixture(task_name) else {}

    def _zoo_recipe(self, stage: Stage) -> dict:
        """The sha256 of every file of the zoo adapters a stage loads: a changed entry retrains it."""
        used = {name: self.zoo[src].recipe for name, src in stage.adapters.items() if is_zoo_ref(src)}
        return {"zoo": used} if used else {}

    def eval_recipe(self, stage: Stage, lang: str) -> dict:
        task = self.data.task(stage.task)
        split = self.data.eval_splits[task.name][lang]
        recipe = {"model": self.hashes[stage.id], "language": lang, "split": split, "metrics": list(task.metrics),
                  "params": {k: v for k, v in task.params.items() if k != "hub_language_filter"},
                  "max_seq_length": self.cfg.max_seq_length, "data": self.data.data_recipe(task.name, f"eval-{split}", lang)}
        # a metric whose scores changed (revision > 1) gets new evaluation files; the unchanged ones keep theirs
        revised = {name: metric.revision for name in task.metrics
                   if (metric := metric_for_language(name, lang)).revision > 1}
        if revised:
            recipe["metric_revisions"] = revised
        return recipe
