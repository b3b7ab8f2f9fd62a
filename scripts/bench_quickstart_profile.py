"""Where the quickstart's time goes: every component measured through adaptx's own code, times its
count in the quickstart, side by side for several CPU settings in one run.

Components (seconds per unit, medians of --repeats after a warm-up):
  startup      importing adaptx's pipeline and CLI (a fresh interpreter each time)
  init         Experiment(...): base tokenizer/config, zoo, run data catalog
  prepare      reading and encoding (tokenising) every split the plan needs
  build        a stage's model: the encoder loaded from safetensors, adapters/fusion wired
  probe        train.fit_micro_batch (micro_batch_size: auto): one forward+backward on the longest rows
  steps        training steps as train.train_model runs them (_accumulate, clip, AdamW, schedule);
               timed on steps stratified by token count and extrapolated over the stage's real
               schedule with a least-squares fit (seconds = a + b * padded tokens)
  dev          one English-dev evaluation (train.predict + the selection metric), x the stage's count
  checkpoint   one train._save_checkpoint, x the stage's count (every checkpoint_every steps)
  save         modeling.save_model of the trained stage
  eval         Experiment.evaluate: every language's zero-shot evaluation file (15 x 100 rows)
  analysis     report.write_results + analysis.after_run (tables, typology, plots) on the records

Settings (each its own subprocess, since these variables must be set before torch loads):
  avx2-fp32    the quickstart on an AVX2-only CPU, emulated: base_dtype=fp32 (what `auto` picks
               there) and the instruction sets of torch's kernels capped at AVX2:
               ATEN_CPU_CAPABILITY=avx2 (ATen's vectorised kernels), ONEDNN_MAX_CPU_ISA=AVX2 (oneDNN),
               MKL_ENABLE_INSTRUCTIONS=AVX2 (MKL; honoured on Intel CPUs only, see docs/benchmarks.md)
  native       this CPU as it is, base_dtype as the config says (auto)
  *-no-thp     the same with THP_MEM_ALLOC_ENABLE=0: torch's CPU buffers on 4 KiB pages, as before
               `adaptx` asked for huge pages (adaptx/hugepages.py)
  --before-root DIR adds the same settings run on another copy of the adaptx package (the code
  before a change), so before/after ratios come from one run on equally loaded cores.

Emulation on a faster core is not an AVX2-only CPU: clock, caches and memory bandwidth stay this
machine's; the ratio between settings measured side by side is what transfers.

Run: python scripts/bench_quickstart_profile.py [--settings avx2-fp32,native] [--before-root DIR]
     [--repeats 3] [--steps 6] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AVX2_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
NO_THP = {"THP_MEM_ALLOC_ENABLE": "0"}  # torch's 4 KiB pages, as before adaptx asked for huge ones
SETTINGS = {"avx2-fp32": (AVX2_ENV, ["base_dtype=fp32"]), "native": ({}, []),
            "avx2-fp32-no-thp": ({**AVX2_ENV, **NO_THP}, ["base_dtype=fp32"]), "native-no-thp": (NO_THP, [])}
COMPONENTS = ("startup", "init", "prepare", "build", "probe", "steps", "dev", "checkpoint", "save", "eval",
              "analysis")


def timed(fn, repeats: int = 1, warmup: int = 0):
    """(median seconds, the last result) of fn() run warmup + repeats times."""
    for _ in range(warmup):
        fn()
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


# -- the worker: one setting, one process ------------------------------------------------------

def stratified(values: list[int], k: int) -> list[int]:
    """Indices of k entries of `values` at evenly spaced quantiles (a representative sample)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    if len(order) <= k:
        return order
    return [order[round((j + 0.5) * len(order) / k - 0.5)] for j in range(k)]


