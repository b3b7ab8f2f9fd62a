"""A miniature experiment end to end on a tiny random model and tiny data: every strategy,
artifacts, stage hashes (reuse and invalidation), evaluation as its own step, resuming after
a crash mid-stage, determinism, and errors before any training."""

import json
import shutil
import time

import pytest
import torch
import yaml

from adaptx import pipeline
from adaptx.cli import main
from adaptx.errors import AdaptxError
from tiny_data import write_tiny_data, write_tiny_pawsx

STRATEGIES = ["none", "stack", "fuse", "full", "full-none"]


@pytest.fixture
def setup(tmp_path, tiny_model_dir, adaptx_home):
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


def stage_dirs(out):
    """stage id -> folder (folders are named <stage id>-<hash>)."""
    return {p.name.rsplit("-", 1)[0]: p for p in sorted((out / "stages").iterdir())}


def trained_stages(capsys) -> list[str]:
    return [line[2:].split(":")[0] for line in capsys.readouterr().out.splitlines() if line.startswith("+ ")]


def test_all_strategies_end_to_end(setup, capsys):
    config, data, out = setup
    pipeline.run_experiment(config, data_dir=data, out_dir=out)
    stages = stage_dirs(out)
    assert sorted(stages) == sorted([
        "intermediate-adapter-qqp-s0", "intermediate-adapter-sst2-s0", "intermediate-full-qqp-s0",
        "intermediate-full-sst2-s0", "target-xnli-none-s0", "target-xnli-stack-qqp-s0", "target-xnli-stack-sst2-s0",
        "target-xnli-fuse-qqp+sst2-s0", "target-xnli-full-qqp-s0", "target-xnli-full-sst2-s0", "target-xnli-full-none-s0",
    ])  # intermediate adapters trained once, shared by stack and fuse
    for stage, folder in stages.items():
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["status"] == "done" and folder.name.endswith(manifest["config_hash"][:10])
        assert manifest["recipe"]["stage"] == stage  # self-describing: what the hash covers
        assert not (folder / "checkpoint.safetensors").exists()
        history = json.loads((folder / "metrics.json").read_text())["train"]["history"]
        steps = 2 if stage.startswith("intermediate") else 3
        assert [h["step"] for h in history] == list(range(1, steps + 1))  # selection on by default (5 per run)
    assert not list(out.rglob("*.bin")) and not list(out.rglob("*.pt"))  # safetensors only
    records = json.loads((out / "results.json").read_text())
    assert len(records) == 7 * 3
    rows = {(r["strategy"], r["intermediate"]) for r in records}
    assert rows == {("none", None), ("stack", "qqp"), ("stack", "sst2"), ("fuse", "qqp+sst2"),
                    ("full", "qqp"), ("full", "sst2"), ("full-none", None)}
    assert all(r["split"] == "test" and r["n"] == 6 and (out / r["predictions"]).is_file() for r in records)
    table = (out / "results.md").read_text()
    assert "| fuse (qqp+sst2)" in table and "avg w/o en" in table  # marks may follow the name (†‡)
    for stage in ("intermediate-adapter-qqp-s0", "intermediate-full-sst2-s0"):  # intermediate models face a baseline
        check = json.loads((stages[stage] / "metrics.json").read_text())["train"]["versus_trivial"]
        assert check["rows"] == 6 and check["verdict"] in ("better", "worse", "no clear difference")
        assert check["lo"] <= check["delta"] <= check["hi"] and check["trivial"].startswith("always ")
    assert "versus_trivial" not in json.loads((stages["target-xnli-none-s0"] / "metrics.json").read_text())["train"]
    printed = capsys.readouterr().out
    assert printed.count("its trivial baseline (") == 4  # on each intermediate stage's summary line
    assert "| strategy | en | de | sw | avg | avg w/o en |" in printed
    assert "model selection on 6 English dev rows" in printed
    assert main(["report", str(out)]) == 0
    assert "| stack (qqp)" in capsys.readouterr().out


def test_rerun_skips_finished_stages_and_rewrites_nothing(setup, capsys):
    config, data, out = setup
    overrides = ["strategies=[none, stack]"]
    pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=overrides)
    files = {p: p.stat().st_mtime_ns for p in (out / "stages").rglob("*") if p.is_file()}
    capsys.readouterr()
    pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=overrides)
    assert capsys.readouterr().out.count("done before, skipped") == 5
    assert {p: p.stat().st_mtime_ns for p in (out / "stages").rglob("*") if p.is_file()} == files


