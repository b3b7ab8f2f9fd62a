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

Candidates (--candidates; scripts/bench_common.py: one process per mode, interleaved over --rounds):
adaptx's training step as train.train_model runs it (collate, forward, loss / batch count, the fusion
regulariser, backward, gradient clipping, fused AdamW, linear schedule) on the quickstart's real
English MNLI batches (batch 16, length-grouped, dynamic padding, max length 128), for three paths:
  adapter   the `none` stage: a new seq_bn adapter + mean-pooling head on the frozen base
  fusion    the `fuse` stage: AdapterFusion (dynamic preset, its regulariser) over the shipped QQP and
            MNLI adapters + a new head
  full      full fine-tuning of the whole encoder + head
and these changes, MODE = PATH:CANDIDATE (changes combine with '+', e.g. adapter:compile+threads-1):
  today               as the pipeline trains today
  threads-1           one intra-op thread
  omp-passive         OMP_WAIT_POLICY=PASSIVE: OpenMP threads sleep at barriers instead of spinning
  compile             torch.compile (inductor) of the encoder with its adapters (warm-up steps include
                      compiling: reported as compile seconds)
  compile-bucket16    the same with batches padded up to a multiple of 16 tokens (fewer shapes)
  bucketN             (eager) batches padded up to a multiple of N tokens; bucket128 is one shape for every
                      batch, so `bucket128` against `compile-bucket128` is compile's steady-state gain
  no-frozen-dropout   the frozen base's dropout off (hidden and attention probabilities 0; the head's and
                      adapters' own dropout kept). Changes training: an explicit option at most, never default
Each mode's per-step losses are compared with today's (identical, or the largest difference).

Run: python scripts/bench_training.py [--data-dir ../shared/data] [--batch 16 --length 128 --steps 6]
     python scripts/bench_training.py --candidates [--modes adapter:today,adapter:compile] [--rounds 2]
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
sys.path.insert(0, str(ROOT / "scripts"))  # bench_common


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


# -- candidates (--candidates) ----------------------------------------------------------------
CANDIDATE_MODES = ("adapter:today", "adapter:threads-1", "adapter:compile", "adapter:compile+threads-1",
                   "adapter:compile-bucket16+threads-1", "adapter:no-frozen-dropout",
                   "adapter:no-frozen-dropout+threads-1", "fusion:today", "fusion:threads-1",
                   "fusion:compile+threads-1", "fusion:no-frozen-dropout+threads-1", "full:today", "full:threads-1")


def candidate_model(path: str, candidate: str, base):
    """adaptx's model for a quickstart stage (`none`, `fuse` over the shipped QQP and MNLI adapters, `full`),
    built as pipeline.Experiment.build builds it; no-frozen-dropout: the base loaded with dropout 0."""
    import torch
    from adapters import AdapterFusionConfig
    from transformers import AutoModel

    from adaptx.modeling import Setup, build_model
    from adaptx.models import load_encoder
    from bench_common import Bucketed, bucket_of, compiles, zoo_folder

    dtype = "fp32" if path == "full" else base.dtype
    changes = set(candidate.split("+"))
    if "no-frozen-dropout" in changes:
        encoder = AutoModel.from_pretrained(base.source, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                                            add_pooling_layer=False, use_safetensors=True,
                                            dtype=torch.bfloat16 if dtype == "bf16" else torch.float32)
    else:
        encoder = load_encoder(base.source, dtype)
    common = dict(pooling="mean", base_fingerprint=base.fingerprint)
    dirs = None
    if path == "adapter":
        setup = Setup("none", 3, own_adapter="xnli", **common)
    elif path == "fusion":
        setup = Setup("fuse", 3, frozen_adapters=["qqp", "mnli"], fusion=["qqp", "mnli"],
                      fusion_config=AdapterFusionConfig.load("dynamic").to_dict(), **common)
        dirs = {"qqp": zoo_folder("qqp-e5small-s0"), "mnli": zoo_folder("mnli-e5small-s0")}
    else:
        setup = Setup("full", 3, **common)
    torch.manual_seed(0)  # new head and adapter weights, as a stage seeds them
    autocast = torch.bfloat16 if base.dtype == "bf16" else None
    model = build_model(encoder, setup, dirs, autocast)
    encoder = torch.compile(model.encoder) if compiles(candidate) else model.encoder
    if (multiple := bucket_of(changes)) is not None:
        encoder = Bucketed(encoder, multiple, base.tokenizer.pad_token_id)
    model.encoder = encoder
    return model


