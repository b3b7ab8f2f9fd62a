"""Time estimates and training curves while a run trains.

`StageMonitor` is what the training loop reports to: after the first steps it prints an estimate
of the time left in the stage (and, with a `RunMonitor`, in the whole run), at every English-dev
evaluation a line with the mean training loss since the previous one, and, when asked, it writes
TensorBoard scalars (loss, learning rate, gradient norm, English dev) through torch's standard
SummaryWriter. `RunMonitor` knows the run's plan: each unfinished stage's training steps, its kind
of training (adapter, fusion, full model) and whether it is evaluated zero-shot. A stage costs
more than its steps: loading and building its model, saving it, evaluating it. So the run learns
three things as it goes: the seconds per training step of each kind (timed steps only), the
seconds a stage spends outside its steps and evaluation (loading, building, saving: from the
first stage on, even before it finishes), and the seconds of a zero-shot evaluation. Stages of a
kind not yet timed are assumed as fast as the current one, and evaluations not yet timed are left
out; the estimate says which. Within a stage, English-dev evaluations are timed apart from its
steps and counted as the evaluations still ahead, so the rate does not jump each time one ends.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
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


@dataclass
class _Timing:
    """The stage being timed now: when it began, when its training loop began (its model loaded and
    built), its timed training steps and the seconds of its zero-shot evaluation."""

    started: float
    training_from: float | None = None
    steps: tuple[int, float] | None = None  # (timed steps, their seconds), from its StageMonitor
    evaluation: float = 0.0


@dataclass
class Left:
    """What the stages after the current one still cost, as far as the run knows."""

    seconds: float = 0.0
    stages: int = 0
    steps: int = 0
    guessed: bool = False  # some kind of training not timed yet, assumed as fast as the current one
    untimed: int = 0  # zero-shot evaluations ahead while none has been timed (left out of `seconds`)
    setup: float | None = None  # seconds per stage outside its steps and evaluation, counted for each
    stops_early: int = 0  # stages that may stop before their step limit (counted at it)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _recorded_evaluation(recorded: dict, languages: int) -> float | None:
    """The seconds a finished stage's whole zero-shot evaluation took, from StageFolder.eval_seconds (None:
    not every language evaluated, or a file from before they recorded their seconds)."""
    if not languages or len(recorded) < languages or None in recorded.values():
        return None
    return sum(recorded.values())


class RunMonitor:
    """A run's plan and what its stages have cost so far: the whole run's estimate."""

    def __init__(self, plan: list[tuple], tensorboard_dir: Path | None = None,
                 done_before: tuple[int, float] = (0, 0.0), evaluated_before: list[float] = ()):
        # plan: (stage id, kind of training, steps[, evaluated zero-shot[, may stop sooner]]) of each stage still
        # to run; a stage that may stop sooner (an `auto` budget: until English dev stops improving) counts its
        # step limit
        self.steps = {stage_id: steps for stage_id, _, steps, *_ in plan}  # steps still to train, per stage
        self.kinds = {stage_id: kind for stage_id, kind, *_ in plan}
        self.evaluates = {entry[0]: bool(entry[3:4] and entry[3]) for entry in plan}
        self.stops_early = {entry[0] for entry in plan if entry[4:5] and entry[4]}
        self.rates: dict[str, float] = {}  # kind -> seconds per training step, from stages finished in this run
        self.setups: list[float] = []  # seconds each finished stage spent outside its steps and evaluation
        # seconds of each zero-shot evaluation finished in this run, or recorded by an earlier one (a resumed
        # run knows what its evaluations cost before it has run one)
        self.evaluations: list[float] = list(evaluated_before)
        self.tensorboard_dir = tensorboard_dir
        self.done_before = done_before  # (stages finished in earlier runs, their seconds of training)
        self.now: _Timing | None = None

    @classmethod
    def for_run(cls, experiment, stages, tensorboard: bool = False) -> RunMonitor:
        """The plan of the stages still to run (finished ones cost nothing) of a prepared experiment."""
        plan, before, seconds, evaluated = [], 0, 0.0, []
        for s in stages:
            done = experiment.store.finished(s.id)
            if done is None:
                job = experiment.recipes.job_for(s) if s.trains else None
                plan.append((s.id, training_kind(s), job.steps if job else 0, s.evaluate,
                             job is not None and job.patience is not None))
                continue
            before += 1
            train = done.get("train") if isinstance(done, dict) else None
            seconds += float(train.get("train_seconds") or 0.0) if isinstance(train, dict) else 0.0
            if not s.evaluate:
                continue
            languages = [lang for lang, split in experiment.eval_splits.get(s.task, {}).items() if split is not None]
            if (recorded := _recorded_evaluation(experiment.store.folder(s.id).eval_seconds(), len(languages))) is not None:
                evaluated.append(recorded)
        return cls(plan, experiment.run_dir / TENSORBOARD_DIR if tensorboard else None, (before, seconds), evaluated)

    def stage_monitor(self, stage_id: str) -> StageMonitor:
        return StageMonitor(stage_id, self)

    @contextmanager
    def stage(self, stage_id: str):
        """Time one stage, loading, training and evaluation together; once it finishes it costs nothing more."""
        timing = self.now = _Timing(time.perf_counter())
        yield
        total, self.now = time.perf_counter() - timing.started, None
        if stage_id not in self.steps:  # done before: nothing was timed
            return
        steps, kind = self.steps.pop(stage_id), self.kinds[stage_id]
        if timing.evaluation:
            self.evaluations.append(timing.evaluation)
        if steps and timing.steps:  # the training loop timed its steps: the rest is loading and saving
            self.rates[kind] = timing.steps[1] / timing.steps[0]
            self.setups.append(max(0.0, total - timing.evaluation - steps * self.rates[kind]))
        elif steps:  # steps not timed (a one-step stage): its whole time per step
            self.rates[kind] = (total - timing.evaluation) / steps

    @contextmanager
    def evaluation(self):
        """Time the current stage's zero-shot evaluation."""
        started = time.perf_counter()
        yield
        if self.now is not None:
            self.now.evaluation += time.perf_counter() - started

    def training_started(self) -> None:
        if self.now is not None and self.now.training_from is None:
            self.now.training_from = time.perf_counter()

    def steps_timed(self, steps: int, seconds: float) -> None:
        if self.now is not None:
            self.now.steps = (steps, seconds)

    def setup_seconds(self) -> float | None:
        """A stage's seconds outside its steps and evaluation (loading, building, saving): the mean of the
        finished stages', else the current stage's loading so far (until its training began)."""
        if self.setups:
            return _mean(self.setups)
        if self.now is not None and self.now.training_from is not None:
            return self.now.training_from - self.now.started
        return None

    def evaluation_ahead(self, stage_id: str) -> tuple[float, int]:
        """(seconds, evaluations not timed yet) of the zero-shot evaluation `stage_id` still has ahead."""
        if not self.evaluates.get(stage_id):
            return 0.0, 0
        seconds = _mean(self.evaluations)
        return (0.0, 1) if seconds is None else (seconds, 0)

    def left_after(self, stage_id: str, rate: float) -> Left:
        """What the stages after `stage_id` still cost, at `rate` s/step for kinds not timed yet."""
        kind, left = self.kinds.get(stage_id), Left(setup=self.setup_seconds())
        for other, count in self.steps.items():
            if other == stage_id:
                continue
            known = self.rates.get(self.kinds[other])
            left.guessed = left.guessed or (count > 0 and known is None and self.kinds[other] != kind)
            evaluation, untimed = self.evaluation_ahead(other)
            left.seconds += count * (known if known is not None else rate) + (left.setup or 0.0) + evaluation
            left.stages, left.steps, left.untimed = left.stages + 1, left.steps + count, left.untimed + untimed
            left.stops_early += other in self.stops_early
        return left

    def finished_line(self, seconds: float, run_dir) -> str:
        """The run's last line: how long it took, and what earlier runs had done already."""
        before, trained = self.done_before
        results = f"results in {run_dir}/results.json and results.md"
        earlier = (f"{before} stage{'s' if before != 1 else ''} done before ({duration(trained)} of training in "
                   "earlier runs)")
        if not self.kinds:  # nothing was left to run
            return f"adaptx: all {earlier}; nothing left to train, tables reprinted in {duration(seconds)}; {results}"
        return f"adaptx: finished in {duration(seconds)}{f'; {earlier}' if before else ''}; {results}"


