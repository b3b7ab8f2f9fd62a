import numpy as np
import pytest

from adaptx.errors import AdaptxError
from adaptx.metrics import Metric, get_metric
from adaptx.stats import Bootstrap, Evaluation, bootstrap_interval, paired_bootstrap, seed_spread, spread_warning

ACC = get_metric("accuracy")


def evaluation(correct, ids=None):
    """Three-way labels; the prediction is right exactly where `correct` is true."""
    correct = np.asarray(correct, dtype=bool)
    gold = [i % 3 for i in range(len(correct))]
    pred = [g if c else (g + 1) % 3 for g, c in zip(gold, correct)]
    return Evaluation.from_lists(list(range(len(correct))) if ids is None else ids, pred, gold, where="test")


def first_k(n, k):
    return np.arange(n) < k


def random_mask(n, k, seed):
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).choice(n, k, replace=False)] = True
    return mask


def row(masks_by_seed):
    """{seed: {lang: mask}} -> a stats row."""
    return {s: {lang: evaluation(m) for lang, m in langs.items()} for s, langs in masks_by_seed.items()}


def width(ci):
    return ci.hi - ci.lo


def test_identical_predictions_are_not_marked():
    base = row({0: {"en": random_mask(300, 150, 1), "de": random_mask(300, 120, 2)}})
    c = paired_bootstrap(base, base, ACC, ["en", "de"])
    assert (c.delta, c.lo, c.hi, c.verdict) == (0.0, 0.0, 0.0, "no clear difference")


def test_clearly_better_and_clearly_worse():
    base = row({0: {"en": first_k(300, 100)}})  # 33%
    assert paired_bootstrap(row({0: {"en": first_k(300, 300)}}), base, ACC, ["en"]).verdict == "better"
    worse = paired_bootstrap(row({0: {"en": first_k(300, 15)}}), base, ACC, ["en"])
    assert worse.verdict == "worse" and worse.hi < 0 and worse.delta == pytest.approx(0.05 - 1 / 3)


def test_two_points_on_100_examples_is_noise():
    base = row({0: {"en": random_mask(100, 50, 1), "de": random_mask(100, 50, 2)}})
    x = row({0: {"en": random_mask(100, 52, 3), "de": random_mask(100, 52, 4)}})
    c = paired_bootstrap(x, base, ACC, ["en", "de"])
    assert c.delta == pytest.approx(0.02)
    assert c.verdict == "no clear difference" and c.lo < 0 < c.hi


def test_interval_contains_the_point_and_shrinks_with_n():
    small = bootstrap_interval(row({0: {"en": random_mask(100, 48, 1)}}), ACC, ["en"])
    large = bootstrap_interval(row({0: {"en": random_mask(2000, 960, 1)}}), ACC, ["en"])
    for ci in (small, large):
        assert ci.point == pytest.approx(0.48) and ci.lo < ci.point < ci.hi
    assert width(large) < width(small) / 3  # ~ 1/sqrt(20)
    assert 0.15 < width(small) < 0.25  # ±5 points at n=100


def test_seed_resampling_widens_only_when_seeds_disagree():
    mask = random_mask(300, 150, 1)
    one_seed = bootstrap_interval(row({0: {"en": mask}}), ACC, ["en"])
    agreeing = bootstrap_interval(row({0: {"en": mask}, 1: {"en": mask}, 2: {"en": mask}}), ACC, ["en"])
    assert (agreeing.lo, agreeing.hi) == (one_seed.lo, one_seed.hi)
    disagreeing = row({0: {"en": random_mask(300, 90, 1)}, 1: {"en": random_mask(300, 150, 2)},
                       2: {"en": random_mask(300, 210, 3)}})
    ci = bootstrap_interval(disagreeing, ACC, ["en"])
    assert ci.point == pytest.approx(0.5)
    assert width(ci) > 2 * width(one_seed)


def test_average_over_languages_and_seeds():
    r = row({0: {"en": first_k(100, 80), "de": first_k(100, 40)}, 1: {"en": first_k(100, 60), "de": first_k(100, 20)}})
    assert bootstrap_interval(r, ACC, ["en", "de"]).point == pytest.approx(0.5)
    assert bootstrap_interval(r, ACC, ["de"]).point == pytest.approx(0.3)


def test_deterministic_and_seeded():
    r = row({0: {"en": random_mask(200, 90, 1)}})
    assert bootstrap_interval(r, ACC, ["en"]) == bootstrap_interval(r, ACC, ["en"])
    assert bootstrap_interval(r, ACC, ["en"], rng_seed=1) != bootstrap_interval(r, ACC, ["en"])


