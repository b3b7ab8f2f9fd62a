"""Evaluation rows/s on the embedded base: today's path and candidate changes, side by side in one run.

The workload is the quickstart's zero-shot evaluation: XNLI test rows in its 15 languages (the
first --rows-per-language of each; 100 is the whole quickstart), encoded as adaptx encodes them,
predicted by `adaptx.train.predict` (length-sorted batches, inference mode). Two trained models
from the shipped zoo (adapter_zoo/), so predictions mean something:
  adapter   the MNLI adapter with its head (what a `none` or intermediate stage evaluates)
  fuse      AdapterFusion (library init, seeded) of the QQP and MNLI adapters under the MNLI head
Candidates (each MODEL:CANDIDATE in its own process, interleaved over --rounds; changes combine with
'+', e.g. adapter:compile+threads-1):
  today             predict as the pipeline calls it: batch 64, torch's default threads
  batch-N           predict with batch_size N (32, 128, 256)
  threads-1         one intra-op thread (torch.set_num_threads(1))
  omp-passive       OMP_WAIT_POLICY=PASSIVE: OpenMP threads sleep at barriers instead of spinning
  compile           torch.compile (inductor, default settings) of the encoder with its adapters; the
                    first pass includes compiling (reported as compile seconds)
  compile-freezing  the same with inductor's inference freezing (weights folded in as constants)
  compile-bucket16  compile, lengths padded up to a multiple of 16 (fewer distinct shapes to compile)
  bucketN           (eager) lengths padded up to a multiple of N: `bucket128` against `compile-bucket128`
                    is compile's gain at one shape (steady state)
Each mode's predictions are compared with today's: rows that differ, and the largest logit difference.

Run: python scripts/bench_eval.py [--data-dir DATA] [--rows-per-language 30] [--rounds 1]
     [--modes adapter:today,adapter:compile,...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import (Bucketed, Clock, bucket_of, compiles, ZOO, data_dir, differences, eval_rows, machine, machine_line, median_of,  # noqa: E402
                          run_rounds, zoo_folder)

DEFAULT_MODES = ("adapter:today", "adapter:batch-32", "adapter:batch-128", "adapter:batch-256", "adapter:threads-1",
                 "adapter:compile", "adapter:compile-freezing", "adapter:compile-bucket16",
                 "fuse:today", "fuse:batch-128", "fuse:threads-1", "fuse:compile")


def build(model_name: str, base):
    """A trained model from the zoo: the MNLI adapter and head, or a fusion of QQP and MNLI under that head."""
    from safetensors.torch import load_file

    from adaptx.modeling import Setup, build_model, load_model
    from adaptx.models import load_encoder, saved_encoder_loader

    autocast = torch.bfloat16 if base.dtype == "bf16" else None
    if model_name == "adapter":
        return load_model(ZOO / "mnli-e5small-s0", saved_encoder_loader(base.source, base.dtype), {}, autocast)
    torch.manual_seed(0)  # the fusion layers' initial weights
    setup = Setup("fuse", 3, pooling="mean", frozen_adapters=["qqp", "mnli"], fusion=["qqp", "mnli"],
                  base_fingerprint=base.fingerprint)
    dirs = {"qqp": zoo_folder("qqp-e5small-s0"), "mnli": zoo_folder("mnli-e5small-s0")}
    model = build_model(load_encoder(base.source, base.dtype), setup, dirs, autocast)
    model.head.load_state_dict(load_file(str(ZOO / "mnli-e5small-s0" / "head.safetensors")))
    return model.eval()


def apply_candidate(model, candidate: str, pad_id: int) -> int:
    """The candidate's changes (joined by '+', e.g. compile+threads-1) on a built model; returns the
    batch size predict uses."""
    changes = set(candidate.split("+")) - {"today"}
    if "threads-1" in changes:
        torch.set_num_threads(1)
    if compiles(candidate):
        import torch._inductor.config as inductor

        inductor.freezing = "compile-freezing" in changes
        model.encoder = torch.compile(model.encoder)  # TaskModel calls it as it called the eager encoder
    if (multiple := bucket_of(changes)) is not None:
        model.encoder = Bucketed(model.encoder, multiple, pad_id)
    return next((int(c.split("-")[1]) for c in changes if c.startswith("batch-")), 64)


def predict_with_logits(model, data, pad_id: int, batch_size: int):
    """adaptx.train.predict's predictions, and each row's logits (recorded by a forward hook on the head)."""
    from adaptx.train import predict

    captured = []
    hook = model.head.register_forward_hook(lambda module, args, output: captured.append(output.float().cpu()))
    try:
        preds = predict(model, data, pad_id, batch_size=batch_size)
    finally:
        hook.remove()
    order = sorted(range(len(data)), key=lambda i: len(data.features[i]))  # predict's batch order
    logits = torch.zeros(len(data), captured[0].shape[-1])
    logits[order] = torch.cat(captured)
    return preds, logits


def worker(mode: str, args) -> dict:
    from adaptx.models import load_base_model

    model_name, candidate = mode.split(":")
    base = load_base_model("embedded", dtype="auto", weights=False)
    pad_id = base.tokenizer.pad_token_id
    model = build(model_name, base)
    batch = apply_candidate(model, candidate, pad_id)
    data = eval_rows(base.tokenizer, data_dir(args.data_dir), args.rows_per_language)
    with Clock() as first:  # includes compiling, for the compile candidates
        preds, logits = predict_with_logits(model, data, pad_id, batch)
    passes = []
    for _ in range(args.passes):
        with Clock() as clock:
            again, _ = predict_with_logits(model, data, pad_id, batch)
        assert again == preds, "predictions changed between passes"
        passes.append({"wall": clock.wall, "cpu": clock.cpu})
    wall = statistics.median(p["wall"] for p in passes)
    return {"mode": mode, "dtype": base.dtype, "rows": len(data), "batch": batch, "threads": torch.get_num_threads(),
            "wall_s": wall, "cpu_s": statistics.median(p["cpu"] for p in passes), "rows_per_s": len(data) / wall,
            "first_pass_s": first.wall, "compile_s": first.wall - wall if compiles(candidate) else 0.0,
            "preds": preds, "logits": logits.tolist(), "machine": machine()}


def report(results: dict[str, list[dict]], reference_candidate: str = "today") -> None:
    """Per model, every candidate's median rows/s and CPU seconds, each as a ratio to the reference
    candidate's (today's path unless --reference names another, e.g. threads-1 on a loaded machine)."""
    by_model: dict[str, list[str]] = {}
    for mode in results:
        by_model.setdefault(mode.split(":")[0], []).append(mode)
    for model_name, modes in by_model.items():
        reference = results.get(f"{model_name}:{reference_candidate}")
        if reference is None:
            print(f"{model_name}: {reference_candidate} not measured; ratios need it")
            continue
        ref = reference[0]
        print(f"\n{model_name}: {ref['rows']} XNLI test rows (15 languages), base dtype {ref['dtype']}; "
              f"ratios to {reference_candidate}, medians of {len(reference)} round(s)")
        print(f"  {'candidate':30s} {'rows/s':>7s} {'x':>6s} {'CPU s':>6s} {'x CPU':>6s} {'compile s':>9s}  "
              f"predictions vs {reference_candidate}")
        rate0, cpu0 = median_of(reference, "rows_per_s"), median_of(reference, "cpu_s")
        for mode in modes:
            runs = results[mode]
            r = runs[0]
            rate, cpu = median_of(runs, "rows_per_s"), median_of(runs, "cpu_s")
            differ = differences(ref["preds"], r["preds"])
            gap = (torch.tensor(ref["logits"]) - torch.tensor(r["logits"])).abs().max().item()
            same = "identical" if differ == 0 and gap == 0 else f"{differ} of {r['rows']} rows differ"
            print(f"  {mode.split(':')[1]:30s} {rate:7.1f} {rate / rate0:5.2f}x {cpu:6.1f} {cpu0 / cpu:5.2f}x "
                  f"{median_of(runs, 'compile_s'):9.1f}  {same}; max logit difference {gap:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="a data folder with XNLI test files (default: the quickstart's own pack)")
    parser.add_argument("--rows-per-language", type=int, default=30)
    parser.add_argument("--passes", type=int, default=2, help="timed passes per mode after the first")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--modes", default=",".join(DEFAULT_MODES))
    parser.add_argument("--reference", default="today", help="the candidate ratios are computed against")
    parser.add_argument("--json", help="also write every mode's results here")
    parser.add_argument("--from-json", help="print the report of an earlier --json instead of measuring")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args)))
        return
    if args.from_json:
        report(json.loads(Path(args.from_json).read_text()), args.reference)
        return
    argv = [f"--rows-per-language={args.rows_per_language}", f"--passes={args.passes}"]
    if args.data_dir:
        argv.append(f"--data-dir={args.data_dir}")
    print(f"evaluation benchmark: {machine_line(machine())}")
    results = run_rounds(Path(__file__), args.modes.split(","), argv, args.rounds, save=args.json)
    report(results, args.reference)
    print(f"\nafter: {machine_line(machine())}")
    if args.json:
        Path(args.json).write_text(json.dumps(results))


if __name__ == "__main__":
    main()
