"""`adaptx rank CONFIG`: score candidate intermediate adapters for each target before training on it.

Per target and candidate, on the target's English training sample only (never its dev or other
languages): LogME of the features with the candidate adapter active (adaptx.rank.features), and
TextEmb, the cosine of the candidate's and the target's mean text embeddings under the plain
base; plus the trivial baselines "always MNLI" (1 for an MNLI candidate, else 0) and random
(seeded uniform scores). Every estimator's cost is measured in seconds. The config itself is
never trained: its plan for `stack` over the candidates only says where each adapter is.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import logs
from ..config import load_config
from ..fileio import check_output_folder
from ..errors import AdaptxError
from ..pipeline import Experiment, open_run
from ..rundata import RunData
from .candidates import Candidate, candidate_overrides, candidate_tokens, check_targets, resolve
from .estimators import cosine, logme, mean_embedding
from .features import REDUCTIONS, base_model, candidate_model, features, probe, text_embeddings

ESTIMATORS = ("logme", "textemb", "always_mnli", "random")
MNLI = "mnli"


@dataclass
class Options:
    max_examples: int = 1000  # English training examples per target (and texts per candidate for TextEmb)
    max_rows: int = 20000  # LogME rows (tokens, for tagging and QA) per target
    by: str = "logme"  # the estimator the table is sorted by and --top takes
    top: int | None = None


@dataclass
class Row:
    """One line of rank.csv: a candidate's scores for a target."""

    target: str
    candidate: str
    task: str
    logme: float | None = None
    logme_seconds: float | None = None
    textemb: float | None = None
    textemb_seconds: float | None = None
    always_mnli: float | None = None
    random: float | None = None
    ranks: dict = field(default_factory=dict)  # estimator -> rank (1 = best) among the scored candidates
    note: str = ""


@dataclass
class TargetRanking:
    target: str
    kind: str
    examples: int  # English training examples in the sample
    rows_read: int  # LogME rows (examples or tokens)
    base_logme: float  # the plain base without any adapter: the reference
    shared_seconds: float  # base model, its target features and the target's text embedding
    rows: list[Row]
    notes: list[str] = field(default_factory=list)

    @property
    def reduction(self) -> str:
        return REDUCTIONS[self.kind]


@dataclass
class Ranking:
    config: str
    out: Path
    options: Options
    candidates: list[str]
    targets: list[TargetRanking]
    seconds: float
    hardware: dict
    notes: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def rank(config_path, candidates: list[str] | None = None, *, out=None, run_dir=None, data_dir=None, device=None,
         options: Options | None = None, overrides=()) -> Ranking:
    """Score every candidate for every target of the config (adaptx.rank.tables writes the result)."""
    started, opts, notes = time.time(), options or Options(), []
    if opts.by not in ("logme", "textemb"):
        raise AdaptxError(f"--by {opts.by!r}: expected logme or textemb")
    if opts.max_examples < 2 or opts.max_rows < 2:
        raise AdaptxError("--max-examples and --max-rows: at least 2 (LogME fits a model to the rows)")
    extra = list(overrides) + ([f"device={device}"] if device else [])
    cfg = load_config(config_path, extra)
    check_targets(cfg)
    tokens = candidate_tokens(cfg, candidates, notes)  # refused here with fewer than two
    cfg = load_config(config_path, extra + candidate_overrides(tokens))
    run_dir, data_dir = open_run(cfg, data_dir, run_dir, writes=False)
    out = check_output_folder(out if out else run_dir / "rank", "--out" if out else "rank folder")  # before scoring
    exp = Experiment(cfg, run_dir, data_dir)  # verifies every zoo entry and refuses another base, before any work
    cands = resolve(exp, tokens)
    limit = min(cfg.data.max_train_examples or opts.max_examples, opts.max_examples)
    sample = RunData(load_config(config_path, extra + candidate_overrides(tokens) +
                                 [f"data.max_train_examples={limit}"]), data_dir, exp.base.tokenizer)
    targets = _score(exp, sample, cands, opts)
    ranking = Ranking(str(config_path), out, opts, tokens, targets,
                      time.time() - started, exp.runtime.describe(), notes)
    return ranking


def _score(exp, data: RunData, cands: list[Candidate], opts: Options) -> list[TargetRanking]:
    """Every estimator for every target and candidate: the base model once, each candidate model once."""
    cfg, pad, seed = exp.cfg, exp.base.tokenizer.pad_token_id, exp.cfg.data.sample_seed
    pooling = cfg.head.pooling
    targets, probes, embedded = [], {}, {}
    started = time.time()
    base = base_model(exp.base, exp.runtime, data.task(cfg.targets[0]).kind, pooling)
    load = time.time() - started
    for name in cfg.targets:
        t0 = time.time()
        enc = data.data(name, "train")
        probes[name] = (enc, probe(enc, opts.max_rows, seed))
        reference = logme(features(base, enc, probes[name][1], pad, pooling), probes[name][1].labels)
        embedded[name] = mean_embedding(text_embeddings(base, enc, opts.max_examples, seed, pad))
        shared = time.time() - t0 + load / len(cfg.targets)
        logs.info(f"adaptx rank: {name}: {len(enc.examples)} English training examples, {len(probes[name][1])} "
                  f"LogME rows; base without adapter: LogME {reference:.4f}")
        rows = [Row(name, c.token, c.task, note=c.note) for c in cands]
        targets.append(TargetRanking(name, enc.kind, len(enc.examples), len(probes[name][1]), reference, shared, rows))
    for i, cand in enumerate(cands):
        _textemb(exp, data, base, cand, [t.rows[i] for t in targets], embedded, opts)
        if cand.adapter_dirs is not None:
            _logme(exp, cand, [t.rows[i] for t in targets], probes, pooling)
    for t in targets:
        _baselines(t, seed)
        _ranks(t)
    return targets


