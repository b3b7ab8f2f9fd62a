"""What every task kind provides, the padding they share, and the registry of kinds.

Each kind module registers its kind here (`@register`) when it is imported; the package
`adaptx.kinds` imports every kind module, so importing it fills `KINDS`. The registry lives in
this module, not the package, so a kind that needs another kind (the mixture asks its parts')
imports `get_kind` from here and never the package it is part of.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import AdaptxError
from ..sampling import batch_indices


@dataclass
class Feature:
    """One model input: token ids, the example it came from, and what the kind needs besides
    (labels, word or character offsets for mapping back)."""

    input_ids: list[int]
    example: int  # index of the example in its split
    data: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass
class Encoding:
    """A split encoded by a kind: features, the examples they came from, and counted problems
    (e.g. words the tokenizer gives no token) that the stage summary reports."""

    features: list[Feature]
    examples: list
    task: object = None  # the registry entry (labels, kind parameters)
    kind: str = "classification"  # the kind that encoded it (and decodes its predictions)
    ids: list[int] | None = None  # row ids of the examples in their source split
    skipped: dict = field(default_factory=dict)  # problem -> count
    context: dict = field(default_factory=dict)  # what all examples share (retrieval: the English side)

    def __len__(self) -> int:
        return len(self.features)

    @property
    def input_ids(self) -> list[list[int]]:
        return [f.input_ids for f in self.features]

    @property
    def labels(self) -> list:
        """Classification's gold labels, one per example."""
        return [e.label for e in self.examples]


def text_field(row: dict, name: str, where: str) -> str:
    """row[name] of a user's input row, which must be text (a number or null is a broken row)."""
    value = row.get(name)
    if not isinstance(value, str):
        found = "missing" if name not in row else f"{'null' if value is None else type(value).__name__} ({value!r:.60})"
        raise AdaptxError(f"{where}: field {name!r} is {found}; expected text")
    return value


def pad_batch(features: list[Feature], pad_id: int) -> dict[str, torch.Tensor]:
    """Dynamic padding to the longest feature of this batch, and the attention mask."""
    width = max(len(f) for f in features)
    ids = torch.full((len(features), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(features), width), dtype=torch.long)
    for i, f in enumerate(features):
        ids[i, : len(f)] = torch.tensor(f.input_ids)
        mask[i, : len(f)] = 1
    return {"input_ids": ids, "attention_mask": mask}


class Kind:
    """The interface; each method's contract is what the training loop and pipeline rely on."""

    name = "kind"
    trains = True  # False: evaluated straight from the encoder (retrieval)

    def encode(self, task, examples: list, tokenizer, max_length: int) -> Encoding:
        raise NotImplementedError

    def collate(self, features: list[Feature], pad_id: int) -> dict[str, torch.Tensor]:
        """Model inputs (input_ids, attention_mask) and targets for a batch of features."""
        raise NotImplementedError

    def head(self, hidden_size: int, num_labels: int, pooling: str, dropout: float) -> nn.Module:
        """head(hidden_states [B, T, H], attention_mask [B, T]) -> outputs for loss/results."""
        raise NotImplementedError

    def loss_terms(self, feature: Feature) -> int:
        """How many terms a feature adds to the loss: the batch loss is their mean."""
        return 1

    def loss(self, outputs: torch.Tensor, batch: dict) -> torch.Tensor:
        """The SUM of the batch's loss terms (the loop divides by the whole batch's count)."""
        raise NotImplementedError

    def results(self, outputs: torch.Tensor, batch: dict, features: list[Feature]) -> list:
        """One small, picklable result per feature (gathered across processes)."""
        raise NotImplementedError

    def decode(self, results: list, encoding: Encoding) -> list:
        """One prediction per example, merging the results of its features."""
        raise NotImplementedError

    def golds(self, encoding: Encoding) -> list:
        """One gold answer per example, from the examples themselves."""
        raise NotImplementedError

    # -- batching: what a kind whose batches must not mix features (a task mixture) overrides --

    def sampler(self, encoding: Encoding, batch_size: int, seed: int):
        """step -> the feature indices of that step's batch, a pure function of (seed, step) so a
        resumed run sees the same batches: length-grouped seeded epochs (adaptx.sampling.batch_indices)."""
        lengths = [len(f) for f in encoding.features]
        return lambda step: batch_indices(lengths, batch_size, seed, step)

    def group(self, feature: Feature) -> int:
        """Features of different groups never share a batch (prediction batches are cut there)."""
        return 0

    def probe_features(self, encoding: Encoding, size: int) -> list[Feature]:
        """The `size` features whose batch takes the most memory (to size micro-batches)."""
        return sorted(encoding.features, key=len, reverse=True)[:size]

    # -- the trivial baseline (adaptx.baselines): the prediction that needs no model ------------------

    def trivial(self, task, train_golds) -> dict | None:
        """The prediction that needs no model, from the English training golds (`train_golds()` reads
        them: only kinds that need them pay for it), as plain data:
        {"what": description, "per": "example" | "word", "value": the prediction}; None where the kind
        has none (retrieval: chance is one in the number of candidates; mixtures; masked LM)."""
        return None

    # -- predicting new rows with a trained model (adaptx.predict); kinds whose head predicts override --

    def input_fields(self, task) -> str:
        """What one input row of `task` holds, in words (for messages and docs); '' if the kind does not
        predict rows."""
        return ""

    def example_from_row(self, task, row: dict, where: str):
        """One example of this kind from a user's input row (the task's fields; no gold answer needed)."""
        raise AdaptxError(f"{task.name} is a {self.name} task: it has no prediction head to predict input rows with")

    def scores(self, outputs: torch.Tensor, batch: dict, features: list[Feature]) -> list:
        """Per feature, what `records` needs besides the results: the prediction's probabilities."""
        raise NotImplementedError

    def records(self, results: list, scores: list, encoding: Encoding) -> list[dict]:
        """One JSON-ready record per example: what `decode` makes of the results, in words (labels as
        strings, QA spans with their character offsets), and its probability."""
        raise NotImplementedError


KINDS: dict[str, Kind] = {}  # name -> the kind's one instance, in registration (import) order


def register(kind):
    """Add a kind to KINDS: a Kind instance, or a Kind subclass (as a class decorator, which
    registers one instance and returns the class). Refuses a kind without a name of its own
    and a second kind of the same name, so two modules can never silently shadow each other."""
    instance = kind() if isinstance(kind, type) else kind
    if not isinstance(instance, Kind):
        raise TypeError(f"register: {kind!r} is not a Kind")
    name = instance.name
    if not isinstance(name, str) or not name or name == Kind.name:
        raise ValueError(f"register: {type(instance).__name__} needs a name of its own (got {name!r})")
    if name in KINDS:
        raise ValueError(f"register: a kind named {name!r} is already registered "
                         f"({type(KINDS[name]).__name__})")
    KINDS[name] = instance
    return kind


def get_kind(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise AdaptxError(f"unknown task kind {name!r}; known kinds: {', '.join(sorted(KINDS))}") from None