def test_a_run_banked_without_its_weights_is_skipped_and_reports_the_same(setup, capsys):
    # studies/ commits a run's small files only (studies/.gitignore leaves weights out): a fresh checkout
    # must skip every finished stage whose evaluation files are there, loading no model
    config, data, out = setup
    overrides = ["strategies=[none, stack]"]
    pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=overrides)
    records = json.loads((out / "results.json").read_text())
    weights = list(out.rglob("*.safetensors"))
    assert weights
    for path in weights:
        path.unlink()
    capsys.readouterr()
    pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=overrides)
    printed = capsys.readouterr().out
    assert printed.count("done before, skipped") == 5
    assert not [line for line in printed.splitlines() if line.startswith("+ ")]  # no stage trained
    assert json.loads((out / "results.json").read_text()) == records
    assert not list(out.rglob("*.safetensors"))  # nothing was trained or saved again


def test_a_stage_banked_between_training_and_evaluation_trains_again(setup, capsys):
    # a stage committed once trained but before every language was scored: without its weights its
    # missing languages cannot be scored, so it trains again (and the weightless intermediate under it),
    # keeps the evaluation files already there, and the run reports what the first one did
    config, data, out = setup
    overrides = ["strategies=[none, stack]"]
    pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=overrides)
    records = json.loads((out / "results.json").read_text())
    for path in out.rglob("*.safetensors"):
        path.unlink()
    stack = stage_dirs(out)["target-xnli-stack-qqp-s0"]
    kept, dropped = sorted(stack.glob("eval/en-*.json")), sorted(stack.glob("eval/sw-*.json"))
    kept_bytes = kept[0].read_bytes()
    dropped[0].unlink()
    capsys.readouterr()
    pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=overrides)
    printed = capsys.readouterr().out
    assert "~ target-xnli-stack-qqp-s0: finished, but its weights are not here and sw still to evaluate" in printed
    assert "~ intermediate-adapter-qqp-s0: finished, but its weights are not here and " \
           "target-xnli-stack-qqp-s0 still to train on it" in printed
    assert [line[2:].split(":")[0] for line in printed.splitlines() if line.startswith("+ ")] == [
        "intermediate-adapter-qqp-s0", "target-xnli-stack-qqp-s0"]  # the others stay skipped
    assert printed.count("done before, skipped") == 3
    assert kept[0].read_bytes() == kept_bytes and dropped[0].is_file()
    assert json.loads((out / "results.json").read_text()) == records
    capsys.readouterr()
    pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=overrides)
    assert capsys.readouterr().out.count("done before, skipped") == 5  # its weights are back: nothing trains


def test_evaluation_settings_reevaluate_without_retraining(setup, capsys):
    config, data, out = setup
    pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=["strategies=[none, stack]"])
    capsys.readouterr()
    pipeline.run_experiment(config, data_dir=data, out_dir=out,
                            overrides=["strategies=[none, stack]", "languages=[de, sw]", "data.max_eval_examples=9"])
    assert trained_stages(capsys) == []
    records = json.loads((out / "results.json").read_text())
    assert {r["language"] for r in records} == {"de", "sw"} and {r["n"] for r in records} == {9}
    evals = list(stage_dirs(out)["target-xnli-none-s0"].glob("eval/*.json"))
    assert len(evals) == 3 + 2  # earlier evaluations kept beside the new ones


def test_settings_retrain_exactly_the_stages_that_use_them(setup, capsys):
    config, data, out = setup
    pipeline.run_experiment(config, data_dir=data, out_dir=out)
    capsys.readouterr()
    pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=["train.lr_fusion=0.002"])
    assert trained_stages(capsys) == ["target-xnli-fuse-qqp+sst2-s0"]
    pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=["train.lr_full=0.0002"])
    assert trained_stages(capsys) == ["intermediate-full-qqp-s0", "intermediate-full-sst2-s0",
                                      "target-xnli-full-qqp-s0", "target-xnli-full-sst2-s0", "target-xnli-full-none-s0"]
    pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=["train.target_steps=4"])
    assert trained_stages(capsys) == [f"target-xnli-{s}-s0" for s in (
        "none", "stack-qqp", "stack-sst2", "fuse-qqp+sst2", "full-qqp", "full-sst2", "full-none")]
    # results-neutral settings retrain nothing
    pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=["train.checkpoint_every=2"])
    assert trained_stages(capsys) == []


