"""Disk: a finished stage keeps its final weights only, a run that cannot fit on its disk is refused before
anything trains (with the numbers), and a smoke run deletes each full-model stage's weights once the stages
that build on it are done."""

import json
from collections import namedtuple
from types import SimpleNamespace

import pytest
import yaml

from adaptx import disk_budget, pipeline
from adaptx.errors import AdaptxError
from adaptx.run_folder import RunFolder
from adaptx.smoke import KEPT_NO_WEIGHTS
from tiny_data import write_tiny_data

Usage = namedtuple("Usage", "total used free")


@pytest.fixture
def setup(tmp_path, tiny_model_dir, adaptx_home):
    data = write_tiny_data(tmp_path / "data")
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({
        "base_model": str(tiny_model_dir), "intermediate_tasks": ["qqp"], "target_task": "xnli",
        "languages": ["en", "de"], "strategies": ["none", "full"], "max_seq_length": 16,
        "output_dir": str(tmp_path / "run"),
        "train": {"intermediate_steps": 2, "target_steps": 2, "batch_size": 4, "checkpoint_every": 1},
        "data": {"max_eval_examples": 4, "max_dev_examples": 4}}))
    return config, data, tmp_path / "run"


def test_a_finished_stage_keeps_its_weights_only_and_a_leftover_checkpoint_goes_on_the_next_run(setup):
    config, data, out = setup
    pipeline.run_experiment(config, data_dir=data, out_dir=out)
    stages = RunFolder(out).stages()
    assert stages and not any(stage.checkpoint_file.exists() for stage in stages)
    assert all(stage.model_dir.is_dir() for stage in stages)
    stranded = stages[0].checkpoint_file  # a crash between "done" and the checkpoint's removal
    stranded.write_bytes(b"x" * 100)
    pipeline.run_experiment(config, data_dir=data, out_dir=out)
    assert not stranded.exists()


