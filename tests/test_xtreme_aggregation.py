"""Issue 17: the XTREME summary aggregates as google-research/xtreme's evaluate.py does.

evaluate.py: a task's score is its metric averaged over languages, a QA task's the mean of its F1
and exact-match averages; a group's score is the mean of its tasks (only with all of them); the
overall score is the mean of all nine tasks (not of the four groups), only with all nine.
"""

import json

import pytest

from adaptx.metrics import metric_for_language
from adaptx.report import write_results
from adaptx.report_xtreme import xtreme_summary
from adaptx.tasks import TASKS, get_task
from adaptx.xtreme_score import GROUPS, XTREME_TASKS, aggregate, task_metrics, task_score

# a hand-made run: per task and metric, the language average of the rows `none` and `stack (qqp)`
# (None: the row has no average there); the second metric of udpos and tatoeba is not XTREME's
AVERAGES = {
    ("xnli", "accuracy"): (80.0, 81.0), ("pawsx", "accuracy"): (86.0, 88.0),
    ("udpos", "token_accuracy"): (90.0, 91.0), ("udpos", "xtreme_pos_f1"): (74.0, 75.0),
    ("panx", "seqeval_f1"): (64.0, 63.0),
    ("xquad", "squad_f1"): (76.0, 78.0), ("xquad", "squad_em"): (60.0, 63.0),
    ("mlqa", "mlqa_f1"): (70.0, None), ("mlqa", "mlqa_em"): (52.0, None),
    ("tydiqa", "squad_f1"): (60.0, 66.0), ("tydiqa", "squad_em"): (44.0, 50.0),
    ("bucc", "bucc_f1"): (66.0, 70.0), ("tatoeba", "tatoeba_en_to_xx"): (57.0, 80.0),
    ("tatoeba", "tatoeba_xx_to_en"): (50.0, 79.0),
}


def table(task, metric, values, languages=None):
    rows = [{"strategy": s, "intermediate": i, "avg": None if v is None else {"value": v}}
            for (s, i), v in zip((("none", None), ("stack", "qqp")), values)]
    return {"task": task, "metric": metric, "rows": rows, "languages": languages or list(get_task(task).languages)}


def test_the_groups_are_xtremes_and_agree_with_the_registry():
    assert GROUPS == {"classification": ("pawsx", "xnli"), "structured": ("udpos", "panx"),
                      "qa": ("xquad", "mlqa", "tydiqa"), "retrieval": ("bucc", "tatoeba")}
    assert {name for name, t in TASKS.items() if t.role == "target"} == set(XTREME_TASKS)
    for group, names in GROUPS.items():
        assert all(get_task(name).category == group for name in names)
    assert task_metrics(get_task("xquad")) == ("squad_f1", "squad_em")
    assert task_metrics(get_task("mlqa")) == ("mlqa_f1", "mlqa_em")
    assert task_metrics(get_task("udpos")) == ("xtreme_pos_f1",)  # F1 where XTREME reports F1
    assert task_metrics(get_task("tatoeba")) == ("tatoeba_en_to_xx",)


def test_a_hand_computed_case_of_all_nine_tasks():
    x = xtreme_summary([table(t, m, v) for (t, m), v in AVERAGES.items()], {})
    none, stack = x["rows"]
    # QA: (F1 + EM) / 2 = xquad (76 + 60) / 2, mlqa (70 + 52) / 2, tydiqa (60 + 44) / 2
    assert none["tasks"] == {"xnli": 80.0, "pawsx": 86.0, "udpos": 74.0, "panx": 64.0, "xquad": 68.0,
                             "mlqa": 61.0, "tydiqa": 52.0, "bucc": 66.0, "tatoeba": 57.0}
    assert none["categories"] == {"classification": 83.0, "structured": 69.0, "qa": pytest.approx(60.33),
                                  "retrieval": 61.5}
    # the mean of the nine tasks, 608 / 9 (the mean of the four groups would be 68.46)
    assert none["overall"] == pytest.approx(67.56)
    # stack has no MLQA average: no QA group score and no overall, the other groups as usual
    assert stack["tasks"]["xquad"] == 70.5 and "mlqa" not in stack["tasks"]
    assert stack["categories"] == {"classification": 84.5, "structured": 69.0, "qa": None, "retrieval": 75.0}
    assert stack["overall"] is None
    assert x["missing_tasks"] == [] and x["metrics"]["xquad"] == ["squad_f1", "squad_em"]