def fit_total(tokens_timed: list[int], seconds: list[float], tokens_all: list[int]) -> float:
    """Total seconds over a schedule from timed steps: least squares seconds = a + b * tokens (the
    mean time per step when the timed steps cannot support a line)."""
    import numpy as np

    x, y = np.asarray(tokens_timed, float), np.asarray(seconds, float)
    if len(set(tokens_timed)) < 2:
        return float(y.mean()) * len(tokens_all)
    b, a = np.polyfit(x, y, 1)
    if b < 0:  # noise on a shared machine: a line would extrapolate nonsense
        return float(y.mean()) * len(tokens_all)
    return float(a * len(tokens_all) + b * sum(tokens_all))


def time_steps(model, train_data, job, pad_id, runtime, micro: int, k: int, repeats: int) -> dict:
    """Training steps exactly as train.train_model runs them, timed on k steps of the stage's own
    schedule (stratified by padded tokens), each repeated; split into forward+backward and the
    optimizer part (clip, AdamW, schedule, zero_grad)."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    from adaptx import train as T
    from adaptx.kinds import get_kind

    kind = get_kind(train_data.kind)
    params = model.trainable_parameters()
    optimizer = T._optimizer(params, job)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(job.warmup_ratio * job.steps), job.steps)
    sample = kind.sampler(train_data, job.batch_size, job.seed)
    terms = [kind.loss_terms(f) for f in train_data.features]
    schedule = [sample(s) for s in range(job.steps)]
    tokens = [len(b) * max(len(train_data.features[i]) for i in b) for b in schedule]
    device = next(model.parameters()).device
    model.train()

    def step(s: int) -> tuple[float, float]:
        batch = schedule[s]
        total = max(1, sum(terms[i] for i in batch))
        start = time.perf_counter()
        T._accumulate(model, model, kind, train_data, T._micro_batches(batch, micro), total, pad_id, device, 1,
                      None, job, s)
        middle = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(list(params.values()), job.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        return middle - start, time.perf_counter() - middle

    chosen = stratified(tokens, k)
    step(chosen[0])  # warm-up: the first steps vary wildly
    per_step, fwd_bwd, opt = [], [], []
    for s in chosen:
        runs = [step(s) for _ in range(repeats)]
        fwd_bwd.append(statistics.median(r[0] for r in runs))
        opt.append(statistics.median(r[1] for r in runs))
        per_step.append(statistics.median(r[0] + r[1] for r in runs))
    total = fit_total([tokens[s] for s in chosen], per_step, tokens)
    share = statistics.median(o / (f + o) for f, o in zip(fwd_bwd, opt))
    return {"total": total, "per_step": total / job.steps, "optimizer_share": share, "timed_steps": chosen,
            "optimizer": optimizer}


def count_evals(job) -> int:
    return len([s for s in range(1, job.steps + 1) if s % job.eval_every == 0 or s == job.steps])


def count_checkpoints(job) -> int:
    return len([s for s in range(1, job.steps) if s % job.checkpoint_every == 0])


def worker(args) -> dict:
    try:  # what `adaptx run` does before torch loads (a copy of adaptx from before that change has no such module)
        from adaptx.hugepages import prefer_huge_pages

        prefer_huge_pages()
    except ImportError:
        pass
    import torch

    import adaptx
    from adaptx import pipeline
    from adaptx import train as T
    from adaptx.kinds import get_kind
    from adaptx.metrics import metric_for_language
    from adaptx.modeling import save_model
    from adaptx.runtime import relevant_cpu_flags

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    out = {"adaptx": str(Path(adaptx.__file__).parent), "huge_pages": os.environ.get("THP_MEM_ALLOC_ENABLE", "unset"),
           "aten_capability": torch.backends.cpu.get_cpu_capability(),
           "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
           "cpu_flags": relevant_cpu_flags(), "torch": torch.__version__, "stages": {}}
    run_dir = Path(tempfile.mkdtemp(prefix="qs-profile-"))
    cfg = pipeline.load_config(args.config, args.override)
    start = time.perf_counter()
    experiment = pipeline.Experiment(cfg, run_dir, pipeline.open_run(cfg, args.data_dir, run_dir)[1])
    out["init"] = time.perf_counter() - start
    out["dtype"] = experiment.runtime.dtype
    stages = pipeline.plan_stages(cfg)
    start = time.perf_counter()
    experiment.prepare(stages)
    out["prepare"] = time.perf_counter() - start
    pad, runtime, records = experiment.pad_id, experiment.runtime, []
    for stage in stages:
        entry: dict = {}
        job = experiment.recipes.job_for(stage)
        entry["build"], model = timed(lambda: experiment.build(stage))
        train_data = experiment.data(experiment.trained_task(stage), "train")
        dev = experiment.data(experiment.trained_task(stage), "dev")
        entry["probe"], micro = timed(lambda: T.fit_micro_batch(model, train_data, job, pad, runtime))
        steps = time_steps(model, train_data, job, pad, runtime, micro, args.steps, args.repeats)
        optimizer = steps.pop("optimizer")
        entry.update(steps=steps.pop("total"), **steps)
        metric, golds = metric_for_language(job.metric, "en"), get_kind(dev.kind).golds(dev)
        entry["dev"], _ = timed(lambda: metric.compute(T.predict(model, dev, pad, runtime=runtime), golds),
                                args.repeats, warmup=1)
        best = {n: p.detach().clone() for n, p in model.trainable_parameters().items()}
        ckpt = run_dir / f"{stage.id}.ckpt"
        entry["checkpoint"], _ = timed(lambda: T._save_checkpoint(ckpt, model, optimizer, best, {
            "step": 1, "best_score": 0.0, "history": [], "best_temperature": None, "processes": 1}), args.repeats)
        ckpt.unlink()
        del optimizer, best
        entry["save"], _ = timed(lambda: save_model(model, experiment.stage_dir(stage.id) / "model"))
        entry["eval"] = 0.0
        if stage.evaluate:
            experiment._trained = (stage.id, model)  # as run_stage leaves it: evaluation reuses the model
            entry["eval"], result = timed(lambda: experiment.evaluate(stage))
            records += result
        entry["counts"] = {"steps": job.steps, "dev": count_evals(job), "checkpoint": count_checkpoints(job)}
        entry["micro_batch"] = micro
        out["stages"][stage.id] = entry
        del model
        print(f"  [{args.worker}] {stage.id}: " + ", ".join(
            f"{k} {entry[k]:.1f}s" for k in ("build", "probe", "steps", "dev", "checkpoint", "save", "eval")),
            file=sys.stderr, flush=True)

    def analysis():
        from adaptx.analysis.analyze import after_run
        from adaptx.report import write_results

        write_results(run_dir, records, experiment.report_context())
        after_run(run_dir)

    out["analysis"], _ = timed(analysis)
    return out


# -- the parent: settings side by side, the estimate, the table ----------------------------------

def startup_seconds(env: dict, repeats: int) -> float:
    code = "import adaptx.cli, adaptx.pipeline"
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def estimate(result: dict) -> dict:
    """Seconds per component over the whole quickstart: unit cost x the quickstart's count."""
    total = {c: 0.0 for c in COMPONENTS}
    for c in ("startup", "init", "prepare", "analysis"):
        total[c] = result[c]
    for entry in result["stages"].values():
        n = entry["counts"]
        for c in ("build", "probe", "steps", "save", "eval"):
            total[c] += entry[c]
        total["dev"] += entry["dev"] * n["dev"]
        total["checkpoint"] += entry["checkpoint"] * n["checkpoint"]
    return total


