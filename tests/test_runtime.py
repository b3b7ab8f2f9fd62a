"""Devices, dtypes, micro-batches with gradient accumulation, and data-parallel training."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from adaptx import pipeline
from adaptx.errors import AdaptxError
from adaptx.modeling import Setup, build_model
from adaptx.models import load_encoder
from adaptx.runtime import make_runtime, resolve_device, resolve_dtype
from adaptx.train import TrainJob, fit_micro_batch, train_model
from helpers import Encoded
from tiny_data import write_tiny_data

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (this machine has none)")


def toy_data(n=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = [[0] + torch.randint(4, 24, (int(torch.randint(2, 12, (1,), generator=g)),), generator=g).tolist() + [2]
           for _ in range(n)]
    return Encoded(ids, [int(row[1] % 3) for row in ids])


def model_for(folder, seed=0):
    torch.manual_seed(seed)
    return build_model(load_encoder(str(folder)), Setup("none", 3, own_adapter="t", dropout=0.0, pooling="mean",
                                                        base_fingerprint={}))


def test_micro_batches_accumulate_to_the_same_update_as_one_batch(tiny_model_dir_no_dropout, tmp_path):
    data = toy_data()
    weights = {}
    for micro in (16, 4, 1):
        model = model_for(tiny_model_dir_no_dropout)
        job = TrainJob(steps=6, lr=5e-3, batch_size=16, seed=0, eval_every=6, checkpoint_every=6,
                       micro_batch_size=micro)
        summary = train_model(model, data, data, job, 1, tmp_path / f"{micro}.safetensors")
        assert summary["micro_batch_size"] == micro
        weights[micro] = model.trainable_parameters()
    for micro in (4, 1):
        for name, p in weights[16].items():
            torch.testing.assert_close(weights[micro][name], p, rtol=1e-4, atol=1e-5, msg=f"micro {micro}: {name}")
    moved = model_for(tiny_model_dir_no_dropout).trainable_parameters()
    assert any(not torch.allclose(moved[n], weights[16][n]) for n in moved)  # training did change the weights


def test_auto_micro_batch_backs_off_on_out_of_memory(tiny_model_dir_no_dropout):
    model = model_for(tiny_model_dir_no_dropout)
    real_forward, sizes = model.forward, []

    def forward(input_ids, attention_mask):
        sizes.append(len(input_ids))
        if len(input_ids) > 4:  # what a small GPU says
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(input_ids, attention_mask)

    model.forward = forward
    rng = torch.get_rng_state()
    job = TrainJob(steps=1, lr=1e-3, batch_size=16, seed=0, micro_batch_size="auto")
    assert fit_micro_batch(model, toy_data(), job, 1) == 4
    assert sizes == [16, 8, 4]  # divisors of the batch, largest first
    assert torch.equal(torch.get_rng_state(), rng) and all(p.grad is None for p in model.parameters())


def test_auto_micro_batch_gives_up_with_a_clear_error(tiny_model_dir_no_dropout):
    model = model_for(tiny_model_dir_no_dropout)
    model.forward = lambda *a: (_ for _ in ()).throw(RuntimeError("CUDA out of memory. Tried to allocate 1 GiB"))
    job = TrainJob(steps=1, lr=1e-3, batch_size=4, seed=0, micro_batch_size="auto", description="stage-x")
    with pytest.raises(AdaptxError, match="stage-x: even a micro-batch of 1 does not fit in memory"):
        fit_micro_batch(model, toy_data(), job, 1)


def test_device_and_dtype_errors(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(AdaptxError, match=r"device: 'cuda', but this machine has no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(AdaptxError, match=r"base_dtype: fp16 needs a CUDA GPU"):
        resolve_dtype("fp16", torch.device("cpu"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(AdaptxError, match=r"device: 'cuda:5', but this machine has 2 GPU\(s\) \(cuda:0 to cuda:1\)"):
        resolve_device("cuda:5")
    assert resolve_device("cuda:1") == torch.device("cuda:1")


def test_unavailable_device_fails_before_anything_is_written(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    data = write_tiny_data(tmp_path / "data")
    with pytest.raises(AdaptxError, match="no CUDA GPU"):
        pipeline.run_experiment(None, data_dir=data, out_dir=tmp_path / "run",
                                overrides=[f"base_model={tiny_model_dir}", "strategies=[none]", "device=cuda"])
    assert not (tmp_path / "run").exists()


def test_metrics_record_where_and_how_a_stage_ran(tmp_path, tiny_model_dir):
    data = write_tiny_data(tmp_path / "data")
    out = pipeline.run_experiment(None, data_dir=data, out_dir=tmp_path / "run", overrides=[
        f"base_model={tiny_model_dir}", "strategies=[none]", "languages=[en]", "train.target_steps=2",
        "train.batch_size=4", "train.micro_batch_size=2", "max_seq_length=16"])
    metrics = json.loads(next((out / "stages").glob("target-xnli-none-s0-*/metrics.json")).read_text())
    hardware = metrics["hardware"]
    assert hardware["device_type"] == "cpu" and hardware["micro_batch_size"] == 2 and hardware["processes"] == 1
    assert hardware["dtype"] in ("fp32", "bf16") and hardware["dtype_reason"].startswith("auto: ")
    assert hardware["peak_memory"]["kind"] == "process_peak_rss" and hardware["peak_memory"]["gb"] > 0.05
    flags = set(open("/proc/cpuinfo").read().split())
    assert set(hardware["cpu_flags"]) == flags & {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}
    # whether its timings were measured alone: threads and the machine's load
    assert hardware["cpu_threads"] >= 1 and len(hardware["load_average"]) == 3


# -- data-parallel -----------------------------------------------------------------------------

def run_processes(n, config, data, out, extra=(), timeout=300):
    """`torchrun --standalone --nproc_per_node n -m adaptx run ...` on the CPU (gloo backend)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
           "-m", "adaptx", "run", str(config), "--data-dir", str(data), "--out", str(out), *extra]
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def stage_model_weights(out, stage):
    from safetensors.torch import load_file

    folder = next((out / "stages").glob(f"{stage}-*"))
    return {str(p.relative_to(folder)): load_file(str(p)) for p in sorted((folder / "model").rglob("*.safetensors"))}


