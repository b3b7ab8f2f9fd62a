"""Multi-task intermediate training: the examples-proportional capped sampler (proportions, cap,
a pure function of (seed, step)), one task per batch, and the `multitask` adapter end to end on the
tiny model: one head per task, exact resumption after a crash, stacked and fused under a target,
published to the zoo; and its config errors."""

import json

import numpy as np
import pytest
import torch
import yaml

from adaptx import pipeline
from adaptx.errors import AdaptxError
from adaptx.kinds import get_kind
from adaptx.kinds.base import Encoding, Feature
from adaptx.mixture import CHUNK, MixtureSampler, mixture_task, mixture_weights
from tiny_data import write_tiny_data


def test_weights_are_examples_proportional_with_a_cap():
    assert mixture_weights([100, 300], None).tolist() == [0.25, 0.75]
    assert mixture_weights([100, 300, 60000], 1000).tolist() == pytest.approx([100 / 1400, 300 / 1400, 1000 / 1400])
    assert mixture_weights([500, 500], 10).tolist() == [0.5, 0.5]
    with_mlm = mixture_weights([100, 300], None, mlm_rate=0.2)
    assert with_mlm.tolist() == pytest.approx([0.2, 0.6, 0.2])
    with pytest.raises(AdaptxError, match="each with examples"):
        mixture_weights([10, 0], None)


def test_sampled_tasks_follow_the_weights_and_each_batch_is_one_tasks():
    lengths = [[5] * 40, [7] * 120, [9] * 4000]
    weights = mixture_weights([40, 120, 4000], 200)  # the cap keeps the big task from drowning the others
    sampler = MixtureSampler(lengths, weights, 8, seed=3)
    drawn = [sampler(step) for step in range(12000)]
    share = np.bincount([part for part, _ in drawn], minlength=3) / len(drawn)
    assert share == pytest.approx(weights, abs=0.015)
    assert all(len(idx) <= 8 and max(idx) < len(lengths[part]) for part, idx in drawn)
    # within a task, its own batches walk through its seeded epochs: every example of the small task is seen
    small = [i for part, idx in drawn[:2000] if part == 0 for i in idx]
    assert set(small) == set(range(40))


def test_batches_are_a_pure_function_of_seed_and_step():
    lengths = [[3] * 30, [4] * 50]
    a = MixtureSampler(lengths, [0.3, 0.7], 4, seed=0)
    sequential = [a(step) for step in range(CHUNK + 50)]
    for step in (CHUNK + 49, 7, CHUNK - 1, CHUNK, 0):  # a resumed run starts anywhere, chunks included
        assert MixtureSampler(lengths, [0.3, 0.7], 4, seed=0)(step) == sequential[step]
    other = MixtureSampler(lengths, [0.3, 0.7], 4, seed=1)
    assert [other(s) for s in range(40)] != sequential[:40]


def test_the_mixture_kind_routes_each_batch_to_its_tasks_kind_and_never_mixes_tasks():
    kind = get_kind("mixture")
    task = mixture_task("m", ["qqp", "sst2"], None)
    parts = []
    for name, n in (("qqp", 6), ("sst2", 10)):
        from adaptx.tasks import get_task

        features = [Feature([0, 5 + i, 2], i, {"label": i % 2}) for i in range(n)]
        parts.append((name, Encoding(features, [object()] * n, get_task(name), "classification")))
    combined = kind.combine(task, parts)
    assert len(combined.features) == 16 and combined.features[6].example == 6 and kind.group(combined.features[6]) == 1
    batch = kind.collate(combined.features[6:9], pad_id=1)
    assert batch["task"] == "sst2" and batch["labels"].tolist() == [0, 1, 0]
    with pytest.raises(AdaptxError, match="holds features of 2 tasks"):
        kind.collate(combined.features[5:7], pad_id=1)
    sample = kind.sampler(combined, 4, seed=0)
    for step in range(50):
        assert len({kind.group(combined.features[i]) for i in sample(step)}) == 1
    preds = [("qqp", "accuracy", 1)] * 6 + [("sst2", "accuracy", 0)] * 10
    golds = [("qqp", "accuracy", 1)] * 3 + [("qqp", "accuracy", 0)] * 3 + [("sst2", "accuracy", 0)] * 10
    from adaptx.metrics import get_metric

    assert get_metric("mixture_mean").compute(preds, golds) == pytest.approx((0.5 + 1.0) / 2)  # mean over tasks


