"""XTREME metrics on cases worked out by hand from the reference scripts' definitions:
seqeval (conlleval-style spans), SQuAD v1.1 evaluate script, MLQA's mlqa_evaluation_v1.py,
XTREME's utils_retrieve.py (ratio margin, mine_bitext, bucc_optimize) and evaluate_retrieval.py."""

import numpy as np
import pytest

from adaptx.errors import AdaptxError
from adaptx.metrics import (
    METRICS,
    best_bucc_threshold,
    bucc_candidates,
    bucc_candidates_from_embeddings,
    bucc_f1,
    cosine_similarity,
    get_metric,
    metric_for_language,
    normalize_answer,
    qa_exact_match,
    qa_f1,
    tatoeba_accuracy,
)

approx = pytest.approx

# --- tagging ---------------------------------------------------------------------------------

SEQEVAL = get_metric("seqeval_f1").compute


@pytest.mark.parametrize("gold, pred, expected", [
    # gold spans PER(0-1), LOC(3); predicted PER(0-1): P = 1, R = 1/2
    ([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "O"]], 2 / 3),
    ([["B-PER", "I-PER"]], [["B-PER", "O"]], 0.0),  # a span must match on both ends
    ([["B-ORG"]], [["B-LOC"]], 0.0),  # and on its type
    ([["B-PER", "I-PER"]], [["I-PER", "I-PER"]], 1.0),  # default mode: an I- after O opens a span
    ([["O", "O"]], [["O", "O"]], 0.0),  # no span anywhere: seqeval's 0.0
    ([["O", "O"]], [["B-PER", "O"]], 0.0),  # predicted span without any gold span
])
def test_seqeval_f1_hand_cases(gold, pred, expected):
    assert SEQEVAL(pred, gold) == approx(expected)


def test_seqeval_f1_is_micro_over_all_sentences():
    gold = [["B-PER", "O", "B-LOC"], ["B-ORG", "I-ORG"], ["O"]]
    pred = [["B-PER", "O", "B-LOC"], ["O", "O"], ["B-LOC"]]
    # TP 2 of 3 predicted and 3 gold spans: P = R = 2/3 (a per-sentence mean would differ)
    assert SEQEVAL(pred, gold) == approx(2 / 3)
    assert get_metric("seqeval_f1").per_example is None


def test_token_accuracy_is_micro_over_words():
    gold = [["NOUN", "VERB", "DET"], ["PUNCT"]]
    pred = [["NOUN", "ADJ", "DET"], ["X"]]
    metric = get_metric("token_accuracy")
    assert metric.compute(pred, gold) == approx(2 / 4)  # a per-sentence mean would give (2/3 + 0) / 2
    assert metric.per_example is None  # resampling sentences cannot reuse per-sentence means
    assert metric.compute([], []) == 0.0


def test_xtreme_pos_f1_reads_upos_tags_as_seqeval_spans():
    # seqeval reads 'NOUN' as prefix 'N' + type 'OUN', so runs of one tag are one "span":
    # gold OUN(0) ERB(1) ET(2), predicted OUN(0-1) ET(2): TP 1, P = 1/2, R = 1/3 -> F1 0.4
    metric = get_metric("xtreme_pos_f1")
    assert metric.compute([["NOUN", "NOUN", "DET"]], [["NOUN", "VERB", "DET"]]) == approx(0.4)
    # gold OUN(0-1) ERB(2), predicted OUN(0) ERB(1-2): no span matches, though 2 of 3 tags do
    assert metric.compute([["NOUN", "VERB", "VERB"]], [["NOUN", "NOUN", "VERB"]]) == 0.0
    assert get_metric("token_accuracy").compute([["NOUN", "VERB", "VERB"]], [["NOUN", "NOUN", "VERB"]]) == approx(2 / 3)


@pytest.mark.parametrize("name", ["seqeval_f1", "token_accuracy", "xtreme_pos_f1"])
def test_tag_metrics_reject_misaligned_input(name):
    metric = get_metric(name)
    with pytest.raises(AdaptxError, match="sentence 1 has 1 predicted tags for 2 gold words"):
        metric.compute([["O"], ["O"]], [["O"], ["O", "O"]])
    with pytest.raises(AdaptxError, match="2 predicted tag sequences for 1 gold"):
        metric.compute([["O"], ["O"]], [["O"]])
    with pytest.raises(AdaptxError, match="list of tags"):
        metric.compute(["O O"], [["O", "O"]])


