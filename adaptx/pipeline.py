"""The three phases as stages: intermediate training -> target training -> zero-shot evaluation.

One run, in the order its data flows:
  plan.plan_stages(cfg)          what to train and evaluate (pure: the config alone)
  rundata.RunData                which rows of which files, loaded and encoded once
  stage_recipe.StageRecipes      each stage's setup, training job and hashed recipe
  stage_store.StageStore         the stage folders: manifests, weights, evaluation files
  Experiment (here)              prepare, then per stage: train (run_stage)
  stage_evaluation               zero-shot evaluation, a file per language
  describe / report              what the run prints; results.json -> results.md

Every stage's folder is named by the hash of exactly what its result depends on, so a rerun with
the same inputs skips the work and a changed input gets a new folder. Evaluation is its own step
(`<stage folder>/eval/<lang>-<split>-<hash>.json`): new languages or rows re-evaluate saved models.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from pathlib import Path

import torch
import yaml

from .banked import stages_to_retrain
from .baselines import versus_trivial
from .compositions import composition_for
from .config import ExperimentConfig, load_config, stable_hash
from . import logs
from .disk_budget import check_disk_budget
from .describe import describe_run, run_config, stage_notes, train_summary
from .errors import AdaptxError
from .fileio import atomic_write_text, writes_into
from .fingerprint import base_fingerprint, sha256_text
from .metrics import metric_for_language
from .models import RANDOM_PREFIX, load_base_model, load_encoder, saved_encoder_loader
from .modeling import build_model, load_model, save_model
from .plan import Stage, plan_stages
from .rundata import RunData
from .progress import RunMonitor
from .runtime import Runtime, make_runtime
from .run_results import write_run_results
from .stage_evaluation import evaluate_stage
from .stage_recipe import StageRecipes
from .run_folder import ENCODER_DIR, HASH_CHARS, MODEL_DIR, RunFolder
from .run_open import load_run_config, open_run
from .stage_store import StageStore, check_run_folder_free, hold_run_folder
from .strategies import get_strategy
from .tasks import get_task
from .train import train_model
from .zoo_resolve import resolve_zoo_refs
from .zoo_refs import is_zoo_ref

__all__ = ["HASH_CHARS", "Experiment", "Stage", "load_config", "open_run", "plan_stages", "run_experiment"]


def check_against_base(cfg: ExperimentConfig, base) -> None:
    """Settings that need the base model: sequence length vs its positions, bottleneck vs its width."""
    if cfg.max_seq_length > base.max_length():
        raise AdaptxError(f"max_seq_length: {cfg.max_seq_length} is longer than base model {cfg.base_model!r} "
                          f"accepts ({base.max_length()} positions); set max_seq_length <= {base.max_length()}")
    hidden = base.config.hidden_size
    for key in ("reduction_factor", "target_reduction_factor"):
        value = getattr(cfg.adapter, key)
        if value is not None and value > hidden:
            raise AdaptxError(f"adapter.{key}: {value} leaves no bottleneck on a base model of width {hidden}; "
                              f"use at most {hidden}")


class Experiment:
    """One run: its base model, data, stage recipes and stage folders; trains and evaluates stages."""

    monitor: RunMonitor | None = None  # time estimates and TensorBoard, while run_experiment runs it

    def __init__(self, cfg: ExperimentConfig, run_dir: Path, data_dir: str | None, runtime: Runtime | None = None):
        if cfg.base_model.startswith(RANDOM_PREFIX) and not cfg.allow_random_base:
            raise AdaptxError(f"base_model: {cfg.base_model!r} has random weights: it is for benchmarks and tests "
                              "only and its numbers mean nothing; set allow_random_base: true to run it anyway")
        self.runtime = runtime or make_runtime(cfg.device, cfg.base_dtype)
        # tokenizer and config only: each stage loads a fresh encoder itself
        self.base = load_base_model(cfg.base_model, dtype="fp32", weights=False)
        check_against_base(cfg, self.base)
        self.family, self.lr_defaults = self.base.family
        self.base_identity = self.base.identity()
        self.zoo = resolve_zoo_refs(cfg, self.base_identity)  # zoo:NAME -> verified folder, card, recipe
        self.pad_id = self.base.tokenizer.pad_token_id
        for task in map(get_task, cfg.targets):
            for metric in task.metrics:
                metric_for_language(metric, task.languages[0])  # an unknown metric fails now
        # adapter names carry task, seed and this tag of the base model's weights (StageRecipes.adapter_name)
        self.base_tag = sha256_text(base_fingerprint(self.base_identity))[:8]
        self._open(cfg, Path(run_dir), RunData(cfg, data_dir, self.base.tokenizer))

    def _open(self, cfg: ExperimentConfig, run_dir: Path, rundata: RunData) -> None:
        self.cfg, self.run_dir, self.rundata, self.data_dir = cfg, run_dir, rundata, rundata.data_dir
        self.recipes = StageRecipes(cfg, rundata, self.base, self.base_tag, self.runtime.dtype, self.lr_defaults,
                                    self.zoo)
        self.store = StageStore(run_dir, self.recipes.hashes)
        self._trained: tuple[str | None, object] = (None, None)  # (stage id, model) just trained

    def for_config(self, cfg: ExperimentConfig) -> Experiment:
        """This experiment with another config of the same base and data settings (a search trial):
        the loaded base, zoo entries and data are shared, the stages and hashes are the config's own."""
        other = object.__new__(Experiment)
        other.__dict__.update(self.__dict__)
        other._open(cfg, self.run_dir, self.rundata.for_config(cfg))
        return other

    # -- what tests, scripts and the search ask of a run (each answered by its own module) ---
    @property
    def targets(self):
        return self.rundata.targets

    @property
    def languages(self) -> dict[str, list[str]]:
        return self.rundata.languages

    @property
    def eval_splits(self) -> dict:
        return self.rundata.eval_splits

    @property
    def stage_hashes(self) -> dict[str, str]:
        return self.recipes.hashes

    def task(self, name):
        return self.rundata.task(name)

    def split(self, task_name, split, lang="en"):
        return self.rundata.split(task_name, split, lang)

    def row_ids(self, task_name, split, lang="en"):
        return self.rundata.row_ids(task_name, split, lang)

    def data(self, task_name, split, lang="en"):
        return self.rundata.data(task_name, split, lang)

    def trained_task(self, stage: Stage) -> str:
        return self.rundata.trained_task(stage)

    def origin(self, task_name, split):
        return self.rundata.origin(task_name, split)

    def data_recipe(self, task_name, split, lang="en"):
        return self.rundata.data_recipe(task_name, split, lang)

    def setup_for(self, stage: Stage):
        return self.recipes.setup_for(stage)

    def stage_dir(self, stage_id: str) -> Path:
        return self.store.dir(stage_id)

    def eval_file(self, stage: Stage, lang: str) -> Path:
        digest = stable_hash(self.recipes.eval_recipe(stage, lang))
        return self.store.eval_file(stage.id, lang, self.eval_splits[stage.task][lang], digest)

    def report_context(self) -> dict:
        """What the results table says besides the records: missing languages, the base's family."""
        from .baselines import trivial_specs

        return {"targets": [t.name for t in self.targets], "base_family": self.family,
                "missing": {t.name: self.rundata.missing_languages(t.name) for t in self.targets},
                "trivial": trivial_specs(self),
                "zoo_adapters": {t: tok for t, tok in self.cfg.zoo_adapters.items() if tok in self.zoo}}

    def describe(self, stages: list[Stage]) -> str:
        return describe_run(self.cfg, self.rundata, self.runtime, self.run_dir, self.family, self.lr_defaults, stages)

    # -- the run ---------------------------------------------------------------------------
    def prepare(self, stages: list[Stage]) -> None:
        """Before any training: read every split the run needs (bad data fails in seconds), hash
        every stage, and check that every stage folder already there is readable."""
        self.rundata.load_all(stages)
        for stage in stages:
            self.recipes.hash(stage)
            self.recipes.check_batch_fits(stage)  # before any stage trains
        self.store.check_existing([stage.id for stage in stages])
        self.store.retrain = stages_to_retrain(self, stages)
        if self.runtime.is_main:
            for stage_id, why in self.store.retrain.items():
                logs.info(f"~ {stage_id}: finished, but its weights are not here and {why}: it trains again")

    def build(self, stage: Stage):
        setup = self.recipes.model_setup(stage)
        full = not setup.uses_adapters
        # full fine-tuning keeps fp32 master weights; a bf16 base then runs under autocast
        source = self.base.source
        if get_strategy(stage.strategy).builds_on == "full":  # continue from the fully fine-tuned intermediate encoder
            source = str(self.stage_dir(stage.needs[0]) / MODEL_DIR / ENCODER_DIR)
        encoder = load_encoder(source, "fp32" if full else self.runtime.dtype, base=self.base.source)
        if self.cfg.gradient_checkpointing:  # recompute activations in backward: less memory, ~30% more time
            encoder.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        torch.manual_seed(stage.seed)  # the new head and adapters start from the seed
        return build_model(encoder, setup, self.adapter_dirs(stage), self.runtime.autocast_dtype).to(self.runtime.device)

    def adapter_dirs(self, stage: Stage) -> dict[str, Path]:
        """Folders of the frozen adapters a stage loads, under their saved and their logical names."""
        dirs = {}
        for name, source in stage.adapters.items():
            saved = self.recipes.adapter_name(name, stage.seed)
            folder = self.zoo[source].folder if is_zoo_ref(source) else self.store.adapter_folder(source, saved)
            dirs[saved] = dirs[name] = folder
        return dirs

    def load_trained(self, stage: Stage):
        model = load_model(self.stage_dir(stage.id) / MODEL_DIR, saved_encoder_loader(self.base.source, self.runtime.dtype),
                           self.adapter_dirs(stage), self.runtime.autocast_dtype)
        return model.to(self.runtime.device)

    def trained_model(self, stage: Stage):
        """A trained stage's model: the one run_stage just trained while still held, else loaded from its folder."""
        return self._trained[1] if self._trained[0] == stage.id else self.load_trained(stage)

    def run_stage(self, stage: Stage, on_evaluate=None) -> dict:
        """Train (or find) one stage; returns its metrics. With several processes all train together
        and only the main process writes the stage folder. on_evaluate: train_model's observer of
        English-dev evaluations (a search's pruner)."""
        main = self.runtime.is_main
        done = self.store.finished(stage.id)
        if done is not None:
            if main:
                logs.info(f"= {stage.id}: done before, skipped ({train_summary(done)})")
            return done
        recipe = self.recipes.recipe(stage)
        started = self.store.begin(stage.id, recipe) if main else time.time()
        metrics = {"stage": stage.id, "task": stage.task, "strategy": stage.strategy, "seed": stage.seed,
                   "intermediate": stage.intermediate_label, "train": None,
                   "notes": stage_notes(self.cfg, self.rundata, self.zoo, stage)}
        if not stage.trains:  # nothing to train: the folder holds its evaluations
            metrics["hardware"] = self.runtime.describe()
            if main:
                self.store.finish(stage.id, recipe, started, metrics, seconds=0.0)
            self.runtime.wait()
            return metrics
        model = self.build(stage)
        trained = self.trained_task(stage)
        train_data, dev = self.data(trained, "train"), self.data(trained, "dev")
        self.runtime.reset_peak_memory()
        summary = train_model(model, train_data, dev, self.recipes.job_for(stage), self.pad_id,
                              self.store.checkpoint(stage.id), self.runtime, on_evaluate=on_evaluate,
                              monitor=self.monitor.stage_monitor(stage.id) if self.monitor else None)
        metrics.update(self._trained_metrics(stage, trained, model, summary))
        if main:
            save_model(model, self.stage_dir(stage.id) / MODEL_DIR, self.cfg.saved_full_dtype(self.runtime.dtype))
            self.store.finish(stage.id, recipe, started, metrics)
            logs.info(f"+ {stage.id}: {train_summary(metrics)}")
        self.runtime.wait()  # later stages in every process read what the main process just wrote
        self._trained = (stage.id, model)  # evaluation right after training reuses the model in memory
        return metrics

    def _trained_metrics(self, stage: Stage, trained: str, model, summary: dict) -> dict:
        """What metrics.json records of a trained stage (on task `trained`) besides its identity
        (intermediate: versus_trivial)."""
        train_data, dev = self.data(trained, "train"), self.data(trained, "dev")
        summary = summary if stage.kind == "target" else dict(summary, versus_trivial=versus_trivial(self, trained, model))
        metrics = {"train": summary,
                   "data": {"train": self.origin(trained, "train"), "train_rows": len(train_data),
                            "dev": self.origin(trained, "dev"), "dev_rows": len(dev)},
                   "trainable_parameters": sum(p.numel() for p in model.trainable_parameters().values()),
                   "hardware": dict(self.runtime.describe(), micro_batch_size=summary["micro_batch_size"],
                                    peak_memory=self.runtime.peak_memory_gb())}
        mixture = self.rundata.mixture_summary(trained)
        if mixture:
            metrics["mixture"] = mixture
        if self.task(trained).params.get("label_file"):  # a label set read from the data (CCG's categories)
            metrics["labels"] = list(self.task(trained).labels)
        if composition := composition_for(stage.strategy):  # its settings (fusion: how far its values moved)
            metrics.update(composition.metrics(self.setup_for(stage), model))
        return metrics

    def evaluate(self, stage: Stage) -> list[dict]:
        """Zero-shot scores of a stage in every language of its task (adaptx.stage_evaluation)."""
        return evaluate_stage(self, stage)

    def forget_trained(self) -> None:
        """Let go of the model run_stage kept for the evaluation that follows it."""
        self._trained = (None, None)



