"""AdapterFusion evaluation cost on a CPU, side by side in one run.

Evaluates the quickstart's zero-shot workload (the first N XNLI test rows in each of 15
languages, adaptx's length-sorted dynamic padding) with the embedded base in bf16 when the CPU
runs bf16 natively (else fp32, as `base_dtype: auto` would):
  stack          Stack(intermediate, target) adapters
  fuse-adaptx    a 2-adapter fusion with adaptx's fp32 fusion attention (the default)
  fuse-library   the same model with adaptx's hooks removed: the library's attention under bf16 autocast
Adapters, fusion and head are random but non-trivial (the timing depends on shapes only). Prints
times, ratios, the agreement of fuse-adaptx's predictions with fuse-library's, the max logit
difference, and the CPU flags the numbers came from.

Run: python scripts/bench_fusion.py [--data-dir ../shared/data] [--rows 100]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/helpers.py: Encoded, encode_examples, collate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--rows", type=int, default=100, help="XNLI test rows per language")
    parser.add_argument("--length", type=int, default=128)
    args = parser.parse_args()

    from adapters.methods.modeling import BertFusion

    from adaptx.compositions.fusion import FusionSettings
    from adaptx.data import load_split
    from adaptx.modeling import Setup, build_model, save_model
    from adaptx.models import load_base_model, load_encoder
    from adaptx.runtime import relevant_cpu_flags
    from adaptx.tasks import XNLI_LANGUAGES, get_task
    from adaptx.train import predict
    from helpers import Encoded, encode_examples

    base = load_base_model("embedded", dtype="auto", weights=False)
    ids, labels = [], []
    for lang in XNLI_LANGUAGES:
        examples = load_split(get_task("xnli"), "eval-test", lang, "local", args.data_dir).examples[: args.rows]
        enc = encode_examples(base.tokenizer, examples, args.length)
        ids += enc.input_ids
        labels += enc.labels
    data = Encoded(ids, labels)
    autocast = torch.bfloat16 if base.dtype == "bf16" else None
    fp = base.fingerprint

    tmp = Path(tempfile.mkdtemp())
    dirs = {}
    for i, name in enumerate(["qqp", "sst2"]):
        torch.manual_seed(i)
        model = build_model(load_encoder(base.source, "fp32"), Setup("intermediate", 2, own_adapter=name, base_fingerprint=fp))
        with torch.no_grad():
            for p in model.trainable_parameters().values():
                p.add_(torch.randn_like(p) * 0.02)
        save_model(model, tmp / name)
        dirs[name] = tmp / name / f"adapter-{name}"

    def build(strategy: str):
        torch.manual_seed(7)
        setup = (Setup("stack", 3, own_adapter="xnli", frozen_adapters=["qqp"], base_fingerprint=fp)
                 if strategy == "stack" else
                 Setup("fuse", 3, frozen_adapters=["qqp", "sst2"], fusion=["qqp", "sst2"],
                       fusion_config=FusionSettings().library_settings(), base_fingerprint=fp))
        model = build_model(load_encoder(base.source, base.dtype), setup, dirs, autocast)
        with torch.no_grad():
            for p in model.trainable_parameters().values():
                p.add_(torch.randn_like(p) * 0.02)
        return model.eval()

    def timed(model) -> tuple[float, list[int], torch.Tensor]:
        predict(model, Encoded(ids[:64], labels[:64]), base.tokenizer.pad_token_id)  # warm-up
        start = time.perf_counter()
        preds = predict(model, data, base.tokenizer.pad_token_id)
        seconds = time.perf_counter() - start
        probe = Encoded(ids[:32], labels[:32])
        from helpers import collate

        batch, mask = collate(probe.input_ids, base.tokenizer.pad_token_id)
        with torch.inference_mode():
            logits = model(batch, mask).float()
        return seconds, preds, logits

    results = {}
    results["stack"] = timed(build("stack"))
    fuse = build("fuse")
    results["fuse-adaptx"] = timed(fuse)
    for module in fuse.encoder.modules():  # the library's own path: no adaptx hooks
        if isinstance(module, BertFusion):
            module._forward_pre_hooks.clear()
            module._forward_hooks.clear()
    results["fuse-library"] = timed(fuse)

    flags = relevant_cpu_flags()
    print(f"CPU flags: {', '.join(flags) or 'unknown'}; {torch.get_num_threads()} threads; base {base.dtype} "
          f"({base.dtype_reason}); {len(ids)} rows ({args.rows} x {len(XNLI_LANGUAGES)} languages)")
    for name, (seconds, _, _) in results.items():
        print(f"  {name:13s} {seconds:7.1f} s")
    stack_s = results["stack"][0]
    print(f"fuse-adaptx / stack:        {results['fuse-adaptx'][0] / stack_s:.2f}x")
    print(f"fuse-library / stack:       {results['fuse-library'][0] / stack_s:.2f}x")
    print(f"fuse-library / fuse-adaptx: {results['fuse-library'][0] / results['fuse-adaptx'][0]:.2f}x")
    agree = sum(a == b for a, b in zip(results["fuse-adaptx"][1], results["fuse-library"][1])) / len(ids)
    diff = (results["fuse-adaptx"][2] - results["fuse-library"][2]).abs().max().item()
    print(f"predictions fuse-adaptx vs fuse-library: {agree:.4f} identical; max |logit diff| on 32 rows {diff:.4f}")


if __name__ == "__main__":
    main()
