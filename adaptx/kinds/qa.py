"""Extractive QA (XQuAD, MLQA, TyDiQA-GoldP, SQuAD), as transformers' run_qa/utils_qa do it.

A context longer than the window is split into overlapping windows (`doc_stride` tokens of
overlap); a question longer than `max_query_length` tokens is cut there (counted). Training
targets are the answer's first and last token in windows that contain the whole answer, else
the first token (the "no answer here" position). Prediction takes, per example, the best
start x end pair over all its windows among the n-best starts and ends, with end >= start and
at most `max_answer_length` tokens, and slices the answer from the ORIGINAL context by
character offsets. Where the task has unanswerable questions (SQuAD 2.0), the empty answer
wins when the no-answer score beats the best span.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import AdaptxError
from .base import Encoding, Feature, Kind, pad_batch, register, text_field

DOC_STRIDE = 128
MAX_QUERY_LENGTH = 64
MAX_ANSWER_LENGTH = 30
N_BEST = 20


class SpanHead(nn.Module):
    def __init__(self, hidden: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, 2)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits = self.out(self.dropout(hidden.float()))  # [B, T, 2]: start, end
        return logits.masked_fill(attention_mask.unsqueeze(-1) == 0, -1e4)  # padding is never an answer


@register
class QAKind(Kind):
    name = "qa"

    def trivial(self, task, train_golds) -> dict:
        """Always no answer (right for SQuAD 2.0's unanswerable questions, 0 elsewhere)."""
        return {"what": "always no answer", "per": "example", "value": ""}

    def encode(self, task, examples, tokenizer, max_length: int) -> Encoding:
        skipped: dict = {}
        questions = []
        # a question keeps at most half the window, so a short window (--smoke, a small max_seq_length)
        # still has room for context and its stride; at 128 tokens or more this is MAX_QUERY_LENGTH
        specials = tokenizer.num_special_tokens_to_add(pair=True)
        query_cap = max(1, min(MAX_QUERY_LENGTH, max_length // 2, max_length - specials - 2))
        for e in examples:  # cut over-long questions by token offsets, keeping their original text
            enc = tokenizer(e.question, add_special_tokens=False, return_offsets_mapping=True)
            if len(enc["input_ids"]) > query_cap:
                note = f"questions cut to {query_cap} tokens"
                skipped[note] = skipped.get(note, 0) + 1
                questions.append(e.question[: enc["offset_mapping"][query_cap - 1][1]])
            else:
                questions.append(e.question)
        # the tokenizer needs the stride strictly below the context's room (window - question - specials)
        stride = max(0, min(DOC_STRIDE, max_length // 4, max_length - query_cap - specials - 1))
        enc = tokenizer(questions, [e.context for e in examples], truncation="only_second", max_length=max_length,
                        stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True)
        features = []
        for i, ids in enumerate(enc["input_ids"]):
            example_index = enc["overflow_to_sample_mapping"][i]
            example = examples[example_index]
            sequence = enc.sequence_ids(i)
            offsets = [tuple(o) if s == 1 else None for o, s in zip(enc["offset_mapping"][i], sequence)]
            start = end = 0  # the first token: "no answer in this window"
            if example.answers and not example.is_impossible:
                text, char_start = example.answers[0]
                char_end = char_start + len(text)
                inside = [p for p, o in enumerate(offsets) if o is not None]
                if inside and offsets[inside[0]][0] <= char_start and offsets[inside[-1]][1] >= char_end:
                    start = next(p for p in inside if offsets[p][1] > char_start)
                    end = next(p for p in reversed(inside) if offsets[p][0] < char_end)
            features.append(Feature(ids, example_index, {"offsets": offsets, "start": start, "end": end}))
        return Encoding(features, list(examples), task, self.name, skipped=skipped)

    def collate(self, features, pad_id):
        batch = pad_batch(features, pad_id)
        batch["start"] = torch.tensor([f.data["start"] for f in features])
        batch["end"] = torch.tensor([f.data["end"] for f in features])
        return batch

    def head(self, hidden_size, num_labels, pooling, dropout):
        return SpanHead(hidden_size, dropout)

    def loss(self, outputs, batch):
        start = nn.functional.cross_entropy(outputs[..., 0].float(), batch["start"].to(outputs.device), reduction="sum")
        end = nn.functional.cross_entropy(outputs[..., 1].float(), batch["end"].to(outputs.device), reduction="sum")
        return (start + end) / 2

    def results(self, outputs, batch, features):
        """Per window: its n-best context starts and ends with their logits, and the no-answer score."""
        out = []
        for i, feature in enumerate(features):
            logits = outputs[i, : len(feature)].float()
            context = torch.tensor([o is not None for o in feature.data["offsets"]])
            starts = logits[:, 0].masked_fill(~context, -1e9)
            ends = logits[:, 1].masked_fill(~context, -1e9)
            k = min(N_BEST, len(feature))
            top_s, top_e = starts.topk(k), ends.topk(k)
            out.append({"starts": list(zip(top_s.indices.tolist(), top_s.values.tolist())),
                        "ends": list(zip(top_e.indices.tolist(), top_e.values.tolist())),
                        "null": float(logits[0, 0] + logits[0, 1])})
        return out

    def decode(self, results, encoding):
        return [text for text, _ in answers(results, encoding)]

    def golds(self, encoding):
        return [[text for text, _ in e.answers] or [""] for e in encoding.examples]

    def input_fields(self, task):
        return "question and context"

    def example_from_row(self, task, row, where):
        from ..readers import QAExample

        missing = [name for name in ("question", "context") if name not in row]
        if missing:
            raise AdaptxError(f"{where}: {task.name} answers questions from a context: expected the fields "
                              f"{self.input_fields(task)}; {' and '.join(missing)} missing (found "
                              f"{', '.join(map(repr, row)) or 'none'})")
        return QAExample(str(row.get("id", "")), text_field(row, "question", where), text_field(row, "context", where),
                         [])

    def scores(self, outputs, batch, features):
        """Per window: the log-normalisers of its start and end logits over the context and the first
        token, so that a span's probability is softmax(start) x softmax(end) (transformers' QA pipeline)."""
        out = []
        for i, feature in enumerate(features):
            logits = outputs[i, : len(feature)].float()
            keep = torch.tensor([k == 0 or o is not None for k, o in enumerate(feature.data["offsets"])])
            out.append((float(logits[keep, 0].logsumexp(0)), float(logits[keep, 1].logsumexp(0))))
        return out

    def records(self, results, scores, encoding):
        """The answer, its character span [start, end) in the context and its probability; no answer:
        start and end None, and the probability of "no answer" in the window with the lowest no-answer
        score (the one decode compares with the best span)."""
        windows: dict[int, list[int]] = {}
        for j, feature in enumerate(encoding.features):
            windows.setdefault(feature.example, []).append(j)
        out = []
        for i, (text, span) in enumerate(answers(results, encoding)):
            if span is not None:
                start_norm, end_norm = scores[span[3]]
                out.append({"answer": text, "start": span[1], "end": span[2],
                            "score": math.exp(span[0] - start_norm - end_norm)})
                continue
            j = min(windows.get(i, []), key=lambda w: results[w]["null"], default=None)
            score = None if j is None else math.exp(results[j]["null"] - scores[j][0] - scores[j][1])
            out.append({"answer": "", "start": None, "end": None, "score": score})
        return out


def answers(results: list, encoding: Encoding) -> list[tuple[str, tuple | None]]:
    """Per example: its answer text and best span (best_spans), or ("", None) where there is no valid
    span, or where the task has unanswerable questions and the no-answer score beats the best span."""
    spans, null = best_spans(results, encoding)
    unanswerable = encoding.task.params.get("no_answer", False)
    return [("", None) if span is None or (unanswerable and null[i] > span[0])
            else (encoding.examples[i].context[span[1]:span[2]], span) for i, span in enumerate(spans)]


def best_spans(results: list, encoding: Encoding) -> tuple[list, list[float]]:
    """Per example, its best span over all its windows as (start logit + end logit, character start,
    character end, window index), or None when no window has a valid span; and per example its
    lowest no-answer score. A span is among the n-best starts and ends of its window, ends at or
    after its start and is at most MAX_ANSWER_LENGTH tokens long; its characters come from the
    ORIGINAL context, without the whitespace that offsets of "▁word" pieces may cover."""
    best: list = [None] * len(encoding.examples)
    null = [float("inf")] * len(encoding.examples)
    for j, (feature, result) in enumerate(zip(encoding.features, results)):
        i, offsets = feature.example, feature.data["offsets"]
        null[i] = min(null[i], result["null"])
        for s, s_logit in result["starts"]:
            for e, e_logit in result["ends"]:
                if offsets[s] is None or offsets[e] is None or e < s or e - s + 1 > MAX_ANSWER_LENGTH:
                    continue
                if best[i] is None or s_logit + e_logit > best[i][0]:
                    best[i] = (s_logit + e_logit, offsets[s][0], offsets[e][1], j)
    for i, span in enumerate(best):
        if span is not None:
            text = encoding.examples[i].context[span[1]:span[2]]
            start = span[1] + len(text) - len(text.lstrip())
            best[i] = (span[0], start, max(start, span[2] - (len(text) - len(text.rstrip()))), span[3])
    return best, null
