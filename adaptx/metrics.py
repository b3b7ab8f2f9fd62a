"""Offline metrics, chosen by name from the task registry (`Task.metric`).

A metric scores a list of predictions against a list of gold answers, as a fraction in
[0, 1]. Decomposable metrics (accuracy) also give one score per example; ratio metrics (F1 over
entities, accuracy over words) give per-example sufficient statistics (e.g. true positives,
predicted, gold) whose sums determine the score. Either lets the bootstrap in `adaptx.stats`
resample with one matrix product; other metrics are recomputed on each resample.
"""

from __future__ import annotations

import re
import string
import unicodedata
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

import numpy as np

from .errors import AdaptxError


@dataclass(frozen=True)
class Metric:
    name: str
    compute: Callable[[list, list], float]  # (predictions, golds) -> score in [0, 1]
    per_example: Callable[[list, list], np.ndarray] | None = None  # mean of this == compute(...)
    stats: Callable[[list, list], np.ndarray] | None = None  # [examples, k] counts; their sums decide the score
    from_stats: Callable[[np.ndarray], np.ndarray] | None = None  # [..., k] summed counts -> score(s)
    # raised when a metric's scores change, so cached evaluation files made with the old one are redone
    revision: int = 1


def _correct(preds: list, golds: list) -> np.ndarray:
    if len(preds) != len(golds):
        raise AdaptxError(f"metric: {len(preds)} predictions for {len(golds)} gold labels")
    return np.asarray([p == g for p, g in zip(preds, golds)], dtype=np.float64)


def _accuracy(preds: list, golds: list) -> float:
    correct = _correct(preds, golds)
    return float(correct.mean()) if correct.size else 0.0


def get_metric(name: str) -> Metric:
    """The metric of this name in METRICS (built at the end of this module)."""
    try:
        return METRICS[name]
    except KeyError:
        raise AdaptxError(f"unknown metric {name!r}; known metrics: {', '.join(sorted(METRICS))}") from None


# ---------------------------------------------------------------------------------------------
# XTREME metrics: tagging (seqeval span F1, token accuracy), extractive QA (SQuAD v1.1 and MLQA
# F1/EM), retrieval (Tatoeba accuracy, BUCC ratio-margin mining, F1 and threshold). Each follows
# the reference script named in its comment; tests check them on cases worked out by hand.
# ---------------------------------------------------------------------------------------------

def _check_tag_sequences(preds: list, golds: list) -> None:
    if len(preds) != len(golds):
        raise AdaptxError(f"metric: {len(preds)} predicted tag sequences for {len(golds)} gold sentences")
    for i, (p, g) in enumerate(zip(preds, golds)):
        if isinstance(p, str) or isinstance(g, str):
            raise AdaptxError(f"metric: sentence {i} must be a list of tags, got a string {str(p)[:40]!r}")
        if len(p) != len(g):
            raise AdaptxError(f"metric: sentence {i} has {len(p)} predicted tags for {len(g)} gold words")


def _seqeval_f1(preds: list, golds: list) -> float:
    # seqeval's default (conlleval-style, lenient IOB) mode, as XTREME's evaluate.py uses it; with no
    # gold and no predicted entity at all F1 is 0.0, seqeval's convention
    from seqeval.metrics import f1_score

    _check_tag_sequences(preds, golds)
    return float(f1_score([list(g) for g in golds], [list(p) for p in preds], zero_division=0))


# XTREME's POS F1 is seqeval's span F1 as seqeval 0.0.12 computed it (the release XTREME's unpinned
# `pip install seqeval` got from June 2019 to September 2020). 0.0.12 reads a tag's first character
# as its chunk prefix and the part after its last '-' as its type, so a UPOS tag is typed by the
# whole tag: a run of one tag is one chunk, and SCONJ and SYM (prefix 'S', "single") are one chunk
# per word. seqeval >= 0.0.16 (adaptx's 1.2.2 included) types a tag by what follows its first
# character: CCONJ and SCONJ become one type 'CONJ', and X becomes '_', the type of the 'O' that joins
# sentences, so a sentence-final X merges with the next sentence's initial X; on UD data it scores up
# to a few tenths of a point higher. Only for comparison with XTREME's published numbers;
# token_accuracy is the meaningful metric.

