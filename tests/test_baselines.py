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
