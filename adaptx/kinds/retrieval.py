"""Sentence retrieval without target training (Tatoeba, BUCC 2018), as XTREME does it.

Sentences are embedded by mean-pooling, over the attention mask, the hidden states of one
layer of the encoder with the strategy's intermediate adapter active (or the fully fine-tuned
intermediate encoder, or the plain base). `layer: middle` is XTREME's choice scaled to the
model's depth: hidden_states index 14 of 24 for XLM-R Large (index 0 is the embeddings), so
round(14/24 * layers): 7 for a 12-layer model.

Tatoeba: top-1 cosine nearest neighbour among the evaluated pairs, in both directions; the
headline is XTREME's direction (English queries against the other language's sentences).
BUCC: candidate pairs mined with the ratio margin (k nearest neighbours both ways, XTREME's
`max` mode); the score threshold is chosen on one half of the source sentences (a seeded
split) and F1 is reported on the other half, so the threshold never sees the scored gold.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..errors import AdaptxError
from ..metrics import bucc_candidates_from_embeddings, best_bucc_threshold, cosine_similarity
from .base import Encoding, Feature, Kind, pad_batch, register

XTREME_LAYER, XTREME_DEPTH = 14, 24


def resolve_layer(layer, num_hidden_layers: int) -> int:
    """hidden_states index (0 = embeddings): an int, or 'middle' (XTREME's 14 of 24, scaled)."""
    if layer == "middle":
        return round(XTREME_LAYER / XTREME_DEPTH * num_hidden_layers)
    return int(layer)


@register
class RetrievalKind(Kind):
    name = "retrieval"
    trains = False

    def encode(self, task, examples, tokenizer, max_length: int) -> Encoding:
        """Features: each example's source sentence (data side=source), then the target side: each
        pair's English sentence (Tatoeba) or the English pool (BUCC, in the encoding's context)."""
        sources = [getattr(e, "source", None) or e.sentence for e in examples]
        if hasattr(examples[0] if examples else None, "target"):
            targets = [(str(i), e.target) for i, e in enumerate(examples)]
        else:
            targets = []
        features = [Feature(ids, i, {"side": "source"})
                    for i, ids in enumerate(tokenizer(sources, truncation=True, max_length=max_length)["input_ids"])]
        return Encoding(features, list(examples), task, self.name, context={"targets": targets, "tokenizer": tokenizer,
                                                                 "max_length": max_length})

    def head(self, hidden_size, num_labels, pooling, dropout):
        return nn.Identity()  # nothing to train: sentences are embedded straight from the encoder

    @torch.inference_mode()
    def embed(self, model, texts_ids: list[list[int]], pad_id: int, layer: int, batch_size: int = 64) -> np.ndarray:
        """Mean-pooled hidden states of `layer` (length-sorted batches, returned in input order)."""
        encoder = model.encoder
        device = next(encoder.parameters()).device
        out = np.zeros((len(texts_ids), encoder.config.hidden_size), dtype=np.float32)
        order = sorted(range(len(texts_ids)), key=lambda i: len(texts_ids[i]))
        was_training = model.training
        model.eval()
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = pad_batch([Feature(texts_ids[i], i) for i in idx], pad_id)
            ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
            with torch.autocast(device.type, dtype=model.autocast_dtype or torch.float32,
                                enabled=model.autocast_dtype is not None):
                hidden = encoder(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[layer]
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = ((hidden * weights).sum(1) / weights.sum(1).clamp(min=1)).float()
            out[idx] = pooled.cpu().numpy()
        model.train(was_training)
        return out

    def evaluate(self, model, encoding: Encoding, pad_id: int, seed: int = 0) -> tuple[list[int], list, list]:
        """(scored example indices, predictions, golds)."""
        task = encoding.task
        layer = resolve_layer(task.params.get("layer", "middle"), model.encoder.config.num_hidden_layers)
        tokenizer, max_length = encoding.context["tokenizer"], encoding.context["max_length"]
        sources = self.embed(model, encoding.input_ids, pad_id, layer)
        pool = self._target_pool(encoding, seed)
        target_ids = [t for t, _ in pool]
        target_tokens = tokenizer([s for _, s in pool], truncation=True, max_length=max_length)["input_ids"]
        targets = self.embed(model, target_tokens, pad_id, layer)
        if not task.params.get("mining"):
            similarity = cosine_similarity(sources, targets)  # rows: the other language; columns: English
            preds = [[int(en_to_xx), int(xx_to_en)] for en_to_xx, xx_to_en in
                     zip(similarity.argmax(0), similarity.argmax(1))]
            return list(range(len(encoding.examples))), preds, list(range(len(encoding.examples)))
        candidates = bucc_candidates_from_embeddings(sources, targets, k=task.params.get("k", 4))
        best = {}  # source index -> (target id, score) of its mined pair
        for s, t, score in candidates:
            if s not in best or score > best[s][1]:
                best[s] = (target_ids[t], score)
        gold = [e.gold for e in encoding.examples]
        check_mining_sample(task.name, gold, None, task.name)
        tune, scored = _halves(gold, seed)
        threshold = best_bucc_threshold([(i, best[i][0], best[i][1]) for i in tune if i in best],
                                        [(i, gold[i]) for i in tune if gold[i] is not None])
        preds = [best[i][0] if i in best and best[i][1] >= threshold else None for i in scored]
        return scored, preds, [gold[i] for i in scored]


    @staticmethod
    def _target_pool(encoding: Encoding, seed: int) -> list[tuple[str, str]]:
        """BUCC with a sample of its source sentences: the gold partners of the sampled sources plus
        the same fraction of the other English sentences, so the task keeps its difficulty ratio."""
        targets = encoding.context["targets"]
        total = encoding.context.get("n_all", len(encoding.examples))
        if not encoding.task.params.get("mining") or len(encoding.examples) >= total:
            return targets
        partners = {e.gold for e in encoding.examples if e.gold is not None}
        others = [t for t in targets if t[0] not in partners]
        keep = round(len(others) * len(encoding.examples) / total)
        chosen = set(np.random.default_rng(seed).choice(len(others), size=keep, replace=False).tolist())
        return [t for t in targets if t[0] in partners] + [t for i, t in enumerate(others) if i in chosen]


MIN_GOLD_PAIRS = 2  # one to choose the threshold on, one to score


def check_mining_sample(task_name: str, gold: list, gold_in_file: int | None, where: str) -> None:
    """Refuse a BUCC sample whose sources hold fewer than MIN_GOLD_PAIRS gold pairs: the threshold
    half and the scored half (see _halves) each need one. Checked when the data is loaded, before
    anything trains, and again at evaluation."""
    found = sum(g is not None for g in gold)
    if found >= MIN_GOLD_PAIRS:
        return
    in_file = "" if gold_in_file is None else f" ({gold_in_file} in the whole split)"
    fix = ("the split itself has too few: give a BUCC split with more gold alignments"
           if gold_in_file is not None and gold_in_file < MIN_GOLD_PAIRS
           else "raise data.max_eval_examples (or set it to null: every source sentence)")
    raise AdaptxError(f"{where}: {found} gold pair(s) among the {len(gold)} sampled source sentences"
                      f"{in_file}; {task_name} needs at least {MIN_GOLD_PAIRS} (half choose "
                      f"the score threshold, half are scored): {fix}")


def _halves(gold: list, seed: int) -> tuple[list[int], list[int]]:
    """Split source sentences in two, sources with and without a gold partner separately, so that
    both the threshold half and the scored half hold gold pairs whenever there are two or more."""
    rng = np.random.default_rng(seed)
    tune, scored = [], []
    for group in ([i for i, g in enumerate(gold) if g is not None], [i for i, g in enumerate(gold) if g is None]):
        order = rng.permutation(group).tolist() if group else []
        tune += order[::2]
        scored += order[1::2]
    return sorted(tune), sorted(scored)