def test_data_is_identified_by_content_not_by_folder(setup, tmp_path, capsys):
    config, data, out = setup
    overrides = ["strategies=[none, stack]", "intermediate_tasks=[qqp]"]
    pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=overrides)
    copy = tmp_path / "same-content-elsewhere"
    shutil.copytree(data, copy)
    capsys.readouterr()
    pipeline.run_experiment(config, data_dir=copy, out_dir=out, overrides=overrides)
    assert trained_stages(capsys) == []
    mnli = copy / "mnli" / "ppft_train_subset.json"  # XNLI's English training data
    records = json.loads(mnli.read_text())
    records["0"]["text_a"] = "an edited premise"
    mnli.write_text(json.dumps(records))
    pipeline.run_experiment(config, data_dir=copy, out_dir=out, overrides=overrides)
    assert trained_stages(capsys) == ["target-xnli-none-s0", "target-xnli-stack-qqp-s0"]
    assert len(list((out / "stages").glob("target-xnli-none-s0-*"))) == 2  # the earlier result is kept


def test_crash_mid_stage_resumes_to_the_same_result(setup, monkeypatch, tmp_path):
    config, data, out = setup
    overrides = ["strategies=[none, stack]", "train.target_steps=6", "train.checkpoint_every=2"]
    pipeline.run_experiment(config, data_dir=data, out_dir=tmp_path / "straight", overrides=overrides)

    from adaptx.modeling import TaskModel

    real_forward, calls = TaskModel.forward, {"n": 0}

    def dies_in_step_5_of_stack_sst2(self, input_ids, attention_mask):
        # adapters are saved and loaded as <task>-s<seed>-<base tag>
        if self.training and [n.split("-s0-")[0] for n in self.setup.frozen_adapters] == ["sst2"]:
            calls["n"] += 1
            time.sleep(0.2)  # the steps before the crash take measurable time
            if calls["n"] == 5:  # checkpoints of steps 2 and 4 were written
                raise KeyboardInterrupt
        return real_forward(self, input_ids, attention_mask)

    monkeypatch.setattr(TaskModel, "forward", dies_in_step_5_of_stack_sst2)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=overrides)
    crashed = stage_dirs(out)["target-xnli-stack-sst2-s0"]
    assert json.loads((crashed / "manifest.json").read_text())["status"] == "running"
    assert (crashed / "checkpoint.safetensors").is_file()
    partial = json.loads((out / "results.json").read_text())  # finished target stages already reported
    assert {r["intermediate"] for r in partial} == {None, "qqp"}
    from safetensors import safe_open

    with safe_open(str(crashed / "checkpoint.safetensors"), "pt") as f:
        meta = json.loads(f.metadata()["adaptx"])
    seconds_before = meta["train_seconds"]
    assert meta["step"] >= 2 and seconds_before >= 0.19 * meta["step"]  # each checkpointed step slept 0.2 s
    monkeypatch.setattr(TaskModel, "forward", real_forward)
    pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=overrides)
    # the training time of a resumed stage includes the time before the crash
    assert json.loads((crashed / "metrics.json").read_text())["train"]["train_seconds"] >= seconds_before
    resumed = json.loads((out / "results.json").read_text())
    straight = json.loads((tmp_path / "straight" / "results.json").read_text())
    assert [(r["strategy"], r["intermediate"], r["language"], r["value"]) for r in resumed] == [
        (r["strategy"], r["intermediate"], r["language"], r["value"]) for r in straight]
    assert_same_weights(crashed / "model", stage_dirs(tmp_path / "straight")["target-xnli-stack-sst2-s0"] / "model")