def test_paired_detects_a_small_consistent_gain_that_unpaired_intervals_miss():
    langs = ["en", "de", "fr"]
    base_masks = {lang: random_mask(300, 150, i) for i, lang in enumerate(langs)}
    x_masks = {}
    for lang, mask in base_masks.items():
        fixed = mask.copy()
        fixed[np.flatnonzero(~mask)[:8]] = True  # X is the baseline, plus 8 examples right per language
        x_masks[lang] = fixed
    base, x = row({0: base_masks}), row({0: x_masks})
    ci_base, ci_x = bootstrap_interval(base, ACC, langs), bootstrap_interval(x, ACC, langs)
    assert ci_x.lo < ci_base.hi  # unpaired: the intervals overlap
    c = paired_bootstrap(x, base, ACC, langs)
    assert c.verdict == "better" and c.lo > 0


def test_metric_without_per_example_gives_the_same_interval():
    slow = Metric("accuracy", ACC.compute)  # recomputed on each resample
    r = row({0: {"en": random_mask(60, 30, 1)}, 1: {"en": random_mask(60, 40, 2)}})
    fast_ci, slow_ci = bootstrap_interval(r, ACC, ["en"], resamples=200), bootstrap_interval(r, slow, ["en"], resamples=200)
    assert (fast_ci.lo, fast_ci.hi) == pytest.approx((slow_ci.lo, slow_ci.hi))


def test_pairs_by_id_not_by_position():
    mask = random_mask(50, 20, 1)
    gold = [i % 3 for i in range(50)]
    pred = [g if c else (g + 1) % 3 for g, c in zip(gold, mask)]
    order = np.random.default_rng(0).permutation(50)
    shuffled = {0: {"en": Evaluation.from_lists([int(i) for i in order], [pred[i] for i in order], [gold[i] for i in order], "x")}}
    c = paired_bootstrap(shuffled, row({0: {"en": mask}}), ACC, ["en"])
    assert (c.lo, c.hi) == (0.0, 0.0)


def test_pairs_seeds_by_value_using_the_shared_seeds():
    base = row({0: {"en": first_k(100, 50)}, 1: {"en": first_k(100, 50)}})
    x = row({1: {"en": first_k(100, 50)}, 2: {"en": first_k(100, 100)}})  # seed 2 has no baseline to pair with
    c = paired_bootstrap(x, base, ACC, ["en"])
    assert (c.delta, c.verdict) == (0.0, "no clear difference")


def test_mismatched_inputs_are_clear_errors():
    with pytest.raises(AdaptxError, match="3 ids, 2 predictions and 3 gold labels"):
        Evaluation.from_lists([0, 1, 2], [0, 1], [0, 1, 2], "preds.json [de]")
    with pytest.raises(AdaptxError, match="duplicate example ids"):
        Evaluation.from_lists([0, 0], [0, 1], [0, 1], "preds.json [de]")
    base = row({0: {"de": first_k(4, 2)}})
    other_ids = {0: {"de": evaluation(first_k(4, 2), ids=[0, 1, 2, 7])}}
    with pytest.raises(AdaptxError, match="'de': stack and none were evaluated on different example ids"):
        paired_bootstrap(other_ids, base, ACC, ["de"], names=("stack", "none"))
    with pytest.raises(AdaptxError, match="seeds 0 and 1 were evaluated on different example ids"):
        bootstrap_interval({**base, 1: other_ids[0]}, ACC, ["de"])


# -- seed spread: few seeds that disagree make intervals undercover -----------------------------

def test_seed_spread_is_max_minus_min_of_the_per_seed_averages():
    assert seed_spread({0: 0.50, 1: 0.53, 2: 0.51}) == pytest.approx(0.03)
    assert seed_spread({0: 0.5}) is None and seed_spread({}) is None
    # a row's spread: each seed's average over the languages asked for, then max - min
    r = row({0: {"en": first_k(100, 50), "de": first_k(100, 60)}, 1: {"en": first_k(100, 70), "de": first_k(100, 60)}})
    boot = Bootstrap({"r": r}, ACC, resamples=50)
    assert boot.seed_spread("r", ["en", "de"]) == pytest.approx(0.10)  # 0.55 vs 0.65
    assert boot.seed_spread("r", ["de"]) == pytest.approx(0.0)


def test_spread_warning_only_for_a_wide_spread_over_fewer_than_five_seeds():
    text = spread_warning(3.04, 3)
    assert text.startswith("seed spread 3.0 points over 3 seeds") and "undercover" in text
    assert spread_warning(2.5, 4) is not None and spread_warning(2.4, 3) is None  # "2.5 points or more"
    assert spread_warning(6.0, 5) is None and spread_warning(None, 1) is None
