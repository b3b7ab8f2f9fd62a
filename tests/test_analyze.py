"""`adaptx analyze`: gains with paired intervals, the typology correlations (recovering a known slope
from simulated runs whose items are shared across languages), partial rho, and bad input."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from adaptx.analysis.analyze import analyze
from adaptx.analysis.gains import ZERO_SHOT_AVERAGE
from adaptx.analysis.correlation import associate, partial_spearman, reading, slope, spearman
from adaptx.analysis.typology import typology
from adaptx.cli import main
from adaptx.errors import AdaptxError
from adaptx.tasks import XNLI_LANGUAGES
from sim_runs import item_correct, with_gain, write_run

RESAMPLES = 300  # enough for stable 95% intervals in these tests, and fast


def simulated(folder, slope_points: float, intercept: float = 8.0, n: int = 1500, seed: int = 0, **kwargs):
    """XNLI's 15 languages; `stack (qqp)` gains intercept + slope * syntactic distance over `none`."""
    rng = np.random.default_rng(seed)
    base = item_correct(rng, XNLI_LANGUAGES, n)
    distance = {lang: d["syntactic"] for lang, d in typology(XNLI_LANGUAGES).distances.items()}
    stack = {lang: with_gain(rng, base[lang], intercept + slope_points * distance[lang]) for lang in XNLI_LANGUAGES}
    return write_run(folder, {("none", None): base, ("stack", "qqp"): stack}, **kwargs)


def finding(a, row="stack (qqp)", quantity="gain"):
    return next(f for f in a.findings if f.row == row and f.quantity == quantity)


# -- the statistics ----------------------------------------------------------------------

def test_partial_rho_equals_the_hand_computed_case():
    # ranks = values; spearman by 1 - 6 sum(d^2) / (n (n^2 - 1)), n = 5 (n (n^2 - 1) = 120):
    # x,y: d = (-1, 1, -1, 1, 0) -> 1 - 24/120 = 0.8; x,z: d = (0, -1, 1, -1, 1) -> 0.8;
    # y,z: d = (1, -2, 2, -2, 1) -> 1 - 84/120 = 0.3
    # partial = (0.8 - 0.8 * 0.3) / sqrt((1 - 0.64)(1 - 0.09)) = 0.56 / sqrt(0.3276) = 0.978399...
    x, y, z = [1, 2, 3, 4, 5], [2, 1, 4, 3, 5], [1, 3, 2, 5, 4]
    assert spearman(x, y) == pytest.approx(0.8) and spearman(y, z) == pytest.approx(0.3)
    assert partial_spearman(x, y, z) == pytest.approx(0.56 / np.sqrt(0.3276), abs=1e-12)


def test_vectorised_statistics_match_scipy_and_the_scalar_form():
    rng = np.random.default_rng(1)
    x, y, z = rng.normal(size=(3, 7, 12))
    for i in range(7):
        assert spearman(x, y)[i] == pytest.approx(spearmanr(x[i], y[i]).statistic)
        assert partial_spearman(x, y, z)[i] == pytest.approx(float(partial_spearman(x[i], y[i], z[i])))
        assert slope(x, y)[0][i] == pytest.approx(np.polyfit(x[i], y[i], 1)[0])


def test_partial_rho_removes_a_relation_that_the_covariate_explains():
    rng = np.random.default_rng(2)
    size = rng.normal(size=40)
    distance, gain = -size + 0.1 * rng.normal(size=40), size + 0.1 * rng.normal(size=40)
    assert spearman(distance, gain) < -0.9
    assert abs(partial_spearman(distance, gain, size)) < 0.35


def test_too_few_languages_give_no_correlation_and_say_so():
    assert associate([0.1, 0.2, 0.3], [1, 2, 3], np.ones((10, 3))) is None
    assert reading("gain", {"syntactic": None}).startswith("too few languages")


def test_rows_with_too_few_languages_are_named_on_one_line_not_a_table_row_each(tmp_path):
    """Issue 34: a smoke run's two or three languages gave ~40 table rows of "too few"; now one line."""
    rng = np.random.default_rng(0)
    base = item_correct(rng, ["en", "de", "sw"], 200)
    run = write_run(tmp_path / "run", {("none", None): base, ("stack", "qqp"): base, ("stack", "sst2"): base})
    analyze([run], tmp_path / "out", resamples=RESAMPLES, draw_plots=False)
    text = (tmp_path / "out" / "analysis.md").read_text()
    line, = [line for line in text.splitlines() if "too few" in line]
    assert line.startswith("- too few languages with URIEL+ distances for a correlation (at least 4 needed): ")
    assert line.endswith("**none** gap; **stack (qqp)** gap, gain; **stack (sst2)** gap, gain")
    assert "| row | quantity | distance |" not in text  # no table of empty rows


