"""adaptx rank (issue 20): LogME and TextEmb on arrays, the ranking of a tiny zoo with a planted
informative adapter, Regret@k / Spearman against a measured grid, and the refusals of bad input."""

import csv
import json
import random
import shutil

import numpy as np
import pytest
import torch
import yaml

from adaptx import pipeline
from adaptx.cli import main
from adaptx.config import load_config
from adaptx.errors import AdaptxError
from adaptx.commands.rank import run_rank
from adaptx.rank.estimators import cosine, log_evidence, logme, mean_embedding, spectrum
from adaptx.rank.ranking import Options
from adaptx.rank.scoring import candidate_of, expected_best, read_grids, regret, score, spearman
from tiny_data import write_tiny_data

FIRST_WORD = {"cat": "entailment", "dog": "neutral", "mat": "contradiction"}  # the planted MNLI rule


# -- LogME and TextEmb on arrays ------------------------------------------------------------
def test_logme_matches_a_hand_computed_value():
    """F = [[1], [0]], y = [2, 1]: the evidence is N(y; 0, F F^T / alpha + I / beta), a product of
    N(2; 0, a) with a = 1/alpha + 1/beta and N(1; 0, b) with b = 1/beta. Each factor is maximised
    on its own (a = 4, b = 1: beta = 1, alpha = 1/3), so the maximum is
    -1/2 [log(2 pi 4) + 4/4 + log(2 pi) + 1] = -(log 2 + log 2 pi + 1), per sample -(1 + log 4 pi) / 2."""
    evidence = log_evidence(spectrum(np.array([[1.0], [0.0]])), np.array([2.0, 1.0]))
    assert evidence.value == pytest.approx(-(1 + np.log(4 * np.pi)) / 2, abs=1e-9)
    assert (evidence.alpha, evidence.beta) == (pytest.approx(1 / 3, rel=1e-6), pytest.approx(1.0, rel=1e-6))


@pytest.mark.parametrize("columns", [[0, 1, 2, 3], [0, 1, 1, 2]])  # full rank, and rank 3 of 4 columns
def test_logme_is_the_maximised_gaussian_evidence(columns):
    """Against the marginal likelihood written out directly: scipy's Gaussian log density at LogME's
    alpha and beta equals LogME's value (the d - k zero eigenvalues counted), and no (alpha, beta)
    nearby does better."""
    from scipy.stats import multivariate_normal

    rng = np.random.default_rng(0)
    base = rng.normal(size=(40, 4))
    f = base[:, columns]
    y = f @ rng.normal(size=f.shape[1]) * 2 + rng.normal(size=40)
    e = log_evidence(spectrum(f), y)

    def direct(alpha, beta):
        return multivariate_normal(np.zeros(40), f @ f.T / alpha + np.eye(40) / beta).logpdf(y) / 40

    assert e.value == pytest.approx(direct(e.alpha, e.beta), abs=1e-9)
    for da, db in [(1.05, 1), (0.95, 1), (1, 1.05), (1, 0.95)]:
        assert direct(e.alpha * da, e.beta * db) < e.value


def test_logme_of_labels_is_the_mean_over_the_classes_present_and_deterministic():
    rng = np.random.default_rng(1)
    f, labels = rng.normal(size=(30, 5)), rng.integers(0, 3, 30) * 2  # classes 0, 2, 4: 1 and 3 absent
    spec = spectrum(f)
    by_hand = np.mean([log_evidence(spec, (labels == c).astype(float)).value for c in (0, 2, 4)])
    assert logme(f, labels) == pytest.approx(by_hand, abs=1e-12)
    assert logme(f, labels) == logme(f.copy(), labels.copy())


def test_logme_ranks_informative_features_above_noise():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, 200)
    noise = rng.normal(size=(200, 8))
    informative = noise + 3 * np.eye(8)[labels]  # the label shifts three of the dimensions
    assert logme(informative, labels) > logme(noise, labels) + 0.1


def test_logme_refuses_what_it_cannot_score():
    with pytest.raises(AdaptxError, match="at least two classes"):
        logme(np.ones((5, 2)), np.zeros(5, int))
    with pytest.raises(AdaptxError, match="NaN or infinite"):
        logme(np.full((5, 2), np.nan), np.arange(5) % 2)
    with pytest.raises(AdaptxError, match="at least 2 rows"):
        spectrum(np.ones((1, 3)))