def _chunks_seqeval_0012(tags: list[str]) -> set[tuple[str, int, int]]:
    """The (type, first, last) chunks of one sentence under seqeval 0.0.12's rules (prefix mode).

    seqeval joins sentences with an 'O', which ends every chunk whose type is not 'O'; chunking each
    sentence alone therefore gives the joined corpus's chunks for every tag set without a '-O' type
    (UPOS, XPOS, IOB NER), and per-sentence counts add up to the corpus's."""
    chunks: set[tuple[str, int, int]] = set()
    start, prev_prefix, prev_type = 0, "O", ""
    for i, tag in enumerate([*tags, "O"]):
        prefix, type_ = tag[0], tag.split("-")[-1]
        # a chunk ends after a single/end word, where B/I meet B/S/O, or where the type changes
        if prev_prefix in "ES" or (prev_prefix in "BI" and prefix in "BSO") or \
                (prev_prefix not in "O." and prev_type != type_):
            chunks.add((prev_type, start, i - 1))
        # one starts at B/S, at E/I after E/S/O, or where the type changes
        if prefix in "BS" or (prev_prefix in "ESO" and prefix in "EI") or (prefix not in "O." and prev_type != type_):
            start = i
        prev_prefix, prev_type = prefix, type_
    return chunks


def _pos_chunk_stats(preds: list, golds: list) -> np.ndarray:
    """Per sentence: (correct, predicted, gold) seqeval-0.0.12 chunks; their sums give xtreme_pos_f1."""
    _check_tag_sequences(preds, golds)
    rows = []
    for i, (p, g) in enumerate(zip(preds, golds)):
        for tag in (*p, *g):
            if not isinstance(tag, str) or not tag:
                raise AdaptxError(f"metric: sentence {i} has a tag {tag!r}; expected non-empty tag names")
        predicted, gold = _chunks_seqeval_0012(list(p)), _chunks_seqeval_0012(list(g))
        rows.append((len(predicted & gold), len(predicted), len(gold)))
    return np.asarray(rows, dtype=np.float64).reshape(-1, 3)


def _xtreme_pos_f1(preds: list, golds: list) -> float:
    # the corpus F1 is computed from the summed per-sentence counts, so the bootstrap's resampled
    # statistic is this same function of resampled sentences
    return float(_f1_from_stats(_pos_chunk_stats(preds, golds).sum(axis=0)))


def _entity_stats(preds: list, golds: list) -> np.ndarray:
    """Per sentence: (correct entities, predicted entities, gold entities), seqeval's chunking (its
    default mode joins sentences with 'O', so entities never cross sentences and counts add up)."""
    from seqeval.metrics.sequence_labeling import get_entities

    _check_tag_sequences(preds, golds)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a tag outside IOB2 is "not an NE tag" to seqeval
        for p, g in zip(preds, golds):
            predicted, gold = set(get_entities(list(p))), set(get_entities(list(g)))
            rows.append((len(predicted & gold), len(predicted), len(gold)))
    return np.asarray(rows, dtype=np.float64).reshape(-1, 3)