def test_one_note_is_one_note(tmp_path, capsys, monkeypatch):
    from adaptx.analysis import analyze as module

    class One:
        messages, out, files = ["a note"], tmp_path, [tmp_path / "one.png"]

    monkeypatch.setattr(module, "analyze", lambda runs: One)
    module.after_run(tmp_path)
    out = capsys.readouterr().out
    assert "analysis and 1 plot in" in out and out.rstrip().endswith("; 1 note in analysis.md")


# -- recovering a known slope from simulated runs -------------------------------------------------

def test_recovers_a_known_slope_inside_its_interval(tmp_path):
    a = analyze([simulated(tmp_path / "run", slope_points=-25.0)], tmp_path / "out", resamples=RESAMPLES, draw_plots=False)
    f = finding(a)
    syntactic = f.associations["syntactic"]
    assert f.languages == [lang for lang in XNLI_LANGUAGES if lang != "en"]  # zero-shot languages only
    assert syntactic.slope.lo < -25.0 < syntactic.slope.hi and syntactic.slope.hi < 0
    assert syntactic.rho.hi < 0 and "gain shrinks with syntactic distance" in f.reading
    rows = list(csv.DictReader((tmp_path / "out" / "correlations.csv").open()))
    row = next(r for r in rows if r["row"] == "stack (qqp)" and r["quantity"] == "gain" and r["distance"] == "syntactic")
    assert row["distance_source"].startswith("URIEL+ angular distance of the syntax features")
    assert float(row["slope_lo"]) < -25 < float(row["slope_hi"])
    assert "gain shrinks with syntactic distance" in (tmp_path / "out" / "analysis.md").read_text()


def test_no_slope_gives_an_interval_around_zero(tmp_path):
    a = analyze([simulated(tmp_path / "run", slope_points=0.0, intercept=5.0)], tmp_path / "out", resamples=RESAMPLES, draw_plots=False)
    syntactic = finding(a).associations["syntactic"]
    assert syntactic.slope.lo < 0 < syntactic.slope.hi and syntactic.rho.lo < 0 < syntactic.rho.hi


def test_gains_csv_has_one_row_per_strategy_and_language_with_paired_intervals(tmp_path):
    analyze([simulated(tmp_path / "run", slope_points=-25.0)], tmp_path / "out", resamples=RESAMPLES, draw_plots=False)
    rows = list(csv.DictReader((tmp_path / "out" / "gains.csv").open()))
    assert len(rows) == 2 * (len(XNLI_LANGUAGES) + 1)  # each language and the zero-shot average
    rows = [r for r in rows if r["language"] != ZERO_SHOT_AVERAGE]
    stack = [r for r in rows if r["strategy"] == "stack"]
    assert {r["language"] for r in stack} == set(XNLI_LANGUAGES) and all(r["baseline"] == "none" for r in stack)
    for r in stack:
        assert float(r["gain"]) == pytest.approx(float(r["score"]) - float(r["baseline_score"]), abs=0.011)
        assert float(r["gain_lo"]) <= float(r["gain"]) <= float(r["gain_hi"])
    # the simulated gain in English (distance 0) is 8 points: far outside noise at 1500 items
    en = next(r for r in stack if r["language"] == "en")
    assert en["verdict"] == "better" and float(en["gain_lo"]) > 0
    none_en = next(r for r in rows if r["strategy"] == "none" and r["language"] == "en")
    assert none_en["gain"] == "" and none_en["gap"] == ""  # a baseline row has no gain; English no gap