def by_stage(result: dict) -> dict:
    rows = {}
    for stage_id, e in result["stages"].items():
        n = e["counts"]
        rows[stage_id] = {"steps": e["steps"], "per_step": e["per_step"], "optimizer_share": e["optimizer_share"],
                          "dev": e["dev"] * n["dev"], "checkpoint": e["checkpoint"] * n["checkpoint"],
                          "other": e["build"] + e["probe"] + e["save"], "eval": e["eval"],
                          "total": e["steps"] + e["dev"] * n["dev"] + e["checkpoint"] * n["checkpoint"]
                          + e["build"] + e["probe"] + e["save"] + e["eval"]}
    return rows


def print_tables(results: dict) -> None:
    names = list(results)
    estimates = {name: estimate(r) for name, r in results.items()}
    width = max(12, *(len(n) for n in names))
    print("\nestimated quickstart seconds by component (unit cost x count):")
    print(f"{'component':12s} " + " ".join(f"{n:>{width}s}" for n in names))
    for c in COMPONENTS:
        print(f"{c:12s} " + " ".join(f"{estimates[n][c]:>{width}.0f}" for n in names))
    print(f"{'total':12s} " + " ".join(f"{sum(estimates[n].values()):>{width}.0f}" for n in names))
    for name, r in results.items():
        print(f"\n{name} (dtype {r['dtype']}, ATen {r['aten_capability']}, {r['threads']} threads, "
              f"THP_MEM_ALLOC_ENABLE {r.get('huge_pages', 'unset')}, "
              f"adaptx from {r['adaptx']}): by stage, seconds")
        print(f"  {'stage':44s} {'s/step':>7s} {'opt%':>5s} {'steps':>6s} {'dev':>5s} {'ckpt':>5s} {'other':>5s} "
              f"{'eval':>5s} {'total':>6s}")
        for stage_id, row in by_stage(r).items():
            print(f"  {stage_id:44s} {row['per_step']:7.2f} {100 * row['optimizer_share']:5.0f} {row['steps']:6.0f} "
                  f"{row['dev']:5.0f} {row['checkpoint']:5.0f} {row['other']:5.0f} {row['eval']:5.0f} "
                  f"{row['total']:6.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "quickstart.yaml"))
    parser.add_argument("--data-dir", help="as adaptx run --data-dir (default: the config's data.dir)")
    parser.add_argument("--settings", default="avx2-fp32,native", help=f"comma-separated: {', '.join(SETTINGS)}")
    parser.add_argument("--root", default=str(ROOT), help="the folder holding the adaptx package to measure "
                        "(default: this checkout)")
    parser.add_argument("--before-root", help="a folder holding another copy of the adaptx package (the code "
                        "before a change): every setting also runs on it, side by side")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per measurement (medians)")
    parser.add_argument("--steps", type=int, default=6, help="training steps timed per stage (stratified)")
    parser.add_argument("--threads", type=int, help="torch threads in the workers (default: torch's own choice)")
    parser.add_argument("--json", help="write every measurement here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("override", nargs="*", default=[], help="config overrides for the worker (key=value)")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    from adaptx.runtime import relevant_cpu_flags

    roots = [("", str(Path(args.root).resolve()))]
    if args.before_root:
        roots.append(("before:", str(Path(args.before_root).resolve())))
    print(f"CPU flags: {' '.join(relevant_cpu_flags())}; {os.cpu_count()} cores; load average at start "
          f"{os.getloadavg()[0]:.1f} (other processes share these cores: medians of {args.repeats})")
    results = {}
    for setting in args.settings.split(","):
        extra_env, overrides = SETTINGS[setting]
        for prefix, root in reversed(roots):  # before first, then after: equally loaded, side by side
            name = f"{prefix}{setting}"
            env = {**os.environ, **extra_env, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
            cmd = [sys.executable, __file__, "--worker", name, "--config", args.config, "--repeats", str(args.repeats),
                   "--steps", str(args.steps), *(["--threads", str(args.threads)] if args.threads else []),
                   *(["--data-dir", args.data_dir] if args.data_dir else []),
                   *overrides, *args.override]
            print(f"- {name}: {' '.join(f'{k}={v}' for k, v in extra_env.items()) or '(no caps)'} "
                  f"{' '.join(overrides)}", flush=True)
            done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)
            if done.returncode != 0:
                sys.exit(f"{name} failed (exit {done.returncode})")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            result["startup"] = startup_seconds(env, args.repeats)
            results[name] = result
    print_tables(results)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