def assert_same_weights(a, b):
    from safetensors.torch import load_file

    files = sorted(p.relative_to(a) for p in a.rglob("*.safetensors"))
    assert files == sorted(p.relative_to(b) for p in b.rglob("*.safetensors")) and files
    for rel in files:
        x, y = load_file(str(a / rel)), load_file(str(b / rel))
        assert x.keys() == y.keys()
        for key in x:
            torch.testing.assert_close(x[key], y[key], rtol=0, atol=0, msg=f"{rel}:{key}")


def test_two_identical_runs_give_identical_results(setup, tmp_path):
    config, data, _ = setup
    overrides = ["strategies=[none, fuse, full]"]
    for name in ("a", "b"):
        pipeline.run_experiment(config, data_dir=data, out_dir=tmp_path / name, overrides=overrides)
    a, b = stage_dirs(tmp_path / "a"), stage_dirs(tmp_path / "b")
    assert [p.name for p in a.values()] == [p.name for p in b.values()]  # same hashes
    for stage in a:
        assert_same_weights(a[stage] / "model", b[stage] / "model")
    assert (tmp_path / "a" / "results.md").read_text() == (tmp_path / "b" / "results.md").read_text()


def test_gradient_checkpointing_does_not_change_results(setup, tmp_path):
    """It is left out of the stage hash; this is why that is safe."""
    config, data, _ = setup
    overrides = ["strategies=[none, full-none]"]
    pipeline.run_experiment(config, data_dir=data, out_dir=tmp_path / "plain", overrides=overrides)
    pipeline.run_experiment(config, data_dir=data, out_dir=tmp_path / "ckpt",
                            overrides=overrides + ["gradient_checkpointing=true"])
    plain, ckpt = stage_dirs(tmp_path / "plain"), stage_dirs(tmp_path / "ckpt")
    for stage in plain:
        assert_same_weights(plain[stage] / "model", ckpt[stage] / "model")


def test_target_full_starts_from_the_intermediate_encoder(setup):
    from safetensors.torch import load_file

    config, data, out = setup
    cfg = pipeline.load_config(config, ["strategies=[full]", "intermediate_tasks=[qqp]"])
    pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=["strategies=[full]",
                                                                          "intermediate_tasks=[qqp]"])
    experiment = pipeline.Experiment(cfg, out, str(data))
    stages = pipeline.plan_stages(cfg)
    experiment.prepare(stages)
    target = next(s for s in stages if s.strategy == "full")
    model = experiment.build(target)
    inter = load_file(str(stage_dirs(out)["intermediate-full-qqp-s0"] / "model" / "encoder" / "model.safetensors"))
    base = load_file(str(experiment.base.source) + "/model.safetensors")
    state = model.encoder.state_dict()
    key = "encoder.layer.0.attention.self.query.weight"
    torch.testing.assert_close(state[key], inter[key], rtol=0, atol=0)
    assert not torch.equal(inter[key], base[key])  # the intermediate stage really moved the encoder


def test_fusion_with_the_target_adapter_trains_it_first_and_reuses_it(setup, capsys):
    config, data, out = setup
    overrides = ["strategies=[fuse]", "intermediate_tasks=[qqp]", "fusion.include_target_adapter=true"]
    pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=overrides)
    assert trained_stages(capsys) == ["intermediate-adapter-qqp-s0", "target-xnli-none-s0",
                                      "target-xnli-fuse-qqp+xnli-s0"]
    records = json.loads((out / "results.json").read_text())
    assert {(r["strategy"], r["intermediate"]) for r in records} == {("fuse", "qqp+xnli")}  # none not asked for
    setup_json = json.loads((stage_dirs(out)["target-xnli-fuse-qqp+xnli-s0"] / "model" / "setup.json").read_text())
    # adapters are saved as <task>-s<seed>-<8 hex digits of the base weights' fingerprint>
    assert [n.split("-s0-")[0] for n in setup_json["fusion"]] == ["qqp", "xnli"]
    assert len({n.split("-s0-")[1] for n in setup_json["fusion"]}) == 1
    assert setup_json["fusion_config"]["regularization"] is True
    pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=overrides + ["strategies=[none, fuse]"])
    assert trained_stages(capsys) == []  # the fused target adapter is the `none` stage's