def run_experiment(config_path, data_dir=None, out_dir=None, overrides=None, smoke=False, tensorboard=False) -> Path:
    """Run (or resume) every stage of a config; write results.json and results.md; print the table.

    Everything that can be checked is checked before the run folder is touched: the config,
    the data folder, the base model, every data file, every existing stage folder. Only then
    is the run's config.yaml written (atomically), so a refused run changes nothing.
    One `adaptx run` at a time holds a run folder (a second one is refused, told who holds it).
    smoke: shrink the run (adaptx.smoke); tensorboard: training curves in <run>/tensorboard.
    """
    cfg = load_run_config(config_path, overrides, smoke)
    run_dir, data_dir = open_run(cfg, data_dir, out_dir)
    return run_opened(cfg, run_dir, data_dir, f"adaptx run {config_path}", tensorboard)


def run_opened(cfg: ExperimentConfig, run_dir: Path, data_dir, holder: str, tensorboard=False) -> Path:
    """run_experiment once its config is loaded and its folders opened (`adaptx run` does those two before
    torch loads); `holder` names the run to a second process that finds the folder held."""
    check_run_folder_free(run_dir)  # the quick answer, before the model and data load
    experiment = Experiment(cfg, run_dir, data_dir)
    stages = plan_stages(cfg)
    experiment.prepare(stages)
    check_disk_budget(experiment, stages)  # the stages still to train fit on the run folder's disk
    # the main process holds the folder for the whole run (the others of a multi-process run follow it)
    with hold_run_folder(run_dir, holder) if experiment.runtime.is_main else nullcontext():
        experiment.monitor = RunMonitor.for_run(experiment, stages, tensorboard)
        with logs.run_log(run_dir, enabled=experiment.runtime.is_main), writes_into(run_dir):
            return _run_held(experiment, cfg, stages, data_dir)


