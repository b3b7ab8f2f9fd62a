"""A mixture of tasks trained together (multi-task intermediate training, masked-LM batches mixed in).

The mixture's encoding holds every part's features (each wrapped with its part's index); every
batch comes from one part (adaptx.sampling.MixtureSampler chooses which), is collated by that part's
own kind and carries the part's name as `task`, which picks the part's head in the model's
MultiTaskHead. Loss, results and decoding go to the part's kind; predictions and golds are
(task, metric, value) triples, scored by `mixture_mean` (in adaptx.metrics): the mean over tasks
of each task's own English dev metric (jiant's multi-task model selection).
"""

from __future__ import annotations

from ..errors import AdaptxError
from ..mixture import MLM
from ..sampling import MixtureSampler, mixture_weights
from .base import Encoding, Feature, Kind, get_kind, register


def _wrap(feature: Feature, example: int, part: int, task: str, kind: str) -> Feature:
    """A part's feature in the mixture: same tokens, the mixture's example index, and what the
    mixture needs to route it (its part, task name and kind)."""
    return Feature(feature.input_ids, example, {"part": part, "task": task, "kind": kind, "feature": feature})


@register
class MixtureKind(Kind):
    name = "mixture"

    def combine(self, task, parts: list[tuple[str, Encoding]]) -> Encoding:
        """One encoding of the parts' encodings (name, encoding), in order."""
        features, examples, skipped = [], [], {}
        feature_offsets, example_offsets = [0], [0]
        for k, (name, encoding) in enumerate(parts):
            offset = len(examples)
            features += [_wrap(f, offset + f.example, k, name, encoding.kind) for f in encoding.features]
            examples += encoding.examples
            feature_offsets.append(len(features))
            example_offsets.append(len(examples))
            skipped.update({f"{name}: {problem}": count for problem, count in encoding.skipped.items()})
        return Encoding(features, examples, task, self.name, skipped=skipped,
                        context={"parts": parts, "feature_offsets": feature_offsets,
                                 "example_offsets": example_offsets})

    def encode(self, task, examples, tokenizer, max_length: int) -> Encoding:
        raise AdaptxError(f"{task.name}: a mixture is encoded part by part (MixtureKind.combine)")

    def _part(self, features: list[Feature]) -> int:
        parts = {f.data["part"] for f in features}
        if len(parts) != 1:
            raise AdaptxError(f"a mixture batch holds features of {len(parts)} tasks; every batch must come from one")
        return parts.pop()

    def sampler(self, encoding, batch_size, seed):
        parts = encoding.context["parts"]
        offsets = encoding.context["feature_offsets"]
        params = encoding.task.params
        sizes = [len(e.examples) for name, e in parts if name != MLM]
        mlm = params.get("mlm")
        weights = mixture_weights(sizes, params.get("cap"), mlm["rate"] if mlm else None)
        sample = MixtureSampler([[len(f) for f in e.features] for _, e in parts], weights, batch_size, seed)

        def batch(step: int) -> list[int]:
            part, indices = sample(step)
            return [offsets[part] + i for i in indices]

        return batch

    def group(self, feature):
        return feature.data["part"]

    def probe_features(self, encoding, size):
        """The part whose longest features make the largest batch (multiple choice counts its choices)."""
        best, best_cost = [], -1
        for k, (name, part) in enumerate(encoding.context["parts"]):
            kind = get_kind(part.kind)
            chosen = kind.probe_features(part, size)
            if not chosen:
                continue
            cost = kind.collate(chosen, 0)["input_ids"].numel()
            if cost > best_cost:
                best, best_cost = [_wrap(f, f.example, k, name, part.kind) for f in chosen], cost
        return best

    def collate(self, features, pad_id):
        self._part(features)
        name, kind = features[0].data["task"], features[0].data["kind"]
        batch = get_kind(kind).collate([f.data["feature"] for f in features], pad_id)
        batch["task"], batch["kind"] = name, kind  # `task` picks the head; `kind` the loss and results
        return batch

    def head(self, hidden_size, num_labels, pooling, dropout):
        raise AdaptxError("a mixture's heads are built from Setup.heads (one per task), not by the mixture kind")

    def loss_terms(self, feature):
        return get_kind(feature.data["kind"]).loss_terms(feature.data["feature"])

    def loss(self, outputs, batch):
        return get_kind(batch["kind"]).loss(outputs, batch)

    def results(self, outputs, batch, features):
        return get_kind(batch["kind"]).results(outputs, batch, [f.data["feature"] for f in features])

    def decode(self, results, encoding):
        out, offsets = [], encoding.context["feature_offsets"]
        for k, (name, part) in enumerate(encoding.context["parts"]):
            preds = get_kind(part.kind).decode(results[offsets[k]:offsets[k + 1]], part)
            out += [(name, part.task.metric, p) for p in preds]
        return out

    def golds(self, encoding):
        return [(name, part.task.metric, g) for name, part in encoding.context["parts"]
                for g in get_kind(part.kind).golds(part)]