# --- extractive QA ----------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("The Cat.", "cat"),
    ("  An   apple, the pie!", "apple pie"),
    ("Theater", "theater"),  # articles only as whole words
    ("«cat»", "«cat»"),  # SQuAD removes ASCII punctuation only
    ("$5 & more", "5 more"),
])
def test_squad_normalisation(text, expected):
    assert normalize_answer(text) == expected


def test_squad_f1_and_em_by_hand():
    assert qa_exact_match("The Cat.", "cat") == 1.0
    # 'big cat sat' vs 'cat sat down': 2 shared tokens, P = R = 2/3
    assert qa_f1("the big cat sat", "a cat sat down") == approx(2 / 3)
    assert qa_f1("cat cat cat", "cat") == approx(0.5)  # shared count is the bag minimum: P 1/3, R 1
    assert qa_f1("", "cat") == 0.0 and qa_exact_match("", "cat") == 0.0
    # both normalise to '': EM 1 but F1 0 (no shared token), exactly as evaluate-v1.1.py
    assert qa_exact_match("", ".") == 1.0 and qa_f1("", ".") == 0.0


def test_squad_metric_takes_the_best_gold_answer_per_question():
    f1, em = get_metric("squad_f1"), get_metric("squad_em")
    preds = ["Denver Broncos", "Broncos team", "nothing"]
    golds = [["Broncos", "Denver Broncos", "the Broncos"], ["Denver Broncos", "Broncos"], ["cat"]]
    # question 2: 0.5 against the first gold, 2/3 against the second
    assert f1.per_example(preds, golds) == approx([1.0, 2 / 3, 0.0])
    assert f1.compute(preds, golds) == approx((1 + 2 / 3) / 3)
    assert em.per_example(preds, golds) == approx([1.0, 0.0, 0.0])
    assert em.compute(preds, golds) == approx(1 / 3)
    assert f1.compute([], []) == 0.0


def test_squad_metric_rejects_bad_gold_lists():
    f1 = get_metric("squad_f1")
    with pytest.raises(AdaptxError, match="question 0 needs a non-empty list"):
        f1.compute(["cat"], ["cat"])  # a bare string would be scored character by character
    with pytest.raises(AdaptxError, match="question 0 needs a non-empty list"):
        f1.compute(["cat"], [[]])
    with pytest.raises(AdaptxError, match="1 predicted answers for 2 questions"):
        f1.compute(["cat"], [["cat"], ["dog"]])


@pytest.mark.parametrize("lang, pred, gold, em, f1", [
    ("de", "der Hund", "Hund", 1.0, 1.0),  # German articles
    ("de", "„Hund“", "Hund", 1.0, 1.0),  # Unicode quotes are category P
    ("es", "los perros", "perros", 1.0, 1.0),
    ("en", "The Cat.", "cat", 1.0, 1.0),
    ("en", "$5", "5", 1.0, 1.0),  # '$' is in string.punctuation (category Sc)
    ("en", "€5", "5", 0.0, 0.0),  # '€' is category Sc and not ASCII: kept
    ("vi", "của tôi", "tôi", 1.0, 1.0),  # the reference's Vietnamese "articles"
    ("hi", "भारत।", "भारत", 1.0, 1.0),  # danda is category Po
    ("ar", "الكتاب", "كتاب", 1.0, 1.0),
    ("ar", "مال", "م", 1.0, 1.0),  # the reference removes 'ال' inside words too
    # zh mixed segmentation: one token per CJK character; P = 2/4, R = 2/2
    ("zh", "北京大学", "北京", 0.0, 2 / 3),
    # '2008' stays one token: pred [2008 年 北 京 奥 运 会], gold [2008 年]: P = 2/7, R = 1
    ("zh", "2008年北京奥运会", "2008年", 0.0, 4 / 9),
    ("zh", "北京。", "北京", 1.0, 1.0),
    ("zh", "iPhone 手机", "iphone", 0.0, 0.5),  # [iphone 手 机] vs [iphone]
])
def test_mlqa_normalisation_by_hand(lang, pred, gold, em, f1):
    assert get_metric(f"mlqa_em:{lang}").compute([pred], [[gold]]) == approx(em)
    assert get_metric(f"mlqa_f1:{lang}").compute([pred], [[gold]]) == approx(f1)


def test_squad_and_mlqa_differ_where_the_definitions_do():
    squad_f1, squad_em = get_metric("squad_f1").compute, get_metric("squad_em").compute
    assert squad_em(["der Hund"], [["Hund"]]) == 0.0
    assert squad_f1(["der Hund"], [["Hund"]]) == approx(2 / 3)  # P 1/2, R 1
    assert squad_em(["„Hund“"], [["Hund"]]) == 0.0
    assert squad_f1(["北京大学"], [["北京"]]) == 0.0  # no segmentation: one token each


