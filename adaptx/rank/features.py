"""Features of the target's English training sample, with a candidate intermediate adapter active.

Which rows LogME reads (a `Probe`) is chosen from the encoded data alone, before any model runs,
so every candidate is scored on exactly the same rows and labels:

- classification: one row per example, the sentence (pair) pooled as the config's head pools it
  (`head.pooling`: the first token or the masked mean of the last hidden states);
- tagging: one row per labelled word, the hidden state of the sub-token the tagging head reads;
- qa (a reduction, since LogME needs a label per row): one row per context token of every window,
  labelled 0 outside the answer, 1 for the answer's first token, 2 for its other tokens;
- more rows than `max_rows`: a seeded sample stratified by label (`adaptx.data.sample_ids`).

Models are built by adaptx.modeling.build_model from the stage setup a `stack` run would use,
without the new target adapter: the base with only the candidate adapter active. Their features
and text embeddings are cached across runs by a content hash of what they depend on
(adaptx.rank.cache): a rerun computes only what changed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from ..data import sample_ids
from ..errors import AdaptxError
from ..fingerprint import folder_digest
from ..kinds import get_kind, pad_batch
from ..kinds.base import Encoding
from ..kinds.tagging import IGNORE
from ..modeling import Setup, build_model
from ..models import load_encoder
from .cache import FORMAT, cached, content_key

POOLED = -1  # Probe.position of a sentence-level row
REDUCTIONS = {
    "classification": "one row per example: the pooled sentence (pair), its label",
    "tagging": "one row per labelled word: its first sub-token's hidden state, its tag",
    "qa": "one row per context token: 0 outside the answer, 1 its first token, 2 its other tokens",
}


@dataclass(frozen=True)
class Probe:
    feature: np.ndarray  # index of the feature (model input) each row comes from
    position: np.ndarray  # token position in that feature, or POOLED
    labels: np.ndarray
    kind: str

    def __len__(self) -> int:
        return len(self.labels)


def probe(encoding: Encoding, max_rows: int, seed: int) -> Probe:
    """The rows LogME reads for a target's encoded English training sample (see the module docstring)."""
    kind = encoding.kind
    if kind not in REDUCTIONS:
        raise AdaptxError(f"adaptx rank: {getattr(encoding.task, 'name', kind)} is a {kind} task; LogME is defined "
                          f"here for {', '.join(REDUCTIONS)} targets")
    rows = []
    for i, f in enumerate(encoding.features):
        if kind == "classification":
            rows.append((i, POOLED, f.data["label"]))
        elif kind == "tagging":
            rows += [(i, p, label) for p, label in enumerate(f.data["labels"]) if label != IGNORE]
        else:
            start, end = f.data["start"], f.data["end"]
            rows += [(i, p, 0 if start == 0 or not start <= p <= end else 1 if p == start else 2)
                     for p, offset in enumerate(f.data["offsets"]) if offset is not None]
    if not rows:
        raise AdaptxError(f"adaptx rank: the English training sample of {getattr(encoding.task, 'name', kind)} "
                          "gives no labelled rows")
    table = np.array(rows, dtype=np.int64)
    if len(table) > max_rows:
        table = table[sample_ids(table[:, 2].tolist(), max_rows, seed)]
    return Probe(table[:, 0], table[:, 1], table[:, 2], kind)


def base_model(base, runtime, kind: str, pooling: str):
    """The frozen base alone (no adapter): the reference row, and the encoder of TextEmb."""
    setup = Setup("none", 1, kind=kind, pooling=pooling, base_fingerprint=base.fingerprint)
    model = build_model(load_encoder(base.source, runtime.dtype), setup, {}, runtime.autocast_dtype)
    return _ready(model, runtime, _model_key(base, runtime, setup, {}))


