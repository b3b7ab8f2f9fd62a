"""Masked language modelling on raw multilingual text (the paper's alternative (a): MLM batches mixed
into intermediate training). Never a task of its own: it is one part of a mixture (adaptx.mixture).

Masking is BERT's (15% of the non-special tokens, at least one per text; of those 80% become the
mask token, 10% a random token, 10% stay) and static: drawn once per text at encoding, from a
generator seeded with the text's index, so resuming, micro-batches and the number of processes
never change which tokens are masked (the original BERT's static masking, one mask per text).

The head: the base models adaptx runs ship no MLM head (the embedded multilingual-e5-small has
none at all), so one is initialised here: a transform (dense initialised to the identity, GELU,
LayerNorm) and a decoder whose weight is the encoder's word-embedding matrix, tied (shared, not
copied: frozen with the base in adapter training, trained with it in full fine-tuning) plus a new
zero bias. Logits are computed only at the masked positions (a 250k-word vocabulary times every
token would not fit in memory).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..errors import AdaptxError
from .base import Encoding, Feature, Kind, pad_batch, register


class MaskedLMHead(nn.Module):
    def __init__(self, hidden: int, vocab_size: int):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        with torch.no_grad():  # starts as hidden -> GELU -> LayerNorm, scored against the embeddings
            self.dense.weight.copy_(torch.eye(hidden))
            self.dense.bias.zero_()
        self.norm = nn.LayerNorm(hidden)
        self.bias = nn.Parameter(torch.zeros(vocab_size))
        self.__dict__["_embeddings"] = None  # the tied word embeddings: referenced, not a submodule (not saved)

    def tie(self, embeddings: nn.Embedding) -> None:
        if embeddings.weight.shape[0] != self.bias.shape[0]:
            raise AdaptxError(f"masked-LM head: {self.bias.shape[0]} output words, but the word embeddings have "
                              f"{embeddings.weight.shape[0]}")
        self.__dict__["_embeddings"] = embeddings

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        embeddings = self.__dict__["_embeddings"]
        if embeddings is None:
            raise AdaptxError("masked-LM head used before it was tied to the word embeddings")
        x = hidden.flatten(0, 1)[positions]  # [masked tokens, hidden]
        x = self.norm(nn.functional.gelu(self.dense(x.float())))
        # under autocast this runs in the base's half precision: no fp32 copy of the 250k x hidden matrix
        return nn.functional.linear(x, embeddings.weight, self.bias)  # [masked tokens, vocabulary]


@register
class MaskedLMKind(Kind):
    name = "mlm"

    def __init__(self, mask_probability: float = 0.15, seed: int = 0):
        self.mask_probability, self.seed = mask_probability, seed

    def encode(self, task, examples, tokenizer, max_length: int) -> Encoding:
        """examples: raw text lines; task.params may set mask_probability."""
        if tokenizer.mask_token_id is None:
            raise AdaptxError("masked-LM training needs a tokenizer with a mask token; this base model has none")
        p = (task.params.get("mask_probability") if task is not None else None) or self.mask_probability
        specials = set(tokenizer.all_special_ids)
        vocab = len(tokenizer)
        ids = tokenizer(list(examples), truncation=True, max_length=max_length)["input_ids"]
        features, skipped = [], {}
        for i, row in enumerate(ids):
            candidates = [j for j, t in enumerate(row) if t not in specials]
            if not candidates:
                skipped["texts without a maskable token"] = skipped.get("texts without a maskable token", 0) + 1
                continue
            rng = np.random.default_rng([self.seed, i])
            chosen = [j for j in candidates if rng.random() < p] or [candidates[int(rng.integers(len(candidates)))]]
            masked, targets = list(row), []
            for j in chosen:
                targets.append(row[j])
                roll = rng.random()
                if roll < 0.8:
                    masked[j] = tokenizer.mask_token_id
                elif roll < 0.9:
                    token = int(rng.integers(vocab))
                    while token in specials:
                        token = int(rng.integers(vocab))
                    masked[j] = token
            features.append(Feature(masked, i, {"positions": chosen, "targets": targets}))
        return Encoding(features, list(examples), task, self.name, skipped=skipped)

    def collate(self, features, pad_id):
        batch = pad_batch(features, pad_id)
        width = batch["input_ids"].shape[1]
        batch["head_inputs"] = {"positions": torch.tensor([b * width + j for b, f in enumerate(features)
                                                           for j in f.data["positions"]])}
        batch["labels"] = torch.tensor([t for f in features for t in f.data["targets"]])
        return batch

    def head(self, hidden_size, num_labels, pooling, dropout):
        return MaskedLMHead(hidden_size, num_labels)  # num_labels: the vocabulary size

    def loss_terms(self, feature):
        return len(feature.data["positions"])  # the loss is the mean over masked tokens

    def loss(self, outputs, batch):
        return nn.functional.cross_entropy(outputs.float(), batch["labels"].to(outputs.device), reduction="sum")

    def results(self, outputs, batch, features):
        return [None] * len(features)  # masked-LM batches are trained on, never scored

    def decode(self, results, encoding):
        return [None] * len(encoding.examples)

    def golds(self, encoding):
        return [None] * len(encoding.examples)
