"""Issue 17: results.md's trivial-baseline row (adaptx.baselines, scored on the same rows with the
table's metric) and its transfer-gap column (English minus the other languages' average)."""

import json

import numpy as np
import pytest

from adaptx.baselines import trivial_predictions, trivial_predictor, trivial_spec, trivial_specs
from adaptx.report import summarize_all, write_results
from test_baselines import experiment  # noqa: F401 - the fixture: one tiny run of four targets
from test_report import labels, line_of, write_run


def test_the_trivial_spec_is_plain_data_that_predicts_as_the_predictor_does(experiment):
    specs = trivial_specs(experiment)
    assert set(specs) == {"xnli", "udpos", "xquad"}  # retrieval trains nothing: no trivial baseline
    assert json.loads(json.dumps(specs)) == specs  # it travels in results-summary.json's context
    golds = {"xnli": [0, 2, 1], "udpos": [["NOUN", "VERB"], ["DET"]], "xquad": [["a"], ["b", "c"]]}
    for name, spec in specs.items():
        what, predict = trivial_predictor(experiment, name)
        assert spec == trivial_spec(experiment, name) and spec["what"] == what
        assert trivial_predictions(spec, golds[name]) == predict(golds[name])
    assert trivial_predictions(specs["udpos"], golds["udpos"]) == [[specs["udpos"]["value"]] * 2, [specs["udpos"]["value"]]]


@pytest.fixture
def run(tmp_path):
    """none at 60% in en and 40% in de, stack at 80% and 70%: 300 rows per language; gold i % 3."""
    rows = {("none", None): {0: {"en": labels(300, 180, seed=1), "de": labels(300, 120, seed=2)}},
            ("stack", "qqp"): {0: {"en": labels(300, 240, seed=3), "de": labels(300, 210, seed=4)}}}
    return tmp_path, write_run(tmp_path, rows)


def test_the_trivial_row_is_scored_on_the_same_rows_and_never_bold(run):
    run_dir, records = run
    spec = {"what": "always neutral", "per": "example", "value": 1}
    text = write_results(run_dir, records, {"targets": ["xnli"], "trivial": {"xnli": spec}})
    line = line_of(text, "*trivial (always neutral)*")
    # gold is i % 3: label 1 is a third of the 300 rows in each language, gap 0
    assert line.startswith("| *trivial (always neutral)* | 33.3 | 33.3 | 33.3 [")
    assert "**" not in line and "▲" not in line and "▼" not in line
    assert "trivial = always neutral, the prediction that needs no model" in text
    saved = json.loads((run_dir / "results-summary.json").read_text())
    trivial = saved["tables"][0]["trivial"]
    assert trivial["what"] == "always neutral" and trivial["values"] == {"en": 33.33, "de": 33.33}
    assert trivial["avg"]["interval"][0] < 33.33 < trivial["avg"]["interval"][1]
    assert saved["context"]["trivial"] == {"xnli": spec}
    # the trivial row is no strategy row: the strategies are compared with their baselines as before
    assert [r["strategy"] for r in saved["tables"][0]["rows"]] == ["none", "stack"]
    # a run without a trivial spec (an older run, or a task without one) has no trivial row
    assert "trivial" not in summarize_all(records, run_dir, {"targets": ["xnli"]})["tables"][0]


def test_the_gap_column_is_english_minus_the_others(run):
    run_dir, records = run
    summary = summarize_all(records, run_dir, {"targets": ["xnli"]})["tables"][0]
    assert summary["columns"] == ["en", "de", "avg", "avg w/o en", "gap"]
    none, stack = summary["rows"]
    assert none["gap"]["value"] == pytest.approx(20.0) and stack["gap"]["value"] == pytest.approx(10.0)
    for row in (none, stack):
        lo, hi = row["gap"]["interval"]
        assert lo < row["gap"]["value"] < hi and row["gap"]["vs_baseline"] is None
    # the gap of one row is resampled on the same items in both languages (XNLI is row-aligned)
    assert summary["item_groups"] == {"test": ["en", "de"]}
    assert np.isclose(none["gap"]["value"], none["values"]["en"] - none["avg w/o en"]["value"])


def test_no_gap_column_without_english_or_without_other_languages(tmp_path):
    rows = {("none", None): {0: {"de": labels(90, 30), "fr": labels(90, 60)}}}
    table = summarize_all(write_run(tmp_path, rows), tmp_path, {"targets": ["xnli"]})["tables"][0]
    assert table["columns"] == ["de", "fr", "avg"] and "gap" not in table["rows"][0]


def test_a_malformed_trivial_spec_is_a_clear_error(run):
    from adaptx.errors import AdaptxError

    run_dir, records = run
    for bad, message in (([1], "expected an object with what, per and value"),
                         ({"what": "x", "per": "sentence", "value": 1}, "per 'example' or 'word'"),
                         ({"what": "x", "per": "example", "value": [1]}, "value must be a label")):
        with pytest.raises(AdaptxError, match=rf"field 'trivial\.xnli': .*{message}"):
            summarize_all(records, run_dir, {"targets": ["xnli"], "trivial": {"xnli": bad}})
