"""One training routine for adapters, fusion and full fine-tuning, with English-dev model
selection and resumable checkpoints.

A checkpoint is one safetensors file (trainable weights, the best weights so far, AdamW
state, the torch RNG state) with its step and history in the file's metadata, written to a
temporary name and renamed into place: a crash at any moment leaves the previous
checkpoint whole. Batches are a pure function of (seed, step), so a resumed run sees the
same batches it would have seen. We wrote this loop rather than use transformers' Trainer
because the frozen-bf16-base/fp32-adapter split, exact resumption of adapter-only state and
safetensors-only checkpoints are each a fight with the Trainer's assumptions.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from . import logs
from .convergence import from_curve
from .errors import AdaptxError
from .kinds import get_kind
from .kinds.base import Encoding
from .sampling import batch_indices  # noqa: F401 - re-exported: tests/test_train.py imports it from here


@dataclass
class TrainJob:
    steps: int
    lr: float
    batch_size: int
    seed: int
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    eval_every: int = 25  # English-dev evaluation (model selection) every N steps, and at the end
    checkpoint_every: int = 25
    max_grad_norm: float = 1.0
    head_lr: float | None = None  # None: the same rate as the rest
    metric: str = "accuracy"  # model selection metric (adaptx.metrics)
    micro_batch_size: int | str = "auto"  # per forward pass and process; "auto": the largest that fits
    description: str = "train"
    # until English dev stops improving: stop after this many evaluations without an improvement larger
    # than min_improvement (`steps` is then the most it may train); None: train all `steps`
    patience: int | None = None
    min_improvement: float = 0.0


def forward_batch(model: nn.Module, batch: dict, device) -> torch.Tensor:
    """The model's outputs for a collated batch: token ids and mask, plus, for a multi-task model,
    the batch's task (which head) and what that head needs besides (`head_inputs`)."""
    extra = {k: v.to(device) for k, v in batch.get("head_inputs", {}).items()}
    if "task" in batch:
        extra["task"] = batch["task"]
    return model(batch["input_ids"].to(device), batch["attention_mask"].to(device), **extra)


@torch.inference_mode()
def predict(model: nn.Module, data: Encoding, pad_id: int, batch_size: int = 64, progress: str | None = None,
            runtime=None) -> list:
    """One prediction per example (the kind merges its features' results). Batches are
    length-sorted so padding is minimal. With several processes each predicts every
    world_size-th batch and the results are gathered."""
    from tqdm.auto import tqdm

    kind = get_kind(data.kind)
    world, rank = (runtime.world_size, runtime.rank) if runtime else (1, 0)
    was_training = model.training
    model.eval()
    # length-sorted within each group (a mixture's tasks), and no batch spans two groups
    order = sorted(range(len(data)), key=lambda i: (kind.group(data.features[i]), len(data.features[i])))
    device = next(model.parameters()).device
    batches, current = [], []
    for i in order:
        if current and (len(current) == batch_size
                        or kind.group(data.features[i]) != kind.group(data.features[current[0]])):
            batches.append(current)
            current = []
        current.append(i)
    batches = (batches + [current] if current else batches)[rank::world]
    pairs = []
    bar = {"disable": True} if progress is None else logs.bar_options(rank)
    for idx in tqdm(batches, desc=progress, leave=False, unit="batch", **bar):
        features = [data.features[i] for i in idx]
        batch = kind.collate(features, pad_id)
        outputs = forward_batch(model, batch, device)
        pairs += zip(idx, kind.results(outputs, batch, features))
    if world > 1:
        from accelerate.utils import gather_object

        pairs = gather_object(pairs)
    results = [None] * len(data)
    for i, result in pairs:
        results[i] = result
    model.train(was_training)
    return kind.decode(results, data)


# -- checkpoints ---------------------------------------------------------------------------