def test_textemb_is_the_cosine_of_mean_embeddings():
    a = mean_embedding(np.array([[1.0, 0.0], [3.0, 0.0]]))
    assert a.tolist() == [2.0, 0.0]
    assert cosine(a, np.array([0.0, 5.0])) == 0.0 and cosine(a, np.array([1.0, 1.0])) == pytest.approx(2 ** -0.5)
    with pytest.raises(AdaptxError, match="all zeros"):
        cosine(a, np.zeros(2))


# -- Regret@k and Spearman ------------------------------------------------------------------------
def test_regret_by_hand_with_ties_as_their_exact_expectation():
    measured = np.array([10.0, 8.0, 5.0])
    assert regret([0.1, 0.9, 0.5], measured, 1) == 2.0  # picks the 8
    assert regret([0.1, 0.9, 0.5], measured, 3) == 0.0
    # all tied (random): top 1 is each with 1/3 -> 10 - 23/3; top 2 pairs (10,8) (10,5) (8,5) -> 10 - 28/3
    assert regret([0, 0, 0], measured, 1) == pytest.approx(10 - 23 / 3)
    assert regret([0, 0, 0], measured, 2) == pytest.approx(10 - 28 / 3)
    # always MNLI (the 8): top 2 = the 8 and one of the others at random -> 10 - (10 + 8) / 2
    assert regret([0, 1, 0], measured, 2) == pytest.approx(1.0)
    assert expected_best([3, 2, 1], measured, 5) == 10.0  # k beyond the pool: all of it
    assert spearman([1, 2, 3], [1, 3, 5]) == pytest.approx(1.0) and spearman([1, 2, 3], [5, 3, 1]) == pytest.approx(-1)
    assert spearman([1, 1, 1], [1, 2, 3]) is None


def test_grid_rows_map_to_one_candidate():
    cands = ["zoo:mnli-tiny", "qqp"]
    assert candidate_of("stack", "zoo:mnli-tiny", "xnli", cands) == "zoo:mnli-tiny"
    assert candidate_of("fuse", "qqp+xnli", "xnli", cands) == "qqp"
    assert candidate_of("fuse", "qqp+zoo:mnli-tiny", "xnli", cands) is None  # a fusion of two: no one candidate
    assert candidate_of("stack", "sst2", "xnli", cands) is None and candidate_of("none", None, "xnli", cands) is None


# -- a tiny zoo with a planted informative adapter -----------------------------------------------
def write_planted_mnli(root, n=150, seed=3):
    """MNLI whose label is the first word of the premise: learnable, so an adapter trained on it
    carries the target's label information (XNLI's English training data is MNLI)."""
    rng = random.Random(seed)
    words = ["the", "sat", "on", "a"]
    for split in ("train", "dev"):
        records = {}
        for i in range(n):
            first = rng.choice(sorted(FIRST_WORD))
            records[str(i)] = {"text_a": " ".join([first] + rng.choices(words, k=rng.randint(1, 4))),
                               "text_b": " ".join(rng.choices(words, k=rng.randint(1, 4))), "label": FIRST_WORD[first]}
        (root / "mnli" / f"ppft_{split}_subset.json").write_text(json.dumps(records))


CONFIG = {
    "intermediate_tasks": ["mnli", "qqp", "sst2"], "target_task": "xnli", "languages": ["en", "de"],
    "strategies": ["stack"], "max_seq_length": 16, "head": {"pooling": "mean"},
    "train": {"intermediate_steps": 120, "target_steps": 2, "batch_size": 16, "checkpoint_every": 200,
              "lr_adapter": 1e-2, "lr_head": 1e-2},
    "data": {"max_eval_examples": 12, "max_dev_examples": 12},
}