def test_the_zero_shot_average_is_paired_and_any_row_can_be_the_reference(tmp_path):
    """Three rows on the same items: `fuse` +6 points over none everywhere, `ties` +5 (1 below fuse).
    The average cell is the mean of the zero-shot languages' scores; with --against fuse every other
    row's gain is measured against fuse on the same resampled items."""
    rng = np.random.default_rng(5)
    base = item_correct(rng, XNLI_LANGUAGES, 1500)
    fuse = {lang: with_gain(rng, base[lang], 6.0) for lang in XNLI_LANGUAGES}
    ties = {lang: with_gain(rng, base[lang], 5.0) for lang in XNLI_LANGUAGES}
    run = write_run(tmp_path / "run", {("none", None): base, ("fuse", "mnli+qqp"): fuse, ("ties", "mnli+qqp"): ties})
    zero_shot = [lang for lang in XNLI_LANGUAGES if lang != "en"]

    a = analyze([run], tmp_path / "own", resamples=RESAMPLES, draw_plots=False)
    averages = {c.strategy: c for c in a.cells if c.language == ZERO_SHOT_AVERAGE}
    per_lang = {(c.strategy, c.language): c.score for c in a.cells}
    for strategy, cell in averages.items():
        assert cell.score == pytest.approx(np.mean([per_lang[strategy, lang] for lang in zero_shot]), abs=0.01)
        assert cell.n == 1500 * len(zero_shot)
    assert averages["fuse"].baseline == "none" and averages["fuse"].verdict == "better"
    assert averages["fuse"].gain_lo < 6.0 < averages["fuse"].gain_hi
    assert not any(f.languages and ZERO_SHOT_AVERAGE in f.languages for f in a.findings)  # not a language
    fuse_avg = averages["fuse"]  # the score table prints the average's own interval beside it
    assert f"{fuse_avg.score:.1f} [{fuse_avg.score_lo:.1f}, {fuse_avg.score_hi:.1f}] ▲" in (
        tmp_path / "own" / "analysis.md").read_text()

    a = analyze([run], tmp_path / "fuse", resamples=RESAMPLES, draw_plots=False, against="fuse (mnli+qqp)")
    averages = {c.strategy: c for c in a.cells if c.language == ZERO_SHOT_AVERAGE}
    assert averages["fuse"].baseline is None and averages["fuse"].gain is None  # the reference itself
    assert averages["ties"].baseline == "fuse (mnli+qqp)" and averages["none"].verdict == "worse"
    assert averages["ties"].gain_lo < -1.0 < averages["ties"].gain_hi and averages["ties"].gain_hi < 0.5
    assert "ties (mnli+qqp) vs fuse (mnli+qqp)" in (tmp_path / "fuse" / "analysis.md").read_text()

    a = analyze([run], tmp_path / "short", resamples=50, draw_plots=False, against="fuse")  # the one fuse row
    assert {c.baseline for c in a.cells if c.strategy == "ties"} == {"fuse (mnli+qqp)"}

    a = analyze([run], tmp_path / "nope", resamples=50, draw_plots=False, against="scaled")
    assert any("no row 'scaled' to measure against" in m for m in a.messages)
    assert {c.baseline for c in a.cells if c.strategy == "ties"} == {"none"}


def test_against_a_strategy_with_several_rows_asks_for_one(tmp_path):
    rng = np.random.default_rng(6)
    base = item_correct(rng, ["en", "de"], 200)
    run = write_run(tmp_path / "run", {("none", None): base, ("stack", "mnli"): base, ("stack", "qqp"): base})
    a = analyze([run], tmp_path / "out", resamples=20, draw_plots=False, against="stack")
    assert any("2 rows of strategy 'stack'; name one" in m for m in a.messages)
    assert {c.baseline for c in a.cells if c.strategy == "stack"} == {"none"}


def test_an_xlmr_large_run_is_shown_beside_the_published_numbers_with_their_source(tmp_path):
    """On XLM-R Large (the family the run's results-summary.json records) each row's all-language
    average stands beside the published XLM-R Large and X-STILTs figures, the source named; a run on
    another base gets no such section."""
    rng = np.random.default_rng(7)
    base = item_correct(rng, XNLI_LANGUAGES, 400)
    rows = {("none", None): base, ("stack", "mnli"): {lang: with_gain(rng, base[lang], 5.0) for lang in XNLI_LANGUAGES}}
    run = write_run(tmp_path / "xlmr", rows, base_model="xlm-roberta-large")
    (run / "results-summary.json").write_text(json.dumps({"context": {"base_family": "xlm-roberta-large"}}))
    a = analyze([run], tmp_path / "out", resamples=RESAMPLES, draw_plots=False)
    mine = {r.row: r for r in a.published}
    assert set(mine) == {"none", "stack (mnli)"} and mine["none"].languages == mine["none"].of == 15
    expected = 100 * np.mean([np.mean(base[lang]) for lang in XNLI_LANGUAGES])
    assert mine["none"].score == pytest.approx(expected, abs=0.01) and mine["none"].lo < expected < mine["none"].hi
    text = (tmp_path / "out" / "analysis.md").read_text()
    assert "| XLM-R Large (published) | 15 | 79.2 |" in text and "| X-STILTs (published) | 15 | 80.0 |" in text
    assert "RemBERT, arXiv:2010.12821), Table 16" in text

    other = write_run(tmp_path / "e5", rows)
    (other / "results-summary.json").write_text(json.dumps({"context": {"base_family": "multilingual-e5-small"}}))
    a = analyze([other], tmp_path / "out-e5", resamples=50, draw_plots=False)
    assert a.published == [] and "published" not in (tmp_path / "out-e5" / "analysis.md").read_text().lower()


