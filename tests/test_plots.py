"""The analysis's PNGs: each plot function writes a real image, skips what it cannot draw, and a
failing plot costs a message, never the analysis."""

import numpy as np
import pytest

from adaptx.analysis import plots
from adaptx.analysis.analyze import analyze
from adaptx.analysis.correlation import associate
from sim_runs import item_correct, with_gain, write_run

PNG = b"\x89PNG\r\n\x1a\n"


def is_png(path) -> bool:
    return path is not None and path.is_file() and path.read_bytes()[:8] == PNG and path.stat().st_size > 2000


def test_each_plot_writes_a_png(tmp_path):
    msgs = []
    langs, rows = ["en", "de", "sw"], ["none", "stack (qqp)"]
    values = {(r, lang): 40 + i + j for i, r in enumerate(rows) for j, lang in enumerate(langs)}
    marks = {("stack (qqp)", "sw"): "better", ("stack (qqp)", "de"): "worse"}
    assert is_png(plots.draw(tmp_path, "heat.png", plots.heatmap, "t", rows, langs, values, marks, "%", False,
                             messages=msgs))
    rng = np.random.default_rng(0)
    distance = rng.uniform(0, 0.5, 6)
    assoc = associate(distance, 3 - 8 * distance, 3 - 8 * distance + rng.normal(0, 1, (200, 6)))
    points = {f"l{i}": (float(d), float(3 - 8 * d)) for i, d in enumerate(distance)}
    assert is_png(plots.draw(tmp_path, "vs.png", plots.versus_distance, "t", [("stack", points, assoc),
                                                                             ("fuse", points, None)],
                             "syntactic", "cosine", "gain", messages=msgs))
    series = {"xnli (target)": {"target-xnli-none-s0": [(1, 40.0), (2, 45.0)]}}
    assert is_png(plots.draw(tmp_path, "curves.png", plots.curves, series, "English dev", messages=msgs))
    attention = {lang: {"adapters": ["qqp-s0-0123abcd", "xnli-s0-0123abcd"],
                        "layers": [{"layer": i, "location": "output_adapter", "weights": [0.1 * i, 1 - 0.1 * i]}
                                   for i in range(4)]} for lang in langs}
    assert is_png(plots.draw(tmp_path, "att.png", plots.fusion_attention, "t", attention, messages=msgs))
    assert msgs == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["att.png", "curves.png", "heat.png", "vs.png"]  # no temp files


def test_nothing_to_draw_writes_nothing(tmp_path):
    msgs = []
    assert plots.draw(tmp_path, "h.png", plots.heatmap, "t", [], ["en"], {}, {}, "%", True, messages=msgs) is None
    assert plots.draw(tmp_path, "c.png", plots.curves, {"x": {"s": []}}, "y", messages=msgs) is None
    assert msgs == [] and not list(tmp_path.iterdir())


def test_a_failing_plot_is_a_message(tmp_path):
    msgs = []

    def broken(path):
        raise ValueError("no axes today")

    assert plots.draw(tmp_path, "broken.png", broken, messages=msgs) is None
    assert msgs == ["broken.png not drawn (ValueError: no axes today)"] and not list(tmp_path.iterdir())


def test_file_names_are_safe():
    assert plots.file_name("fusion-attention", "xnli", "fuse (qqp+xnli)") == "fusion-attention-xnli-fuse_qqp+xnli.png"
    assert "/" not in plots.file_name("a/../b")


def test_analyze_draws_heatmaps_distance_plots_and_both_curves(tmp_path):
    rng = np.random.default_rng(1)
    langs = ["en", "de", "fr", "sw", "zh", "tr"]
    base = item_correct(rng, langs, 200)
    loss = {"history": [{"step": 1, "dev_score": 0.4}],
            "loss_history": [{"step": 1, "loss": 1.1}, {"step": 2, "loss": 0.9}]}
    run = write_run(tmp_path / "run", {("none", None): base,
                                       ("stack", "qqp"): {lang: with_gain(rng, c, 4) for lang, c in base.items()}},
                    metrics={"target-xnli-stack-qqp-s0": loss})
    a = analyze([run], tmp_path / "out", resamples=50)
    drawn = sorted(p.name for p in a.files if p.suffix == ".png")
    assert drawn == sorted(["scores-xnli.png", "gains-xnli.png", "dev-curves.png", "train-loss.png",
                            *(f"gain-vs-{d}-xnli.png" for d in
                              ("syntactic", "phonological", "inventory", "featural", "genetic", "geographic"))])
    assert all(is_png(p) for p in a.files if p.suffix == ".png")
    assert "plots/train-loss.png" in (tmp_path / "out" / "analysis.md").read_text()


def test_a_run_without_recorded_loss_says_so(tmp_path):
    rng = np.random.default_rng(2)
    run = write_run(tmp_path / "run", {("none", None): item_correct(rng, ["en", "de"], 50)})
    a = analyze([run], tmp_path / "out", resamples=20)
    assert not (tmp_path / "out" / "plots" / "train-loss.png").exists()
    assert any("no training loss recorded" in m for m in a.messages)


@pytest.mark.parametrize("history", [[{"step": 1, "dev_score": "high"}], "not a list", None])
def test_malformed_histories_are_left_out(tmp_path, history):
    rng = np.random.default_rng(3)
    run = write_run(tmp_path / "run", {("none", None): item_correct(rng, ["en", "de"], 50)},
                    metrics={"target-xnli-none-s0": {"history": history}})
    a = analyze([run], tmp_path / "out", resamples=20)
    assert not (tmp_path / "out" / "plots" / "dev-curves.png").exists()
    assert len(a.cells) == 2 and (tmp_path / "out" / "gains.csv").is_file()  # the analysis itself went through


def test_too_few_languages_for_a_fit_draw_no_distance_plot_and_say_so(tmp_path):
    rng = np.random.default_rng(4)
    base = item_correct(rng, ["en", "de", "sw"], 40)
    run = write_run(tmp_path / "run", {("none", None): base, ("stack", "qqp"): base})
    a = analyze([run], tmp_path / "out", resamples=20)
    assert not list((tmp_path / "out" / "plots").glob("gain-vs-*"))
    assert any("gain-vs-distance plots not drawn (a fit needs at least 4" in m for m in a.messages)
    assert is_png(tmp_path / "out" / "plots" / "gains-xnli.png")


def test_long_row_names_are_wrapped_after_plus_signs_and_keep_every_character():
    name = "fuse (zoo:mnli-e5small-s0+zoo:qqp-e5small-s0+zoo:sst2-e5small-s0+xnli)"
    label = plots.wrapped(name)
    assert label.replace("\n", "") == name
    assert all(line.endswith("+") for line in label.split("\n")[:-1])
    assert max(map(len, label.split("\n"))) <= 30
    assert plots.wrapped("stack (qqp)") == "stack (qqp)"
