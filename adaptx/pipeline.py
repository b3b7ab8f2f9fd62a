"""The three phases as stages: intermediate training -> target training -> zero-shot evaluation.

Each stage owns one folder under `RUN/stages/` holding `manifest.json` (status, config hash,
timings, versions), `metrics.json`, its weights as safetensors and, while it runs, a
resumable `checkpoint.safetensors`. A rerun of the same config skips finished stages and
resumes an interrupted one; a stage never writes outside its folder, so a crash cannot
corrupt an earlier stage. Data flows one way: config -> stages -> results.json -> report.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import yaml

from .config import ExperimentConfig, load_config, stable_hash
from .data import load_split
from .errors import AdaptxError
from .fileio import atomic_write_text
from .modeling import Setup, build_model, save_model
from .report import write_results
from .tasks import get_task
from .train import Encoded, TrainJob, accuracy, encode_examples, predict, train_model


@dataclass
class Stage:
    """One unit of work with its own folder; `needs` are stage ids whose outputs it reads."""

    id: str
    kind: str  # intermediate-adapter | intermediate-full | target
    task: str
    strategy: str
    seed: int
    intermediates: list[str] = field(default_factory=list)
    needs: list[str] = field(default_factory=list)

    @property
    def intermediate_label(self) -> str | None:
        return "+".join(self.intermediates) if self.intermediates else None


def plan_stages(cfg: ExperimentConfig) -> list[Stage]:
    """Intermediate work first, trained once per task and seed, reused by every strategy that needs it."""
    stages: list[Stage] = []
    target = cfg.target_task
    for seed in cfg.seeds:
        adapter_tasks = cfg.intermediate_tasks if {"stack", "fuse"} & set(cfg.strategies) else []
        full_tasks = cfg.intermediate_tasks if "full" in cfg.strategies else []
        for task in adapter_tasks:
            stages.append(Stage(f"intermediate-adapter-{task}-s{seed}", "intermediate-adapter", task, "intermediate", seed))
        for task in full_tasks:
            stages.append(Stage(f"intermediate-full-{task}-s{seed}", "intermediate-full", task, "full-intermediate", seed))
        for strategy in cfg.strategies:
            if strategy == "none" or strategy == "full-none":
                stages.append(Stage(f"target-{target}-{strategy}-s{seed}", "target", target, strategy, seed))
            elif strategy == "fuse":
                tasks = list(cfg.intermediate_tasks)
                stages.append(Stage(f"target-{target}-fuse-{'+'.join(tasks)}-s{seed}", "target", target, "fuse", seed,
                                    tasks, [f"intermediate-adapter-{t}-s{seed}" for t in tasks]))
            else:  # stack, full: one run per intermediate task
                kind = "adapter" if strategy == "stack" else "full"
                for task in cfg.intermediate_tasks:
                    stages.append(Stage(f"target-{target}-{strategy}-{task}-s{seed}", "target", target, strategy, seed,
                                        [task], [f"intermediate-{kind}-{task}-s{seed}"]))
    return stages


class Experiment:
    """Holds the run's config, tokenised data and folders; runs stages in order."""

    def __init__(self, cfg: ExperimentConfig, run_dir: Path, data_dir: str | None):
        from .models import load_base_model

        self.cfg = cfg
        self.run_dir = run_dir
        self.data_dir = data_dir
        # tokenizer and config only: each stage loads a fresh encoder itself
        self.base = load_base_model(cfg.base_model, dtype=cfg.base_dtype, weights=False)
        self.pad_id = self.base.tokenizer.pad_token_id
        self.target = get_task(cfg.target_task)
        self.languages = list(cfg.languages or self.target.languages)
        self.eval_split = cfg.data.eval_split or self.target.default_eval_split
        self._data: dict[tuple, Encoded] = {}
        self.stage_hashes: dict[str, str] = {}

    # -- data ----------------------------------------------------------------------------
    def data(self, task_name: str, split: str, lang: str = "en") -> Encoded:
        key = (task_name, split, lang)
        if key not in self._data:
            task = get_task(task_name)
            d = self.cfg.data
            limit = {"train": d.max_train_examples, "dev": d.max_dev_examples}.get(split, d.max_eval_examples)
            examples = load_split(task, split, lang, d.source, self.data_dir, limit)
            self._data[key] = encode_examples(self.base.tokenizer, examples, self.cfg.max_seq_length)
        return self._data[key]

    def preflight(self, stages: list[Stage]) -> None:
        """Read every split the run needs before any training, so bad data fails in seconds."""
        split = f"eval-{self.eval_split}"
        source = self.target.local if self.cfg.data.source == "local" else self.target.hub
        if split not in source:
            raise AdaptxError(
                f"{self.target.name} has no labeled {self.eval_split} split in its {self.cfg.data.source} source; "
                f"set data.eval_split to one of: {', '.join(self.target.eval_splits()) or 'dev'}"
            )
        for task in {s.task for s in stages}:
            self.data(task, "train")
            self.data(task, "dev")
        for lang in self.languages:
            self.data(self.target.name, split, lang)

    # -- stages --------------------------------------------------------------------------
    def stage_hash(self, stage: Stage) -> str:
        """What a stage's result depends on; intermediate stages ignore target-only settings,
        so changing the evaluation or target budget reuses the intermediate work."""
        cfg = self.cfg
        train, data = asdict(cfg.train), asdict(cfg.data)
        if stage.kind == "target":
            train.pop("intermediate_steps")
            relevant_extra = {"languages": self.languages, "fusion": asdict(cfg.fusion), "eval_split": self.eval_split}
        else:
            train.pop("target_steps")
            for key in ("max_eval_examples", "eval_split"):
                data.pop(key)
            relevant_extra = {}
        relevant = {
            "stage": stage.id, "base": cfg.base_model, "dtype": self.base.dtype, "max_seq_length": cfg.max_seq_length,
            "gradient_checkpointing": cfg.gradient_checkpointing, "adapter": asdict(cfg.adapter),
            "head": asdict(cfg.head), "train": train, "data": data,
            "lr": {k: cfg.lr(k) for k in ("adapter", "fusion", "full", "head")},
            "needs": [self.stage_hashes[n] for n in stage.needs], **relevant_extra,
        }
        return stable_hash(relevant)

    def setup_for(self, stage: Stage) -> Setup:
        cfg = self.cfg
        common = dict(num_labels=len(get_task(stage.task).labels), pooling=cfg.head.pooling, dropout=cfg.head.dropout,
                      adapter_config=cfg.adapter.config, reduction_factor=cfg.adapter.reduction_factor,
                      base_fingerprint=self.base.fingerprint)
        s = stage.strategy
        if s in ("intermediate", "none"):
            return Setup(s, own_adapter=stage.task, **common)
        if s == "stack":
            return Setup(s, own_adapter=stage.task, frozen_adapters=stage.intermediates, **common)
        if s == "fuse":
            own = stage.task if cfg.fusion.train_target_adapter else None
            return Setup(s, own_adapter=own, frozen_adapters=stage.intermediates, fusion=stage.intermediates, **common)
        return Setup(s, **common)  # full-intermediate, full, full-none

    def job_for(self, stage: Stage) -> TrainJob:
        cfg, t = self.cfg, self.cfg.train
        lr_kind = "full" if stage.strategy.startswith("full") else "fusion" if stage.strategy == "fuse" else "adapter"
        steps = t.target_steps if stage.kind == "target" else t.intermediate_steps
        return TrainJob(steps=steps, lr=cfg.lr(lr_kind), batch_size=t.batch_size, seed=stage.seed,
                        warmup_ratio=t.warmup_ratio, weight_decay=t.weight_decay, eval_every=t.eval_every,
                        checkpoint_every=t.checkpoint_every, max_grad_norm=t.max_grad_norm,
                        head_lr=cfg.lr("head"), description=stage.id)

    def build(self, stage: Stage):
        from .models import load_encoder

        setup = self.setup_for(stage)
        full = not setup.uses_adapters
        # full fine-tuning keeps fp32 master weights; a bf16 base then runs under autocast
        autocast = torch.bfloat16 if self.base.dtype == "bf16" else None
        source = self.base.source
        if stage.strategy == "full":
            source = str(self.stage_dir(stage.needs[0]) / "model" / "encoder")
        encoder = load_encoder(source, "fp32" if full else self.base.dtype)
        if self.cfg.gradient_checkpointing:  # recompute activations in backward: less memory, ~30% more time
            encoder.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        adapter_dirs = {t: self.stage_dir(n) / "model" / f"adapter-{t}" for t, n in zip(stage.intermediates, stage.needs)}
        torch.manual_seed(stage.seed)  # the new head and adapters start from the seed
        return build_model(encoder, setup, adapter_dirs if setup.uses_adapters else None, autocast)

    def stage_dir(self, stage_id: str) -> Path:
        return self.run_dir / "stages" / stage_id

    def run_stage(self, stage: Stage) -> dict:
        folder = self.stage_dir(stage.id)
        manifest_path = folder / "manifest.json"
        digest = self.stage_hash(stage)
        self.stage_hashes[stage.id] = digest
        if manifest_path.is_file():
            manifest = json.loads(manifest_path.read_text())
            if manifest.get("config_hash") != digest:
                raise AdaptxError(
                    f"{folder} was made with different settings (config hash {manifest.get('config_hash')} vs {digest}); "
                    "use a new --out folder, or delete that stage folder to redo it"
                )
            if manifest.get("status") == "done":
                metrics = json.loads((folder / "metrics.json").read_text())
                print(f"= {stage.id}: done before, skipped ({_summary(metrics)})", flush=True)
                return metrics
        folder.mkdir(parents=True, exist_ok=True)
        started = time.time()
        _write_json(manifest_path, {"stage": stage.id, "status": "running", "config_hash": digest,
                                    "started": started, "versions": _versions()})
        model = self.build(stage)
        train_data, dev = self.data(stage.task, "train"), self.data(stage.task, "dev")
        summary = train_model(model, train_data, dev, self.job_for(stage), self.pad_id, folder / "checkpoint.safetensors")
        metrics = {"stage": stage.id, "task": stage.task, "strategy": stage.strategy, "seed": stage.seed,
                   "intermediate": stage.intermediate_label, "train": summary,
                   "trainable_parameters": sum(p.numel() for p in model.trainable_parameters().values())}
        if stage.kind == "target":
            started_eval = time.perf_counter()
            metrics["zero_shot"] = self.zero_shot(model, stage)
            metrics["eval_seconds"] = round(time.perf_counter() - started_eval, 1)
        save_model(model, folder / "model")
        _write_json(folder / "metrics.json", metrics)
        _write_json(manifest_path, {"stage": stage.id, "status": "done", "config_hash": digest, "started": started,
                                    "finished": time.time(), "seconds": round(time.time() - started, 1),
                                    "versions": _versions()})
        (folder / "checkpoint.safetensors").unlink(missing_ok=True)
        print(f"+ {stage.id}: {_summary(metrics)}", flush=True)
        return metrics

    def zero_shot(self, model, stage: Stage) -> dict:
        scores = {}
        for lang in self.languages:
            data = self.data(self.target.name, f"eval-{self.eval_split}", lang)
            preds = predict(model, data, self.pad_id, progress=f"eval {stage.id} {lang}")
            scores[lang] = accuracy(preds, data.labels)
        return {"split": self.eval_split, "metric": self.target.metric, "scores": scores}


