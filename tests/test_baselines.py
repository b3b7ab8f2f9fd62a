"""Trivial baselines, checked against counts taken straight from the tiny files' examples."""

import collections

import pytest
import yaml

from adaptx import pipeline
from adaptx.baselines import trivial_predictor, trivial_score
from tiny_data import write_tiny_data
from tiny_xtreme import write_tiny_xtreme


@pytest.fixture
def experiment(tmp_path, tiny_model_dir, adaptx_home):
    data = write_tiny_xtreme(write_tiny_data(tmp_path / "data"))
    config = {"base_model": str(tiny_model_dir), "intermediate_tasks": ["qqp"],
              "target_task": ["xnli", "udpos", "xquad", "tatoeba"], "strategies": ["none"], "max_seq_length": 32,
              "data": {"max_eval_examples": 8, "max_dev_examples": 6}}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    return pipeline.Experiment(pipeline.load_config(path), tmp_path / "run", data)


def test_majority_label_scores_its_share_of_the_rows(experiment):
    train = [e.label for e in experiment.split("xnli", "train").examples]
    ids = experiment.row_ids("xnli", "train")
    majority = collections.Counter(train[i] for i in ids).most_common(1)[0][0]
    what, score = trivial_score(experiment, "xnli")
    dev = [experiment.split("xnli", "dev").examples[i].label for i in experiment.row_ids("xnli", "dev")]
    assert what == f"always {experiment.task('xnli').labels[majority]}"
    assert score == pytest.approx(dev.count(majority) / len(dev))


def test_majority_tag_is_scored_per_word_and_the_empty_answer_scores_zero_on_answerable_questions(experiment):
    what, predict = trivial_predictor(experiment, "udpos")
    tag = what.removeprefix("always ")
    golds = [["NOUN", "VERB"], ["NOUN"]]
    assert predict(golds) == [[tag, tag], [tag]]
    split = experiment.eval_splits["udpos"]["de"]
    _, score = trivial_score(experiment, "udpos", f"eval-{split}", "de")
    words = [t for s in experiment.data("udpos", f"eval-{split}", "de").examples for t in s.tags]
    assert score == pytest.approx(words.count(tag) / len(words))
    assert trivial_score(experiment, "xquad") == ("always no answer", 0.0)
    assert trivial_predictor(experiment, "tatoeba") is None  # retrieval trains nothing: no trivial baseline


def _golds(experiment, task_name):
    from adaptx.kinds import get_kind

    return get_kind(experiment.task(task_name).kind).golds(experiment.data(task_name, "dev"))


def test_versus_trivial_pairs_the_model_with_the_baseline_on_the_dev_rows(experiment, monkeypatch):
    import adaptx.train
    from adaptx.baselines import versus_trivial, versus_trivial_text

    golds = _golds(experiment, "qqp")
    what, trivial = trivial_score(experiment, "qqp")
    monkeypatch.setattr(adaptx.train, "predict", lambda *a, **k: list(golds))  # a model that is always right
    right = versus_trivial(experiment, "qqp", model=None)
    assert right["score"] == 1.0 and right["trivial"] == what and right["trivial_score"] == pytest.approx(trivial)
    assert right["delta"] == pytest.approx(1.0 - trivial) and right["rows"] == len(golds)
    assert right["verdict"] == "better" and right["lo"] > 0
    assert versus_trivial_text(right).startswith("beats its trivial baseline")
    majority = trivial_predictor(experiment, "qqp")[1](golds)
    monkeypatch.setattr(adaptx.train, "predict", lambda *a, **k: list(majority))  # a model that learned nothing
    same = versus_trivial(experiment, "qqp", model=None)
    assert same["delta"] == 0 and same["verdict"] == "no clear difference"
    assert versus_trivial_text(same).startswith("DOES NOT beat its trivial baseline")
    assert versus_trivial(experiment, "tatoeba", model=None) is None  # retrieval: no trivial baseline


def test_versus_trivial_of_a_mixture_uses_every_parts_baseline(tmp_path, tiny_model_dir, adaptx_home, monkeypatch):
    import adaptx.train
    from adaptx.baselines import trivial_spec, versus_trivial

    data = write_tiny_data(tmp_path / "data")
    config = {"base_model": str(tiny_model_dir), "intermediate_tasks": ["multitask"],
              "multitask": {"tasks": ["mnli", "qqp"]}, "target_task": "xnli", "strategies": ["stack"],
              "max_seq_length": 32, "data": {"max_dev_examples": 6}}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    experiment = pipeline.Experiment(pipeline.load_config(path), tmp_path / "run", data)
    golds = _golds(experiment, "multitask")
    specs = {name: trivial_spec(experiment, name) for name in ("mnli", "qqp")}
    trivial = [(name, metric, specs[name]["value"]) for name, metric, _ in golds]
    monkeypatch.setattr(adaptx.train, "predict", lambda *a, **k: trivial)
    result = versus_trivial(experiment, "multitask", model=None)
    assert result["delta"] == 0 and result["verdict"] == "no clear difference"
    assert result["trivial"] == f"mnli: {specs['mnli']['what']}; qqp: {specs['qqp']['what']}"
