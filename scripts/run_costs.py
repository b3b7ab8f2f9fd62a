"""What each finished stage of a run cost in wall time: training (its manifest) and zero-shot evaluation.

    python scripts/run_costs.py runs/convergence [runs/convergence-retrieval ...] [--markdown]

Training seconds are the manifest's `seconds` (0 for an evaluation-only stage), or metrics.json's
`train.train_seconds` where larger (a stage resumed across processes: the manifest counts the last one). Evaluation seconds are
the `seconds` each language's evaluation file records (files written since 2026-12-07); an older file
has none, so its cost is read from file times: the gap to the file written before it (the first one's
from the stage's finish time), where a gap over 3x the stage's median gap counts as the median (a pause
or a session boundary fell between them). Such a stage's evaluation is marked "~". Stages not done are
left out. These are wall seconds of whatever machine ran them (a manifest does not record the CPU), a
paused process's pause included in its training seconds: say which machine, and what else ran beside,
when you quote them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

CAP = 3  # a gap between evaluation files over CAP x the median is a pause, counted as the median


def evaluation_seconds(recorded: dict, finished: float) -> tuple[float, bool]:
    """(seconds, estimated) of a stage's zero-shot evaluation from StageFolder.eval_seconds: what the files
    record, and for those that record nothing, the gaps between file times with pauses capped."""
    untimed = sorted(path.stat().st_mtime for path, seconds in recorded.items() if seconds is None)
    known = sum(seconds for seconds in recorded.values() if seconds is not None)
    if not untimed:
        return known, False
    gaps = [max(0.0, later - earlier) for earlier, later in zip([finished, *untimed[:-1]], untimed)]
    median = statistics.median(gaps)
    return known + sum(gap if gap <= CAP * median else median for gap in gaps), True


def stage_costs(run_dir: Path) -> list[dict]:
    """One row per finished stage of a run folder, in folder order."""
    from adaptx.run_folder import RunFolder

    rows = []
    for stage in RunFolder(run_dir).stages():
        if not stage.is_done():
            continue
        manifest, recorded = stage.read_manifest(""), stage.eval_seconds()
        evaluation, estimated = evaluation_seconds(recorded, float(manifest.get("finished") or 0.0))
        # a stage resumed in a later process: the manifest counts that process only, metrics.json's
        # train_seconds adds up every process's training
        train = (stage.read_metrics("").get("train") or {}) if stage.metrics_file.is_file() else {}
        seconds = max(float(manifest.get("seconds") or 0.0), float(train.get("train_seconds") or 0.0))
        rows.append({"run": run_dir.name, "stage": manifest.get("stage", stage.name),
                     "train_s": seconds, "eval_s": evaluation, "estimated": estimated,
                     "languages": len(recorded)})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (runs/NAME, with stages/)")
    parser.add_argument("--markdown", action="store_true", help="a markdown table instead of plain columns")
    args = parser.parse_args(argv)
    missing = [str(run) for run in args.runs if not (run / "stages").is_dir()]
    if missing:
        print(f"run_costs: not a run folder (no stages/): {', '.join(missing)}", file=sys.stderr)
        return 2
    rows = [row for run in args.runs for row in stage_costs(run)]
    line = "| {} | {} | {:.0f} | {}{:.0f} | {:.2f} |" if args.markdown else "{:<22} {:<62} {:>8.0f} {:>1}{:>8.0f} {:>7.2f}"
    if args.markdown:
        print("| run | stage | training s | evaluation s | hours |\n|---|---|---|---|---|")
    else:
        print(f"{'run':<22} {'stage':<62} {'train s':>8} {'eval s':>9} {'hours':>7}")
    for row in rows:
        print(line.format(row["run"], row["stage"], row["train_s"], "~" if row["estimated"] else "", row["eval_s"],
                          (row["train_s"] + row["eval_s"]) / 3600))
    train, evaluation = sum(r["train_s"] for r in rows), sum(r["eval_s"] for r in rows)
    print(f"{len(rows)} finished stages: training {train / 3600:.2f} h, evaluation {evaluation / 3600:.2f} h, "
          f"together {(train + evaluation) / 3600:.2f} h" + ("; ~: evaluation read from file times" if any(
              r["estimated"] for r in rows) else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