def _f1_from_stats(sums: np.ndarray) -> np.ndarray:
    correct, predicted, gold = sums[..., 0], sums[..., 1], sums[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(predicted + gold > 0, 2 * correct / np.maximum(predicted + gold, 1e-12), 0.0)


def _word_stats(preds: list, golds: list) -> np.ndarray:
    """Per sentence: (correct words, words)."""
    _check_tag_sequences(preds, golds)
    return np.asarray([(sum(a == b for a, b in zip(p, g)), len(g)) for p, g in zip(preds, golds)],
                      dtype=np.float64).reshape(-1, 2)


def _ratio_from_stats(sums: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sums[..., 1] > 0, sums[..., 0] / np.maximum(sums[..., 1], 1e-12), 0.0)


def _token_accuracy(preds: list, golds: list) -> float:
    # micro over words: resampling sentences changes the weights, so there is no per-sentence
    # decomposition whose mean equals this (per_example stays None)
    _check_tag_sequences(preds, golds)
    total = sum(len(g) for g in golds)
    correct = sum(p == g for ps, gs in zip(preds, golds) for p, g in zip(ps, gs))
    return correct / total if total else 0.0


# --- extractive QA: SQuAD v1.1 (evaluate-v1.1.py) and MLQA (mlqa_evaluation_v1.py) --------------

# MLQA's article patterns, applied after lowercasing and punctuation removal. Arabic: the reference
# pattern '\sال^|ال' can only ever match its second branch, so every 'ال' becomes a space, also
# inside words ('مال' -> 'م'); kept as the reference does it.
_MLQA_ARTICLES = {
    "en": r"\b(a|an|the)\b",
    "es": r"\b(un|una|unos|unas|el|la|los|las)\b",
    "vi": r"\b(của|là|cái|chiếc|những)\b",
    "de": r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b",
    "ar": r"ال",
    "hi": None,  # no articles
    "zh": None,
}
MLQA_LANGUAGES = tuple(_MLQA_ARTICLES)
_CJK = re.compile(r"[\u4e00-\u9fa5]")  # the reference's range for mixed segmentation
_ASCII_PUNCT = frozenset(string.punctuation)


def _is_unicode_punct(ch: str) -> bool:
    # MLQA: every character of a Unicode category P*, plus ASCII string.punctuation (which adds the
    # symbols $+<=>^`|~ of category S)
    return ch in _ASCII_PUNCT or unicodedata.category(ch).startswith("P")


def _mixed_segmentation(text: str) -> list[str]:
    # MLQA zh: each CJK character (or punctuation mark) is a token; other runs split on whitespace
    tokens, run = [], ""
    for ch in text:
        if _CJK.match(ch) or _is_unicode_punct(ch):
            tokens.extend(run.split())
            run = ""
            tokens.append(ch)
        else:
            run += ch
    tokens.extend(run.split())
    return tokens


def normalize_answer(text: str, lang: str | None = None) -> str:
    """SQuAD v1.1 normalisation (lang=None) or MLQA's for one of MLQA_LANGUAGES: lowercase, remove
    punctuation, remove articles, then rejoin the whitespace tokens (zh: mixed segmentation)."""
    text = text.lower()
    if lang is None:
        text = "".join(ch for ch in text if ch not in _ASCII_PUNCT)
        return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())
    if lang not in _MLQA_ARTICLES:
        raise AdaptxError(f"MLQA answer normalisation has no language {lang!r}; "
                          f"it knows {', '.join(MLQA_LANGUAGES)} (use the SQuAD metrics for other languages)")
    text = "".join(ch for ch in text if not _is_unicode_punct(ch))
    if _MLQA_ARTICLES[lang]:
        text = re.sub(_MLQA_ARTICLES[lang], " ", text)
    tokens = _mixed_segmentation(text) if lang == "zh" else text.split()
    return " ".join(t for t in tokens if t.strip())


def qa_f1(prediction: str, gold: str, lang: str | None = None) -> float:
    """Bag-of-tokens F1 of one prediction against one gold answer (0 when nothing is shared,
    including an empty prediction against an empty gold: the reference's behaviour)."""
    pred_tokens = normalize_answer(prediction, lang).split()
    gold_tokens = normalize_answer(gold, lang).split()
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def qa_exact_match(prediction: str, gold: str, lang: str | None = None) -> float:
    return float(normalize_answer(prediction, lang) == normalize_answer(gold, lang))


