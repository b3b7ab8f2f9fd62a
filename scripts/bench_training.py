"""Training and evaluation costs of adaptx against plain baselines, side by side in one run.

Training (each in its own subprocess, so peak memory is that mode's alone), batch B x L tokens:
  adaptx-adapter   adaptx's adapter step: frozen base in the dtype 'auto' picks (bf16 only where the
                   hardware runs it natively), fp32 adapter + head, fused AdamW
  adaptx-adapter-ckpt  the same with gradient checkpointing (gradient_checkpointing: true)
  plain-adapter    a plain `adapters` step: AutoAdapterModel + classification head, fp32, default AdamW
  full             plain full fine-tuning: AutoModelForSequenceClassification, fp32, default AdamW
  *-real           the same on real MNLI batches: adaptx with length-grouped dynamic padding,
                   plain with padding to L (examples per second)
Evaluation: adaptx's `predict` (length-sorted dynamic padding, inference mode) against a naive
fp32 loop padding every batch to L under no_grad, on real XNLI test text in several languages.

Run: python scripts/bench_training.py [--data-dir ../shared/data] [--batch 16 --length 128 --steps 6]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # tests/helpers.py: Encoded, encode_examples, collate


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def real_batches(args, tokenizer, grouped: bool):
    """Token-id batches from English MNLI (as XNLI trains on it)."""
    from adaptx.data import load_split
    from adaptx.tasks import get_task
    from adaptx.sampling import batch_indices
    from helpers import encode_examples

    examples = load_split(get_task("xnli"), "train", "en", "local", args.data_dir).examples[:2000]
    enc = encode_examples(tokenizer, examples, args.length)
    lengths = [len(x) for x in enc.input_ids]
    out = []
    for i in range(args.steps + 2):
        step = i * 7  # spread over the epoch: the first window's batches are not typical
        if grouped:
            idx = batch_indices(lengths, args.batch, 0, step)
        else:
            idx = list(range(step * args.batch, (step + 1) * args.batch))
        out.append(([enc.input_ids[i] for i in idx], [enc.labels[i] for i in idx]))
    return out


def worker(mode: str, args) -> dict:
    import torch

    from adaptx.models import load_base_model
    from helpers import collate

    torch.manual_seed(0)
    base = load_base_model("embedded", dtype="auto" if mode.startswith("adaptx") else "fp32",
                           gradient_checkpointing=mode.endswith("-ckpt"))
    tok, pad = base.tokenizer, base.tokenizer.pad_token_id
    if mode.startswith("adaptx"):
        from adaptx.modeling import Setup, build_model

        autocast = torch.bfloat16 if base.dtype == "bf16" else None
        model = build_model(base.model, Setup("none", 3, own_adapter="xnli", base_fingerprint=base.fingerprint),
                            autocast_dtype=autocast)
        params = list(model.trainable_parameters().values())
        optimizer = torch.optim.AdamW(params, lr=1e-3, fused=True)
        forward = model
    elif mode.startswith("plain-adapter"):
        from adapters import AutoAdapterModel, SeqBnConfig

        model = AutoAdapterModel.from_pretrained(base.source)
        model.add_adapter("xnli", config=SeqBnConfig(reduction_factor=16))
        model.add_classification_head("xnli", num_labels=3)
        model.train_adapter("xnli")
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=1e-3)
        forward = lambda ids, mask: model(input_ids=ids, attention_mask=mask).logits  # noqa: E731
    else:
        from transformers import AutoModelForSequenceClassification

        model = AutoModelForSequenceClassification.from_pretrained(base.source, num_labels=3)
        params = list(model.parameters())
        optimizer = torch.optim.AdamW(params, lr=2e-5)
        forward = lambda ids, mask: model(input_ids=ids, attention_mask=mask).logits  # noqa: E731
    model.train()
    if mode.endswith("-real"):
        batches = real_batches(args, tok, grouped=mode.startswith("adaptx"))
        tensors = []
        for ids, labels in batches:
            if mode.startswith("adaptx"):
                t_ids, t_mask = collate(ids, pad)
            else:  # fixed padding to the maximum length
                t_ids, t_mask = collate([x + [pad] * (args.length - len(x)) for x in ids], pad)
                t_mask = (t_ids != pad).long()
            tensors.append((t_ids, t_mask, torch.tensor(labels)))
    else:
        ids = torch.randint(5, 250000, (args.batch, args.length))
        tensors = [(ids, torch.ones_like(ids), torch.randint(0, 3, (args.batch,)))] * (args.steps + 2)
    times = []
    loss_fn = torch.nn.CrossEntropyLoss()
    for i, (ids, mask, labels) in enumerate(tensors):
        start = time.perf_counter()
        loss = loss_fn(forward(ids, mask).float(), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if i >= 2:  # the first steps vary wildly: warm up
            times.append(time.perf_counter() - start)
    step = statistics.median(times)
    return {"mode": mode, "dtype": base.dtype, "step_s": step, "examples_per_s": args.batch / step,
            "peak_rss_gb": peak_rss_gb(), "trainable": sum(p.numel() for p in params)}


def bench_eval(args) -> dict:
    import torch

    from adaptx.data import load_split
    from adaptx.modeling import Setup, build_model
    from adaptx.models import load_base_model
    from adaptx.tasks import get_task
    from adaptx.train import predict
    from helpers import Encoded, collate, encode_examples

    base32 = load_base_model("embedded", dtype="fp32")
    tok, pad = base32.tokenizer, base32.tokenizer.pad_token_id
    task = get_task("xnli")
    per_lang = max(1, args.eval_examples // 6)
    ids, labels = [], []
    for lang in ("en", "de", "ru", "ar", "zh", "sw"):
        enc = encode_examples(tok, load_split(task, "eval-test", lang, "local", args.data_dir).examples[:per_lang], args.length)
        ids += enc.input_ids
        labels += enc.labels
    data = Encoded(ids, labels)
    torch.manual_seed(0)
    naive = build_model(base32.model, Setup("none", 3, own_adapter="xnli", base_fingerprint={})).eval()
    start = time.perf_counter()
    with torch.no_grad():  # the naive loop: input order, every batch padded to the maximum length
        naive_preds = []
        for s in range(0, len(ids), 16):
            rows = [x + [pad] * (args.length - len(x)) for x in ids[s : s + 16]]
            t_ids, _ = collate(rows, pad)
            naive_preds += naive(t_ids, (t_ids != pad).long()).argmax(-1).tolist()
    naive_s = time.perf_counter() - start
    base = load_base_model("embedded", dtype="auto")
    torch.manual_seed(0)
    autocast = torch.bfloat16 if base.dtype == "bf16" else None
    model = build_model(base.model, Setup("none", 3, own_adapter="xnli", base_fingerprint={}), autocast_dtype=autocast)
    start = time.perf_counter()
    preds = predict(model, data, pad, batch_size=64)
    adaptx_s = time.perf_counter() - start
    agree = sum(int(a == b) for a, b in zip(preds, naive_preds)) / len(preds)
    return {"examples": len(ids), "naive_s": naive_s, "adaptx_s": adaptx_s, "dtype": base.dtype, "agreement": agree}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--eval-examples", type=int, default=480)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args)))
        return
    if not Path(args.data_dir).is_dir():
        sys.exit(f"data folder {args.data_dir} not found: pass --data-dir pointing at shared/data")
    from adaptx.runtime import bf16_support, resolve_device

    print(f"batch {args.batch} x {args.length}, {args.steps} timed steps after 2 warm-up steps; "
          f"native bf16 here: {bf16_support(resolve_device('cpu'))[1]}")
    results = {}
    for mode in ("adaptx-adapter", "adaptx-adapter-ckpt", "plain-adapter", "full", "adaptx-adapter-real",
                 "plain-adapter-real"):
        cmd = [sys.executable, __file__, "--worker", mode] + [
            f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k != "worker"]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"{mode} failed:\n{out.stderr[-2000:]}")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results[mode] = r
        print(f"  {mode:20s} {r['dtype']}  step {r['step_s']:.2f} s  {r['examples_per_s']:.1f} ex/s  "
              f"peak RSS {r['peak_rss_gb']:.2f} GB  trainable {r['trainable'] / 1e6:.2f}M")
    a, p, f = results["adaptx-adapter"], results["plain-adapter"], results["full"]
    print(f"step-time speed-up, adaptx adapter vs plain fp32 adapter (fixed {args.batch}x{args.length}): "
          f"{p['step_s'] / a['step_s']:.2f}x")
    print(f"throughput speed-up on real MNLI batches (grouped dynamic padding vs padding to {args.length}): "
          f"{results['adaptx-adapter-real']['examples_per_s'] / results['plain-adapter-real']['examples_per_s']:.2f}x")
    print(f"peak memory, adaptx adapter / full fine-tuning: {a['peak_rss_gb'] / f['peak_rss_gb']:.2f}x "
          f"(with gradient checkpointing: {results['adaptx-adapter-ckpt']['peak_rss_gb'] / f['peak_rss_gb']:.2f}x, "
          f"step {results['adaptx-adapter-ckpt']['step_s'] / a['step_s']:.2f}x slower)")
    print(f"step time, full fine-tuning / adaptx adapter: {f['step_s'] / a['step_s']:.2f}x")
    e = bench_eval(args)
    print(f"evaluation on {e['examples']} real XNLI test pairs (6 languages): naive fp32 fixed padding "
          f"{e['naive_s']:.1f} s, adaptx ({e['dtype']}) {e['adaptx_s']:.1f} s -> {e['naive_s'] / e['adaptx_s']:.2f}x; "
          f"predictions agree on {e['agreement']:.1%}")


if __name__ == "__main__":
    main()