@pytest.fixture(scope="module")
def grid(tiny_model_dir, tmp_path_factory):
    """One tiny run training MNLI (planted), QQP and SST-2 adapters and stacking each under XNLI; MNLI
    and QQP published as zoo entries; the run's SST-2 adapter overwritten with random weights."""
    from safetensors.torch import load_file, save_file

    root = tmp_path_factory.mktemp("rank")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADAPTX_HOME", str(root / "home"))
        data = write_tiny_data(root / "data")
        write_planted_mnli(data)
        config = root / "exp.yaml"
        config.write_text(yaml.safe_dump({**CONFIG, "base_model": str(tiny_model_dir), "zoo_dir": str(root / "zoo")}))
        pipeline.run_experiment(config, data_dir=data, out_dir=root / "run")
        stages = {p.name.rsplit("-", 1)[0]: p for p in (root / "run" / "stages").iterdir()}
        for task in ("mnli", "qqp"):
            assert main(["zoo", "add", str(stages[f"intermediate-adapter-{task}-s0"]), "--name", f"{task}-tiny",
                         "--zoo", str(root / "zoo")]) == 0
        (weights,) = (stages["intermediate-adapter-sst2-s0"] / "model").glob("adapter-*/adapter.safetensors")
        gen = torch.Generator().manual_seed(0)
        save_file({k: torch.randn(v.shape, generator=gen) * 0.5 for k, v in load_file(str(weights)).items()},
                  str(weights))
        # the measured grid: each candidate, named as the ranking names it, stacked under the target
        grid_config = root / "grid.yaml"
        grid_config.write_text(yaml.safe_dump({**CONFIG, "intermediate_tasks": CANDIDATES,
                                               "base_model": str(tiny_model_dir), "zoo_dir": str(root / "zoo")}))
        pipeline.run_experiment(grid_config, data_dir=data, out_dir=root / "grid")
    return {"root": root, "config": config, "data": data, "run": root / "run", "zoo": root / "zoo",
            "grid": root / "grid"}


CANDIDATES = ["zoo:mnli-tiny", "zoo:qqp-tiny", "sst2"]


def ranked(grid, out, *extra, **kwargs):
    options = Options(max_examples=120, top=2, **kwargs)
    return run_rank(grid["config"], CANDIDATES, out=out, run_dir=grid["run"], data_dir=grid["data"], device="cpu",
                    options=options, overrides=list(extra))