def test_partial_runs_give_no_group_or_overall_score():
    tables = [table("xnli", "accuracy", (80.0, 81.0)), table("xquad", "squad_f1", (76.0, 78.0)),
              table("xquad", "squad_em", (60.0, 63.0), languages=["en", "de"])]
    x = xtreme_summary(tables, {})
    assert x["tasks"] == ["xnli", "xquad"] and x["categories"] == {"classification": ["pawsx", "xnli"],
                                                                    "qa": ["xquad", "mlqa", "tydiqa"]}
    assert [r["tasks"] for r in x["rows"]] == [{"xnli": 80.0, "xquad": 68.0}, {"xnli": 81.0, "xquad": 70.5}]
    assert all(r["categories"] == {"classification": None, "qa": None} and r["overall"] is None for r in x["rows"])
    assert x["missing_tasks"] == ["pawsx", "udpos", "panx", "mlqa", "tydiqa", "bucc", "tatoeba"]
    # a QA task without its EM table is not scored as XTREME scores it: left out
    assert xtreme_summary(tables[:2], {}) is None


def test_the_scoring_functions():
    assert task_score({"squad_f1": 72.4, "squad_em": 49.8}, ("squad_f1", "squad_em")) == pytest.approx(61.1)
    assert task_score({"squad_f1": 72.4}, ("squad_f1", "squad_em")) is None
    assert aggregate({"xnli": 80.0, "pawsx": 86.0, "xquad": 68.0}) == {
        "groups": {"classification": 83.0, "qa": None}, "overall": None}


def qa_evaluation(n, right, wrong_but_close):
    """n questions: `right` answered exactly, `wrong_but_close` with one extra word (F1 0.8, EM 0)."""
    gold = [[f"answer {i}"] for i in range(n)]
    pred = [g[0] if i < right else f"answer {i} extra" if i < right + wrong_but_close else "nothing"
            for i, g in enumerate(gold)]
    return list(range(n)), pred, gold


def write_records(run_dir, task, evaluations):
    """{(strategy, inter): {lang: (ids, pred, gold)}} -> one seed's records of every metric of the task."""
    records = []
    for (strategy, inter), langs in evaluations.items():
        rel = f"stages/target-{task}-{strategy}-s0/eval/predictions.json"
        (run_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / rel).write_text(json.dumps({lang: {"ids": i, "pred": p, "gold": g} for lang, (i, p, g) in langs.items()}))
        for lang, (ids, pred, gold) in langs.items():
            for metric in get_task(task).metrics:
                value = round(100 * metric_for_language(metric, lang).compute(pred, gold), 2)
                records.append({"task": task, "strategy": strategy, "intermediate": inter, "language": lang,
                                "split": "test", "metric": metric, "value": value, "seed": 0, "n": len(ids),
                                "predictions": rel})
    return records


def test_results_md_scores_qa_as_xtreme_does(tmp_path):
    """On the same predictions XQuAD's F1 table says 90.0, XTREME's task score (F1 + EM)/2 is 70.0."""
    qa = {("none", None): {"en": qa_evaluation(90, 45, 45), "de": qa_evaluation(90, 45, 45)}}
    gold = [i % 3 for i in range(90)]
    nli = {("none", None): {lang: (list(range(90)), [g if i < 60 else (g + 1) % 3 for i, g in enumerate(gold)], gold)
                            for lang in ("en", "de")}}
    records = write_records(tmp_path, "xquad", qa) + write_records(tmp_path, "xnli", nli)
    text = write_results(tmp_path, records, {"targets": ["xquad", "xnli"], "base_family": "xlm-roberta-large"})
    assert "| none | **90.0** | **90.0** | **90.0** [" in text  # the F1 table: 45 right + 45 at F1 0.8
    assert "| none | **50.0** | **50.0** | **50.0** [" in text  # the EM table
    summary = json.loads((tmp_path / "results-summary.json").read_text())["xtreme"]
    assert summary["rows"][0]["tasks"] == {"xquad": 70.0, "xnli": 66.67}
    lines = text.split("## XTREME summary")[1].splitlines()
    assert "xquad (squad_f1 + squad_em)/2" in lines[2] and "mean of XTREME's nine tasks (not of the groups)" in lines[2]
    assert lines[3].startswith("not in this run: pawsx, udpos, panx, mlqa, tydiqa, bucc, tatoeba")
    assert "fewer languages than XTREME averages: xquad 2 of 11, xnli 2 of 15" in lines[4]
    assert "| none | 70.0 | 66.7 | – | – | – |" in lines
    # published QA figures are F1 alone: named apart, never tabled beside (F1 + EM)/2
    assert "| XLM-R Large (published) | – | 79.2 |" in text
    assert "published QA F1 only (XLM-R Large / best intermediate task), not comparable" in text