def qa_f1_v2(prediction: str, gold: str, lang: str | None = None) -> float:
    """SQuAD 2.0's F1: where the gold or the prediction is empty (no answer), 1 when both are, else 0."""
    if not normalize_answer(prediction, lang).split() or not normalize_answer(gold, lang).split():
        return float(normalize_answer(prediction, lang).split() == normalize_answer(gold, lang).split())
    return qa_f1(prediction, gold, lang)


def _qa_per_question(score: Callable[[str, str, str | None], float], lang: str | None, v2: bool = False):
    def per_question(preds: list, golds: list) -> np.ndarray:
        if len(preds) != len(golds):
            raise AdaptxError(f"metric: {len(preds)} predicted answers for {len(golds)} questions")
        out = np.empty(len(preds), dtype=np.float64)
        for i, (pred, answers) in enumerate(zip(preds, golds)):
            if not isinstance(pred, str):
                raise AdaptxError(f"metric: prediction {i} is {type(pred).__name__}, expected the answer text")
            if isinstance(answers, str) or not isinstance(answers, (list, tuple)) or not (answers or v2) or \
                    not all(isinstance(a, str) for a in answers):
                raise AdaptxError(f"metric: question {i} needs a non-empty list of gold answer texts, got "
                                  f"{str(answers)[:80]!r} (unanswerable or unlabeled questions have no SQuAD v1.1 "
                                  "score)")
            if v2:  # SQuAD 2.0's evaluate script drops golds that normalise to nothing; none left: no answer
                answers = [a for a in answers if normalize_answer(a, lang)] or [""]
            out[i] = max(score(pred, gold, lang) for gold in answers)  # best over the gold answers
        return out

    return per_question


def qa_metric(measure: str, lang: str | None = None, v2: bool = False) -> Metric:
    """'f1' or 'em'; lang None = SQuAD v1.1 (XQuAD, TyDiQA-GoldP, SQuAD), else MLQA's normalisation
    for that language (the answer's language: the context language). Named 'squad_f1' or 'mlqa_f1:de';
    v2: SQuAD 2.0's scores, where the empty answer is right for unanswerable questions ('squad_v2_f1')."""
    score = {"f1": qa_f1_v2 if v2 else qa_f1, "em": qa_exact_match}[measure]
    per_question = _qa_per_question(score, lang, v2)

    def compute(preds: list, golds: list) -> float:
        scores = per_question(preds, golds)
        return float(scores.mean()) if scores.size else 0.0

    name = f"squad_{'v2_' if v2 else ''}{measure}" if lang is None else f"mlqa_{measure}:{lang}"
    # revision 2 of SQuAD 2.0's scores: gold answers that normalise to "" are dropped, as the official script does
    return Metric(name, compute, per_question, revision=2 if v2 else 1)


def metric_for_language(name: str, lang: str) -> Metric:
    """The metric a task names, for one evaluation language: language-aware metrics (mlqa_f1,
    mlqa_em) resolve to 'mlqa_f1:<lang>'; every other name is the same metric in every language."""
    if f"{name}:{lang}" in METRICS:
        return METRICS[f"{name}:{lang}"]
    if name in ("mlqa_f1", "mlqa_em"):
        raise AdaptxError(f"metric {name!r} needs one of the MLQA languages {', '.join(MLQA_LANGUAGES)}, got {lang!r}")
    return get_metric(name)


# --- retrieval: Tatoeba (top-1 cosine) and BUCC 2018 (ratio margin, LASER / XTREME) ------------