def _save_checkpoint(path: Path, model, optimizer, best: dict | None, meta: dict) -> None:
    import tempfile

    from safetensors.torch import save_file

    meta = dict(meta, temperature=model.fusion_temperature())

    # everything on the CPU: a checkpoint written on a GPU resumes on a CPU and vice versa
    tensors = {f"param/{n}": p.detach().cpu().contiguous() for n, p in model.trainable_parameters().items()}
    if best is not None:
        tensors.update({f"best/{n}": t.cpu().contiguous() for n, t in best.items()})
    state = optimizer.state_dict()
    for idx, slots in state["state"].items():
        for key, value in slots.items():
            tensors[f"opt/{idx}/{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    tensors["rng/torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        tensors["rng/cuda"] = torch.cuda.get_rng_state()
    meta = dict(meta, param_groups=state["param_groups"])
    # a temporary name of this writer's own beside the target, then one rename: two writers (a run
    # and a search worker in one folder) never write into the same file, and a reader sees a whole one
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        save_file(tensors, tmp, metadata={"adaptx": json.dumps(meta)})
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _load_checkpoint(path: Path, model, optimizer) -> tuple[dict, dict | None]:
    from safetensors import safe_open

    from .safetensors_check import safetensors_problem

    problem = safetensors_problem(path)
    if problem:
        raise AdaptxError(f"checkpoint {path} is unreadable ({problem.removeprefix(f'{path}: ')}); delete it to "
                          "restart this stage from its first step (finished stages are not affected)")
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = json.loads(handle.metadata()["adaptx"])
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        meta["step"], meta["history"], meta["param_groups"]  # noqa: B018 - a checkpoint without these is damaged
    except Exception as exc:  # noqa: BLE001 - safetensors raises several types for a damaged file
        raise AdaptxError(
            f"checkpoint {path} is unreadable ({type(exc).__name__}: {str(exc)[:120]}); delete it to restart this "
            "stage from its first step (finished stages are not affected)"
        ) from exc
    params = model.trainable_parameters()
    saved = {k[len("param/"):] for k in tensors if k.startswith("param/")}
    if saved != set(params):
        raise AdaptxError(f"checkpoint {path} does not match this stage's trainable parameters; delete it to restart the stage")
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(tensors[f"param/{name}"])
    state: dict = {}
    for key, value in tensors.items():
        if key.startswith("opt/"):
            _, idx, slot = key.split("/", 2)
            state.setdefault(int(idx), {})[slot] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta.pop("param_groups")})
    torch.set_rng_state(tensors["rng/torch"])
    if "rng/cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng/cuda"])
    model.set_fusion_temperature(meta.get("temperature"))
    best = {k[len("best/"):]: v for k, v in tensors.items() if k.startswith("best/")} or None
    return meta, best


# -- the loop ------------------------------------------------------------------------------

def _micro_batches(idx: list[int], micro: int) -> list[list[int]]:
    return [idx[i : i + micro] for i in range(0, len(idx), micro)]


def fit_micro_batch(model, train: Encoding, job: TrainJob, pad_id: int, runtime=None) -> int:
    """The micro-batch a stage trains with: the configured one, or for `auto` the largest divisor of
    the per-process batch whose forward and backward on the longest training examples fit in memory,
    backing off on out-of-memory errors as accelerate's `find_executable_batch_size` does. The probe
    leaves no trace: gradients, RNG state and fusion temperature are restored."""
    from accelerate.utils import find_executable_batch_size

    world = runtime.world_size if runtime else 1
    local = math.ceil(job.batch_size / world)
    if job.micro_batch_size != "auto":
        return min(int(job.micro_batch_size), local)
    divisors = [d for d in range(local, 0, -1) if local % d == 0]
    kind = get_kind(train.kind)
    device = next(model.parameters()).device
    rng, temperature, was_training = torch.get_rng_state(), model.fusion_temperature(), model.training
    tried = iter(divisors[1:])

    def smaller() -> int:
        size = next(tried, 0)
        if size == 0:
            raise AdaptxError(f"{job.description}: even a micro-batch of 1 does not fit in memory on {device}; "
                              "use gradient_checkpointing: true, a smaller max_seq_length or base_dtype: bf16")
        return size

    @find_executable_batch_size(starting_batch_size=local, reduce_batch_size_fn=smaller)
    def probe(size: int) -> int:
        model.train()
        # the kind's own batch of its costliest features (multiple choice: every choice of each)
        batch = kind.collate(kind.probe_features(train, size), pad_id)
        try:
            forward_batch(model, batch, device).float().sum().backward()
        finally:
            model.zero_grad(set_to_none=True)
        return size

    try:
        return probe()
    finally:
        torch.set_rng_state(rng)
        model.set_fusion_temperature(temperature)
        model.train(was_training)