def candidate_worker(mode: str, args) -> dict:
    """Median step time of one PATH:CANDIDATE on the quickstart's real batches, and its per-step losses."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    from adaptx.kinds import get_kind
    from adaptx.models import load_base_model
    from adaptx.train import TrainJob, _optimizer, forward_batch
    from bench_common import Clock, compiles, data_dir, linear_flops, machine, matmul_ceiling_gflops, train_rows

    path, candidate = mode.split(":")
    if "threads-1" in candidate.split("+"):
        torch.set_num_threads(1)
    base = load_base_model("embedded", dtype="auto", weights=False)
    pad = base.tokenizer.pad_token_id
    model = candidate_model(path, candidate, base)
    data = train_rows(base.tokenizer, data_dir(args.data_dir if args.data_dir_given else None), 2000)
    kind, total_steps = get_kind(data.kind), args.warmup + args.steps
    rates = {"adapter": 2e-3, "fusion": 2e-3, "full": 5e-5}  # configs/quickstart.yaml's
    job = TrainJob(steps=150, lr=rates[path], batch_size=args.batch, seed=0, head_lr=1e-3)
    params = model.trainable_parameters()
    optimizer = _optimizer(params, job)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(job.warmup_ratio * job.steps), job.steps)
    sample = kind.sampler(data, job.batch_size, job.seed)
    torch.manual_seed(0)  # dropout draws
    model.train()
    losses, walls, cpus, tokens = [], [], [], []
    for step in range(total_steps):
        features = [data.features[i] for i in sample(step)]
        with Clock() as clock:
            inputs = kind.collate(features, pad)
            loss = kind.loss(forward_batch(model, inputs, torch.device("cpu")), inputs) / len(features)
            regularizer = model.regularization_loss()
            if regularizer is not None:
                loss = loss + regularizer
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(params.values()), job.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        tokens.append(int(inputs["input_ids"].numel()))
        walls.append(clock.wall)
        cpus.append(clock.cpu)
    timed = slice(args.warmup, None)  # the first steps allocate, pick kernels and (compile) compile
    step_s = statistics.median(walls[timed])
    flops = statistics.mean(linear_flops(model, n) for n in tokens[timed])
    return {"mode": mode, "dtype": "fp32" if path == "full" else base.dtype, "step_s": step_s,
            "cpu_s": statistics.median(cpus[timed]), "examples_per_s": args.batch / step_s,
            "padded_tokens_per_step": statistics.mean(tokens[timed]), "warmup_s": sum(walls[:args.warmup]),
            "compile_s": sum(walls[:args.warmup]) - args.warmup * step_s if compiles(candidate) else 0.0,
            "losses": losses, "peak_rss_gb": peak_rss_gb(), "threads": torch.get_num_threads(),
            "trainable": sum(p.numel() for p in params.values()), "machine": machine(),
            "model_gflops_per_s": flops / step_s / 1e9, "matmul_ceiling_gflops": matmul_ceiling_gflops()}


def candidates_report(results: dict, reference_candidate: str = "today") -> None:
    """Per path, every candidate's median step time and CPU seconds, each as a ratio to the reference
    candidate's (today's path unless --reference names another, e.g. threads-1 on a loaded machine)."""
    from bench_common import median_of

    paths: dict[str, list[str]] = {}
    for mode in results:
        paths.setdefault(mode.split(":")[0], []).append(mode)
    for path, modes in paths.items():
        reference = results.get(f"{path}:{reference_candidate}")
        if reference is None:
            print(f"{path}: {reference_candidate} not measured; ratios need it")
            continue
        ref = reference[0]
        print(f"\n{path} step ({ref['dtype']} base), {len(ref['losses'])} quickstart MNLI batches; ratios to "
              f"{reference_candidate}, medians of {len(reference)} round(s)")
        print(f"  {'candidate':34s} {'step s':>6s} {'x':>6s} {'CPU s':>6s} {'x CPU':>6s} {'compile s':>9s} "
              f"{'tokens':>6s} {'RSS GB':>6s} {'GFLOP/s':>7s} {'of mm':>5s}  losses vs {reference_candidate}")
        step0, cpu0 = median_of(reference, "step_s"), median_of(reference, "cpu_s")
        for mode in modes:
            runs = results[mode]
            r, step, cpu = runs[0], median_of(runs, "step_s"), median_of(runs, "cpu_s")
            gap = max(abs(a - b) for a, b in zip(ref["losses"], r["losses"]))
            same = "identical" if gap == 0 else f"largest per-step loss difference {gap:.2e}"
            print(f"  {mode.split(':')[1]:34s} {step:6.2f} {step0 / step:5.2f}x {cpu:6.2f} {cpu0 / cpu:5.2f}x "
                  f"{median_of(runs, 'compile_s'):9.1f} {r['padded_tokens_per_step']:6.0f} {r['peak_rss_gb']:6.2f} "
                  f"{utilisation(runs)}  {same}")
    print("  GFLOP/s: the step's linear-layer operations per second on the batch's own tokens (a lower bound; the "
          "padding a bucketN mode adds is not counted); of mm: that as a share of one large fp32 matrix product's "
          "GFLOP/s at the same thread count, measured in the same process")


def utilisation(runs: list[dict]) -> str:
    """The step's model GFLOP/s and its share of the matrix-product ceiling (results saved before these existed: -)."""
    from bench_common import median_of

    if "model_gflops_per_s" not in runs[0]:
        return f"{'-':>7s} {'-':>5s}"
    rate, ceiling = median_of(runs, "model_gflops_per_s"), median_of(runs, "matmul_ceiling_gflops")
    return f"{rate:7.1f} {rate / ceiling:5.0%}"


