"""Multiple choice (CommonsenseQA, Cosmos QA, HellaSwag): one score per (context, choice) pair,
softmax cross-entropy across an example's choices, accuracy.

Every choice of an example is encoded as the pair (context, [question] choice). A feature is one
example holding all its encoded choices; `collate` flattens the choices of the whole batch into
one [batch x choices, tokens] tensor, so the encoder runs once per batch, never once per choice,
and the head's scores are reshaped back to [batch, choices]. A feature's length is its longest
choice (what the padded batch is as wide as).
"""

from __future__ import annotations

import collections

import torch
from torch import nn

from ..errors import AdaptxError
from .base import Encoding, Feature, Kind, pad_batch, register, text_field
from .classification import ClassificationHead


class MultipleChoiceHead(ClassificationHead):
    """Classification's head with one output: one score per (context, choice) pair."""

    def __init__(self, hidden: int, pooling: str = "first", dropout: float = 0.1):
        super().__init__(hidden, 1, pooling, dropout)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return super().forward(hidden, attention_mask).squeeze(-1)  # [batch x choices]


@register
class MultipleChoiceKind(Kind):
    name = "multiple_choice"

    def trivial(self, task, train_golds) -> dict:
        """Always the position that is most often right in the training sample."""
        majority = collections.Counter(train_golds()).most_common(1)[0][0]
        return {"what": f"always choice {majority}", "per": "example", "value": majority}

    def encode(self, task, examples, tokenizer, max_length: int) -> Encoding:
        if not examples:
            return Encoding([], [], task, self.name)
        counts = {len(e.choices) for e in examples}
        if len(counts) != 1:
            raise AdaptxError(f"{task.name}: examples have {sorted(counts)} choices; every example of a task needs "
                              "the same number")
        n = counts.pop()
        firsts = [e.context for e in examples for _ in e.choices]
        seconds = [f"{e.question} {c}" if e.question else c for e in examples for c in e.choices]
        ids = tokenizer(firsts, seconds, truncation="longest_first", max_length=max_length)["input_ids"]
        features = []
        for i, e in enumerate(examples):
            choices = ids[i * n:(i + 1) * n]
            features.append(Feature(max(choices, key=len), i, {"choices": choices, "label": e.label}))
        return Encoding(features, list(examples), task, self.name)

    def collate(self, features, pad_id):
        flat = [Feature(ids, f.example) for f in features for ids in f.data["choices"]]
        batch = pad_batch(flat, pad_id)  # [batch x choices, tokens]: one encoder pass for every choice
        batch["labels"] = torch.tensor([f.data["label"] for f in features])
        batch["num_choices"] = len(features[0].data["choices"])
        return batch

    def head(self, hidden_size, num_labels, pooling, dropout):
        return MultipleChoiceHead(hidden_size, pooling, dropout)

    @staticmethod
    def _scores(outputs: torch.Tensor, batch: dict) -> torch.Tensor:
        return outputs.float().view(-1, batch["num_choices"])  # [batch, choices]

    def loss(self, outputs, batch):
        scores = self._scores(outputs, batch)
        return nn.functional.cross_entropy(scores, batch["labels"].to(scores.device), reduction="sum")

    def results(self, outputs, batch, features):
        return self._scores(outputs, batch).argmax(-1).tolist()

    def decode(self, results, encoding):
        return list(results)

    def golds(self, encoding):
        return [e.label for e in encoding.examples]

    def input_fields(self, task):
        return ("choices (a list of answer texts, or fields choice0, choice1, ...) and context and/or question "
                "(a question alone is the context, as CommonsenseQA's reader puts its stem)")

    def example_from_row(self, task, row, where):
        from ..intermediate_readers import MultipleChoiceExample

        choices = row.get("choices")
        if choices is None:  # a TSV row: one column per choice
            prefix = next((p for p in ("choice", "answer", "ending") if f"{p}0" in row), "choice")
            choices = [row[f"{prefix}{i}"] for i in range(len(row)) if f"{prefix}{i}" in row]
        if not isinstance(choices, list) or len(choices) < 2:
            raise AdaptxError(f"{where}: {task.name} needs at least two answer choices: expected the fields "
                              f"{self.input_fields(task)}; found {', '.join(map(repr, row)) or 'none'}")
        texts = [text_field({"choice": c}, "choice", f"{where}, choice {i}") for i, c in enumerate(choices)]
        context = text_field(row, "context", where) if "context" in row else ""
        question = text_field(row, "question", where) if "question" in row else ""
        if not context.strip():
            context, question = question, ""
        if not context.strip():
            raise AdaptxError(f"{where}: {task.name} needs a context or a question (expected the fields "
                              f"{self.input_fields(task)})")
        return MultipleChoiceExample(str(row.get("id", "")), context, question, tuple(texts), 0)

    def scores(self, outputs, batch, features):
        return self._scores(outputs, batch).softmax(-1).tolist()

    def records(self, results, scores, encoding):
        labels = encoding.task.labels
        out = []
        for p, probs, example in zip(self.decode(results, encoding), scores, encoding.examples):
            record = {"choice": p, "answer": example.choices[p], "score": probs[p], "probabilities": probs}
            if len(labels) == len(example.choices):  # the task names its choices (CommonsenseQA: A..E)
                record["label"] = labels[p]
            out.append(record)
        return out
