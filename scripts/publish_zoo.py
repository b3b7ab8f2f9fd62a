"""Publish the intermediate adapters that configs/zoo.yaml trained as the shipped zoo's entries.

    python scripts/bench_intermediate.py --config configs/zoo.yaml --data-dir DATA   # train them
    python scripts/publish_zoo.py --data-dir DATA [--zoo adapter_zoo] [--tasks mnli ...]

Each finished `intermediate-adapter-<task>-s0` stage of the run (the stage whose hash the config
gives now, never an older folder) becomes entry `<task>-e5small-s0`, replacing an entry of that
name (its version label goes up by one). A stage whose English dev score does not beat its trivial
baseline by a paired 95% interval is not published, and the script says so. Prints one row per
entry: task, steps x batch, English dev score, the interval over the trivial baseline, training
time, CPU flags, size on disk, and the zoo's total size.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--config", default="configs/zoo.yaml")
    parser.add_argument("--zoo", default="adapter_zoo")
    parser.add_argument("--tasks", nargs="+", help="default: every intermediate task of the config")
    args = parser.parse_args()

    from adaptx import pipeline, zoo
    from adaptx.baselines import versus_trivial_text
    from adaptx.zoo_index import load_index

    cfg = pipeline.load_config(args.config, ["strategies=[stack]"])
    experiment = pipeline.Experiment(cfg, Path(cfg.output_dir), args.data_dir)
    stages = [s for s in pipeline.plan_stages(cfg) if s.kind == "intermediate-adapter"
              and (not args.tasks or s.task in args.tasks)]
    experiment.prepare(stages)
    root, rows = Path(args.zoo), []
    for stage in stages:
        metrics = experiment.store.finished(stage.id)
        if metrics is None:
            print(f"{stage.id}: not trained yet (run scripts/bench_intermediate.py first); skipped")
            continue
        check = metrics["train"].get("versus_trivial")
        if not check or check["verdict"] != "better":
            print(f"{stage.id}: not published: {versus_trivial_text(check) or 'no comparison with a trivial baseline'}")
            continue
        name = f"{stage.task}-e5small-s{stage.seed}"
        version = 1
        if name in load_index(root)["entries"]:
            version = int(zoo.show_entry(root, name)["version"]) + 1
            zoo.remove_entry(root, name)
        entry = zoo.add_entry(root, experiment.stage_dir(stage.id), name, str(version))
        card = zoo.show_entry(root, name)
        size = sum(p.stat().st_size for p in entry.rglob("*") if p.is_file())
        rows.append((name, card, check, size))
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    print("| entry | steps x batch | English dev (best step, rows) | over the trivial baseline (95% interval) "
          "| trivial baseline | train s | CPU flags | size |")
    print("|---|---:|---:|---:|---|---:|---|---:|")
    for name, card, check, size in rows:
        t, dev = card["training"], card["metrics"]["en_dev"]
        flags = ", ".join((t.get("hardware") or {}).get("cpu_flags") or []) or "-"
        print(f"| `{name}` | {t['steps']} x {t['batch_size']} | {dev['metric']} {dev['value']:.3f} ({dev['step']}, "
              f"{dev['rows']}) | {100 * check['delta']:+.1f} ({100 * check['lo']:+.1f} to {100 * check['hi']:+.1f}) "
              f"| {check['trivial']}: {check['trivial_score']:.3f} | {t.get('train_seconds') or 0:.0f} | {flags} "
              f"| {size / 1e6:.2f} MB |")
    print(f"\nzoo total on disk: {total / 1e6:.2f} MB ({root})")


if __name__ == "__main__":
    main()
