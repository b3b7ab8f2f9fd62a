"""Token tagging (UD-POS, PAN-X NER, CCG): one label per word, on the word's first sub-token.

A sentence longer than the model's window is split into overlapping windows, never truncated:
each word is labelled (in training) and predicted (in evaluation) in the one window where its
first sub-token has the most context on both sides, so every word is scored exactly once.
Words the tokenizer gives no token at all (e.g. a lone zero-width character) cannot be
predicted: they get the task's first label and are counted in the stage summary.

A word whose first sub-token is the bare word-start piece of a SentencePiece vocabulary ("▁"
alone, as XLM-R's tokenizer gives almost every Japanese and Chinese word and most punctuation) is
labelled on its next sub-token instead: the bare piece is the same token for every such word, so a
label on it could only be learnt from context (93% of Japanese and 86% of Chinese UD words here).
"""

from __future__ import annotations

import collections

import torch
from torch import nn

from ..errors import AdaptxError
from .base import Encoding, Feature, Kind, pad_batch, register, text_field

IGNORE = -100  # label of positions that are not a word's first sub-token (ignored by the loss)


class TaggingHead(nn.Module):
    def __init__(self, hidden: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, num_labels)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(hidden.float()))  # [B, T, labels]


def windows(length: int, size: int) -> list[tuple[int, int]]:
    """Overlapping [start, end) spans covering `length` tokens, each at most `size` long, half overlapping."""
    if length <= size:
        return [(0, length)]
    step = max(1, size // 2)
    spans, start = [], 0
    while True:
        end = min(start + size, length)
        spans.append((start, end))
        if end == length:
            return spans
        start += step


def bare_word_start(tokenizer) -> int | None:
    """The id of a SentencePiece vocabulary's lone word-start piece "▁", or None if it has none."""
    piece = "\u2581"
    token_id = tokenizer.convert_tokens_to_ids(piece)
    return None if token_id is None or token_id == tokenizer.unk_token_id else token_id


@register
class TaggingKind(Kind):
    name = "tagging"

    def trivial(self, task, train_golds) -> dict:
        """The most frequent training tag, for every word."""
        tag = collections.Counter(t for sentence in train_golds() for t in sentence).most_common(1)[0][0]
        return {"what": f"always {tag}", "per": "word", "value": tag}

    def encode(self, task, examples, tokenizer, max_length: int) -> Encoding:
        label_id = {tag: i for i, tag in enumerate(task.labels)}
        specials = len(tokenizer.build_inputs_with_special_tokens([]))
        size = max_length - specials
        if size < 2:
            raise AdaptxError(f"max_seq_length {max_length} leaves no room for words after special tokens")
        features, skipped = [], {}
        encoded = tokenizer([list(e.words) for e in examples], is_split_into_words=True, add_special_tokens=False)
        bare = bare_word_start(tokenizer)
        for i, example in enumerate(examples):
            tokens, word_ids = encoded["input_ids"][i], encoded.word_ids(i)
            firsts = {}  # word -> position of its first sub-token (in the sentence's tokens)
            for pos, word in enumerate(word_ids):
                if word is not None and word not in firsts:
                    firsts[word] = pos
            if bare is not None:
                for w, pos in firsts.items():
                    if tokens[pos] == bare and pos + 1 < len(tokens) and word_ids[pos + 1] == w:
                        firsts[w] = pos + 1
            missing = len(example.words) - len(firsts)
            if missing:
                skipped["words without tokens (given the first label)"] = skipped.get(
                    "words without tokens (given the first label)", 0) + missing
            spans = windows(len(tokens), size)
            home = {}  # word -> (window, context) with the most context around its first sub-token
            for w, pos in firsts.items():
                for k, (start, end) in enumerate(spans):
                    if start <= pos < end:
                        context = min(pos - start, end - 1 - pos)
                        if w not in home or context > home[w][1]:
                            home[w] = (k, context)
            for k, (start, end) in enumerate(spans):
                ids = tokenizer.build_inputs_with_special_tokens(tokens[start:end])
                offset = ids.index(tokens[start]) if end > start else 0  # where the content starts
                labels = [IGNORE] * len(ids)
                words = []  # (position in this feature, word index)
                for w, pos in firsts.items():
                    if home[w][0] == k:
                        tag = example.tags[w]
                        if tag not in label_id:
                            raise AdaptxError(f"{task.name}: tag {tag!r} (word {example.words[w]!r} of sentence "
                                              f"{i + 1}) is not in the label set ({', '.join(task.labels)})")
                        labels[offset + pos - start] = label_id[tag]
                        words.append((offset + pos - start, w))
                features.append(Feature(ids, i, {"labels": labels, "words": words}))
        return Encoding(features, list(examples), task, self.name, skipped=skipped)

    def collate(self, features, pad_id):
        batch = pad_batch(features, pad_id)
        labels = torch.full(batch["input_ids"].shape, IGNORE, dtype=torch.long)
        for i, f in enumerate(features):
            labels[i, : len(f)] = torch.tensor(f.data["labels"])
        batch["labels"] = labels
        return batch

    def head(self, hidden_size, num_labels, pooling, dropout):
        return TaggingHead(hidden_size, num_labels, dropout)

    def loss_terms(self, feature):
        return sum(1 for label in feature.data["labels"] if label != IGNORE)

    def loss(self, outputs, batch):
        labels = batch["labels"].to(outputs.device)
        return nn.functional.cross_entropy(outputs.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE,
                                           reduction="sum")

    def results(self, outputs, batch, features):
        best = outputs.argmax(-1).tolist()
        return [[(w, best[i][pos]) for pos, w in f.data["words"]] for i, f in enumerate(features)]

    def decode(self, results, encoding):
        labels = encoding.task.labels
        preds = [[labels[0]] * len(e.words) for e in encoding.examples]
        for feature, words in zip(encoding.features, results):
            for w, label in words:
                preds[feature.example][w] = labels[label]
        return preds

    def golds(self, encoding):
        return [list(e.tags) for e in encoding.examples]

    def input_fields(self, task):
        return "tokens (a list of words, or one text split at whitespace) or text (split at whitespace)"

    def example_from_row(self, task, row, where):
        from ..readers import TaggedSentence

        name = next((n for n in ("tokens", "words", "text") if n in row), None)
        words = row.get(name)
        if isinstance(words, str):
            words = words.split()
        if not isinstance(words, list) or not words:
            raise AdaptxError(f"{where}: {task.name} tags words: expected the field {self.input_fields(task)}, with "
                              f"at least one word; found {', '.join(map(repr, row)) or 'none'}"
                              f"{f' ({name} is {row[name]!r:.60})' if name else ''}")
        words = [text_field({"token": w}, "token", f"{where}, {name}[{i}]") for i, w in enumerate(words)]
        return TaggedSentence(words, [task.labels[0]] * len(words))  # placeholder tags: nothing is scored

    def scores(self, outputs, batch, features):
        best = outputs.float().softmax(-1).max(-1).values.tolist()
        return [[(w, best[i][pos]) for pos, w in f.data["words"]] for i, f in enumerate(features)]

    def records(self, results, scores, encoding):
        probs = [[None] * len(e.words) for e in encoding.examples]  # None: a word without tokens
        for feature, words in zip(encoding.features, scores):
            for w, p in words:
                probs[feature.example][w] = p
        return [{"tokens": list(e.words), "tags": tags, "scores": p}
                for e, tags, p in zip(encoding.examples, self.decode(results, encoding), probs)]