def rows_of(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_rank_puts_the_planted_adapter_first_and_is_deterministic(grid, tmp_path, adaptx_home):
    lines = ranked(grid, tmp_path / "a")
    rows = rows_of(tmp_path / "a" / "rank.csv")
    assert [r["candidate"] for r in rows][0] == "zoo:mnli-tiny" and rows[0]["logme_rank"] == "1"
    logme_of = {r["candidate"]: float(r["logme"]) for r in rows}
    assert logme_of["zoo:mnli-tiny"] > max(logme_of["zoo:qqp-tiny"], logme_of["sst2"])
    report = json.loads((tmp_path / "a" / "rank.json").read_text())
    assert logme_of["zoo:mnli-tiny"] > report["targets"][0]["base_logme"]  # above the base without an adapter
    # TextEmb: the MNLI candidate's texts are the target's own English training texts
    textemb = {r["candidate"]: float(r["textemb"]) for r in rows}
    assert textemb["zoo:mnli-tiny"] == pytest.approx(1.0) and max(textemb["zoo:qqp-tiny"], textemb["sst2"]) < 1
    assert {r["always_mnli"] for r in rows} == {"1.0", "0.0"}
    assert all(float(r["logme_seconds"]) >= 0 and float(r["textemb_seconds"]) >= 0 for r in rows)  # every cost recorded
    assert any("xnli by LogME: zoo:mnli-tiny" in line for line in lines)

    ranked(grid, tmp_path / "b")  # again: the same scores (costs aside)
    timing = ("logme_seconds", "textemb_seconds")
    strip = [{k: v for k, v in r.items() if k not in timing} for r in rows]
    assert strip == [{k: v for k, v in r.items() if k not in timing} for r in rows_of(tmp_path / "b" / "rank.csv")]

    fragment = yaml.safe_load((tmp_path / "a" / "top2-xnli.yaml").read_text())
    assert fragment == {"intermediate_tasks": [rows[0]["candidate"], rows[1]["candidate"]]}
    cfg = load_config(grid["config"], [f"intermediate_tasks=[{','.join(fragment['intermediate_tasks'])}]"])
    assert cfg.intermediate_tasks == fragment["intermediate_tasks"]  # the printed override loads as written
    assert "## xnli" in (tmp_path / "a" / "rank.md").read_text()


def test_rank_scores_the_estimators_against_the_measured_grid(grid, tmp_path, adaptx_home):
    lines = run_rank(grid["config"], CANDIDATES, out=tmp_path, run_dir=grid["run"], data_dir=grid["data"],
                     device="cpu", options=Options(max_examples=120), grid=[grid["grid"]])
    scores = rows_of(tmp_path / "scores.csv")
    assert {(s["strategy"], s["measure"]) for s in scores} == {("stack", "en"), ("stack", "others")}
    assert {s["estimator"] for s in scores} == {"logme", "textemb", "always_mnli", "random"}
    for s in scores:
        assert s["candidates"] == "3"
        for stat in ("regret1", "regret3"):
            assert float(s[f"{stat}_lo"]) <= float(s[stat]) + 1e-9 <= float(s[f"{stat}_hi"]) + 2e-9
        assert float(s["regret3"]) == pytest.approx(0.0)  # top 3 of 3 candidates
    assert "ranking cost" in (tmp_path / "scores.md").read_text() and any("Regret@1" in line for line in lines)

    # the same numbers from the library: random's Regret@1 is best minus the mean (all orderings)
    from adaptx.rank import ranking as ranking_module

    ranking = ranking_module.rank(grid["config"], CANDIDATES, out=tmp_path / "r", run_dir=grid["run"],
                                  data_dir=grid["data"], device="cpu", options=Options(max_examples=120))
    (stack,) = [g for g in read_grids([grid["grid"]], ranking, []) if g.strategy == "stack"]
    point = stack.points["others"]
    (rand,) = [s for s in score(ranking, [stack]) if s.estimator == "random" and s.measure == "others"]
    assert rand.regret[1].point == pytest.approx(point.max() - point.mean())
    assert stack.draws["others"].shape == (1000, 3)


# -- bad input: clear messages before any work ---------------------------------------------------------
def test_fewer_than_two_candidates_are_refused(grid, tmp_path, adaptx_home, capsys):
    with pytest.raises(AdaptxError, match="at least 2 candidate adapters .* gives 1 \\(zoo:mnli-tiny\\)"):
        run_rank(grid["config"], ["zoo:mnli-tiny", "zoo:mnli-tiny"], out=tmp_path / "o", run_dir=grid["run"],
                 data_dir=grid["data"])
    assert main(["rank", str(grid["config"]), "--candidates", "zoo:mnli-tiny", "--run", str(grid["run"])]) == 1
    assert "at least 2 candidate adapters" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_a_retrieval_target_is_refused_with_what_to_do_instead(grid, tmp_path, adaptx_home):
    with pytest.raises(AdaptxError, match="tatoeba is a retrieval task without English training data.*"
                                          "strategies=\\[stack\\]"):
        run_rank(grid["config"], CANDIDATES, out=tmp_path / "o", data_dir=grid["data"],
                 overrides=["target_task=tatoeba", "languages=null"])


def test_a_candidate_trained_on_another_base_is_refused_before_any_work(grid, tiny_model_dir, tmp_path, adaptx_home):
    from safetensors.torch import load_file, save_file

    other = tmp_path / "other-base"
    shutil.copytree(tiny_model_dir, other)
    state = load_file(str(other / "model.safetensors"))
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = state[key] + 0.01  # same architecture, different weights
    save_file(state, str(other / "model.safetensors"))
    with pytest.raises(AdaptxError, match=r"zoo:mnli-tiny was trained on base .* but this run's base model has "
                                          r"fingerprint"):
        run_rank(grid["config"], ["zoo:mnli-tiny", "zoo:qqp-tiny"], out=tmp_path / "o", run_dir=tmp_path / "run",
                 data_dir=grid["data"], overrides=[f"base_model={other}"])
    assert not (tmp_path / "o").exists()
    # `all` leaves entries of another base out, and says so; here none is left
    with pytest.raises(AdaptxError, match="--candidates all: the zoo .* has no intermediate adapter trained on base"):
        run_rank(grid["config"], ["all"], out=tmp_path / "o", data_dir=grid["data"],
                 overrides=[f"base_model={other}"])


def test_a_grid_folder_without_results_is_refused_before_ranking(grid, tmp_path, adaptx_home):
    with pytest.raises(AdaptxError, match="--grid .*: not a run folder with finished evaluations"):
        run_rank(grid["config"], CANDIDATES, out=tmp_path / "o", data_dir=grid["data"], grid=[tmp_path])
    assert not (tmp_path / "o").exists()


def test_an_untrained_task_candidate_is_scored_by_textemb_only(grid, tmp_path, adaptx_home):
    """A task-name candidate without a finished intermediate stage in the run folder: LogME says why."""
    run_rank(grid["config"], ["zoo:mnli-tiny", "zoo:qqp-tiny", "mnli"], out=tmp_path, run_dir=tmp_path / "empty",
             data_dir=grid["data"], device="cpu", options=Options(max_examples=60))
    (row,) = [r for r in rows_of(tmp_path / "rank.csv") if r["candidate"] == "mnli"]
    assert row["logme"] == "" and float(row["textemb"]) == pytest.approx(1.0)
    assert "no trained adapter for 'mnli'" in row["note"] and "train it first" in row["note"]


def test_a_mixture_candidate_is_scored_by_textemb_on_its_parts_texts(grid, tmp_path, adaptx_home):
    """`multitask` has no texts of its own: TextEmb embeds its parts' (here MNLI and QQP, equal shares)."""
    run_rank(grid["config"], ["zoo:mnli-tiny", "zoo:qqp-tiny", "multitask"], out=tmp_path, run_dir=tmp_path / "empty",
             data_dir=grid["data"], device="cpu", options=Options(max_examples=60),
             overrides=["multitask.tasks=[mnli, qqp]"])
    rows = {r["candidate"]: r for r in rows_of(tmp_path / "rank.csv")}
    mixture, mnli, qqp = (float(rows[c]["textemb"]) for c in ("multitask", "zoo:mnli-tiny", "zoo:qqp-tiny"))
    assert "TextEmb" not in rows["multitask"]["note"] and rows["multitask"]["logme"] == ""  # no trained adapter
    assert mnli == pytest.approx(1.0) and mixture not in (mnli, qqp)


def test_cli_rank_with_all_and_overrides(grid, tmp_path, adaptx_home, capsys):
    out = tmp_path / "cli"
    code = main(["rank", str(grid["config"]), "--candidates", "all", "data.sample_seed=0", "--out", str(out),
                 "--data-dir", str(grid["data"]), "--device", "cpu", "--max-examples", "60", "--top", "1",
                 "--by", "textemb"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "xnli by TextEmb: zoo:mnli-tiny" in printed and "'intermediate_tasks=[zoo:mnli-tiny]'" in printed
    assert {r["candidate"] for r in rows_of(out / "rank.csv")} == {"zoo:mnli-tiny", "zoo:qqp-tiny"}


def test_a_rerun_reads_every_forward_pass_from_the_cache_and_ranks_the_same(grid, tmp_path, adaptx_home, monkeypatch):
    """Features and text embeddings are cached by a content hash of what they depend on
    (adaptx.rank.cache): the cached values are exactly the computed ones, so the scores and picks of
    a run without the cache, a run filling it and a run reading it are the same, and the last one
    runs no forward pass at all."""
    from adaptx.kinds import get_kind
    from adaptx.rank import features as features_module

    timing = ("logme_seconds", "textemb_seconds")

    def scores(folder):
        return [{k: v for k, v in r.items() if k not in timing} for r in rows_of(folder / "rank.csv")]

    monkeypatch.setenv("ADAPTX_RANK_CACHE", "off")
    ranked(grid, tmp_path / "uncached")
    cache = adaptx_home / "rank-features"
    assert not cache.exists()
    monkeypatch.setenv("ADAPTX_RANK_CACHE", "on")
    ranked(grid, tmp_path / "cold")
    entries = sorted(cache.glob("*.npy"))
    # the base's target features and text embeddings, each candidate's features and texts; the MNLI
    # candidate's English texts are XNLI's own training texts: one entry serves both
    assert len(entries) == 7

    def no_forward(*args, **kwargs):
        raise AssertionError("a forward pass although the cache holds every result")

    monkeypatch.setattr(features_module, "_features", no_forward)
    monkeypatch.setattr(type(get_kind("retrieval")), "embed", no_forward)
    ranked(grid, tmp_path / "warm")
    assert sorted(cache.glob("*.npy")) == entries
    assert scores(tmp_path / "uncached") == scores(tmp_path / "cold") == scores(tmp_path / "warm")
    assert scores(tmp_path / "warm")[0]["candidate"] == "zoo:mnli-tiny"


def test_the_cache_key_covers_the_bytes_and_a_damaged_entry_is_recomputed(tmp_path, monkeypatch):
    """The cache key covers the bytes read: a different array, or the same values in another dtype or
    shape, is another entry; a damaged entry is computed again."""
    import numpy as np

    from adaptx.rank.cache import cached, content_key

    monkeypatch.setenv("ADAPTX_HOME", str(tmp_path))
    a, b = np.arange(6, dtype=np.int64), np.arange(6, dtype=np.int32)
    assert len({content_key("m", a), content_key("m", b), content_key("m", a.reshape(2, 3)),
                content_key("n", a)}) == 4
    calls = []

    def compute():
        calls.append(1)
        return np.array([[0.1, 0.2]], dtype=np.float32).astype(np.float64)

    first = cached("k", compute)
    again = cached("k", compute)
    assert len(calls) == 1 and again.dtype == np.float64 and np.array_equal(first, again)
    (tmp_path / "rank-features" / "k.npy").write_bytes(b"damaged")
    assert np.array_equal(cached("k", compute), first) and len(calls) == 2