@pytest.fixture
def dp_setup(tmp_path, tiny_model_dir_no_dropout, adaptx_home):
    data = write_tiny_data(tmp_path / "data", n=40)
    config = {
        "base_model": str(tiny_model_dir_no_dropout), "base_dtype": "fp32", "intermediate_tasks": ["qqp"],
        "target_task": "xnli",
        "languages": ["en", "de"], "strategies": ["none", "stack"], "max_seq_length": 16, "head": {"dropout": 0.0},
        "train": {"intermediate_steps": 4, "target_steps": 6, "batch_size": 8, "checkpoint_every": 2,
                  "lr_adapter": 5e-3, "lr_head": 5e-3},
        "data": {"max_eval_examples": 10, "max_dev_examples": 10},
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, data


def assert_close_weights(a, b):
    assert a.keys() == b.keys() and a
    for rel in a:
        for key in a[rel]:
            torch.testing.assert_close(a[rel][key], b[rel][key], rtol=1e-4, atol=1e-5, msg=f"{rel}:{key}")


def test_two_processes_train_the_same_weights_as_one(dp_setup, tmp_path):
    config, data = dp_setup
    pipeline.run_experiment(config, data_dir=data, out_dir=tmp_path / "one")
    printed = run_processes(2, config, data, tmp_path / "two")
    for stage in ("intermediate-adapter-qqp-s0", "target-xnli-none-s0", "target-xnli-stack-qqp-s0"):
        assert_close_weights(stage_model_weights(tmp_path / "one", stage), stage_model_weights(tmp_path / "two", stage))
        assert printed.count(f"+ {stage}:") == 1  # one process reports (and writes) each stage
        metrics = json.loads(next((tmp_path / "two" / "stages").glob(f"{stage}-*/metrics.json")).read_text())
        assert metrics["hardware"]["processes"] == 2
    one = json.loads((tmp_path / "one" / "results.json").read_text())
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    assert [(r["strategy"], r["language"], r["value"]) for r in one] == [(r["strategy"], r["language"], r["value"]) for r in two]
    assert not list((tmp_path / "two").rglob("*.tmp"))
    names = sorted(p.name for p in (tmp_path / "two" / "stages").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "one" / "stages").iterdir())  # same hashes: same stages


def test_a_checkpoint_from_one_process_resumes_with_two(dp_setup, tmp_path, monkeypatch):
    config, data = dp_setup
    pipeline.run_experiment(config, data_dir=data, out_dir=tmp_path / "straight")
    from adaptx.modeling import TaskModel

    real_forward, calls = TaskModel.forward, {"n": 0}

    def dies_in_step_5_of_none(self, input_ids, attention_mask):
        if self.training and self.setup.strategy == "none":
            calls["n"] += 1
            if calls["n"] == 6:  # the auto micro-batch probe is call 1; steps 1-4 are calls 2-5
                raise KeyboardInterrupt
        return real_forward(self, input_ids, attention_mask)

    monkeypatch.setattr(TaskModel, "forward", dies_in_step_5_of_none)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run_experiment(config, data_dir=data, out_dir=tmp_path / "resumed")
    assert next((tmp_path / "resumed" / "stages").glob("target-xnli-none-s0-*/checkpoint.safetensors")).is_file()
    printed = run_processes(2, config, data, tmp_path / "resumed")
    assert "its checkpoint was written with 1" in printed
    for stage in ("target-xnli-none-s0", "target-xnli-stack-qqp-s0"):
        assert_close_weights(stage_model_weights(tmp_path / "straight", stage),
                             stage_model_weights(tmp_path / "resumed", stage))


@CUDA
def test_a_checkpoint_written_on_a_gpu_resumes_on_the_cpu(dp_setup, tmp_path):  # pragma: no cover - needs a GPU
    config, data = dp_setup
    pipeline.run_experiment(config, data_dir=data, out_dir=tmp_path / "gpu", overrides=["device=cuda"])
    pipeline.run_experiment(config, data_dir=data, out_dir=tmp_path / "cpu", overrides=["device=cpu"])
    for stage in ("target-xnli-none-s0", "target-xnli-stack-qqp-s0"):
        assert_close_weights(stage_model_weights(tmp_path / "gpu", stage), stage_model_weights(tmp_path / "cpu", stage))


@CUDA
def test_runtime_on_a_gpu_picks_bf16_or_fp16():  # pragma: no cover - needs a GPU
    runtime = make_runtime("cuda", "auto")
    assert runtime.device.type == "cuda" and runtime.dtype in ("bf16", "fp16")
    assert runtime.peak_memory_gb()["kind"] == "cuda_max_allocated"


def test_make_runtime_on_this_cpu():
    runtime = make_runtime("cpu", "fp32")
    assert runtime.device == torch.device("cpu") and runtime.world_size == 1 and runtime.is_main
    assert Path("/proc/cpuinfo").exists() == bool(runtime.describe()["cpu_flags"])