def _textemb(exp, data, base, cand: Candidate, rows: list[Row], embedded: dict, opts: Options) -> None:
    """The candidate's mean text embedding (its English training texts, plain base; a mixture's parts
    in equal shares of the same number of texts) against each target's; its cost is the candidate's
    embedding, once for all targets."""
    started = time.time()
    parts = cand.text_tasks
    share = opts.max_examples // len(parts)  # all of them for one task (max_examples >= 2, checked up front)
    pad = exp.base.tokenizer.pad_token_id
    texts, missing = [], []
    for part in parts:
        try:
            enc = data.data(part, "train")
        except AdaptxError as exc:
            missing.append(f"{part} ({str(exc).splitlines()[0]})")
            continue
        texts.append(text_embeddings(base, enc, max(1, share), exp.cfg.data.sample_seed, pad))
    if missing:
        what = "TextEmb not scored" if not texts else f"TextEmb from {len(texts)} of its {len(parts)} tasks"
        for row in rows:
            row.note = "; ".join(filter(None, [row.note, f"{what}: no English training texts here of "
                                                         + ", ".join(missing)]))
    if not texts:
        return
    mine = mean_embedding(np.concatenate(texts))
    seconds = time.time() - started
    for row in rows:
        row.textemb, row.textemb_seconds = cosine(mine, embedded[row.target]), round(seconds, 4)


def _logme(exp, cand: Candidate, rows: list[Row], probes: dict, pooling: str) -> None:
    """LogME with the candidate adapter active: the model is built once, its loading time shared out."""
    started = time.time()
    first = next(iter(cand.stages.values()))
    model = candidate_model(exp.base, exp.runtime, exp.recipes.model_setup(first), cand.adapter_dirs)
    load = (time.time() - started) / len(rows)
    for row in rows:
        t0 = time.time()
        enc, rows_read = probes[row.target]
        row.logme = logme(features(model, enc, rows_read, exp.base.tokenizer.pad_token_id, pooling), rows_read.labels)
        row.logme_seconds = round(time.time() - t0 + load, 4)  # tiny models take milliseconds
        logs.info(f"adaptx rank: {row.target} <- {cand.token}: LogME {row.logme:.4f} ({row.logme_seconds:.1f} s)")
    del model


def _baselines(target: TargetRanking, seed: int) -> None:
    """always MNLI: 1 for a candidate whose task is MNLI, 0 otherwise (no MNLI candidate: not
    applicable); random: seeded uniform scores, one draw per target."""
    has_mnli = any(r.task == MNLI for r in target.rows)
    if not has_mnli:
        target.notes.append("always MNLI: no MNLI candidate among these, so that baseline does not apply")
    rng = np.random.default_rng([seed, sum(map(ord, target.target))])
    for row, value in zip(target.rows, rng.random(len(target.rows))):
        row.always_mnli = (1.0 if row.task == MNLI else 0.0) if has_mnli else None
        row.random = round(float(value), 6)


def _ranks(target: TargetRanking) -> None:
    """Competition ranks (1 = best; ties share the best rank) per estimator, over the scored rows."""
    for name in ESTIMATORS:
        values = [getattr(r, name) for r in target.rows if getattr(r, name) is not None]
        for row in target.rows:
            value = getattr(row, name)
            row.ranks[name] = None if value is None else 1 + sum(v > value for v in values)


def ordered(target: TargetRanking, by: str) -> list[Row]:
    """The rows best first by `by`; rows it could not score last, in candidate order."""
    return sorted(target.rows, key=lambda r: (getattr(r, by) is None, -(getattr(r, by) or 0.0)))


def top_candidates(target: TargetRanking, by: str, k: int) -> list[str]:
    return [r.candidate for r in ordered(target, by) if getattr(r, by) is not None][:k]


def to_json(ranking: Ranking) -> str:
    from dataclasses import asdict

    body = {"config": ranking.config, "candidates": ranking.candidates, "options": asdict(ranking.options),
            "seconds": round(ranking.seconds, 2), "hardware": ranking.hardware, "notes": ranking.notes,
            "targets": [{**{k: v for k, v in asdict(t).items()}, "reduction": t.reduction} for t in ranking.targets]}
    return json.dumps(body, indent=1, default=str)
