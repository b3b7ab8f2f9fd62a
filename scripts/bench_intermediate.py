"""Train each English intermediate task's adapter with the settings of a grid config on the embedded
base and compare its English dev score with the task's trivial baseline on the same dev rows.

    python scripts/bench_intermediate.py --data-dir ../shared/data [--config configs/intermediate-grid.yaml]
                                         [--tasks mnli hellaswag ...]

Each task runs as the config's own `intermediate-adapter-<task>` stage in the config's run folder
(--out overrides it): the stage hashes match, so `adaptx run` of the same config afterwards reuses
these adapters instead of training them again, and rerunning the script skips finished stages.
Trivial baselines: the majority label of the training sample (classification), the most frequent
right choice (multiple choice), the most frequent tag (tagging), the empty answer for every question
(SQuAD 2.0); each stage also records the paired 95% interval of its margin over that baseline on the
same dev rows (adaptx.baselines.versus_trivial). Prints one row per task with the CPU flags that decide
bf16 speed; wall times are for
the whole stage (a reused stage shows the training seconds it recorded and a wall time near zero).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

LOCAL_TASKS = ["mnli", "qqp", "sst2", "snli", "commonsenseqa", "cosmosqa", "hellaswag", "squad2"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--config", default="configs/intermediate-grid.yaml")
    parser.add_argument("--tasks", nargs="+", default=LOCAL_TASKS)
    parser.add_argument("--out", help="run folder (default: the config's output_dir)")
    args = parser.parse_args()

    from adaptx import pipeline
    from adaptx.baselines import trivial_score
    from adaptx.runtime import cpu_flags

    from adaptx.describe import run_config
    from adaptx.fileio import atomic_write_text
    import yaml

    whole = pipeline.load_config(args.config)  # the run folder's config.yaml: what zoo add reads of the run
    out = Path(args.out or whole.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", yaml.safe_dump(run_config(whole, out, args.data_dir), sort_keys=False))
    rows = []
    for name in args.tasks:
        cfg = pipeline.load_config(args.config, [f"intermediate_tasks=[{name}]", "strategies=[stack]", "languages=[en]"])
        started = time.perf_counter()
        experiment = pipeline.Experiment(cfg, out, args.data_dir)
        stage = next(s for s in pipeline.plan_stages(cfg) if s.kind == "intermediate-adapter")
        experiment.prepare([stage])
        metrics = experiment.run_stage(stage)
        what, baseline = trivial_score(experiment, name) or ("none", math.nan)
        train = metrics["train"]
        check = train.get("versus_trivial") or {}  # the stage's paired comparison (older stages: none)
        gap = (f"{100 * check['delta']:+.1f} ({100 * check['lo']:+.1f} to {100 * check['hi']:+.1f})"
               if check else "-")
        rows.append((name, train["metric"], train["best_dev_score"], train["best_step"], baseline, what, gap,
                     metrics["data"]["train_rows"], metrics["data"]["dev_rows"], train["train_seconds"],
                     time.perf_counter() - started))
    t = cfg.train
    flags = ", ".join(sorted(f for f in cpu_flags() if f in ("avx2", "avx512_bf16", "amx_bf16"))) or "none"
    print(f"\n{cfg.base_model} base, adapter ({cfg.adapter.config}, r{cfg.adapter.reduction_factor}), "
          f"{t.intermediate_steps} steps of batch {t.batch_size}, max_seq_length {cfg.max_seq_length}; CPU flags: {flags}")
    print("| task | metric | en dev (best step) | trivial baseline | over it (paired 95% interval) | train / dev rows "
          "| train s | wall s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, metric, score, step, baseline, what, gap, n_train, n_dev, seconds, wall in rows:
        print(f"| {name} | {metric} | {100 * score:.1f} ({step}) | {100 * baseline:.1f} ({what}) | {gap} | "
              f"{n_train} / {n_dev} | {seconds:.0f} | {wall:.0f} |")


if __name__ == "__main__":
    main()