def test_pawsx_evaluates_on_test_where_labeled_and_holds_dev_rows_apart(setup, capsys):
    config, data, out = setup
    write_tiny_pawsx(data)
    pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=[
        "target_task=pawsx", "languages=[en, de, es, zh]", "strategies=[none]", "data.max_dev_examples=8",
        "data.max_eval_examples=null"])
    assert "zero-shot accuracy on test for en, de, zh; dev (rows held apart from model selection) for es" in (
        capsys.readouterr().out)
    records = {r["language"]: r for r in json.loads((out / "results.json").read_text())}
    assert {lang: r["split"] for lang, r in records.items()} == {"en": "test", "de": "test", "es": "dev", "zh": "test"}
    cfg = pipeline.load_config(config, ["target_task=pawsx", "languages=null", "data.max_dev_examples=8"])
    experiment = pipeline.Experiment(cfg, out, str(data))
    selection = set(experiment.row_ids("pawsx", "dev"))
    es = json.loads((out / records["es"]["predictions"]).read_text())["es"]
    assert len(selection) == 8 and not selection & set(es["ids"]) and len(es["ids"]) == 24 - 8
    assert records["de"]["n"] == 24  # the labeled test file, every row


def test_eval_split_test_where_a_language_has_none_is_refused_before_training(setup):
    config, data, out = setup
    write_tiny_pawsx(data)
    with pytest.raises(AdaptxError, match=r"pawsx has no labeled test split for es in its local source "
                                          r"\(it has one for: en, de\)"):
        pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=[
            "target_task=pawsx", "languages=[en, de, es]", "strategies=[none]", "data.eval_split=test"])
    assert not out.exists()


def test_intermediate_equal_to_target_data_gets_a_note(setup, capsys):
    config, data, out = setup
    pipeline.run_experiment(config, data_dir=data, out_dir=out,
                            overrides=["strategies=[stack]", "intermediate_tasks=[mnli]"])
    assert "note: intermediate task mnli trains on the same English data as xnli's target training" in (
        capsys.readouterr().out)


def test_refused_run_changes_nothing(setup):
    config, data, out = setup
    pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=["strategies=[none]"])
    saved = (out / "config.yaml").read_text()
    (data / "xnli" / "test-sw.tsv").unlink()
    with pytest.raises(AdaptxError, match="missing data file .*test-sw.tsv"):
        pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=["strategies=[none, stack]"])
    assert (out / "config.yaml").read_text() == saved


def test_bad_data_fails_before_any_training(setup):
    config, data, out = setup
    (data / "sst2" / "alps_dev.tsv").write_text("sentence\tlabel\nfine\t7\n")
    with pytest.raises(AdaptxError, match=r"alps_dev.tsv, line 2: label 7 is not in sst2's label set"):
        pipeline.run_experiment(config, data_dir=data, out_dir=out)
    assert not out.exists()


@pytest.mark.parametrize("damage, match", [
    ("manifest", r"manifest.json is unreadable .*delete the folder .*intermediate-adapter-qqp-s0-\w+ to redo"),
    ("metrics", r"metrics.json is unreadable .*delete the folder"),
])
def test_damaged_stage_files_are_clear_errors(setup, damage, match):
    config, data, out = setup
    overrides = ["strategies=[stack]", "intermediate_tasks=[qqp]"]
    pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=overrides)
    folder = stage_dirs(out)["intermediate-adapter-qqp-s0"]
    (folder / f"{damage}.json").write_text("{not json")
    with pytest.raises(AdaptxError, match=match):
        pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=overrides)
    assert (folder / f"{damage}.json").read_text() == "{not json"  # nothing deleted behind the user's back


def test_out_pointing_at_a_file(setup):
    config, data, out = setup
    out.write_text("my notes")
    with pytest.raises(AdaptxError, match=r"run folder .* is a file"):
        pipeline.run_experiment(config, data_dir=data, out_dir=out)
    assert out.read_text() == "my notes"


def test_sequence_length_beyond_the_models_positions(setup):
    config, data, out = setup
    with pytest.raises(AdaptxError, match=r"max_seq_length: 100000 is longer than base model .* accepts"):
        pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=["max_seq_length=100000"])
    assert not out.exists()


def test_missing_data_dir(setup):
    config, data, out = setup
    with pytest.raises(AdaptxError, match="data folder .* does not exist"):
        pipeline.run_experiment(config, data_dir=data / "nope", out_dir=out)
