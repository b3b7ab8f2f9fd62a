"""The trivial baseline of each target task of a config, on exactly the rows its run scores.

    python scripts/trivial_baselines.py configs/xtreme/udpos.yaml --data-dir ../shared/data

Prints, per target task, the no-model prediction (adaptx.baselines: majority label or tag, the
empty answer) scored with the task's metric in every language the run evaluates, and the average,
to read beside the run's results.md. Needs no training and no model weights beyond the tokenizer.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--data-dir", required=True)
    args = parser.parse_args()

    from adaptx import pipeline
    from adaptx.baselines import trivial_score

    cfg = pipeline.load_config(args.config)
    experiment = pipeline.Experiment(cfg, Path(cfg.output_dir), args.data_dir)
    for task in experiment.targets:
        plan = {lang: split for lang, split in experiment.eval_splits[task.name].items() if split is not None}
        scores = {}
        for lang, split in plan.items():
            got = trivial_score(experiment, task.name, f"eval-{split}", lang)
            if got is None:
                break
            what, scores[lang] = got
        if not scores:
            print(f"{task.name}: no trivial baseline for the {task.kind} kind")
            continue
        average = 100 * sum(scores.values()) / len(scores)
        print(f"{task.name} ({task.metric}), trivial baseline '{what}': average {average:.1f} over {len(scores)} languages")
        print("  " + ", ".join(f"{lang} {100 * value:.1f}" for lang, value in scores.items()))


if __name__ == "__main__":
    main()
