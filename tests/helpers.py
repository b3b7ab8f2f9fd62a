"""Test (and benchmark) helpers: classification encodings from plain token ids, without a task.

They lived in adaptx.train, but nothing in the package uses them; the scripts import them from
here too (scripts/bench_*.py put this folder on sys.path).
"""

from __future__ import annotations

import contextlib
import signal

import torch

from adaptx.data import Example
from adaptx.kinds import get_kind, pad_batch
from adaptx.kinds.base import Encoding, Feature


def Encoded(input_ids: list[list[int]], labels: list[int], ids: list[int] | None = None) -> Encoding:
    """A classification Encoding from token ids and labels."""
    examples = [Example("", None, label) for label in labels]
    features = [Feature(list(row), i, {"label": label}) for i, (row, label) in enumerate(zip(input_ids, labels))]
    return Encoding(features, examples, ids=ids)


def encode_examples(tokenizer, examples, max_length: int, task=None) -> Encoding:
    """Classification examples -> an Encoding (the classification kind's encode)."""
    return get_kind("classification").encode(task, examples, tokenizer, max_length)


def collate(input_ids: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Dynamic padding: pad to the longest sequence in this batch only."""
    batch = pad_batch([Feature(list(row), i) for i, row in enumerate(input_ids)], pad_id)
    return batch["input_ids"], batch["attention_mask"]


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail (instead of hanging the suite) when the body runs longer than `seconds`: a FIFO opened for
    reading waits for a writer forever, a recursion bomb may never return."""
    def expired(*_):
        raise TimeoutError(f"still running after {seconds}s")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
