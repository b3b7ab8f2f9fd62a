"""Embedded-model costs on this machine: conversion time, cache size, fp32 vs bf16 forward time.

Run: python scripts/bench_embedded.py [--batch 16 --length 128 --repeats 5]
Conversion is timed into a fresh temporary ADAPTX_HOME so the user's cache is untouched.
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def time_forward(model, batch, repeats, warmup=2):
    import torch

    with torch.inference_mode():
        for _ in range(warmup):
            model(**batch)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(**batch)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import torch

    with tempfile.TemporaryDirectory() as home:
        os.environ["ADAPTX_HOME"] = home
        from adaptx.embedded import ensure_embedded_model
        from adaptx.models import load_base_model
        from adaptx.runtime import bf16_support, resolve_device

        start = time.perf_counter()
        folder = ensure_embedded_model(quiet=True)
        convert_s = time.perf_counter() - start
        size = folder_size(folder)
        print(f"conversion (read + dequantise + write, cold cache): {convert_s:.1f} s")
        print(f"cache folder size: {size / 2**20:.0f} MiB ({folder.name})")

        torch.manual_seed(0)
        ids = torch.randint(5, 250000, (args.batch, args.length))
        batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
        results = {}
        for dtype in ("fp32", "bf16"):
            model = load_base_model("embedded", dtype=dtype).model.eval()
            results[dtype] = time_forward(model, batch, args.repeats)
            print(f"forward {dtype}: {results[dtype] * 1000:.0f} ms per batch {args.batch}x{args.length}")
        print(f"bf16 speed-up over fp32: {results['fp32'] / results['bf16']:.2f}x "
              f"(native bf16 on this CPU: {bf16_support(resolve_device('cpu'))[1]}; threads: {torch.get_num_threads()})")


if __name__ == "__main__":
    main()
