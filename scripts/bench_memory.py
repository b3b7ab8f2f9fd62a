"""Peak memory and step time on an XLM-R-Large-shaped model, side by side in one run.

The base is `random:xlm-roberta-large` (24 layers, hidden 1024, XLM-R's vocabulary, random
weights: shapes decide memory and speed, not values). Each mode runs in its own subprocess so
its peak memory is its own (CUDA: peak allocated; CPU: peak RSS of the process, which includes
~0.5 GB of Python and libraries):
  adaptx-adapter       adaptx's adapter training: frozen base in bf16 where native (else fp32),
                       fp32 seq_bn adapter (reduction 16) + head, fused AdamW
  adaptx-adapter-ckpt  the same with gradient checkpointing
  full                 full fine-tuning in fp32 (transformers' sequence classifier, AdamW)
  plain-adapter        a plain `adapters` step in fp32 (AutoAdapterModel, train_adapter)
Prints a table, the ratios the project targets (adapter peak <= 0.35x full, <= 0.25x with
checkpointing; trainable < 1% of the model) and, on a GPU, tokens/s and model FLOPs utilisation.

Run: python scripts/bench_memory.py [--batch 8 --length 128 --steps 2]   (CPU: a few minutes)
     python scripts/bench_memory.py --batch 32 --steps 10                  (GPU)
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

MODES = ("adaptx-adapter", "adaptx-adapter-ckpt", "full", "plain-adapter")
BASE = "random:xlm-roberta-large"
# dense bf16/fp16 tensor-core peaks (TFLOP/s) for model FLOPs utilisation
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0, "A10": 125.0, "T4": 65.0, "V100": 125.0}


def worker(mode: str, args) -> dict:
    import torch

    from adaptx.models import _random_config, load_encoder
    from adaptx.runtime import resolve_device, resolve_dtype

    device = resolve_device(args.device)
    torch.manual_seed(0)
    if mode.startswith("adaptx"):
        from adaptx.modeling import Setup, build_model
        from adaptx.models import config_fingerprint

        dtype, _ = resolve_dtype("auto", device)
        encoder = load_encoder(BASE, dtype)
        if mode.endswith("-ckpt"):
            encoder.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        autocast = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(dtype)
        model = build_model(encoder, Setup("none", 3, own_adapter="xnli", base_fingerprint=config_fingerprint(encoder.config)),
                            autocast_dtype=autocast).to(device)
        params = list(model.trainable_parameters().values())
        forward = model
    elif mode == "plain-adapter":
        from adapters import AutoAdapterModel, SeqBnConfig

        dtype = "fp32"
        model = AutoAdapterModel.from_config(_random_config(BASE))
        model.add_adapter("xnli", config=SeqBnConfig(reduction_factor=16))
        model.add_classification_head("xnli", num_labels=3)
        model.train_adapter("xnli")
        model.to(device)
        params = [p for p in model.parameters() if p.requires_grad]
        forward = lambda ids, mask: model(input_ids=ids, attention_mask=mask).logits  # noqa: E731
    else:
        from transformers import AutoModelForSequenceClassification

        dtype = "fp32"
        config = _random_config(BASE)
        config.num_labels = 3
        model = AutoModelForSequenceClassification.from_config(config).to(device)
        params = list(model.parameters())
        forward = lambda ids, mask: model(input_ids=ids, attention_mask=mask).logits  # noqa: E731
    total = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-4, fused=True)
    model.train()
    ids = torch.randint(5, 250000, (args.batch, args.length), device=device)
    mask, labels = torch.ones_like(ids), torch.randint(0, 3, (args.batch,), device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for i in range(args.steps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(forward(ids, mask).float(), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= 1:  # the first step allocates and warms up
            times.append(time.perf_counter() - start)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**30
        name = torch.cuda.get_device_name(device)
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        name = f"cpu ({torch.get_num_threads()} threads)"
    return {"mode": mode, "dtype": dtype, "step_s": statistics.median(times), "peak_gb": peak, "device": name,
            "trainable": sum(p.numel() for p in params), "total": total}


def mfu(result: dict, tokens_per_s: float) -> str:
    """6N FLOPs per token for full training; 4N for a frozen base (forward + input gradients)."""
    peak = next((v for k, v in PEAK_TFLOPS.items() if k in result["device"]), None)
    if peak is None or result["device"].startswith("cpu"):
        return "n/a"
    per_token = 6 if result["mode"] == "full" else 4
    return f"{per_token * result['total'] * tokens_per_s / (peak * 1e12):.1%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=2, help="timed steps after one warm-up step")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args)))
        return
    from adaptx.runtime import relevant_cpu_flags

    print(f"{BASE}, batch {args.batch} x {args.length}, median of {args.steps} steps after 1 warm-up; "
          f"CPU flags: {', '.join(relevant_cpu_flags()) or 'unknown'}")
    results = {}
    for mode in MODES:
        cmd = [sys.executable, __file__, "--worker", mode, f"--batch={args.batch}", f"--length={args.length}",
               f"--steps={args.steps}", f"--device={args.device}"]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"{mode} failed:\n{out.stderr[-3000:]}")
        r = results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
        tokens = args.batch * args.length / r["step_s"]
        print(f"  {mode:20s} {r['dtype']:4s}  step {r['step_s']:7.2f} s  {tokens:9.0f} tok/s  peak {r['peak_gb']:6.2f} GB  "
              f"trainable {r['trainable'] / 1e6:7.2f}M ({r['trainable'] / r['total']:.2%})  MFU {mfu(r, tokens)}"
              f"  [{r['device']}]")
    a, c, f = results["adaptx-adapter"], results["adaptx-adapter-ckpt"], results["full"]
    print(f"peak memory, adaptx adapter / full fine-tuning: {a['peak_gb'] / f['peak_gb']:.2f}x (target <= 0.35x); "
          f"with gradient checkpointing {c['peak_gb'] / f['peak_gb']:.2f}x (target <= 0.25x)")
    print(f"step time, full fine-tuning / adaptx adapter: {f['step_s'] / a['step_s']:.2f}x; "
          f"checkpointing costs {c['step_s'] / a['step_s']:.2f}x; plain fp32 adapters / adaptx: "
          f"{results['plain-adapter']['step_s'] / a['step_s']:.2f}x")
    print(f"trainable parameters, adaptx adapter: {a['trainable'] / a['total']:.2%} of the model (target < 1%)")


if __name__ == "__main__":
    main()
