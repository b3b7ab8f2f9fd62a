"""Train each English intermediate task's adapter for a few hundred steps on the embedded base and
compare its English dev score with the task's trivial baseline on the same dev rows.

    python scripts/bench_intermediate.py --data-dir ../shared/data [--tasks mnli hellaswag ...] [--steps 300]

Trivial baselines: the majority label of the training sample (classification), the most frequent
right choice (multiple choice), the most frequent tag (tagging), the empty answer for every question
(SQuAD 2.0). Each task runs as its own stage folder under --out (rerunning skips finished ones), so
the script also checks that every kind trains as an intermediate task through the real pipeline.
Prints one row per task with the CPU flags that decide bf16 speed; wall times are for the whole stage.
"""

from __future__ import annotations

import argparse
import collections
import time
from pathlib import Path

LOCAL_TASKS = ["mnli", "qqp", "sst2", "snli", "commonsenseqa", "cosmosqa", "hellaswag", "squad2"]


def trivial_baseline(experiment, task_name: str) -> tuple[str, float]:
    from adaptx.kinds import get_kind
    from adaptx.metrics import metric_for_language

    task = experiment.task(task_name)
    kind = get_kind(task.kind)
    train, dev = experiment.data(task_name, "train"), experiment.data(task_name, "dev")
    golds = kind.golds(dev)
    metric = metric_for_language(task.metric, "en")
    if task.kind in ("classification", "multiple_choice"):
        majority = collections.Counter(kind.golds(train)).most_common(1)[0][0]
        what = f"always {task.labels[majority] if task.kind == 'classification' else f'choice {majority}'}"
        return what, metric.compute([majority] * len(golds), golds)
    if task.kind == "tagging":
        tag = collections.Counter(t for s in kind.golds(train) for t in s).most_common(1)[0][0]
        return f"always {tag}", metric.compute([[tag] * len(g) for g in golds], golds)
    return "always no answer", metric.compute([""] * len(golds), golds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--tasks", nargs="+", default=LOCAL_TASKS)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--mc-batch-size", type=int, default=8, help="multiple choice: each example is 4-5 sequences")
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--dev-rows", type=int, default=200)
    parser.add_argument("--out", default="runs/bench-intermediate")
    args = parser.parse_args()

    from adaptx import pipeline
    from adaptx.runtime import cpu_flags

    rows = []
    from adaptx.tasks import get_task

    for name in args.tasks:
        batch = args.mc_batch_size if get_task(name).kind == "multiple_choice" else args.batch_size
        cfg = pipeline.load_config(None, [
            f"intermediate_tasks=[{name}]", "strategies=[stack]", "target_task=xnli", "languages=[en]",
            f"max_seq_length={args.max_seq_length}", f"train.intermediate_steps={args.steps}",
            f"train.batch_size={batch}", f"data.max_dev_examples={args.dev_rows}",
            "data.max_train_examples=6000", "head.pooling=mean"])
        started = time.perf_counter()
        experiment = pipeline.Experiment(cfg, Path(args.out), args.data_dir)
        stage = next(s for s in pipeline.plan_stages(cfg) if s.kind == "intermediate-adapter")
        experiment.prepare([stage])
        metrics = experiment.run_stage(stage)
        what, baseline = trivial_baseline(experiment, name)
        train = metrics["train"]
        rows.append((name, train["metric"], train["best_dev_score"], train["best_step"], baseline, what,
                     metrics["data"]["train_rows"], metrics["data"]["dev_rows"], train["train_seconds"],
                     time.perf_counter() - started, batch))
    flags = ", ".join(sorted(f for f in cpu_flags() if f in ("avx2", "avx512_bf16", "amx_bf16"))) or "none"
    print(f"\nembedded base, adapter (seq_bn, r16) + mean-pooling head, {args.steps} steps; CPU flags: {flags}")
    print("| task | metric | en dev (best step) | trivial baseline | batch | train / dev rows | train s | wall s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, metric, score, step, baseline, what, n_train, n_dev, seconds, wall, batch in rows:
        print(f"| {name} | {metric} | {100 * score:.1f} ({step}) | {100 * baseline:.1f} ({what}) | {batch} | "
              f"{n_train} / {n_dev} | {seconds:.0f} | {wall:.0f} |")


if __name__ == "__main__":
    main()
