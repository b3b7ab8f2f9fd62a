"""A miniature experiment end to end on a tiny random model and tiny data: every strategy,
artifacts, skipping finished stages, resuming after a crash, and errors before training."""

import json

import pytest
import yaml

from adaptx import pipeline
from adaptx.cli import main
from adaptx.errors import AdaptxError
from tiny_data import write_tiny_data

STRATEGIES = ["none", "stack", "fuse", "full", "full-none"]


@pytest.fixture
def setup(tmp_path, tiny_model_dir):
    data = write_tiny_data(tmp_path / "data")
    config = {
        "base_model": str(tiny_model_dir), "intermediate_tasks": ["qqp", "sst2"], "target_task": "xnli",
        "languages": ["en", "de", "sw"], "strategies": STRATEGIES, "max_seq_length": 16,
        "train": {"intermediate_steps": 2, "target_steps": 3, "batch_size": 4, "checkpoint_every": 1},
        "data": {"max_eval_examples": 6, "max_dev_examples": 6},
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, data, tmp_path / "run"


def test_all_strategies_end_to_end(setup, capsys):
    config, data, out = setup
    pipeline.run_experiment(config, data_dir=data, out_dir=out)
    stages = sorted(p.name for p in (out / "stages").iterdir())
    assert stages == sorted([
        "intermediate-adapter-qqp-s0", "intermediate-adapter-sst2-s0", "intermediate-full-qqp-s0",
        "intermediate-full-sst2-s0", "target-xnli-none-s0", "target-xnli-stack-qqp-s0", "target-xnli-stack-sst2-s0",
        "target-xnli-fuse-qqp+sst2-s0", "target-xnli-full-qqp-s0", "target-xnli-full-sst2-s0", "target-xnli-full-none-s0",
    ])  # intermediate adapters trained once, shared by stack and fuse
    for stage in stages:
        manifest = json.loads((out / "stages" / stage / "manifest.json").read_text())
        assert manifest["status"] == "done" and manifest["seconds"] >= 0
        assert not (out / "stages" / stage / "checkpoint.safetensors").exists()
    assert not list(out.rglob("*.bin")) and not list(out.rglob("*.pt"))  # safetensors only
    records = json.loads((out / "results.json").read_text())
    assert len(records) == 7 * 3
    assert set(records[0]) == {"task", "strategy", "intermediate", "language", "split", "metric", "value", "seed"}
    rows = {(r["strategy"], r["intermediate"]) for r in records}
    assert rows == {("none", None), ("stack", "qqp"), ("stack", "sst2"), ("fuse", "qqp+sst2"),
                    ("full", "qqp"), ("full", "sst2"), ("full-none", None)}
    assert all(0 <= r["value"] <= 100 and r["split"] == "test" for r in records)
    table = (out / "results.md").read_text()
    assert "| fuse (qqp+sst2) |" in table and "avg w/o en" in table and "**" in table
    assert "| strategy | en | de | sw | avg | avg w/o en |" in capsys.readouterr().out
    assert main(["report", str(out)]) == 0
    assert "| stack (qqp) |" in capsys.readouterr().out


def test_rerun_skips_finished_stages(setup, capsys):
    config, data, out = setup
    pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=["strategies=[none, stack]"])
    weights = out / "stages" / "target-xnli-none-s0" / "model" / "head.safetensors"
    stamp = weights.stat().st_mtime_ns
    capsys.readouterr()
    pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=["strategies=[none, stack]"])
    printed = capsys.readouterr().out
    assert printed.count("done before, skipped") == 5
    assert weights.stat().st_mtime_ns == stamp


def test_crash_keeps_earlier_stages_and_rerun_resumes(setup, monkeypatch, capsys):
    config, data, out = setup
    real = pipeline.train_model

    def crash_on_stack_sst2(model, train, dev, job, pad_id, checkpoint):
        if job.description == "target-xnli-stack-sst2-s0":
            raise KeyboardInterrupt
        return real(model, train, dev, job, pad_id, checkpoint)

    monkeypatch.setattr(pipeline, "train_model", crash_on_stack_sst2)
    overrides = ["strategies=[none, stack]"]
    with pytest.raises(KeyboardInterrupt):
        pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=overrides)
    crashed = json.loads((out / "stages" / "target-xnli-stack-sst2-s0" / "manifest.json").read_text())
    assert crashed["status"] == "running"
    partial = json.loads((out / "results.json").read_text())  # finished target stages already reported
    assert {r["intermediate"] for r in partial} == {None, "qqp"}
    monkeypatch.setattr(pipeline, "train_model", real)
    capsys.readouterr()
    pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=overrides)
    assert capsys.readouterr().out.count("done before, skipped") == 4
    assert len(json.loads((out / "results.json").read_text())) == 3 * 3


def test_changed_settings_are_not_silently_mixed(setup):
    config, data, out = setup
    pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=["strategies=[none]"])
    with pytest.raises(AdaptxError, match="made with different settings .*new --out"):
        pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=["strategies=[none]", "train.target_steps=4"])


def test_bad_data_fails_before_any_training(setup):
    config, data, out = setup
    (data / "xnli" / "test-sw.tsv").unlink()
    with pytest.raises(AdaptxError, match="missing data file .*test-sw.tsv"):
        pipeline.run_experiment(config, data_dir=data, out_dir=out)
    assert not (out / "stages").exists()


def test_missing_data_dir(setup):
    config, data, out = setup
    with pytest.raises(AdaptxError, match="data folder .* does not exist"):
        pipeline.run_experiment(config, data_dir=data / "nope", out_dir=out)


def test_eval_split_without_labels_is_refused_before_training(setup):
    config, data, out = setup
    with pytest.raises(AdaptxError, match="pawsx has no labeled test split in its local source; set data.eval_split"):
        pipeline.run_experiment(config, data_dir=data, out_dir=out,
                                overrides=["target_task=pawsx", "languages=null", "strategies=[none]",
                                           "data.eval_split=test"])
    assert not (out / "stages").exists()