class StageMonitor:
    """What one stage's training loop reports: estimates, evaluation lines, TensorBoard scalars."""

    def __init__(self, description: str, run: RunMonitor | None = None):
        self.description, self.run = description, run
        self.shown = True
        self.writer = None
        self.timed_from: tuple[int, float] | None = None
        self.last: tuple[int, float] | None = None  # the last step and when it ended
        self.estimated = False
        self.eval_every: int | None = None
        # English-dev evaluations are timed apart from the steps: a rate that counted them would jump each time
        # one ends (more so right after a resume, with few steps timed); they are counted as evaluations ahead
        self.dev_seconds: list[float] = []  # each English-dev evaluation of this stage
        self.paused = 0.0  # seconds of those evaluations between the first timed step and the last step
        self._pending = 0.0  # the evaluation after the last step, counted in `paused` once the next step ends

    def start(self, step: int, steps: int, main: bool = True, eval_every: int | None = None) -> None:
        self.first, self.steps, self.shown, self.eval_every = step, steps, main, eval_every
        if self.run is not None:
            self.run.training_started()
        if main and self.run is not None and self.run.tensorboard_dir is not None:
            self.writer = require_tensorboard()(log_dir=str(self.run.tensorboard_dir / self.description))

    def stepped(self, step: int, loss: float, scalars: dict | None = None) -> None:
        """A training step ended; scalars: more of its values for TensorBoard (learning rate, gradient
        norm), as numbers or one-element tensors (read only when TensorBoard is on)."""
        if self.writer is not None:
            self.writer.add_scalar("train/loss_per_step", loss, step)
            for name, value in (scalars or {}).items():
                self.writer.add_scalar(f"train/{name}", float(value), step)
        if self.timed_from is not None:
            self.paused += self._pending
        self._pending = 0.0
        self.last = (step, time.perf_counter())
        if step - self.first == MEASURE_FROM:
            self.timed_from = self.last
        timed = step - self.timed_from[0] if self.timed_from else 0
        if not self.estimated and self.shown and (timed >= ESTIMATE_AFTER or (timed and step == self.steps)):
            self.estimated = True
            logs.info(f"  {self.description}: step {step}/{self.steps}, {self.estimate(step)}")

    def rate(self, step: int) -> float | None:
        """Seconds per training step since the first timed step, English-dev evaluations left out."""
        if not self.timed_from or not self.last or self.last[0] <= self.timed_from[0]:
            return None
        return (self.last[1] - self.timed_from[1] - self.paused) / (self.last[0] - self.timed_from[0])

    def dev_ahead(self, step: int) -> float:
        """Seconds of the English-dev evaluations still ahead in this stage (every `eval_every` steps and at its
        last step), at the mean of those timed so far (none timed yet: 0)."""
        if not self.eval_every or not self.dev_seconds or step >= self.steps:
            return 0.0
        count = (self.steps - 1) // self.eval_every - step // self.eval_every + 1
        return count * _mean(self.dev_seconds)

    def _rate_with_dev(self, rate: float) -> float:
        """Seconds per step with English-dev evaluations spread over the steps: the guess for later stages of
        a kind not timed yet, as a finished stage's rate is measured."""
        if not self.eval_every or not self.dev_seconds:
            return rate
        return rate + _mean(self.dev_seconds) / self.eval_every

    def estimate(self, step: int) -> str:
        """The time left, from the seconds per step measured so far (call once a step was timed), and in
        the run, from what its stages have cost so far."""
        rate = self.rate(step) or 0.0
        evaluation, untimed = self.run.evaluation_ahead(self.description) if self.run is not None else (0.0, 0)
        here = rate * (self.steps - step) + self.dev_ahead(step) + evaluation
        text = f"{rate:.2f} s/step"
        if here:  # an `auto` budget's stage stops sooner once English dev stops improving
            text += f": about {duration(here)} left in this stage"
            text += " at most" if self.run is not None and self.description in self.run.stops_early else ""
        later = self.run.left_after(self.description, self._rate_with_dev(rate)) if self.run is not None else Left()
        if later.stages:
            notes = [f"{later.steps} more training steps in later stages"]
            notes += ["kinds not yet timed assumed this fast"] if later.guessed else []
            notes += [f"about {duration(later.setup)} per stage to load and save"] if later.setup else []
            untimed += later.untimed
            notes += [f"{untimed} zero-shot evaluation{'s' if untimed != 1 else ''} not timed yet, "
                      "left out"] if untimed else []
            notes += [f"{later.stops_early} stage{'s' if later.stops_early != 1 else ''} of an `auto` budget counted "
                      "at the step limit: they stop sooner once English dev stops improving"] if later.stops_early else []
            text += f"{',' if here else ':'} about {duration(here + later.seconds)} left in the run ({'; '.join(notes)})"
        return text + " [estimate]"

    def evaluated(self, step: int, metric: str, score: float, train_loss: float | None) -> None:
        """An English-dev evaluation ended (it started as step `step` ended)."""
        if self.last is not None and self.last[0] == step:
            self.dev_seconds.append(time.perf_counter() - self.last[1])
            self._pending = self.dev_seconds[-1]
        if self.writer is not None:
            self.writer.add_scalar(f"dev/{metric}", score, step)
            if train_loss is not None:
                self.writer.add_scalar("train/loss", train_loss, step)
        if self.shown:
            loss = f"train loss {train_loss:.4f}, " if train_loss is not None else ""
            left = f"; {self.estimate(step)}" if step < self.steps and self.rate(step) else ""
            logs.info(f"  {self.description}: step {step}/{self.steps}: {loss}en dev {metric} {score:.4f}{left}")

    def close(self) -> None:
        """The end of training: the run learns this stage's speed from its timed steps."""
        if self.run is not None and self.timed_from and self.last and self.last[0] > self.timed_from[0]:
            self.run.steps_timed(self.last[0] - self.timed_from[0], self.last[1] - self.timed_from[1])
        if self.writer is not None:
            self.writer.close()
            self.writer = None