def train_stage(experiment: Experiment, stage: Stage) -> dict:
    """run_stage under the stage's lock, which `adaptx search` workers take too: a search training
    this stage in the same folder finishes it first, and this run then finds it done."""
    runtime = experiment.runtime

    def waiting():
        logs.info(f"  {stage.id}: another process (an `adaptx search` worker?) is training this stage in "
                  f"{experiment.run_dir}; waiting for it")

    with experiment.store.lock(stage.id, on_wait=waiting) if runtime.is_main else nullcontext():
        runtime.wait()  # the other processes of a multi-process run start once the main one holds the stage
        return experiment.run_stage(stage)


def _run_held(experiment: Experiment, cfg: ExperimentConfig, stages: list[Stage], data_dir) -> Path:
    run_dir, main = experiment.run_dir, experiment.runtime.is_main
    if main:
        logs.info(experiment.describe(stages))
        atomic_write_text(RunFolder(run_dir).config_file, yaml.safe_dump(run_config(cfg, run_dir, data_dir), sort_keys=False))
    started = time.perf_counter()
    records: list[dict] = []
    for stage in stages:
        with experiment.monitor.stage(stage.id):  # each kind of training's speed, for the run's estimate
            train_stage(experiment, stage)
            if stage.evaluate:
                with experiment.monitor.evaluation():  # timed apart: later stages' estimates include it
                    records += experiment.evaluate(stage)
                if main:  # partial results survive a crash
                    write_run_results(run_dir, records, experiment.report_context(), cfg.smoke)
        if main and cfg.smoke:  # its numbers mean nothing: full-model weights go once used (adaptx.smoke)
            from .smoke import drop_used_full_weights
            drop_used_full_weights(experiment.store, stages, stage)
    if main:
        logs.result(write_run_results(run_dir, records, experiment.report_context(), cfg.smoke))
        logs.result(experiment.monitor.finished_line(time.perf_counter() - started, run_dir))
        from .analysis.analyze import after_run  # matplotlib and scipy load only here

        after_run(run_dir)  # gains, typology and plots in run_dir/analysis
    return run_dir