def test_language_selection_for_qa_metrics():
    assert metric_for_language("mlqa_f1", "de").name == "mlqa_f1:de"
    assert metric_for_language("mlqa_em", "zh") is METRICS["mlqa_em:zh"]
    assert metric_for_language("squad_f1", "th") is METRICS["squad_f1"]  # XQuAD/TyDiQA: SQuAD everywhere
    assert metric_for_language("accuracy", "de") is METRICS["accuracy"]
    with pytest.raises(AdaptxError, match="needs one of the MLQA languages"):
        metric_for_language("mlqa_f1", "th")
    with pytest.raises(AdaptxError, match="no language 'fr'"):
        normalize_answer("le chat", "fr")
    with pytest.raises(AdaptxError, match="unknown metric 'mlqa_f1'"):
        get_metric("mlqa_f1")  # a language-aware metric is only ever used with its language


def test_qa_per_example_means_equal_compute():
    preds = ["der Hund", "ein Haus", "x"]
    golds = [["Hund"], ["Haus am See"], ["y", "x"]]
    for name in ("squad_f1", "squad_em", "mlqa_f1:de", "mlqa_em:de"):
        metric = get_metric(name)
        assert metric.per_example(preds, golds).mean() == approx(metric.compute(preds, golds))


# --- Tatoeba ----------------------------------------------------------------------------------

def test_cosine_similarity():
    s = cosine_similarity([[3.0, 4.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 2.0]])
    assert s == approx(np.array([[0.6, 0.8], [0.0, 0.0]]))


def test_tatoeba_accuracy_both_directions():
    s = np.array([[0.9, 0.8], [0.95, 0.1]])
    assert tatoeba_accuracy(s) == 0.5  # row 0 -> column 0 (right), row 1 -> column 0 (wrong)
    assert tatoeba_accuracy(s.T) == 0.0  # the other direction: row 0 -> 1, row 1 -> 0
    assert tatoeba_accuracy(np.full((2, 2), 0.5)) == 0.5  # a tie goes to the lowest column
    assert tatoeba_accuracy(np.zeros((0, 0))) == 0.0
    with pytest.raises(AdaptxError, match="square"):
        tatoeba_accuracy(np.zeros((2, 3)))


# --- BUCC -------------------------------------------------------------------------------------

def test_ratio_margin_mining_by_hand():
    s = np.array([[0.9, 0.5, 0.1],
                  [0.6, 0.8, 0.2],
                  [0.1, 0.3, 0.4]])
    # k = 2: forward means 0.7, 0.7, 0.35; backward means 0.75, 0.65, 0.3
    # margins: (0,0) 0.9/0.725, (1,1) 0.8/0.675, (2,2) 0.4/0.325
    got = bucc_candidates(s, k=2)
    assert [(i, j) for i, j, _ in got] == [(0, 0), (2, 2), (1, 1)]  # by descending score
    assert [c for _, _, c in got] == approx([0.9 / 0.725, 0.4 / 0.325, 0.8 / 0.675])


def test_margin_beats_a_hub_that_cosine_would_pick():
    # target 2 is close to every source; by cosine both sources would pick it
    s = np.array([[0.70, 0.20, 0.75],
                  [0.20, 0.60, 0.70]])
    assert list(s.argmax(axis=1)) == [2, 2]
    # k = 2: forward means 0.725, 0.65; backward means 0.45, 0.40, 0.725
    # (0,0) 0.7/0.5875 > (0,2) 0.75/0.725; (1,1) 0.6/0.525 > (1,2) 0.7/0.6875
    best = {"max": [(0, 0, 0.7 / 0.5875), (1, 1, 0.6 / 0.525)],
            "fwd": [(0, 0, 0.7 / 0.5875), (1, 1, 0.6 / 0.525)],
            "intersect": [(0, 0, 0.7 / 0.5875), (1, 1, 0.6 / 0.525)],
            # backward, target 2's best is source 0 (0.75/0.725); 'max' drops it: source 0 is taken
            "bwd": [(0, 0, 0.7 / 0.5875), (1, 1, 0.6 / 0.525), (0, 2, 0.75 / 0.725)]}
    for mode, expected in best.items():
        got = bucc_candidates(s, k=2, mode=mode)
        assert [(i, j) for i, j, _ in got] == [(i, j) for i, j, _ in expected], mode
        assert [c for _, _, c in got] == approx([c for _, _, c in expected]), mode
    with pytest.raises(AdaptxError, match="mining mode"):
        bucc_candidates(s, mode="union")