# -- bad input: a clear message, and the rest analysed --------------------------------------------

def test_other_base_models_and_empty_runs_are_named_and_skipped(tmp_path):
    first = simulated(tmp_path / "a", slope_points=-25.0, n=300)
    other = simulated(tmp_path / "b", slope_points=0.0, n=300, base_weights="bbbb", base_model="xlm-roberta-large")
    (tmp_path / "empty").mkdir()
    a = analyze([first, other, tmp_path / "empty"], tmp_path / "out", resamples=50, draw_plots=False)
    assert [r.folder for r in a.runs] == [first]
    text = " ".join(a.messages)
    assert f"{other}: base model xlm-roberta-large differs" in text and "skipped" in text
    assert f"{tmp_path / 'empty'}: no finished evaluations" in text
    assert (tmp_path / "out" / "gains.csv").is_file()
    with pytest.raises(AdaptxError, match="nothing to analyse.*no finished evaluations"):
        analyze([tmp_path / "empty"], tmp_path / "out2")


def test_a_language_without_uriel_entry_is_listed_never_dropped(tmp_path):
    rng = np.random.default_rng(3)
    langs = ["en", "de", "fr", "sw", "zh", "xx"]
    base = item_correct(rng, langs, 200)
    run = write_run(tmp_path / "run", {("none", None): base,
                                       ("stack", "qqp"): {lang: with_gain(rng, c, 3) for lang, c in base.items()}})
    a = analyze([run], tmp_path / "out", resamples=50, draw_plots=False)
    assert "xx" in a.typology.missing and any("without URIEL entries" in m and "xx" in m for m in a.messages)
    assert {c.language for c in a.cells if c.strategy == "stack"} == {*langs, ZERO_SHOT_AVERAGE}  # still in gains.csv
    assert "xx" not in finding(a).languages
    md = (tmp_path / "out" / "analysis.md").read_text()
    assert "Languages without URIEL entries" in md and "- xx: no ISO 639-3 code" in md


def test_a_missing_baseline_is_a_message_and_the_scores_stay(tmp_path):
    rng = np.random.default_rng(4)
    base = item_correct(rng, ["en", "de", "sw"], 100)
    run = write_run(tmp_path / "run", {("stack", "qqp"): base, ("full-none", None): base})
    a = analyze([run], tmp_path / "out", resamples=50, draw_plots=False)
    assert any("stack (qqp): no baseline row (none)" in m for m in a.messages)
    stack = [c for c in a.cells if c.strategy == "stack"]
    assert len(stack) == 3 + 1 and all(c.gain is None and c.score is not None for c in stack)


def test_runs_of_different_targets_and_duplicate_rows_are_explained(tmp_path):
    rng = np.random.default_rng(5)
    base = item_correct(rng, ["en", "de"], 80)
    one = write_run(tmp_path / "one", {("none", None): base})
    two = write_run(tmp_path / "two", {("none", None): base})
    paws = write_run(tmp_path / "paws", {("none", None): base}, task="pawsx")
    a = analyze([one, two, paws], tmp_path / "out", resamples=50, draw_plots=False)
    assert sorted(t.task for t in a.targets) == ["pawsx", "xnli"]
    text = " ".join(a.messages)
    assert f"xnli none: in {one} and {two}; kept the first" in text
    assert "target tasks pawsx, xnli: each is analysed on its own" in text


