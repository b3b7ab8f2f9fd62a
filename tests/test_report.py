import json
import re

import numpy as np
import pytest

from adaptx.cli import main
from adaptx.errors import AdaptxError
from adaptx.report import print_report, render_table, write_results

LEGEND = ("[lo, hi] = 95% bootstrap interval over examples (and seeds); ▲/▼ = better/worse than `none` (adapter rows) "
          "or `full-none` (full rows) by a paired bootstrap on the same examples; unmarked = no clear difference")
GAP_LEGEND = "gap = en minus avg w/o en (the transfer gap), with its interval from the same bootstrap"


def labels(n, correct, seed=None):
    """(ids, pred, gold) for n three-way examples, `correct` of them right (the first ones, or random ones)."""
    mask = np.arange(n) < correct
    if seed is not None:
        mask = np.random.default_rng(seed).permutation(mask)
    gold = [i % 3 for i in range(n)]
    return list(range(n)), [g if c else (g + 1) % 3 for g, c in zip(gold, mask)], gold


def write_run(run_dir, rows, split=None):
    """rows: {(strategy, intermediate): {seed: {lang: (ids, pred, gold)}}} -> records; writes the prediction files."""
    records = []
    for (strategy, inter), seeds in rows.items():
        for seed, langs in seeds.items():
            rel = f"stages/target-{strategy}-{inter or 'none'}-s{seed}/eval-0a1b2c/predictions.json"
            (run_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (run_dir / rel).write_text(json.dumps({lang: {"ids": i, "pred": p, "gold": g} for lang, (i, p, g) in langs.items()}))
            for lang, (ids, pred, gold) in langs.items():
                value = round(100 * float(np.mean([p == g for p, g in zip(pred, gold)])), 2)
                records.append({"task": "xnli", "strategy": strategy, "intermediate": inter, "language": lang,
                                "split": (split or {}).get(lang, "test"), "metric": "accuracy", "value": value,
                                "seed": seed, "n": len(ids), "predictions": rel})
    return records


def line_of(table, name):
    return next(line for line in table.splitlines() if line.startswith(f"| {name} |"))


def avg_cells(line):
    """The average cells (avg, and avg w/o en where there is one) of a table line: those with an
    interval, less the gap column's (the last one, where there is an avg w/o en)."""
    with_interval = [c.strip() for c in line.strip("|").split("|") if "[" in c]
    return with_interval[:2]


@pytest.fixture
def marked_run(tmp_path):
    """none at 33%, stack (qqp) right on everything, fuse (qqp) at 5%: 300 rows per language."""
    rows = {("fuse", "qqp"): {0: {lang: labels(300, 15) for lang in ("en", "de")}},
            ("none", None): {0: {lang: labels(300, 100) for lang in ("en", "de")}},
            ("stack", "qqp"): {0: {lang: labels(300, 300) for lang in ("en", "de")}}}
    return tmp_path, write_run(tmp_path, rows, split={"de": "dev"})


def test_table_header_intervals_and_marks(marked_run):
    run_dir, records = marked_run
    lines = render_table(records, run_dir).splitlines()
    # en (test) and de (dev) hold different items: no joint resampling line
    assert lines[:7] == ["xnli zero-shot accuracy (%), mean over seeds [0]; **bold** = best in column",
                         "split: test for en; dev (held apart from model selection) for de",
                         "300 rows per language", LEGEND, GAP_LEGEND, "",
                         "| strategy | en | de | avg | avg w/o en | gap |"]
    assert [line.split(" |")[0] for line in lines[8:]] == ["| none", "| stack (qqp)", "| fuse (qqp)"]
    assert lines[9] == ("| stack (qqp) | **100.0** | **100.0** | **100.0** [100.0, 100.0] ▲ | **100.0** [100.0, 100.0] ▲ "
                        "| 0.0 [0.0, 0.0] |")
    # baseline: no mark
    assert re.fullmatch(r"\| none \| 33\.3 \| 33\.3 (\| 33\.3 \[(\d+\.\d), (\d+\.\d)\] ){2}\| 0\.0 \[-\d+\.\d, \d+\.\d\] \|",
                        lines[8])
    assert all(cell.endswith("] ▼") for cell in avg_cells(lines[10]))


def test_summary_json(marked_run):
    run_dir, records = marked_run
    table = write_results(run_dir, records, "xnli")
    assert (run_dir / "results.md").read_text() == f"# Results: xnli\n\n{table}\n"
    assert json.loads((run_dir / "results.json").read_text()) == records
    summary = json.loads((run_dir / "results-summary.json").read_text())["tables"][0]
    assert {k: summary[k] for k in ("task", "metric", "seeds", "languages", "split", "n", "columns", "confidence")} == {
        "task": "xnli", "metric": "accuracy", "seeds": [0], "languages": ["en", "de"], "split": {"en": "test", "de": "dev"},
        "n": {"en": 300, "de": 300}, "columns": ["en", "de", "avg", "avg w/o en", "gap"], "confidence": 0.95}
    none, stack, fuse = summary["rows"]
    assert (none["strategy"], none["intermediate"], none["baseline"], none["avg"]["vs_baseline"]) == ("none", None, None, None)
    assert none["values"] == {"en": 33.33, "de": 33.33}
    lo, hi = none["avg"]["interval"]
    assert lo < none["avg"]["value"] == 33.33 < hi
    assert stack["avg"] == {"value": 100.0, "interval": [100.0, 100.0],
                            "vs_baseline": {"delta": 66.67, "interval": [pytest.approx(61, abs=3), pytest.approx(72, abs=3)],
                                            "verdict": "better"}}
    assert fuse["avg w/o en"]["vs_baseline"]["verdict"] == "worse" and fuse["baseline"] == "none"


def test_two_points_apart_on_100_rows_is_not_marked(tmp_path):
    rows = {("none", None): {0: {"en": labels(100, 50, seed=1), "de": labels(100, 50, seed=2)}},
            ("stack", "qqp"): {0: {"en": labels(100, 52, seed=3), "de": labels(100, 52, seed=4)}}}
    table = render_table(write_run(tmp_path, rows), tmp_path)
    assert not any(mark in line for line in table.splitlines()[5:] for mark in "▲▼")
    assert avg_cells(line_of(table, "stack (qqp)"))[0].startswith("**52.0** [")


def test_full_rows_compare_with_full_none_and_missing_baseline_means_no_marks(tmp_path):
    rows = {("full-none", None): {0: {"en": labels(300, 100)}},
            ("full", "qqp"): {0: {"en": labels(300, 300)}},
            ("stack", "qqp"): {0: {"en": labels(300, 300)}}}  # its baseline `none` is not in this run (yet)
    table = render_table(write_run(tmp_path, rows), tmp_path)
    assert avg_cells(line_of(table, "full (qqp)"))[-1].endswith("▲")
    assert "▲" not in line_of(table, "stack (qqp)") and "▲" not in line_of(table, "full-none")
    assert "| avg |" in table and "avg w/o en" not in table  # only English


def test_seeds_are_averaged_and_a_missing_language_has_no_average(tmp_path):
    rows = {("none", None): {0: {"en": labels(100, 40), "de": labels(120, 30)},
                             1: {"en": labels(100, 60), "de": labels(120, 30)}},
            ("stack", "qqp"): {0: {"en": labels(100, 50)}}}  # de not evaluated
    table = render_table(write_run(tmp_path, rows), tmp_path)
    assert "mean over seeds [0, 1]" in table and "rows per language: en 100, de 120" in table
    assert line_of(table, "stack (qqp)") == "| stack (qqp) | **50.0** | – | – | – | – |"  # no averages, no gap
    assert line_of(table, "none").startswith("| none | **50.0** | **25.0** | **37.5** [")


def test_deterministic(marked_run):
    run_dir, records = marked_run
    first = write_results(run_dir, records, "xnli"), (run_dir / "results-summary.json").read_text()
    second = write_results(run_dir, records, "xnli"), (run_dir / "results-summary.json").read_text()
    assert first == second


def test_missing_or_stale_predictions_and_mismatched_ids(marked_run):
    run_dir, records = marked_run
    stack_file = run_dir / records[-1]["predictions"]
    content = json.loads(stack_file.read_text())
    stack_file.unlink()
    with pytest.raises(AdaptxError, match=r"predictions\.json: predictions file named in results\.json is missing; "
                                          r"rerun `adaptx run`"):
        render_table(records, run_dir)
    stack_file.write_text("{")
    with pytest.raises(AdaptxError, match=r"predictions\.json: predictions file is unreadable .*rerun `adaptx run`"):
        render_table(records, run_dir)
    content["de"]["pred"] = content["de"]["gold"][:-1] + [(content["de"]["gold"][-1] + 1) % 3]
    stack_file.write_text(json.dumps(content))
    with pytest.raises(AdaptxError, match=r"\[de\]: 300 predictions scoring 99\.67, but results\.json says n=300, value=100\.0"):
        render_table(records, run_dir)
    content["de"] = {"ids": list(range(1, 301)), "pred": content["de"]["gold"], "gold": content["de"]["gold"]}
    stack_file.write_text(json.dumps(content))
    with pytest.raises(AdaptxError, match=r"'de': stack \(qqp\) and none were evaluated on different example ids"):
        render_table(records, run_dir)


def test_report_command(marked_run, capsys):
    run_dir, records = marked_run
    assert main(["report", str(run_dir)]) == 1
    assert "results.json not found" in capsys.readouterr().err
    (run_dir / "results.json").write_text("{broken")
    assert main(["report", str(run_dir)]) == 1
    assert "not valid JSON" in capsys.readouterr().err
    (run_dir / "results.json").write_text(json.dumps([{"task": "xnli"}]))
    with pytest.raises(AdaptxError, match=r"results\.json: record 0 lacks strategy, intermediate"):
        print_report(run_dir)
    (run_dir / "results.json").write_text(json.dumps(records))
    assert main(["report", str(run_dir)]) == 0
    assert capsys.readouterr().out == render_table(records, run_dir) + "\n"


def test_empty_results(tmp_path):
    assert render_table([], tmp_path) == "(no results yet)"