@pytest.fixture
def setup(tmp_path, tiny_model_dir, adaptx_home):
    data = write_tiny_data(tmp_path / "data")
    config = {
        "base_model": str(tiny_model_dir), "intermediate_tasks": ["qqp", "sst2", "multitask"], "target_task": "xnli",
        "languages": ["en", "de"], "strategies": ["stack", "fuse"], "max_seq_length": 16,
        "multitask": {"tasks": ["qqp", "sst2", "mnli"], "cap": 20},
        "train": {"intermediate_steps": 6, "target_steps": 2, "batch_size": 4, "checkpoint_every": 2},
        "data": {"max_eval_examples": 4, "max_dev_examples": 6},
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, data, tmp_path / "run"


def stages_of(out):
    return {p.name.rsplit("-", 1)[0]: p for p in (out / "stages").iterdir()}


def test_a_multitask_adapter_has_a_head_per_task_and_stacks_and_fuses_like_any_adapter(setup, capsys):
    config, data, out = setup
    pipeline.run_experiment(config, data_dir=data, out_dir=out)
    printed = capsys.readouterr().out
    stages = stages_of(out)
    assert {"intermediate-adapter-multitask-s0", "target-xnli-stack-multitask-s0",
            "target-xnli-fuse-qqp+sst2-s0"} <= set(stages)  # fuse: the single-task adapters
    folder = stages["intermediate-adapter-multitask-s0"]
    metrics = json.loads((folder / "metrics.json").read_text())
    setup_json = json.loads((folder / "model" / "setup.json").read_text())
    assert setup_json["kind"] == "mixture" and set(setup_json["heads"]) == {"qqp", "sst2", "mnli"}
    assert setup_json["own_adapter"].startswith("multitask-s0-")
    from safetensors.torch import load_file

    heads = {k.split(".")[1] for k in load_file(str(folder / "model" / "head.safetensors"))}
    assert heads == {"qqp", "sst2", "mnli"}
    mixture = metrics["mixture"]
    assert mixture["examples"] == {"qqp": 24, "sst2": 24, "mnli": 24} and mixture["cap"] == 20
    assert mixture["step_share"] == pytest.approx({"qqp": 1 / 3, "sst2": 1 / 3, "mnli": 1 / 3}, abs=1e-3)
    assert metrics["train"]["metric"] == "mixture_mean" and metrics["data"]["dev_rows"] == 18  # 6 per task
    assert "adaptx: multitask: one adapter, one head per task, on qqp + sst2 + mnli" in printed
    records = json.loads((out / "results.json").read_text())
    assert {(r["strategy"], r["intermediate"]) for r in records} == {
        ("stack", "qqp"), ("stack", "sst2"), ("stack", "multitask"), ("fuse", "qqp+sst2")}
    stack = json.loads((stages["target-xnli-stack-multitask-s0"] / "model" / "setup.json").read_text())
    assert stack["frozen_adapters"] == [setup_json["own_adapter"]] and stack["kind"] == "classification"

    # the multi-task adapter publishes to the zoo and is reused from there like a single-task one
    from adaptx.cli import main

    zoo = out.parent / "zoo"
    assert main(["zoo", "add", str(folder), "--name", "mt-tiny", "--zoo", str(zoo)]) == 0
    card = json.loads((zoo / "mt-tiny" / "card.json").read_text())
    assert card["task"] == "multitask" and set(card["license"]["data"]) == {"qqp", "sst2", "mnli"}
    capsys.readouterr()
    pipeline.run_experiment(config, data_dir=data, out_dir=out.parent / "from-zoo",
                            overrides=["intermediate_tasks=[zoo:mt-tiny]", "strategies=[stack]", f"zoo_dir={zoo}"])
    theirs = json.loads(next((stages["target-xnli-stack-multitask-s0"] / "eval").glob("de-*.json")).read_text())["de"]
    ours_dir = stages_of(out.parent / "from-zoo")["target-xnli-stack-zoo-mt-tiny-s0"]
    ours = json.loads(next((ours_dir / "eval").glob("de-*.json")).read_text())["de"]
    assert ours["pred"] == theirs["pred"]  # the same adapter under it: the same target training


def test_a_multitask_stage_resumes_after_a_crash_to_the_same_weights(setup, monkeypatch, tmp_path):
    from adaptx.modeling import TaskModel

    config, data, out = setup
    overrides = ["intermediate_tasks=[multitask]", "strategies=[stack]"]
    pipeline.run_experiment(config, data_dir=data, out_dir=tmp_path / "straight", overrides=overrides)
    real_forward, calls = TaskModel.forward, {"n": 0}

    def dies_in_step_5(self, *args, **kwargs):
        if self.training and self.setup.heads:
            calls["n"] += 1
            if calls["n"] == 6:  # the micro-batch probe, then steps 1-4 (checkpoints at 2 and 4), then step 5
                raise KeyboardInterrupt
        return real_forward(self, *args, **kwargs)

    monkeypatch.setattr(TaskModel, "forward", dies_in_step_5)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=overrides)
    crashed = stages_of(out)["intermediate-adapter-multitask-s0"]
    assert (crashed / "checkpoint.safetensors").is_file()
    calls["n"] = -100  # count, never crash: the resumed run trains steps 5 and 6 only (after its probe)
    pipeline.run_experiment(config, data_dir=data, out_dir=out, overrides=overrides)
    assert calls["n"] == -100 + 3
    from safetensors.torch import load_file

    straight = stages_of(tmp_path / "straight")["intermediate-adapter-multitask-s0"]
    assert crashed.name == straight.name
    for rel in ("head.safetensors", *(p.relative_to(straight / "model").as_posix()
                                      for p in (straight / "model").glob("adapter-*/*.safetensors"))):
        a, b = load_file(str(crashed / "model" / rel)), load_file(str(straight / "model" / rel))
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=f"{rel}:{key}")


@pytest.mark.parametrize("overrides, match", [
    (["intermediate_tasks=[multitask]", "strategies=[stack]"],
     r"multitask.tasks: intermediate_tasks lists 'multitask'"),
    (["intermediate_tasks=[multitask]", "strategies=[stack]", "multitask.tasks=[qqp, xnli]"],
     r"multitask.tasks\[1\]: 'xnli' is not an intermediate task"),
    (["intermediate_tasks=[multitask]", "strategies=[stack]", "multitask.tasks=[qqp, qqp]"],
     r"multitask.tasks\[1\]: 'qqp' is listed twice"),
    (["intermediate_tasks=[multitask]", "strategies=[stack]", "multitask.tasks=[qqp, sst2]", "multitask.cap=0"],
     r"multitask.cap: must be >= 1 or null"),
    (["multitask.unknown=1"], r"multitask.unknown: unknown key"),
])
def test_multitask_config_errors(overrides, match):
    with pytest.raises(AdaptxError, match=match):
        pipeline.load_config(None, overrides)