def test_mining_from_embeddings_in_blocks_matches_the_matrix_form():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(23, 8)), rng.normal(size=(31, 8))
    whole = bucc_candidates(cosine_similarity(x, y), k=4)
    blocks = bucc_candidates_from_embeddings(x, y, k=4, chunk_size=5)
    assert [(i, j) for i, j, _ in blocks] == [(i, j) for i, j, _ in whole]
    assert [c for _, _, c in blocks] == approx([c for _, _, c in whole], rel=1e-5)
    with pytest.raises(AdaptxError, match="same width"):
        bucc_candidates_from_embeddings(x, y[:, :4])


CANDIDATES = {("a", "x"): 0.9, ("b", "y"): 0.8, ("c", "z"): 0.3}
GOLD = {("a", "x"), ("b", "w"), ("c", "z")}


@pytest.mark.parametrize("threshold, expected", [
    (0.5, 0.4),  # 2 extracted, 1 right: P 1/2, R 1/3
    (0.8, 0.4),  # score >= threshold is extracted
    (0.2, 2 / 3),  # 3 extracted, 2 right
    (0.95, 0.0),  # nothing extracted
])
def test_bucc_f1_by_hand(threshold, expected):
    assert bucc_f1(CANDIDATES, GOLD, threshold) == approx(expected)
    triples = [(s, t, c) for (s, t), c in CANDIDATES.items()]
    assert bucc_f1(triples, GOLD, threshold) == approx(expected)


def test_bucc_f1_keeps_the_best_score_of_a_repeated_pair_and_needs_gold():
    assert bucc_f1([("a", "x", 0.2), ("a", "x", 0.9)], {("a", "x")}, 0.5) == 1.0
    with pytest.raises(AdaptxError, match="no gold pairs"):
        bucc_f1(CANDIDATES, set(), 0.5)


def test_best_bucc_threshold_by_hand():
    # cuts: above 0.9 -> F1 0.5 (at 0.85), above 0.8 -> 0.4, above 0.3 -> 2/3 (the lowest score)
    assert best_bucc_threshold(CANDIDATES, GOLD) == approx(0.3)
    assert bucc_f1(CANDIDATES, GOLD, best_bucc_threshold(CANDIDATES, GOLD)) == approx(2 / 3)
    # with one gold pair the best cut is halfway between 0.9 and 0.8, as in XTREME's bucc_optimize
    assert best_bucc_threshold(CANDIDATES, {("a", "x")}) == approx(0.85)


def test_best_bucc_threshold_takes_tied_scores_together():
    candidates = {("a", "x"): 0.9, ("b", "y"): 0.5, ("c", "z"): 0.5}
    gold = {("a", "x"), ("c", "z")}
    # after 0.9: F1 2/3; after both 0.5s: P 2/3, R 1 -> 0.8 (no threshold takes only one of them)
    threshold = best_bucc_threshold(candidates, gold)
    assert threshold == 0.5 and bucc_f1(candidates, gold, threshold) == approx(0.8)


def test_best_bucc_threshold_edge_cases():
    # no correct candidate: a threshold above every score extracts nothing
    threshold = best_bucc_threshold({("a", "x"): 0.9}, {("b", "y")})
    assert threshold > 0.9 and bucc_f1({("a", "x"): 0.9}, {("b", "y")}, threshold) == 0.0
    # adjacent floats: the midpoint would round onto the lower score and let it in
    low = float(np.nextafter(1.0, 0.0))
    candidates = {("a", "x"): 1.0, ("b", "y"): low}
    threshold = best_bucc_threshold(candidates, {("a", "x")})
    assert bucc_f1(candidates, {("a", "x")}, threshold) == 1.0
    with pytest.raises(AdaptxError, match="needs gold pairs and candidates"):
        best_bucc_threshold({}, GOLD)


@pytest.mark.parametrize("name", ["seqeval_f1", "xtreme_pos_f1", "token_accuracy"])
def test_sufficient_statistics_reproduce_the_metric(name):
    """The bootstrap resamples per-sentence counts; their sums must give exactly the metric."""
    import random

    from adaptx.metrics import get_metric

    metric = get_metric(name)
    rng = random.Random(0)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"] if name == "seqeval_f1" else ["NOUN", "VERB", "DET", "ADJ"]
    for _ in range(20):
        golds = [[rng.choice(tags) for _ in range(rng.randint(1, 9))] for _ in range(rng.randint(1, 12))]
        preds = [[t if rng.random() < 0.7 else rng.choice(tags) for t in g] for g in golds]
        stats = metric.stats(preds, golds)
        assert stats.shape[0] == len(golds)
        assert float(metric.from_stats(stats.sum(0))) == pytest.approx(metric.compute(preds, golds), abs=1e-12)