def candidate_model(base, runtime, setup: Setup, adapter_dirs: dict):
    """The base with one candidate adapter active: a stack stage's setup without its own adapter."""
    encoder = load_encoder(base.source, runtime.dtype)
    setup = replace(setup, own_adapter=None)
    model = build_model(encoder, setup, adapter_dirs, runtime.autocast_dtype)
    return _ready(model, runtime, _model_key(base, runtime, setup, adapter_dirs))


def _model_key(base, runtime, setup: Setup, adapter_dirs: dict) -> str:
    """What a model's outputs depend on, as adaptx.rank.cache keys it: the base's weights by checksum,
    every adapter file by sha256, the setup, dtype, device type and torch's version."""
    adapters = {name: folder_digest(folder, ("*.safetensors", "*.json")) for name, folder in adapter_dirs.items()}
    return content_key(FORMAT, base.identity(), asdict(setup), adapters, runtime.dtype, runtime.device.type,
                       torch.__version__)


def _ready(model, runtime, key: str):
    for p in model.parameters():
        p.requires_grad_(False)
    model.rank_cache_key = key  # read by features() and text_embeddings()
    return model.to(runtime.device).eval()


def features(model, encoding: Encoding, rows: Probe, pad_id: int, pooling: str, batch_size: int = 32) -> np.ndarray:
    """(rows, hidden) float64: the last hidden states LogME reads, in the probe's row order; from the
    cache (adaptx.rank.cache) when this model already read exactly these rows."""
    needed = sorted(set(rows.feature.tolist()), key=lambda i: len(encoding.features[i]))
    key = _cache_key(model, "features", pooling, batch_size, rows.feature, rows.position,
                     [encoding.features[i].input_ids for i in needed])
    return cached(key, lambda: _features(model, encoding, rows, needed, pad_id, pooling, batch_size))


def _cache_key(model, *parts) -> str | None:
    key = getattr(model, "rank_cache_key", None)  # models built by base_model / candidate_model
    return None if key is None else content_key(key, *parts)


@torch.inference_mode()
def _features(model, encoding: Encoding, rows: Probe, needed: list[int], pad_id: int, pooling: str,
              batch_size: int) -> np.ndarray:
    encoder, device = model.encoder, next(model.encoder.parameters()).device
    where = {}  # feature index -> row numbers of the probe
    for r, i in enumerate(rows.feature.tolist()):
        where.setdefault(i, []).append(r)
    out = np.zeros((len(rows), encoder.config.hidden_size))
    for start in range(0, len(needed), batch_size):
        idx = needed[start : start + batch_size]
        batch = pad_batch([encoding.features[i] for i in idx], pad_id)
        ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        with torch.autocast(device.type, dtype=model.autocast_dtype or torch.float32,
                            enabled=model.autocast_dtype is not None):
            hidden = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        hidden = hidden.float()
        for b, i in enumerate(idx):
            for r in where[i]:
                position = int(rows.position[r])
                if position != POOLED:
                    out[r] = hidden[b, position].cpu().numpy()
                elif pooling == "first":
                    out[r] = hidden[b, 0].cpu().numpy()
                else:
                    n = int(mask[b].sum())
                    out[r] = hidden[b, :n].mean(0).cpu().numpy()
    return out


def text_embeddings(model, encoding: Encoding, max_texts: int, seed: int, pad_id: int) -> np.ndarray:
    """(texts, hidden): each model input of a dataset's English training sample (a seeded sample of
    at most max_texts), mean-pooled over its tokens from the last layer, as retrieval pools."""
    ids = encoding.input_ids
    if len(ids) > max_texts:
        ids = [ids[i] for i in sample_ids([0] * len(ids), max_texts, seed)]
    if not ids:
        raise AdaptxError(f"TextEmb: the English training sample of {getattr(encoding.task, 'name', '?')} is empty")
    last = model.encoder.config.num_hidden_layers  # hidden_states[0] is the embeddings
    key = _cache_key(model, "text_embeddings", last, ids)
    return cached(key, lambda: get_kind("retrieval").embed(model, ids, pad_id, last), np.float32)
