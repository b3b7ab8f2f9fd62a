"""A miniature experiment on the embedded model and the real data slices in ../shared/data."""

import json

import pytest

from adaptx.pipeline import run_experiment

pytestmark = pytest.mark.integration


def test_miniature_experiment_end_to_end(shared_data, embedded_dir, tmp_path):
    overrides = [
        "intermediate_tasks=[qqp, sst2]", "target_task=xnli", "languages=[en, de, sw, zh]",
        "strategies=[none, stack, fuse, full, full-none]", "max_seq_length=64",
        "train.intermediate_steps=2", "train.target_steps=2", "train.batch_size=4",
        "data.max_train_examples=64", "data.max_dev_examples=8", "data.max_eval_examples=12",
    ]
    out = run_experiment(None, data_dir=shared_data, out_dir=tmp_path / "run", overrides=overrides)
    records = json.loads((out / "results.json").read_text())
    assert len(records) == 7 * 4  # 7 strategy rows x 4 languages
    assert {r["language"] for r in records} == {"en", "de", "sw", "zh"}
    assert all(r["metric"] == "accuracy" and r["split"] == "test" for r in records)
    stage = json.loads((out / "stages" / "target-xnli-stack-qqp-s0" / "metrics.json").read_text())
    assert stage["trainable_parameters"] < 1_000_000  # a target adapter + head, not the model
    full = json.loads((out / "stages" / "target-xnli-full-qqp-s0" / "metrics.json").read_text())
    assert full["trainable_parameters"] > 100_000_000