def test_hand_edited_records_are_messages(tmp_path):
    run = simulated(tmp_path / "run", slope_points=0.0, n=100)
    records = json.loads((run / "results.json").read_text())
    records[0]["value"] = "high"
    (run / "results.json").write_text(json.dumps(records))
    a = analyze([run], tmp_path / "out", resamples=50, draw_plots=False)
    assert any("record 0, field 'value'" in m for m in a.messages)


def test_cli_writes_the_files_and_prints_the_readings(tmp_path, capsys):
    run = simulated(tmp_path / "run", slope_points=-25.0, n=600)
    assert main(["analyze", str(run)]) == 0
    out = capsys.readouterr().out
    assert "xnli stack (qqp), gain vs distance: gain shrinks with syntactic distance" in out
    folder = run / "analysis"  # the default output folder
    for name in ("analysis.md", "gains.csv", "correlations.csv", "typology.csv", "plots/gains-xnli.png",
                 "plots/gain-vs-syntactic-xnli.png", "plots/dev-curves.png"):
        assert (folder / name).is_file(), name
    assert main(["analyze", str(tmp_path / "nothing-here")]) == 1
    assert "adaptx: error: nothing to analyse" in capsys.readouterr().err
    assert main(["analyze", str(run), "--out", str(tmp_path / "vs"), "--no-plots", "--against", "stack (qqp)"]) == 0
    rows = list(csv.DictReader((tmp_path / "vs" / "gains.csv").open()))
    assert {r["baseline"] for r in rows if r["strategy"] == "none"} == {"stack (qqp)"}


def test_a_searchs_best_folder_is_read_like_a_run(tmp_path):
    run = simulated(tmp_path / "run", slope_points=0.0, n=100)
    best = run / "search" / "study" / "best"
    best.mkdir(parents=True)
    records = json.loads((run / "results.json").read_text())
    for r in records:  # as search_outputs.py writes them: paths relative to best/, files in the run's stages/
        r["predictions"] = str(Path("..", "..", "..", r["predictions"]))
    (best / "results.json").write_text(json.dumps(records))
    a = analyze([best], resamples=50, draw_plots=False)
    assert a.out == best / "analysis" and len(a.cells) == 2 * (len(XNLI_LANGUAGES) + 1) and a.runs[0].base == "embedded"


def test_a_fuse_row_without_recorded_attention_says_how_to_get_it(tmp_path):
    rng = np.random.default_rng(6)
    base = item_correct(rng, ["en", "de"], 50)
    run = write_run(tmp_path / "run", {("none", None): base, ("fuse", "qqp+sst2"): base})
    a = analyze([run], tmp_path / "out", resamples=20, draw_plots=False)
    assert any("fuse (qqp+sst2): no fusion attention" in m and "rerun `adaptx run`" in m for m in a.messages)
    assert not (tmp_path / "out" / "fusion-attention.csv").exists()


def test_fusion_attention_is_averaged_over_seeds_whose_saved_adapter_names_differ(tmp_path):
    """Each seed's fused target adapter is saved as xnli-s<seed>-<base tag>: the seeds are still averaged."""
    rng = np.random.default_rng(7)
    base = item_correct(rng, ["en", "de"], 50)
    run = tmp_path / "run"
    records = []
    for seed, weight in ((0, 0.2), (1, 0.6)):
        write_run(run, {("none", None): base, ("fuse", "qqp+xnli"): base}, seed=seed)
        records += json.loads((run / "results.json").read_text())
        for path in run.glob(f"stages/target-xnli-fuse-*-s{seed}-*/eval/*.json"):
            entry = json.loads(path.read_text())
            lang = next(iter(entry))
            entry[lang]["fusion_attention"] = {"adapters": ["qqp-s0-0123abcd", f"xnli-s{seed}-0123abcd"],
                                               "layers": [{"layer": 0, "weights": [weight, 1 - weight]}]}
            path.write_text(json.dumps(entry))
    (run / "results.json").write_text(json.dumps(records))
    analyze([run], tmp_path / "out", resamples=20, draw_plots=False)
    rows = list(csv.DictReader((tmp_path / "out" / "fusion-attention.csv").open()))
    weights = {(r["language"], r["adapter"]): (float(r["weight"]), r["seeds"]) for r in rows}
    assert weights[("de", "qqp")] == (pytest.approx(0.4), "2") and weights[("de", "xnli")] == (pytest.approx(0.6), "2")
