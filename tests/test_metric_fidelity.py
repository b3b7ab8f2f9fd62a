"""Issue 19 (part D): metric details against the official scripts.

- xtreme_pos_f1 is seqeval 0.0.12's span F1 (what XTREME's published POS F1 came from): a tag's
  first character is its chunk prefix and the part after its last '-' its type, so a UPOS tag is
  typed by the whole tag. Expected values are worked out by hand from 0.0.12's rules
  (seqeval/metrics/sequence_labeling.py at tag v0.0.12: get_entities, end_of_chunk, start_of_chunk).
- The bootstrap sums per-sentence counts: on the full sample they give exactly the reported F1.
- SQuAD 2.0 (evaluate-v2.0.py): golds that normalise to '' are dropped; none left -> [''].
"""

import numpy as np
import pytest

from adaptx.errors import AdaptxError
from adaptx.metrics import METRICS, _chunks_seqeval_0012

POS_F1 = METRICS["xtreme_pos_f1"]
UPOS = ("ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X").split()


def test_seqeval_0012_chunks_of_upos_tags():
    # runs of one tag are one chunk; SCONJ/SYM (prefix 'S', "single") one chunk per word; X is a type
    tags = ["NOUN", "NOUN", "SCONJ", "SCONJ", "CCONJ", "X", "X", "SYM", "SYM"]
    assert _chunks_seqeval_0012(tags) == {("NOUN", 0, 1), ("SCONJ", 2, 2), ("SCONJ", 3, 3), ("CCONJ", 4, 4),
                                          ("X", 5, 6), ("SYM", 7, 7), ("SYM", 8, 8)}
    # IOB tags chunk as in any seqeval: the type is what follows the last '-'
    assert _chunks_seqeval_0012(["B-PER", "I-PER", "O", "I-LOC"]) == {("PER", 0, 1), ("LOC", 3, 3)}


@pytest.mark.parametrize("gold, pred, expected", [
    # CCONJ and SCONJ are two types (seqeval >= 0.0.16 reads both as 'CONJ' and scores this 1.0)
    ([["CCONJ"]], [["SCONJ"]], 0.0),
    ([["CCONJ", "NOUN"]], [["SCONJ", "NOUN"]], 0.5),
    # X is a type like any other (seqeval >= 0.0.16 reads it like 'O': no chunk, so 0.0 and 2/3)
    ([["X"]], [["X"]], 1.0),
    ([["NOUN", "X"]], [["NOUN", "ADJ"]], 0.5),  # gold NOUN(0) X(1), predicted NOUN(0) ADJ(1): 1 of 2 and 2
    # a run of one tag is one chunk: gold NOUN(0-1) vs predicted NOUN(0) ADJ(1): nothing matches
    ([["NOUN", "NOUN"]], [["NOUN", "ADJ"]], 0.0),
    # but SCONJ is one chunk per word: gold SCONJ(0) SCONJ(1), predicted SCONJ(0) ADV(1)
    ([["SCONJ", "SCONJ"]], [["SCONJ", "ADV"]], 0.5),
])
def test_xtreme_pos_f1_hand_cases_of_seqeval_0012(gold, pred, expected):
    assert POS_F1.compute(pred, gold) == pytest.approx(expected, abs=1e-15)


def test_per_sentence_counts_sum_to_the_reported_pos_f1_across_sentence_boundaries():
    # a sentence-final X and the next sentence's initial X: separate chunks, as in the joined corpus
    # (seqeval 1.2.2 merged them across the 'O' it joins sentences with, so its corpus count differed)
    golds = [["NOUN", "X"], ["X", "VERB"]]
    preds = [["NOUN", "X"], ["ADJ", "VERB"]]
    stats = POS_F1.stats(preds, golds)
    assert stats.tolist() == [[2, 2, 2], [1, 2, 2]]  # (correct, predicted, gold) per sentence
    reported = POS_F1.compute(preds, golds)
    assert reported == 0.75  # 3 of 4 predicted and 4 gold chunks
    # the bootstrap (adaptx.stats) scores a resample as from_stats(draw counts @ stats): all once
    assert float(POS_F1.from_stats(np.ones(2) @ stats)) == reported


def test_pos_f1_statistics_reproduce_the_metric_on_random_upos_sentences():
    rng = np.random.default_rng(0)
    for _ in range(50):
        golds = [list(rng.choice(UPOS, size=rng.integers(1, 8))) for _ in range(rng.integers(1, 10))]
        preds = [[t if rng.random() < 0.6 else str(rng.choice(UPOS)) for t in g] for g in golds]
        assert float(POS_F1.from_stats(POS_F1.stats(preds, golds).sum(axis=0))) == POS_F1.compute(preds, golds)


def test_pos_f1_refuses_empty_tags():
    with pytest.raises(AdaptxError, match="sentence 0 has a tag ''"):
        POS_F1.compute([[""]], [["NOUN"]])


@pytest.mark.parametrize("pred, golds, f1, em", [
    ("", ["The", "a cat"], 0.0, 0.0),  # 'The' normalises to '' and is dropped: only 'a cat' is gold
    ("cat", ["The", "a cat"], 1.0, 1.0),
    ("", ["The", "a"], 1.0, 1.0),  # every gold normalises to '': the question counts as unanswerable
    ("the cat", ["An"], 0.0, 0.0),
    ("", [], 1.0, 1.0),  # no answers at all: the only right answer is ''
    ("cat", [""], 0.0, 0.0),
])
def test_squad_v2_drops_gold_answers_that_normalise_to_nothing(pred, golds, f1, em):
    assert METRICS["squad_v2_f1"].compute([pred], [golds]) == f1
    assert METRICS["squad_v2_em"].compute([pred], [golds]) == em


def test_squad_v1_keeps_every_gold_answer():
    # evaluate-v1.1.py scores against every ground truth: '' matches 'The' exactly (both normalise to '')
    assert METRICS["squad_em"].compute([""], [["The", "a cat"]]) == 1.0
    assert METRICS["squad_f1"].compute([""], [["The", "a cat"]]) == 0.0
    with pytest.raises(AdaptxError, match="non-empty list of gold answer texts"):
        METRICS["squad_f1"].compute([""], [[]])