def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rows of a against rows of b (float64); an all-zero row has similarity 0 to everything."""
    a, b = (np.asarray(m, dtype=np.float64) for m in (a, b))
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return a @ b.T


def tatoeba_accuracy(similarity: np.ndarray) -> float:
    """Top-1 accuracy: row i (a query) is right when its most similar column is column i.

    Pass cosine_similarity(src, eng) for source->English; XTREME's evaluate_retrieval.py indexes the
    source sentences and queries with the English ones, i.e. cosine_similarity(eng, src) (= the
    transpose). A tie goes to the lowest column index (numpy argmax).
    """
    similarity = np.asarray(similarity)
    if similarity.ndim != 2 or similarity.shape[0] != similarity.shape[1]:
        raise AdaptxError(f"tatoeba_accuracy: expected a square similarity matrix (n queries x n candidates, "
                          f"gold on the diagonal), got shape {similarity.shape}")
    if similarity.shape[0] == 0:
        return 0.0
    return float((similarity.argmax(axis=1) == np.arange(similarity.shape[0])).mean())


def _knn(rows: Callable[[slice], np.ndarray], n: int, k: int, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    # the k most similar columns of each row, most similar first; ties: lower column index first
    sims, idxs = [], []
    for start in range(0, n, chunk):
        block = rows(slice(start, start + chunk))
        order = np.argsort(-block, axis=1, kind="stable")[:, :k]
        sims.append(np.take_along_axis(block, order, axis=1))
        idxs.append(order)
    return np.concatenate(sims), np.concatenate(idxs)


BUCC_MODES = ("max", "intersect", "fwd", "bwd")


def _mine(fwd: tuple, bwd: tuple, mode: str) -> list[tuple[int, int, float]]:
    """LASER/XTREME mine_bitext (utils_retrieve.py, mode 'mine', margin 'ratio') on k-NN lists.

    score(x, y) = cos(x, y) / ((mean of x's k NN cosines + mean of y's k NN cosines) / 2), computed
    for each sentence's k nearest neighbours only; each sentence's best is its highest-scoring one.
    'max' (XTREME's default, used for its BUCC numbers): pool the forward and backward bests, walk
    them by descending score and keep a pair when neither side is taken yet (one-to-one).
    Unlike XTREME, no candidate is dropped at score <= 0 and duplicate sentences are not merged.
    """
    if mode not in BUCC_MODES:
        raise AdaptxError(f"BUCC mining mode {mode!r}; expected one of {', '.join(BUCC_MODES)}")
    (fwd_sim, fwd_idx), (bwd_sim, bwd_idx) = fwd, bwd
    fwd_mean, bwd_mean = fwd_sim.mean(axis=1), bwd_sim.mean(axis=1)
    fwd_scores = fwd_sim / ((fwd_mean[:, None] + bwd_mean[fwd_idx]) / 2)
    bwd_scores = bwd_sim / ((bwd_mean[:, None] + fwd_mean[bwd_idx]) / 2)
    src_rows, tgt_rows = np.arange(len(fwd_idx)), np.arange(len(bwd_idx))
    fwd_best = fwd_idx[src_rows, fwd_scores.argmax(axis=1)]
    bwd_best = bwd_idx[tgt_rows, bwd_scores.argmax(axis=1)]
    fwd_top, bwd_top = fwd_scores.max(axis=1), bwd_scores.max(axis=1)
    if mode == "fwd":
        return [(int(i), int(j), float(s)) for i, j, s in zip(src_rows, fwd_best, fwd_top)]
    if mode == "bwd":
        return [(int(i), int(j), float(s)) for i, j, s in zip(bwd_best, tgt_rows, bwd_top)]
    if mode == "intersect":
        return [(int(i), int(j), float(s)) for i, j, s in zip(src_rows, fwd_best, fwd_top) if bwd_best[j] == i]
    pairs = np.concatenate([np.stack([src_rows, fwd_best], 1), np.stack([bwd_best, tgt_rows], 1)])
    scores = np.concatenate([fwd_top, bwd_top])
    seen_src, seen_tgt, out = set(), set(), []
    for n in np.argsort(-scores, kind="stable"):
        i, j = int(pairs[n, 0]), int(pairs[n, 1])
        if i not in seen_src and j not in seen_tgt:
            seen_src.add(i)
            seen_tgt.add(j)
            out.append((i, j, float(scores[n])))
    return out


def bucc_candidates(similarity: np.ndarray, k: int = 4, mode: str = "max") -> list[tuple[int, int, float]]:
    """Mined (source index, target index, margin score) pairs from a full cosine matrix (sources x targets)."""
    s = np.asarray(similarity, dtype=np.float64)
    if s.ndim != 2 or 0 in s.shape:
        raise AdaptxError(f"bucc_candidates: expected a non-empty sources x targets matrix, got shape {s.shape}")
    fwd = _knn(lambda rows: s[rows], s.shape[0], min(k, s.shape[1]), max(1, s.shape[0]))
    bwd = _knn(lambda cols: s[:, cols].T, s.shape[1], min(k, s.shape[0]), max(1, s.shape[1]))
    return _mine(fwd, bwd, mode)


def bucc_candidates_from_embeddings(src: np.ndarray, tgt: np.ndarray, k: int = 4, mode: str = "max",
                                    chunk_size: int = 1024) -> list[tuple[int, int, float]]:
    """As bucc_candidates, from sentence embeddings, never holding the whole matrix (blocks of rows)."""
    x, y = (np.asarray(m, dtype=np.float32) for m in (src, tgt))
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or 0 in (len(x), len(y)):
        raise AdaptxError(f"bucc_candidates_from_embeddings: expected two non-empty matrices with the same "
                          f"width, got {x.shape} and {y.shape}")
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    y = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
    fwd = _knn(lambda rows: x[rows] @ y.T, len(x), min(k, len(y)), chunk_size)
    bwd = _knn(lambda rows: y[rows] @ x.T, len(y), min(k, len(x)), chunk_size)
    return _mine(fwd, bwd, mode)


def _candidate_scores(candidates) -> dict:
    # (src, tgt, score) triples or {(src, tgt): score}; a pair seen twice keeps its best score (XTREME)
    items = candidates.items() if isinstance(candidates, Mapping) else (((s, t), c) for s, t, c in candidates)
    scores: dict = {}
    for pair, score in items:
        scores[pair] = max(float(score), scores.get(pair, float("-inf")))
    return scores


def _prf(n_correct: int, n_predicted: int, n_gold: int) -> float:
    if n_correct == 0:
        return 0.0
    precision, recall = n_correct / n_predicted, n_correct / n_gold
    return 2 * precision * recall / (precision + recall)


def bucc_f1(candidates: Iterable | Mapping, gold_pairs: Iterable[tuple], threshold: float) -> float:
    """F1 of the candidate pairs scoring >= threshold against the gold pairs (XTREME's bucc_extract
    keeps score >= threshold). Pairs are compared as given: map indices to sentence ids first."""
    gold = set(map(tuple, gold_pairs))
    if not gold:
        raise AdaptxError("bucc_f1: no gold pairs to score against")
    predicted = {pair for pair, score in _candidate_scores(candidates).items() if score >= threshold}
    return _prf(len(predicted & gold), len(predicted), len(gold))


def best_bucc_threshold(candidates: Iterable | Mapping, gold_pairs: Iterable[tuple]) -> float:
    """The F1-optimal score threshold on these (dev) gold pairs; apply it to test with bucc_f1.

    As XTREME's bucc_optimize: walk candidates by descending score, and where F1 improves put the
    threshold halfway to the next lower score. Unlike it, candidates with equal scores are taken
    together (a threshold cannot separate them), the lowest score itself is used when it is the best
    cut (XTREME indexes past the end there), and the highest threshold wins ties in F1. With no
    correct candidate at all it returns a value above every score (extract nothing).
    """
    gold = set(map(tuple, gold_pairs))
    scores = _candidate_scores(candidates)
    if not gold or not scores:
        raise AdaptxError(f"best_bucc_threshold: needs gold pairs and candidates (got {len(gold)} and {len(scores)})")
    values = sorted(set(scores.values()), reverse=True)
    correct_at: Counter = Counter()
    count_at: Counter = Counter(scores.values())
    for pair, score in scores.items():
        correct_at[score] += pair in gold
    best_f1, threshold = 0.0, float(np.nextafter(values[0], np.inf))
    n_correct = n_predicted = 0
    for i, value in enumerate(values):
        n_correct += correct_at[value]
        n_predicted += count_at[value]
        f1 = _prf(n_correct, n_predicted, len(gold))
        if f1 > best_f1:
            best_f1 = f1
            lower = values[i + 1] if i + 1 < len(values) else value
            middle = (value + lower) / 2
            threshold = middle if middle > lower else value  # adjacent floats: the midpoint rounds down
    return threshold


# The retrieval kind's scores (adaptx.kinds.retrieval): its predictions are already mined pairs.
def _tatoeba(direction: int) -> Metric:
    """Tatoeba accuracy of one direction: a prediction is the pair [en->xx index, xx->en index] the
    retrieval kind found for an example, and the gold is the example's own index."""
    def per_example(preds, golds):
        return np.asarray([p[direction] == g for p, g in zip(preds, golds)], dtype=np.float64)

    return Metric(("tatoeba_en_to_xx", "tatoeba_xx_to_en")[direction],
                  lambda preds, golds: float(per_example(preds, golds).mean()) if golds else 0.0, per_example)


def _bucc_f1(preds, golds) -> float:
    """F1 of the extracted pairs: a source's prediction is right when it names its gold partner."""
    correct = sum(1 for p, g in zip(preds, golds) if p is not None and p == g)
    predicted = sum(p is not None for p in preds)
    gold = sum(g is not None for g in golds)
    return 2 * correct / (predicted + gold) if predicted + gold else 0.0


# --- multi-task model selection (the mixture kind's predictions and golds) --------------------

def _mixture_mean(preds: list, golds: list) -> float:
    """The mean over the mixture's tasks of each task's own metric (on English dev); predictions and
    golds are (task, metric, value) triples."""
    by_task: dict[str, tuple[str, list, list]] = {}
    for (name, metric, p), (_, _, g) in zip(preds, golds):
        by_task.setdefault(name, (metric, [], []))
        by_task[name][1].append(p)
        by_task[name][2].append(g)
    scores = [metric_for_language(metric, "en").compute(p, g) for metric, p, g in by_task.values()]
    return float(np.mean(scores)) if scores else 0.0


# Every metric, in one place: `adaptx report` imports only this module, so a metric registered
# anywhere else (as the retrieval and mixture metrics once were, from adaptx.kinds) is unknown there.
METRICS: dict[str, Metric] = {
    "accuracy": Metric("accuracy", _accuracy, _correct),
    "seqeval_f1": Metric("seqeval_f1", _seqeval_f1, stats=_entity_stats, from_stats=_f1_from_stats),
    "token_accuracy": Metric("token_accuracy", _token_accuracy, stats=_word_stats, from_stats=_ratio_from_stats),
    # revision 2: seqeval 0.0.12's chunks, as XTREME's published POS F1 (revision 1 ran seqeval 1.2.2)
    "xtreme_pos_f1": Metric("xtreme_pos_f1", _xtreme_pos_f1, stats=_pos_chunk_stats, from_stats=_f1_from_stats,
                            revision=2),
    "squad_f1": qa_metric("f1"),
    "squad_em": qa_metric("em"),
    # SQuAD 2.0 (unanswerable questions: gold [""]); EM already scores "" against "" as a match
    "squad_v2_f1": qa_metric("f1", v2=True),
    "squad_v2_em": qa_metric("em", v2=True),
    **{f"mlqa_{m}:{lang}": qa_metric(m, lang) for lang in MLQA_LANGUAGES for m in ("f1", "em")},
    "mixture_mean": Metric("mixture_mean", _mixture_mean),
    "tatoeba_en_to_xx": _tatoeba(0),
    "tatoeba_xx_to_en": _tatoeba(1),
    "bucc_f1": Metric("bucc_f1", _bucc_f1),
}