def test_a_run_the_disk_cannot_hold_is_refused_with_the_numbers_before_anything_is_written(setup, monkeypatch):
    config, data, out = setup
    monkeypatch.setattr(disk_budget.shutil, "disk_usage", lambda path: Usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(AdaptxError, match=r"this run needs about .* of disk \(2 full-model stage\(s\) x .*"
                                          r"adapter stage\(s\).*largest checkpoint.*\), but only 1 kB is free"):
        pipeline.run_experiment(config, data_dir=data, out_dir=out)
    assert not RunFolder(out).config_file.exists()


def test_the_estimate_per_stage_kind_on_the_embedded_base_and_xlmr_large():
    embedded = SimpleNamespace(hidden_size=384, num_hidden_layers=12)
    full, parts = disk_budget.needed(["full-none"], embedded, 117_505_920)
    assert round(full / 1e6) == 470 * 5  # its weights, and 4 x them in the checkpoint while it trains
    adapter = disk_budget.stage_bytes("none", embedded, 117_505_920)
    assert 1e6 < adapter < 10e6  # an adapter and a head: a few MB
    assert disk_budget.stage_bytes("fuse", embedded, 117_505_920) > 3 * adapter
    large = SimpleNamespace(hidden_size=1024, num_hidden_layers=24)
    assert round(disk_budget.stage_bytes("full", large, 558_876_672) / 1e9, 1) == 2.2
    assert disk_budget.needed([], embedded, 1) == (0, "nothing left to train")
    smoke, parts = disk_budget.needed(["full-none"], embedded, 117_505_920, checkpoints=False)
    assert round(smoke / 1e6) == 470 and "checkpoint" not in parts  # a smoke run's 2 steps write none


def test_full_save_dtype_bf16_halves_the_full_stages_estimate_and_makes_only_them_new_stages(setup, tmp_path):
    from stage_hash_guard import plan_hashes

    embedded = SimpleNamespace(hidden_size=384, num_hidden_layers=12)
    assert disk_budget.stage_bytes("full", embedded, 1000, "bf16") == 2000
    assert disk_budget.stage_bytes("none", embedded, 1000, "bf16") == disk_budget.stage_bytes("none", embedded, 1000)
    config, data, out = setup
    rounded = tmp_path / "bf16.yaml"
    rounded.write_text(yaml.safe_dump(dict(yaml.safe_load(config.read_text()), full_save_dtype="bf16")))
    before, after = plan_hashes(config, data, out), plan_hashes(rounded, data, tmp_path / "run-bf16")
    assert before.keys() == after.keys()
    changed = {stage for stage in before if before[stage]["hash"] != after[stage]["hash"]}
    # the full stages, and what builds on their weights; the adapter stages keep their hashes
    assert changed == {stage for stage in before if "-full-" in stage} and changed
    # `base` on a run whose base is fp32 saves fp32: the same stages as the default
    as_base = tmp_path / "base.yaml"
    as_base.write_text(yaml.safe_dump(dict(yaml.safe_load(config.read_text()), full_save_dtype="base", base_dtype="fp32")))
    assert plan_hashes(as_base, data, tmp_path / "run-base") == before


def test_frozen_embeddings_leave_the_full_stages_without_the_vocabulary_and_make_only_them_new_stages(setup, tmp_path):
    from stage_hash_guard import plan_hashes

    embedded = SimpleNamespace(hidden_size=384, num_hidden_layers=12, vocab_size=250_037)
    frozen = disk_budget.stage_bytes("full", embedded, 117_505_920, "bf16", frozen_embeddings=True)
    assert round(frozen / 1e6) == 43  # 21.5M parameters outside the word embeddings, 2 bytes each
    assert disk_budget.stage_bytes("none", embedded, 1000, frozen_embeddings=True) == \
        disk_budget.stage_bytes("none", embedded, 1000)
    total, _ = disk_budget.needed(["full-none"], embedded, 117_505_920, frozen_embeddings=True)
    assert total == 21_491_712 * 4 * 5  # the fp32 weights and a checkpoint of 4 x the trainable ones
    config, data, out = setup
    frozen_config = tmp_path / "frozen.yaml"
    frozen_config.write_text(yaml.safe_dump(dict(yaml.safe_load(config.read_text()), full_frozen_embeddings=True)))
    before, after = plan_hashes(config, data, out), plan_hashes(frozen_config, data, tmp_path / "run-frozen")
    changed = {stage for stage in before if before[stage]["hash"] != after[stage]["hash"]}
    assert changed == {stage for stage in before if "-full-" in stage} and changed


def test_a_smoke_run_deletes_full_model_weights_once_used_and_says_so_where_they_are_asked_for(setup, capsys):
    from adaptx import predict

    config, data, out = setup
    pipeline.run_experiment(config, data_dir=data, out_dir=out, smoke=True)
    printed = capsys.readouterr().out
    assert "smoke run: deleted target-xnli-full-qqp-s0's encoder weights" in printed
    # the intermediate encoder goes only once the target stage that starts from it is done
    assert printed.index("+ target-xnli-full-qqp-s0") < printed.index("deleted intermediate-full-qqp-s0's")
    stages = {s.name.rsplit("-", 1)[0]: s for s in RunFolder(out).stages()}
    full = [stages["intermediate-full-qqp-s0"], stages["target-xnli-full-qqp-s0"]]
    assert all(not s.encoder_dir.exists() and s.setup_file.is_file() for s in full)
    assert json.loads((full[1].model_dir / "weights-dropped.json").read_text())["why"] == KEPT_NO_WEIGHTS
    assert stages["target-xnli-none-s0"].model_dir.is_dir()  # adapter stages keep theirs
    pipeline.run_experiment(config, data_dir=data, out_dir=out, smoke=True)  # a rerun finds everything done
    with pytest.raises(AdaptxError, match="a smoke run \\(--smoke\\) keeps no full-model stage's weights"):
        predict.load(full[1].path)
