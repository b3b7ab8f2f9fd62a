"""SIGTERM handled like Ctrl-C, and a training loop that stops at a step boundary.

A cluster scheduler stops a job with SIGTERM (then SIGKILL after a grace period). While a command
runs, SIGTERM raises `Interrupted` (a KeyboardInterrupt), so every `finally` and lock release that
Ctrl-C triggers runs for it too, and the command exits with 128 + the signal's number (143).
Inside a training loop (`stop_requests`) the first SIGINT or SIGTERM only asks for a stop: the
loop finishes its current step, checkpoints it and raises `Interrupted` saying where it stopped,
so a rerun resumes at that very step. A second signal stops at once.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


class Interrupted(KeyboardInterrupt):
    """A command stopped by a signal; `where` says what was kept (empty: nothing particular)."""

    def __init__(self, signum: int, where: str = ""):
        super().__init__(where or signal.Signals(signum).name)
        self.signum, self.where = signum, where

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()  # signal.signal works only there


def _raise_interrupted(signum, _frame):
    raise Interrupted(signum)


@contextmanager
def sigterm_as_interrupt():
    """While the block runs, SIGTERM raises Interrupted (as SIGINT raises KeyboardInterrupt)."""
    if not _in_main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


class StopRequests:
    """The signal that asked a training loop to stop (None: none yet)."""

    def __init__(self):
        self.signum: int | None = None

    def _ask(self, signum, _frame):
        if self.signum is not None:  # the second one: no waiting for the step to finish
            raise Interrupted(signum, "stopped at once by a second signal; the stage's last checkpoint is kept")
        self.signum = signum

    def requested(self, device=None) -> bool:
        """Whether a stop was asked, agreed by every process of a multi-process run (any one asked:
        all stop at the same step, so none waits forever for the others' gradients)."""
        import torch

        asked = self.signum is not None
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            flag = torch.tensor([self.signum or 0], device=device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            self.signum = int(flag.item()) or None
            asked = self.signum is not None
        return asked


@contextmanager
def stop_requests():
    """While the block runs, the first SIGINT/SIGTERM is recorded instead of raised (ask `requested()`
    between steps); the handlers before it come back afterwards. Outside the main thread, where no
    handler can be set, signals act as they did."""
    stops = StopRequests()
    if not _in_main_thread():
        yield stops
        return
    previous = {sig: signal.signal(sig, stops._ask) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stops
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)  # None: set outside Python