def _optimizer(params: dict[str, nn.Parameter], job: TrainJob) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters: the head at `job.head_lr` when given, and no weight decay
    on 1-d parameters (biases, norms)."""
    groups = []
    for is_head in (False, True):
        lr = (job.head_lr or job.lr) if is_head else job.lr
        chosen = {n: p for n, p in params.items() if n.startswith("head.") == is_head}
        for decay in (True, False):
            group = [p for p in chosen.values() if (p.ndim > 1) == decay]
            if group:
                groups.append({"params": group, "lr": lr, "weight_decay": job.weight_decay if decay else 0.0})
    try:  # the fused kernel is ~10x faster on CPU for full fine-tuning's 100M+ parameters
        return torch.optim.AdamW(groups, lr=job.lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(groups, lr=job.lr)


def _accumulate(trained, model, kind, train: Encoding, parts: list[list[int]], total: int, pad_id: int, device,
                world: int, scaler, job: TrainJob, step: int) -> tuple[float, bool]:
    """Forward and backward of this process's micro-batches of one step, their gradients accumulated.
    Returns the step's loss (this process's share) and whether a regulariser was added."""
    from contextlib import nullcontext

    step_loss, regularized = 0.0, False
    for j, part in enumerate(parts):
        last = j == len(parts) - 1
        # gradients of every micro-batch accumulate; DDP all-reduces them once, after the last
        with trained.no_sync() if world > 1 and not last else nullcontext():
            inputs = kind.collate([train.features[i] for i in part], pad_id)
            outputs = forward_batch(trained, inputs, device)
            # the micro-batch's summed loss / the whole batch's count of loss terms: the accumulated
            # gradient is the batch mean; x world because DDP averages the processes' gradients
            loss = kind.loss(outputs, inputs) * world / total
            if j == 0:
                regularizer = model.regularization_loss()
                if regularizer is not None:  # once per step (DDP's average keeps it once)
                    loss = loss + regularizer
                    regularized = True
            if not torch.isfinite(loss):
                raise AdaptxError(f"{job.description}: loss became {loss.item()} at step {step + 1}; "
                                  f"lower the learning rate ({job.lr})")
            (scaler.scale(loss) if scaler else loss).backward()
            step_loss += loss.item() / world
    return step_loss, regularized


def _resume(checkpoint: Path, model, optimizer, scheduler, job: TrainJob, world: int, rank: int, on_evaluate) -> dict:
    """Load a checkpoint into the model and optimizer and fast-forward the schedule to its step.
    Returns its metadata (step, best_score, history, best_temperature, loss_window) and best weights."""
    meta, best = _load_checkpoint(checkpoint, model, optimizer)
    for entry in meta["history"] if on_evaluate is not None else []:  # the observer sees the whole curve
        on_evaluate(entry["step"], entry["dev_score"])
    if rank == 0:
        logs.info(f"  {job.description}: resuming at step {meta['step']} of {job.steps} from {checkpoint.name}")
    if meta.get("processes", 1) != world and rank == 0:
        logs.info(f"  note: resuming {job.description} with {world} process(es); its checkpoint was written with "
                  f"{meta.get('processes', 1)}: the effective batch is the same, dropout draws differ")
    with warnings.catch_warnings():  # fast-forward: the schedule is a pure function of the step
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(meta["step"]):
            scheduler.step()
    return dict(meta, best=best)


class _Selection:
    """English-dev model selection and the training curve: the history (each evaluation's dev score
    and the mean training loss of the steps since the previous one), the best weights so far."""

    def __init__(self, model, dev: Encoding, job: TrainJob, pad_id: int, runtime, on_evaluate, monitor):
        from .metrics import metric_for_language

        self.model, self.dev, self.job, self.pad_id, self.runtime = model, dev, job, pad_id, runtime
        self.on_evaluate, self.monitor = on_evaluate, monitor
        self.metric = metric_for_language(job.metric, "en")  # selection is on English dev
        self.golds = get_kind(dev.kind).golds(dev)
        self.best_score, self.best, self.history, self.best_temperature = -1.0, None, [], None
        self.best_predictions = None
        self.loss_window = [0.0, 0]  # summed step losses and steps since the last evaluation

    def restore(self, meta: dict) -> None:
        self.best_score, self.best, self.history = meta["best_score"], meta["best"], meta["history"]
        self.best_temperature = meta.get("best_temperature")
        self.best_predictions = meta.get("best_predictions")  # older checkpoints: none
        self.loss_window = list(meta.get("loss_window", [0.0, 0]))  # older checkpoints: the window restarts

    def add_loss(self, loss: float) -> None:
        self.loss_window[0] += loss
        self.loss_window[1] += 1

    def evaluate(self, at: int) -> None:
        model = self.model
        predictions = predict(model, self.dev, self.pad_id, runtime=self.runtime)
        score = self.metric.compute(predictions, self.golds)
        total, count = self.loss_window
        entry = {"step": at, "dev_score": score}
        if count:  # not part of any stage hash: metrics.json and checkpoints only
            entry["train_loss"] = round(total / count, 6)
        self.history.append(entry)
        self.loss_window = [0.0, 0]
        if score > self.best_score:
            self.best_score = score
            self.best = {n: p.detach().clone() for n, p in model.trainable_parameters().items()}
            self.best_temperature = model.fusion_temperature()
            # kept so that a rescore on other kernels can say how many rows agree (adaptx.zoo_rescore)
            self.best_predictions = predictions
        self.monitor.evaluated(at, self.job.metric, score, entry.get("train_loss"))
        if self.on_evaluate is not None:
            self.on_evaluate(at, score)

    def evaluations_since_best(self) -> int:
        """How many English-dev evaluations came after the best one (by more than min_improvement)."""
        best, since = None, 0
        for entry in self.history:
            if best is None or entry["dev_score"] > best + self.job.min_improvement:
                best, since = entry["dev_score"], 0
            else:
                since += 1
        return since

    def patience_spent(self) -> bool:
        """True once a budget of `auto` has seen `patience` evaluations without improvement."""
        return self.job.patience is not None and self.evaluations_since_best() >= self.job.patience

    def convergence(self, trained: int) -> dict:
        """Whether the stage converged: with a patience, it stopped by patience before its step limit;
        on a fixed budget, its best dev score came at least adaptx.convergence.PATIENCE evaluations before
        the last. Recorded in metrics.json (never in a stage hash), marked in every results table."""
        if self.job.patience is not None:
            converged = self.patience_spent()
            why = (f"stopped by patience ({self.job.patience} evaluations without improvement)" if converged
                   else f"reached its step limit ({self.job.steps}) while English dev was still improving")
        else:  # as `auto` with its default patience would judge the curve (adaptx.convergence)
            found = from_curve(self.history)
            converged, why = found["converged"] is True, found["convergence"]
        return {"max_steps": self.job.steps, "converged": converged, "convergence": why,
                "budget": "auto" if self.job.patience is not None else self.job.steps}

    def summary(self, trained: int, **extra) -> dict:
        """The stage's training summary (metrics.json's `train`), once the best weights are back."""
        best_step = self.select_best()
        return {"steps": trained, **self.convergence(trained), "metric": self.job.metric,
                "best_dev_score": self.best_score, "best_step": best_step, "best_dev_predictions": self.best_predictions,
                "history": self.history, "fusion_regularizer": extra.pop("regularized"), **extra}

    def checkpoint_meta(self, step: int, world: int) -> dict:
        return {"step": step, "best_score": self.best_score, "history": self.history,
                "best_temperature": self.best_temperature, "processes": world, "loss_window": self.loss_window,
                "best_predictions": self.best_predictions}

    def select_best(self) -> int:
        """Put the best English-dev weights (and their fusion temperature) back; returns their step."""
        with torch.no_grad():
            for name, p in self.model.trainable_parameters().items():
                p.copy_(self.best[name])
        self.model.set_fusion_temperature(self.best_temperature)
        return next(h["step"] for h in self.history if h["dev_score"] == self.best_score)


def _optimizer_step(optimizer, scheduler, scaler, params: dict, job: TrainJob) -> dict:
    """One optimizer step; returns the step's learning rate(s) and gradient norm (before clipping) for
    TensorBoard (the norm stays a tensor: reading it would wait for the device)."""
    if scaler:
        scaler.unscale_(optimizer)
    norm = torch.nn.utils.clip_grad_norm_(list(params.values()), job.max_grad_norm)
    schedule = scheduler.get_last_lr()[0] / scheduler.base_lrs[0]  # this step's share of the peak rate
    scalars = {"learning_rate": job.lr * schedule, "grad_norm": norm}
    if job.head_lr and job.head_lr != job.lr:
        scalars["learning_rate_head"] = job.head_lr * schedule
    if scaler:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return scalars


def train_model(model, train: Encoding, dev: Encoding, job: TrainJob, pad_id: int, checkpoint: Path,
                runtime=None, on_evaluate=None, monitor=None) -> dict:
    """Train `model.trainable_parameters()`; keep the weights that score best on English dev.

    Every step sees `job.batch_size` examples (the effective batch): each process takes its share
    and runs it in micro-batches whose gradients accumulate, so any micro-batch size and any number
    of processes give the same update (up to float rounding and dropout draws). Dev is scored with
    `job.metric` every `job.eval_every` steps and at the end; the best weights (and the fusion
    temperature they go with) are restored before returning. Resumes from `checkpoint` when it
    exists; only the main process writes it. Returns a summary (steps, best dev score, history with
    the mean training loss between evaluations, seconds, micro-batch).

    A SIGINT or SIGTERM during the steps lets the current step finish, checkpoints it and raises
    adaptx.interrupts.Interrupted naming the step (a rerun resumes there); a second one stops at once.

    on_evaluate(step, score), when given, is called after every English-dev evaluation (first for
    each one restored from a checkpoint); it only observes, and may raise to stop training (a
    search's pruner does), which leaves the last checkpoint in place. Unused, nothing changes.
    monitor: an adaptx.progress.StageMonitor (time estimates, TensorBoard); by default one that
    prints this stage's estimate.
    """
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    from .interrupts import Interrupted, stop_requests
    from .progress import StageMonitor

    kind = get_kind(train.kind)
    world, rank = (runtime.world_size, runtime.rank) if runtime else (1, 0)
    if job.batch_size < world:
        raise AdaptxError(f"{job.description}: train.batch_size {job.batch_size} is smaller than the {world} "
                          "processes; every process needs at least one example per step")
    params = model.trainable_parameters()
    if not params:
        raise AdaptxError(f"{job.description}: nothing to train (no trainable parameters)")
    optimizer = _optimizer(params, job)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(job.warmup_ratio * job.steps), job.steps)
    micro = fit_micro_batch(model, train, job, pad_id, runtime)
    # loss scaling keeps fp16 gradients from underflowing; bf16 and fp32 need none
    scaler = torch.amp.GradScaler("cuda") if runtime is not None and runtime.needs_loss_scaling else None
    monitor = monitor or StageMonitor(job.description)
    selection = _Selection(model, dev, job, pad_id, runtime, on_evaluate, monitor)
    step, seconds_before = 0, 0.0  # the training time before a resume counts too
    if checkpoint.is_file():
        meta = _resume(checkpoint, model, optimizer, scheduler, job, world, rank, on_evaluate)
        step, seconds_before = meta["step"], float(meta.get("train_seconds", 0.0))
        selection.restore(meta)
    saved = step

    def save(at: int) -> None:
        nonlocal saved
        if rank == 0 and at != saved:
            seconds = round(seconds_before + time.perf_counter() - started, 1)
            _save_checkpoint(checkpoint, model, optimizer, selection.best,
                             dict(selection.checkpoint_meta(at, world), train_seconds=seconds))
        saved = at

    trained = runtime.accelerator.prepare_model(model) if world > 1 else model  # DDP: gradients all-reduced
    device = next(model.parameters()).device
    model.train()
    started = time.perf_counter()
    sample = kind.sampler(train, job.batch_size, job.seed)  # step -> batch: a pure function of (seed, step)
    terms = [kind.loss_terms(f) for f in train.features]
    regularized = False
    monitor.start(step, job.steps, main=rank == 0, eval_every=job.eval_every)
    bar = tqdm(total=job.steps, initial=step, desc=job.description, unit="step", leave=False, **logs.bar_options(rank))
    try:
        with stop_requests() as stops:
            while step < job.steps and not selection.patience_spent():  # (a resume may find it spent)
                batch = sample(step)
                total = max(1, sum(terms[i] for i in batch))  # loss terms in the whole batch (all processes)
                parts = _micro_batches(batch[rank::world], micro)
                step_loss, used_regularizer = _accumulate(trained, model, kind, train, parts, total, pad_id, device,
                                                          world, scaler, job, step)
                regularized = regularized or used_regularizer
                scalars = _optimizer_step(optimizer, scheduler, scaler, params, job)
                step += 1
                selection.add_loss(step_loss)
                bar.update(1)
                bar.set_postfix(loss=f"{step_loss:.3f}")
                monitor.stepped(step, step_loss, scalars)
                if step % job.eval_every == 0 and step < job.steps:
                    selection.evaluate(step)
                    if selection.patience_spent():
                        break
                if step % job.checkpoint_every == 0 and step < job.steps:
                    save(step)
                if stops.requested(device):
                    break
            if not stops.requested(device) and (not selection.history or selection.history[-1]["step"] != step):
                selection.evaluate(step)
            if stops.requested(device):  # this step's state is whole: keep it, then stop
                save(step)
                raise Interrupted(stops.signum, f"{job.description} stopped at step {step} of {job.steps}; its "
                                                f"checkpoint holds that step: rerun the same command to resume there")
    finally:
        bar.close()
        monitor.close()
    return selection.summary(step, regularized=regularized, micro_batch_size=micro,
                             train_seconds=round(seconds_before + time.perf_counter() - started, 1))