def _summary(metrics: dict) -> str:
    train = metrics["train"]
    text = f"en dev {train['best_dev_accuracy']:.3f} (step {train['best_step']}), {train['train_seconds']:.0f}s training"
    if "zero_shot" in metrics:
        scores = metrics["zero_shot"]["scores"]
        others = [v for k, v in scores.items() if k != "en"]
        text += f"; zero-shot avg {sum(scores.values()) / len(scores):.3f}"
        if others:
            text += f" (w/o en {sum(others) / len(others):.3f})"
    return text


def _write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2))


def _versions() -> dict:
    import adapters
    import transformers

    from . import __version__

    return {"adaptx": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "adapters": adapters.__version__, "python": platform.python_version()}


def run_experiment(config_path, data_dir=None, out_dir=None, overrides=None) -> Path:
    """Run (or resume) every stage of a config; write results.json and results.md; print the table."""
    cfg = load_config(config_path, overrides)
    run_dir = Path(out_dir or cfg.output_dir)
    data_dir = data_dir or cfg.data.dir
    if data_dir is not None and cfg.data.source == "local" and not Path(data_dir).is_dir():
        raise AdaptxError(f"data folder {data_dir} does not exist (pass --data-dir pointing at a folder like shared/data)")
    run_dir.mkdir(parents=True, exist_ok=True)
    saved = run_dir / "config.yaml"
    resolved = cfg.to_dict()
    resolved["data"]["dir"] = str(data_dir) if data_dir else None
    saved.write_text(yaml.safe_dump(resolved, sort_keys=False))
    started = time.perf_counter()
    experiment = Experiment(cfg, run_dir, data_dir)
    stages = plan_stages(cfg)
    print(f"adaptx: {len(stages)} stages -> {run_dir} (base {cfg.base_model}, {experiment.base.dtype}, "
          f"{torch.get_num_threads()} threads)", flush=True)
    experiment.preflight(stages)
    results = []
    for stage in stages:
        metrics = experiment.run_stage(stage)
        if stage.kind == "target":
            results.append(metrics)
            write_results(run_dir, results, cfg.target_task)  # partial results survive a later crash
    table = write_results(run_dir, results, cfg.target_task)
    print(table)
    print(f"adaptx: finished in {time.perf_counter() - started:.0f}s; results in {run_dir}/results.json and results.md")
    return run_dir
