"""Time estimates and training curves while a run trains.

`StageMonitor` is what the training loop reports to: after the first steps it prints an estimate
of the time left in the stage (and, with a `RunMonitor`, in the whole run), at every English-dev
evaluation a line with the mean training loss since the previous one, and, when asked, it writes
TensorBoard scalars through torch's standard SummaryWriter. `RunMonitor` knows the run's plan:
the steps each unfinished stage trains and its kind of training (adapter, fusion, full model),
and the seconds per step each kind has taken so far in this run (a finished stage's whole time,
evaluation included, over its steps). Stages of a kind not yet timed are assumed as fast as the
current one, which the estimate says.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

from . import logs
from .errors import AdaptxError

MEASURE_FROM = 1  # the first step is slow (allocations, caches, the micro-batch probe): not timed
ESTIMATE_AFTER = 3  # steps timed before the first estimate (or every step of a shorter stage)
TENSORBOARD_DIR = "tensorboard"


def duration(seconds: float) -> str:
    """45 s, 12 min, 2 h 05 min."""
    if seconds < 90:
        return f"{max(0, round(seconds))} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 90 else f"{minutes // 60} h {minutes % 60:02d} min"


def require_tensorboard():
    """torch's SummaryWriter, or a clear message that it needs the tensorboard package."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise AdaptxError("--tensorboard needs the tensorboard package, which is not installed: "
                          "pip install tensorboard (or pip install 'adaptx[tensorboard]')") from exc
    return SummaryWriter


def training_kind(stage) -> str:
    """What a stage's steps cost like: full-model, fusion or adapter training."""
    from .strategies import get_strategy

    strategy = get_strategy(stage.strategy)
    return "full" if strategy.full_model else "fusion" if strategy.fusion else "adapter"


class RunMonitor:
    """A run's plan and the speed of each kind of training so far: the whole run's estimate."""

    def __init__(self, plan: list[tuple[str, str, int]], tensorboard_dir: Path | None = None):
        self.steps = {stage_id: steps for stage_id, _, steps in plan}  # steps still to train, per stage
        self.kinds = {stage_id: kind for stage_id, kind, _ in plan}
        self.rates: dict[str, float] = {}  # kind -> seconds per step, from stages finished in this run
        self.tensorboard_dir = tensorboard_dir

    @classmethod
    def for_run(cls, experiment, stages, tensorboard: bool = False) -> RunMonitor:
        """The plan of the stages still to train (finished ones cost nothing) of a prepared experiment."""
        plan = [(s.id, training_kind(s), experiment.recipes.job_for(s).steps) for s in stages
                if s.trains and experiment.store.finished(s.id) is None]
        return cls(plan, experiment.run_dir / TENSORBOARD_DIR if tensorboard else None)

    def stage_monitor(self, stage_id: str) -> StageMonitor:
        return StageMonitor(stage_id, self)

    @contextmanager
    def stage(self, stage_id: str):
        """Time one stage, training and evaluation together; once it finishes it costs nothing more."""
        started = time.perf_counter()
        yield
        steps = self.steps.pop(stage_id, 0)
        if steps:
            self.rates[self.kinds[stage_id]] = (time.perf_counter() - started) / steps

    def left_after(self, stage_id: str, rate: float) -> tuple[float, int, bool]:
        """(seconds, steps) the stages after `stage_id` still train, and whether some kind was guessed."""
        kind, seconds, steps, guessed = self.kinds.get(stage_id), 0.0, 0, False
        for other, count in self.steps.items():
            if other == stage_id:
                continue
            known = self.rates.get(self.kinds[other])
            guessed = guessed or (known is None and self.kinds[other] != kind)
            seconds += count * (known if known is not None else rate)
            steps += count
        return seconds, steps, guessed


class StageMonitor:
    """What one stage's training loop reports: estimates, evaluation lines, TensorBoard scalars."""

    def __init__(self, description: str, run: RunMonitor | None = None):
        self.description, self.run = description, run
        self.shown = True
        self.writer = None
        self.timed_from: tuple[int, float] | None = None
        self.estimated = False

    def start(self, step: int, steps: int, main: bool = True) -> None:
        self.first, self.steps, self.shown = step, steps, main
        if main and self.run is not None and self.run.tensorboard_dir is not None:
            self.writer = require_tensorboard()(log_dir=str(self.run.tensorboard_dir / self.description))

    def stepped(self, step: int, loss: float) -> None:
        if self.writer is not None:
            self.writer.add_scalar("train/loss_per_step", loss, step)
        if step - self.first == MEASURE_FROM:
            self.timed_from = (step, time.perf_counter())
        timed = step - self.timed_from[0] if self.timed_from else 0
        if not self.estimated and self.shown and (timed >= ESTIMATE_AFTER or (timed and step == self.steps)):
            self.estimated = True
            logs.info(f"  {self.description}: step {step}/{self.steps}, {self.estimate(step)}")

    def rate(self, step: int) -> float | None:
        """Seconds per step since the first timed step."""
        if not self.timed_from or step <= self.timed_from[0]:
            return None
        return (time.perf_counter() - self.timed_from[1]) / (step - self.timed_from[0])

    def estimate(self, step: int) -> str:
        """The time left, from the seconds per step measured so far (call once a step was timed)."""
        rate = self.rate(step) or 0.0
        text = f"{rate:.2f} s/step"
        if step < self.steps:
            text += f": about {duration(rate * (self.steps - step))} left in this stage"
        if self.run is not None:
            seconds, steps, guessed = self.run.left_after(self.description, rate)
            if steps:
                text += (f"{',' if step < self.steps else ':'} about {duration(rate * (self.steps - step) + seconds)} "
                         f"left in the run ({steps} more "
                         f"training steps in later stages{'; kinds not yet timed assumed this fast' if guessed else ''})")
        return text + " [estimate]"

    def evaluated(self, step: int, metric: str, score: float, train_loss: float | None) -> None:
        if self.writer is not None:
            self.writer.add_scalar(f"dev/{metric}", score, step)
            if train_loss is not None:
                self.writer.add_scalar("train/loss", train_loss, step)
        if self.shown:
            loss = f"train loss {train_loss:.4f}, " if train_loss is not None else ""
            left = f"; {self.estimate(step)}" if step < self.steps and self.rate(step) else ""
            logs.info(f"  {self.description}: step {step}/{self.steps}: {loss}en dev {metric} {score:.4f}{left}")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