def run_candidates(args) -> None:
    from bench_common import machine, machine_line, run_rounds

    argv = [f"--batch={args.batch}", f"--steps={args.steps}", f"--warmup={args.warmup}"]
    if args.data_dir_given:
        argv.append(f"--data-dir={args.data_dir}")
    print(f"training candidates: {machine_line(machine())}")
    results = run_rounds(Path(__file__), args.modes.split(","), ["--candidates", *argv], args.rounds, save=args.json)
    candidates_report(results, args.reference)
    print(f"\nafter: {machine_line(machine())}")
    if args.json:
        Path(args.json).write_text(json.dumps(results))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--eval-examples", type=int, default=480)
    parser.add_argument("--candidates", action="store_true", help="today's step against candidate changes")
    parser.add_argument("--modes", default=",".join(CANDIDATE_MODES), help="--candidates: PATH:CANDIDATE,...")
    parser.add_argument("--warmup", type=int, default=3, help="--candidates: untimed steps first")
    parser.add_argument("--rounds", type=int, default=1, help="--candidates: every mode once per round")
    parser.add_argument("--reference", default="today", help="--candidates: the candidate ratios are computed against")
    parser.add_argument("--json", help="--candidates: also write every mode's results here")
    parser.add_argument("--from-json", help="--candidates: print the report of an earlier --json instead")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.data_dir_given = any(a.startswith("--data-dir") for a in sys.argv[1:])
    if args.worker:
        run = candidate_worker if args.candidates else worker
        print(json.dumps(run(args.worker, args)))
        return
    if args.candidates and args.from_json:
        candidates_report(json.loads(Path(args.from_json).read_text()), args.reference)
        return
    if args.candidates:
        run_candidates(args)
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
