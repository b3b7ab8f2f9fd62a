"""Sentence and sentence-pair classification (XNLI, PAWS-X, MNLI, QQP, SST-2): one feature per
example, a pooled head, cross-entropy, argmax."""

from __future__ import annotations

import collections

import torch
from torch import nn

from ..errors import AdaptxError
from .base import Encoding, Feature, Kind, pad_batch, register, text_field


class ClassificationHead(nn.Module):
    """dropout -> dense -> tanh -> dropout -> linear over the first token or the masked mean."""

    def __init__(self, hidden: int, num_labels: int, pooling: str = "first", dropout: float = 0.1):
        super().__init__()
        if pooling not in ("first", "mean"):
            raise AdaptxError(f"head pooling {pooling!r}; expected 'first' or 'mean'")
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(hidden, hidden)
        self.out_proj = nn.Linear(hidden, num_labels)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.pooling == "first":
            pooled = hidden[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        x = torch.tanh(self.dense(self.dropout(pooled.float())))
        return self.out_proj(self.dropout(x))


@register
class ClassificationKind(Kind):
    name = "classification"

    def trivial(self, task, train_golds) -> dict:
        """Always the majority label of the training sample."""
        majority = collections.Counter(train_golds()).most_common(1)[0][0]
        return {"what": f"always {task.labels[majority]}", "per": "example", "value": majority}

    def encode(self, task, examples, tokenizer, max_length: int) -> Encoding:
        a = [e.text_a for e in examples]
        b = [e.text_b for e in examples] if examples and examples[0].text_b is not None else None
        ids = tokenizer(a, b, truncation="longest_first" if b else True, max_length=max_length)["input_ids"]
        features = [Feature(row, i, {"label": e.label}) for i, (row, e) in enumerate(zip(ids, examples))]
        return Encoding(features, list(examples), task)

    def collate(self, features, pad_id):
        batch = pad_batch(features, pad_id)
        batch["labels"] = torch.tensor([f.data["label"] for f in features])
        return batch

    def head(self, hidden_size, num_labels, pooling, dropout):
        return ClassificationHead(hidden_size, num_labels, pooling, dropout)

    def loss(self, outputs, batch):
        return nn.functional.cross_entropy(outputs.float(), batch["labels"].to(outputs.device), reduction="sum")

    def results(self, outputs, batch, features):
        return outputs.argmax(-1).tolist()

    def decode(self, results, encoding):
        return list(results)  # one feature per example, in example order

    def golds(self, encoding):
        return [e.label for e in encoding.examples]

    def input_fields(self, task):
        (first, second), *others = input_columns(task)
        named = " and ".join(filter(None, (first, second)))
        alternatives = ", ".join(" and ".join(filter(None, pair)) for pair in others)
        return f"{named} (or {alternatives})" if alternatives else named

    def example_from_row(self, task, row, where):
        from ..formats.columns import Example

        for first, second in input_columns(task):
            if first in row and (second is None or second in row):
                return Example(text_field(row, first, where), text_field(row, second, where) if second else None, 0)
        what = "sentence pairs" if input_columns(task)[0][1] else "single sentences"
        raise AdaptxError(f"{where}: {task.name} classifies {what}: expected the fields {self.input_fields(task)}; "
                          f"found {', '.join(map(repr, row)) or 'none'}")

    def scores(self, outputs, batch, features):
        return outputs.float().softmax(-1).tolist()

    def records(self, results, scores, encoding):
        labels = encoding.task.labels
        return [{"label": labels[p], "score": probs[p], "probabilities": dict(zip(labels, probs))}
                for p, probs in zip(self.decode(results, encoding), scores)]


def _specs(task):
    """Every file and hub split a task reads (hub first: its column names are the readable ones)."""
    for table in (task.hub, task.local):
        for entry in table.values():
            yield from entry.values() if isinstance(entry, dict) else entry if isinstance(entry, tuple) else (entry,)


def input_columns(task) -> list[tuple[str, str | None]]:
    """The (first text, second text or None) field names an input row of `task` may use: the named
    columns of the task's own files and hub splits, then text_a/text_b (single sentences: text)."""
    specs = [s for s in _specs(task) if len(s.columns) >= 2]
    single = any(s.columns[1] is None for s in specs)
    pairs = []
    for spec in specs:
        if not isinstance(spec.columns[0], int):  # indices name no field
            firsts = spec.columns[0] if isinstance(spec.columns[0], tuple) else (spec.columns[0],)
            pairs += [(first, spec.columns[1]) for first in firsts]
    pairs += [("text", None)] if single else [("text_a", "text_b")]
    return list(dict.fromkeys(pairs))
